//! What an action configuration asks for, read from its VAPIX template token and
//! parameters (`../shared/reference/vapix.md` §3.8, §6.7). A configuration whose
//! template netamp cannot run, or whose parameters are wrong, is refused when it is
//! added, never at the moment a rule fires.

use std::collections::BTreeMap;

use super::store::ActionConfig;
use crate::recipients::{Kind, Notification};

/// Play a clip, once (`repeat` more times) or until the rule ends.
pub const PLAY_FIXED: &str = "com.axis.action.fixed.play.audioclip";
/// Play a clip until the rule ends.
pub const PLAY_UNLIMITED: &str = "com.axis.action.unlimited.play.audioclip";
/// Stop the clips that play.
pub const STOP_CLIP: &str = "com.axis.action.fixed.stop.audioclip";
/// Set an output, for `duration` seconds or for good.
pub const TOGGLE_FIXED: &str = "com.axis.action.fixed.io.toggle";
/// Set an output while the rule is active.
pub const TOGGLE_UNLIMITED: &str = "com.axis.action.unlimited.io.toggle";

/// Send an HTTP notification (`message`, `parameters`, `method`, `http_headers`,
/// `body`; the recipient's `upload_url`, `login`, `password` …).
pub const NOTIFY_HTTP: &str = "com.axis.action.fixed.notification.http";
/// Send an HTTPS notification (as HTTP, plus `validate_server_cert`).
pub const NOTIFY_HTTPS: &str = "com.axis.action.fixed.notification.https";
/// Send a TCP notification (`message`; the recipient's `host`, `port`).
pub const NOTIFY_TCP: &str = "com.axis.action.fixed.notification.tcp";
/// Send an e-mail (`subject`, `message`; the recipient's server and addresses).
pub const NOTIFY_SMTP: &str = "com.axis.action.fixed.notification.smtp";

/// Answer the ringing call(s) (netamp's token in the Axis form [inferred]).
pub const ANSWER_CALL: &str = "com.axis.action.fixed.call.answer";
/// End every call (netamp's token in the Axis form [inferred]).
pub const END_CALL: &str = "com.axis.action.fixed.call.end";
/// Make a SIP call: to a SIP recipient (`recipient`), or to `sip_address` (or `to`)
/// through `account` (a SIPAccountId).
pub const MAKE_CALL: &str = "com.axis.action.fixed.sip";
/// Activate a virtual input (`port` 1…64; `duration` s, then it goes back) [inferred].
pub const VIRTUAL_FIXED: &str = "com.axis.action.fixed.virtualinput";
/// Keep a virtual input active while the rule is [inferred].
pub const VIRTUAL_UNLIMITED: &str = "com.axis.action.unlimited.virtualinput";

/// The templates netamp runs today.
pub const TEMPLATES: &[&str] = &[
    ANSWER_CALL,
    END_CALL,
    MAKE_CALL,
    VIRTUAL_FIXED,
    VIRTUAL_UNLIMITED,
    PLAY_FIXED,
    PLAY_UNLIMITED,
    STOP_CLIP,
    TOGGLE_FIXED,
    TOGGLE_UNLIMITED,
    NOTIFY_HTTP,
    NOTIFY_HTTPS,
    NOTIFY_TCP,
    NOTIFY_SMTP,
];

/// The kind of notification a template sends.
pub fn notification_kind(template: &str) -> Option<Kind> {
    match template {
        NOTIFY_HTTP | NOTIFY_HTTPS => Some(Kind::Http),
        NOTIFY_TCP => Some(Kind::Tcp),
        NOTIFY_SMTP => Some(Kind::Smtp),
        MAKE_CALL => Some(Kind::Sip),
        _ => None,
    }
}

/// An action, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play the clip at `location` (a file name or path, wildcards allowed) or with id
    /// `clip`, at `volume` percent; `repeat` more times (−1: until stopped).
    PlayClip {
        /// File name or path.
        location: Option<String>,
        /// Clip id (netamp's shortcut for `location`).
        clip: Option<u32>,
        /// Linear percent, 0–1000.
        volume: u32,
        /// Extra plays; −1 until the rule ends.
        repeat: i32,
        /// Stopped when the rule ends.
        unlimited: bool,
    },
    /// Stop every clip.
    StopClip,
    /// Drive output `port` (0-based) active (`high`) or inactive.
    Toggle {
        /// The port, 0-based.
        port: usize,
        /// Active (`high`) or inactive (`low`).
        high: bool,
        /// For a fixed action: back after this many milliseconds (none: stays).
        duration_ms: Option<u64>,
        /// Set back when the rule ends.
        unlimited: bool,
    },
    /// Answer the ringing incoming calls.
    AnswerCall,
    /// End every call.
    EndCall,
    /// Activate virtual input `port` (1-based).
    VirtualInput {
        /// The virtual input, 1-based.
        port: usize,
        /// For a fixed action: back after this many seconds (none: stays).
        duration_s: Option<u64>,
        /// Deactivated when the rule ends.
        unlimited: bool,
    },
    /// Send a notification: through stored recipient `recipient` (its parameters
    /// overlaid with `parameters`), or with every parameter in the action itself, as
    /// VAPIX scripts send them.
    Notify {
        /// How it travels.
        kind: Kind,
        /// The stored recipient it goes through.
        recipient: Option<u32>,
        /// The action's own parameters (`message`, `parameters`, …).
        parameters: BTreeMap<String, String>,
    },
}

impl Action {
    /// Reads a configuration; the error says what is wrong.
    pub fn parse(c: &ActionConfig) -> Result<Self, String> {
        let p = |k: &str| {
            c.parameters
                .get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let number = |k: &str, min: i64, max: i64| -> Result<Option<i64>, String> {
            p(k).map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| format!("{k} must be a whole number from {min} to {max}"))
            })
            .transpose()
        };
        match c.template.as_str() {
            PLAY_FIXED | PLAY_UNLIMITED => {
                let unlimited = c.template == PLAY_UNLIMITED;
                let location = p("location").map(|l| {
                    percent_encoding::percent_decode_str(l)
                        .decode_utf8_lossy()
                        .into_owned()
                });
                let clip = number("clip", 0, i64::from(u32::MAX))?.map(|n| n as u32);
                if location.is_none() && clip.is_none() {
                    return Err("a clip action needs location (or clip)".into());
                }
                Ok(Self::PlayClip {
                    location,
                    clip,
                    volume: number("volume", 0, 1000)?.unwrap_or(100) as u32,
                    repeat: if unlimited {
                        -1
                    } else {
                        number("repeat", -1, 1000)?.unwrap_or(0) as i32
                    },
                    unlimited,
                })
            }
            STOP_CLIP => Ok(Self::StopClip),
            TOGGLE_FIXED | TOGGLE_UNLIMITED => {
                let port = number("port", 0, 255)?.ok_or("an output action needs port")? as usize;
                let high = match p("state").unwrap_or("high") {
                    "high" | "active" | "1" => true,
                    "low" | "inactive" | "0" => false,
                    s => return Err(format!("state must be high or low, not {s:?}")),
                };
                let duration_ms = match p("duration") {
                    None => None,
                    Some(d) => {
                        let s: f64 = d
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && (0.0..=86_400.0).contains(s))
                            .ok_or("duration must be seconds from 0 to 86400")?;
                        (s > 0.0).then(|| (s * 1000.0).round() as u64)
                    }
                };
                Ok(Self::Toggle {
                    port,
                    high,
                    duration_ms: if c.template == TOGGLE_UNLIMITED {
                        None
                    } else {
                        duration_ms
                    },
                    unlimited: c.template == TOGGLE_UNLIMITED,
                })
            }
            ANSWER_CALL => Ok(Self::AnswerCall),
            END_CALL => Ok(Self::EndCall),
            VIRTUAL_FIXED | VIRTUAL_UNLIMITED => {
                let unlimited = c.template == VIRTUAL_UNLIMITED;
                let port = number("port", 1, crate::io_service::VIRTUAL_INPUTS as i64)?
                    .ok_or("a virtual input action needs port")?
                    as usize;
                let duration_s = if unlimited {
                    None
                } else {
                    number("duration", 0, 86_400)?.map(|d| d as u64)
                };
                Ok(Self::VirtualInput {
                    port,
                    duration_s,
                    unlimited,
                })
            }
            t if notification_kind(t).is_some() => {
                let kind = notification_kind(t).unwrap_or(Kind::Http);
                let recipient = number("recipient", 1, i64::from(u32::MAX))?.map(|n| n as u32);
                let mut parameters = c.parameters.clone();
                parameters.remove("recipient");
                if recipient.is_none() {
                    Notification::parse(kind, &parameters).map_err(|e| e.to_string())?;
                }
                Ok(Self::Notify {
                    kind,
                    recipient,
                    parameters,
                })
            }
            t => Err(format!(
                "template {t:?} is not one netamp runs (it runs {})",
                TEMPLATES.join(", ")
            )),
        }
    }

    /// The `port.cgi` action string (1-based port) that starts a toggle.
    pub fn toggle_start(port: usize, high: bool, duration_ms: Option<u64>) -> String {
        let (on, off) = if high { ('/', '\\') } else { ('\\', '/') };
        match duration_ms {
            Some(ms) => format!("{}:{on}{ms}{off}", port + 1),
            None => format!("{}:{on}", port + 1),
        }
    }

    /// The `port.cgi` action string that ends an unlimited toggle.
    pub fn toggle_end(port: usize, high: bool) -> String {
        format!("{}:{}", port + 1, if high { '\\' } else { '/' })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(template: &str, params: &[(&str, &str)]) -> ActionConfig {
        ActionConfig {
            name: "a".into(),
            template: template.into(),
            parameters: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn templates_and_their_parameters() {
        assert_eq!(
            Action::parse(&config(
                PLAY_UNLIMITED,
                &[
                    ("location", "%2Fetc%2Faudioclips%2Falarm.mp3"),
                    ("volume", "80")
                ]
            )),
            Ok(Action::PlayClip {
                location: Some("/etc/audioclips/alarm.mp3".into()),
                clip: None,
                volume: 80,
                repeat: -1,
                unlimited: true
            })
        );
        assert_eq!(
            Action::parse(&config(
                TOGGLE_FIXED,
                &[("port", "4"), ("state", "high"), ("duration", "2")]
            )),
            Ok(Action::Toggle {
                port: 4,
                high: true,
                duration_ms: Some(2000),
                unlimited: false
            })
        );
        assert_eq!(Action::toggle_start(4, true, Some(2000)), "5:/2000\\");
        assert_eq!(Action::toggle_start(4, false, None), "5:\\");
        assert_eq!(Action::toggle_end(4, true), "5:\\");
        for bad in [
            config(PLAY_FIXED, &[]),
            config(PLAY_FIXED, &[("clip", "1"), ("volume", "1001")]),
            config(TOGGLE_FIXED, &[("state", "high")]),
            config(TOGGLE_FIXED, &[("port", "1"), ("state", "up")]),
            config(TOGGLE_FIXED, &[("port", "1"), ("duration", "-3")]),
            config("com.axis.action.unlimited.buzzer", &[]),
        ] {
            assert!(Action::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
