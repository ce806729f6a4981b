//! The modifiers a notification's text may carry, expanded when it is sent.
//!
//! Time, in the device's local time zone: `%Y` year, `%y` two-digit year, `%m` month,
//! `%d` day, `%H` `%M` `%S` hour, minute, second, `%F` = `%Y-%m-%d`, `%T` = `%H:%M:%S`,
//! `%j` day of the year, `%a`/`%A` weekday, `%b`/`%B` month name, `%z` UTC offset,
//! `%s` Unix seconds, `%%` a percent sign. Device: `#n` name (host name), `#M` MAC
//! address (`AC:CC:8E:…`), `#m` MAC without colons (the serial), `#s` the action's
//! sequence number, `##` a `#`.
//!
//! A `%` followed by two hex digits is a percent-escape (`%2F`, `%C3%A9`: URLs and
//! `parameters` carry them), kept as it is; so `%d2` is an escape, not day-then-2. An
//! unknown modifier is kept as written. (Axis lists the modifiers but not its parsing
//! of mixed escapes; this is netamp's rule.)

use chrono::{DateTime, TimeZone};

/// What `#` modifiers expand to.
#[derive(Debug, Clone, Default)]
pub struct DeviceText {
    /// The device name (host name).
    pub name: String,
    /// MAC address with colons.
    pub mac: String,
}

fn time_format(c: char) -> Option<&'static str> {
    Some(match c {
        'Y' => "%Y",
        'y' => "%y",
        'm' => "%m",
        'd' => "%d",
        'H' => "%H",
        'M' => "%M",
        'S' => "%S",
        'F' => "%F",
        'T' => "%T",
        'j' => "%j",
        'a' => "%a",
        'A' => "%A",
        'b' => "%b",
        'B' => "%B",
        'z' => "%z",
        's' => "%s",
        _ => return None,
    })
}

/// `text` with its modifiers expanded for a send at `now`, the `seq`th of its action.
pub fn expand<Tz: TimeZone>(text: &str, now: &DateTime<Tz>, device: &DeviceText, seq: u64) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if !text.contains(['%', '#']) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('%', Some('%')) => {
                out.push('%');
                i += 2;
            }
            ('%', Some(n))
                if n.is_ascii_hexdigit()
                    && chars.get(i + 2).is_some_and(|h| h.is_ascii_hexdigit()) =>
            {
                out.extend(&chars[i..i + 3]);
                i += 3;
            }
            ('%', Some(n)) if time_format(n).is_some() => {
                let f = time_format(n).unwrap_or("");
                out.push_str(&now.format(f).to_string());
                i += 2;
            }
            ('#', Some('#')) => {
                out.push('#');
                i += 2;
            }
            ('#', Some('n')) => {
                out.push_str(&device.name);
                i += 2;
            }
            ('#', Some('M')) => {
                out.push_str(&device.mac);
                i += 2;
            }
            ('#', Some('m')) => {
                out.extend(device.mac.chars().filter(|c| *c != ':'));
                i += 2;
            }
            ('#', Some('s')) => {
                out.push_str(&seq.to_string());
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn modifiers_expand_and_escapes_stay() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 29, 8, 5, 9)
            .single()
            .expect("time");
        let dev = DeviceText {
            name: "lobby-amp".into(),
            mac: "AC:CC:8E:12:34:56".into(),
        };
        assert_eq!(
            expand("%F %T on #n (#M, #m) no. #s", &now, &dev, 7),
            "2026-03-29 08:05:09 on lobby-amp (AC:CC:8E:12:34:56, ACCC8E123456) no. 7"
        );
        assert_eq!(
            expand(
                "location=%2Fetc%2Faudioclips%2Falarm.mp3&d=%Y%m%d",
                &now,
                &dev,
                0
            ),
            "location=%2Fetc%2Faudioclips%2Falarm.mp3&d=20260329"
        );
        assert_eq!(
            expand("100%% #x %q ##n caf%C3%A9", &now, &dev, 0),
            "100% #x %q #n caf%C3%A9"
        );
        assert_eq!(expand("plain", &now, &dev, 0), "plain");
    }
}
