//! Who this device says it is: MAC, serial number, brand and firmware strings.
//!
//! The MAC behind the serial number and the Digest realm is fixed at first start and kept
//! in `identity.json`: every stored password digest is made with the realm, so a realm
//! that followed the host (whose alphabetically first interface may be a `docker0` that
//! comes and goes) would lock every account out. `[device] mac` still overrides it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::store;

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
    /// Builds the identity of a device whose MAC is known (see [`device_mac`]).
    pub fn new(mac: String, name: Option<&str>, profile: &str) -> Self {
        Self {
            mac,
            name: name.unwrap_or("netamp").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            build_date: build_date(),
            architecture: std::env::consts::ARCH.to_string(),
            profile: profile.to_string(),
        }
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

/// What `identity.json` keeps.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    /// 12 upper-case hex digits.
    mac: String,
}

/// The device's MAC: the configured one, else the one fixed in the state directory at
/// first start (the host's first interface's then, or a random locally administered one
/// on a host without any).
pub fn device_mac(data_dir: &Path, configured: Option<&str>) -> Result<String, ControlError> {
    if let Some(m) = configured {
        return normalize_mac(m).ok_or_else(|| {
            ControlError::Config(format!("[device] mac: invalid MAC address {m:?}"))
        });
    }
    let path = data_dir.join("identity.json");
    let check = |s: &Stored| {
        normalize_mac(&s.mac)
            .filter(|m| *m == s.mac)
            .map(|_| ())
            .ok_or_else(|| format!("invalid MAC {:?}", s.mac))
    };
    if let Some(stored) = store::load_json_checked::<Stored>(&path, check)? {
        return Ok(stored.mac);
    }
    let mac = host_mac().unwrap_or_else(random_mac);
    store::save_json(&path, &Stored { mac: mac.clone() })?;
    tracing::info!(
        "device identity fixed: MAC {mac} (kept in {})",
        path.display()
    );
    Ok(mac)
}

/// A random unicast, locally administered MAC (`x2`, `x6`, `xA`, `xE` first octet).
fn random_mac() -> String {
    let mut b: [u8; 6] = rand::random();
    b[0] = (b[0] & 0xfc) | 0x02;
    hex_upper(&b)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
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

    #[test]
    fn the_mac_is_fixed_at_first_start_and_a_configured_one_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = device_mac(dir.path(), None).expect("first");
        assert_eq!(normalize_mac(&first).as_deref(), Some(first.as_str()));
        // Whatever the host's interfaces do now, the stored one stays.
        store::save_json(
            &dir.path().join("identity.json"),
            &Stored {
                mac: "02AABBCCDDEE".into(),
            },
        )
        .expect("save");
        assert_eq!(
            device_mac(dir.path(), None).expect("stored"),
            "02AABBCCDDEE"
        );
        assert_eq!(
            device_mac(dir.path(), Some("ac:cc:8e:00:00:01")).expect("configured"),
            "ACCC8E000001"
        );
        assert!(device_mac(dir.path(), Some("nope")).is_err());
        let random = random_mac();
        assert_eq!(
            u8::from_str_radix(&random[..2], 16).expect("hex") & 0x03,
            0x02
        );
    }
}
