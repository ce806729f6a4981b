//! The call-handling settings `axcall:SetSIPConfiguration` may change while netamp runs
//! (allow incoming, auto-answer, max calls, ring timeout, end-calls-after), kept in
//! `sip_settings.json` over the `[sip]` values they start from. Listen ports, RTP ports,
//! codecs and enabling SIP at all stay in `netamp.toml`: they take effect at start.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use netamp_sip::CallPolicy;
use serde::{Deserialize, Serialize};

use crate::config::SipConfig;
use crate::error::ControlError;

/// Most calls at once.
pub const MAX_CALLS: usize = 64;
/// Longest ring (the incoming-call duration limit), s.
pub const MAX_RING_S: u64 = 600;
/// Longest call limit, min (0 = none).
pub const MAX_END_AFTER_MIN: u64 = 60;

/// The changeable call-handling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSettings {
    /// Take incoming calls at all.
    pub allow_incoming: bool,
    /// Answer at once (unless a pre-announcement plays first).
    pub auto_answer: bool,
    /// Calls at once.
    pub max_calls: usize,
    /// Ring time before an unanswered call is refused, s.
    pub ring_timeout_s: u64,
    /// Calls end after this many minutes; 0 = never.
    pub end_calls_after_min: u64,
    /// Whether the peer-to-peer account exists (`RemoveSIPAccount sip_account_0` once
    /// another account is the default; `SetSIPAccount sip_account_0` brings it back).
    #[serde(default = "present")]
    pub peer_to_peer: bool,
}

fn present() -> bool {
    true
}

impl CallSettings {
    /// The values of `[sip]`.
    pub fn from_config(c: &SipConfig) -> Self {
        Self {
            allow_incoming: c.allow_incoming,
            auto_answer: c.auto_answer,
            max_calls: c.max_calls,
            ring_timeout_s: c.ring_timeout_s,
            end_calls_after_min: c.end_calls_after_min,
            peer_to_peer: true,
        }
    }

    /// Checks the ranges; the message names the offending setting.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_CALLS).contains(&self.max_calls) {
            return Err(format!("max calls: 1..={MAX_CALLS}"));
        }
        if !(1..=MAX_RING_S).contains(&self.ring_timeout_s) {
            return Err(format!("ring timeout: 1..={MAX_RING_S} s"));
        }
        if self.end_calls_after_min > MAX_END_AFTER_MIN {
            return Err(format!(
                "end calls after: 0 (never) ..= {MAX_END_AFTER_MIN} min"
            ));
        }
        Ok(())
    }

    /// The user agent's policy; with `[sip] pre_announcement_clip` set the
    /// pre-configured rules answer after the tone, so the agent itself never
    /// auto-answers.
    pub fn policy(&self, config: &SipConfig) -> CallPolicy {
        CallPolicy {
            max_calls: self.max_calls,
            allow_incoming: self.allow_incoming,
            auto_answer: self.auto_answer && config.pre_announcement_clip < 0,
            ring_timeout: Duration::from_secs(self.ring_timeout_s),
            max_duration: (self.end_calls_after_min > 0)
                .then(|| Duration::from_secs(self.end_calls_after_min * 60)),
            peer_to_peer: self.peer_to_peer,
        }
    }
}

/// The settings in force, saved in the data directory.
#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    current: Mutex<CallSettings>,
}

impl SettingsStore {
    /// The saved settings of `data_dir`, or `[sip]`'s when none were saved.
    pub fn load(data_dir: &Path, config: &SipConfig) -> Result<Self, ControlError> {
        let path = data_dir.join("sip_settings.json");
        let current = crate::store::load_json_checked(&path, |s: &CallSettings| {
            s.check().map_err(|m| format!("SIP settings: {m}"))
        })?
        .unwrap_or_else(|| CallSettings::from_config(config));
        Ok(Self {
            path,
            current: Mutex::new(current),
        })
    }

    /// The settings now.
    pub fn get(&self) -> CallSettings {
        *self.lock()
    }

    /// Checks and saves new settings; nothing changes when either fails.
    pub fn set(&self, next: CallSettings) -> Result<(), ControlError> {
        next.check().map_err(ControlError::Config)?;
        let mut current = self.lock();
        crate::store::save_json(&self.path, &next)?;
        *current = next;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CallSettings> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_settings_win_over_the_config_and_bad_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("netamp-sip-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = SipConfig::default();
        let store = SettingsStore::load(&dir, &config).expect("load");
        assert_eq!(store.get(), CallSettings::from_config(&config));
        let next = CallSettings {
            allow_incoming: false,
            max_calls: 4,
            ..store.get()
        };
        store.set(next).expect("set");
        for bad in [
            CallSettings {
                max_calls: 0,
                ..next
            },
            CallSettings {
                ring_timeout_s: 601,
                ..next
            },
            CallSettings {
                end_calls_after_min: 61,
                ..next
            },
        ] {
            assert!(store.set(bad).is_err(), "{bad:?}");
        }
        assert_eq!(store.get(), next, "refused settings change nothing");
        let again = SettingsStore::load(&dir, &config).expect("reload");
        assert_eq!(again.get(), next, "kept across a restart");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pre_announcement_means_the_daemon_answers() {
        let plain = SipConfig::default();
        let s = CallSettings::from_config(&plain);
        assert!(s.policy(&plain).auto_answer);
        let announced = SipConfig {
            pre_announcement_clip: 0,
            ..SipConfig::default()
        };
        assert!(!s.policy(&announced).auto_answer);
    }
}
