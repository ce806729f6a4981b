//! Who this device says it is: MAC, serial number, brand and firmware strings.

/// The device's identity, fixed at start.
#[derive(Debug, Clone)]
pub struct Identity {
    /// 12 upper-case hex digits.
    pub mac: String,
    /// Friendly name.
    pub name: String,
    /// Firmware version (the crate version).
    pub version: String,
    /// Build date as Axis formats it (`Apr 29 2020 06:50`).
    pub build_date: String,
    /// CPU architecture.
    pub architecture: String,
    /// Port layout profile.
    pub profile: String,
}

impl Identity {
    /// Builds the identity from config (a configured MAC wins over the host's).
    pub fn new(
        configured_mac: Option<&str>,
        name: Option<&str>,
        profile: &str,
    ) -> Result<Self, String> {
        let mac = match configured_mac {
            Some(m) => normalize_mac(m).ok_or_else(|| format!("invalid MAC address {m:?}"))?,
            None => host_mac().unwrap_or_else(|| "0242AC110002".into()),
        };
        Ok(Self {
            mac,
            name: name.unwrap_or("netamp").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            build_date: build_date(),
            architecture: std::env::consts::ARCH.to_string(),
            profile: profile.to_string(),
        })
    }

    /// The Digest realm, `AXIS_<MAC>`.
    pub fn realm(&self) -> String {
        format!("AXIS_{}", self.mac)
    }

    /// Serial number (the MAC, as on Axis devices).
    pub fn serial(&self) -> &str {
        &self.mac
    }

    /// Product number for the profile.
    pub fn prod_nbr(&self) -> String {
        match self.profile.as_str() {
            "c8210" => "NA-C8210".into(),
            "a9210" => "NA-A9210".into(),
            _ => "NA-1".into(),
        }
    }

    /// Product type for the profile.
    pub fn prod_type(&self) -> &'static str {
        match self.profile.as_str() {
            "a9210" => "Network I/O Relay Module",
            "c8210" => "Network Audio Amplifier",
            _ => "Network Audio and I/O Endpoint",
        }
    }
}

/// Upper-case 12-hex-digit form of a MAC written with or without separators.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_uppercase())
}

fn host_mac() -> Option<String> {
    let mut names: Vec<_> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    names.into_iter().filter(|n| n != "lo").find_map(|n| {
        let addr = std::fs::read_to_string(
            std::path::Path::new("/sys/class/net")
                .join(&n)
                .join("address"),
        )
        .ok()?;
        let mac = normalize_mac(addr.trim())?;
        (mac != "000000000000").then_some(mac)
    })
}

fn build_date() -> String {
    let mtime = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_axis_date(mtime)
}

/// Civil date and time of Unix seconds (UTC): year, month, day, seconds of the day.
fn civil(unix: i64) -> (i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs)
}

/// Formats Unix seconds as `Mon DD YYYY HH:MM` (UTC).
pub fn format_axis_date(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, secs) = civil(unix);
    format!(
        "{} {:02} {} {:02}:{:02}",
        MONTHS[(m - 1) as usize],
        d,
        y,
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SS` (UTC).
pub fn format_iso_date(unix: i64) -> String {
    let (y, m, d, secs) = civil(unix);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_macs() {
        assert_eq!(format_axis_date(1_588_143_000), "Apr 29 2020 06:50");
        assert_eq!(format_iso_date(1_547_538_645), "2019-01-15T07:50:45");
        assert_eq!(
            normalize_mac("ac:cc:8e:c4:37:07").as_deref(),
            Some("ACCC8EC43707")
        );
        assert_eq!(normalize_mac("xyz"), None);
    }
}
