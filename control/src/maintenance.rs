//! Restart and factory defaults (`restart.cgi`, `factorydefault.cgi`,
//! `hardfactorydefault.cgi`): the HTTP reply goes out first, then the daemon stops in
//! order, resets its state directory as asked and runs again in place — the same
//! executable and arguments through `exec`, so the process id stays and systemd (told
//! `RELOADING=1`, then `READY=1` again) or a test harness keeps its handle, and configured
//! ports are bound again by the same process.
//!
//! What the resets keep: a factory default keeps the accounts, the device identity and
//! the certificates (and `netamp.toml`, which is not state); everything else — clips,
//! rules, I/O, SIP and audio settings, recordings — goes back to its defaults. A hard
//! factory default keeps nothing: the first administrator is created again, a new
//! certificate is made.

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// What happens after the daemon stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// Nothing: it exits (a signal).
    None = 0,
    /// It runs again with its state as it is.
    Restart = 1,
    /// Factory default, then it runs again.
    Factory = 2,
    /// Hard factory default, then it runs again.
    Hard = 3,
}

impl Reset {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Restart,
            2 => Self::Factory,
            3 => Self::Hard,
            _ => Self::None,
        }
    }
}

/// How long after the request the daemon begins to stop: the reply is flushed by then.
const REPLY_GRACE: Duration = Duration::from_millis(300);

/// The pending restart or reset, and the daemon's stop signal it pulls.
pub struct Maintenance {
    pending: AtomicU8,
    stop: Arc<Notify>,
}

impl Maintenance {
    /// Pulls `stop` (the same signal SIGTERM pulls) when a restart is requested.
    pub fn new(stop: Arc<Notify>) -> Self {
        Self {
            pending: AtomicU8::new(Reset::None as u8),
            stop,
        }
    }

    /// Asks for `what`; the first request wins, later ones change nothing.
    pub fn request(&self, what: Reset) {
        if self
            .pending
            .compare_exchange(
                Reset::None as u8,
                what as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_err()
        {
            return;
        }
        tracing::warn!("{what:?} requested: the daemon stops and runs again");
        let stop = self.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REPLY_GRACE).await;
            stop.notify_one();
        });
    }

    /// What was asked for.
    pub fn pending(&self) -> Reset {
        Reset::from_u8(self.pending.load(Ordering::SeqCst))
    }
}

/// Resets the state directory for `what` (nothing for a plain restart).
pub fn reset_state(dir: &Path, what: Reset) -> std::io::Result<()> {
    let keep: &[&str] = match what {
        Reset::None | Reset::Restart => return Ok(()),
        Reset::Factory => &[
            "users.json",
            "users.json.prev",
            "identity.json",
            "identity.json.prev",
            "certs",
            "netamp.lock",
        ],
        Reset::Hard => &["netamp.lock"],
    };
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if keep.iter().any(|k| name == std::ffi::OsStr::new(k)) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Runs this program again in place with the same arguments; returns only on failure.
pub fn exec_self() -> std::io::Error {
    use std::os::unix::process::CommandExt;
    // /proc/self/exe runs even when the file was replaced (a package upgrade) since.
    std::process::Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_default_keeps_accounts_identity_and_certificates_hard_keeps_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let make = || {
            for f in [
                "users.json",
                "identity.json",
                "rules.json",
                "io.json",
                "netamp.lock",
            ] {
                std::fs::write(dir.path().join(f), "{}").expect("write");
            }
            for d in ["certs", "clips", "recordings"] {
                std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
                std::fs::write(dir.path().join(d).join("x"), "x").expect("write");
            }
        };
        let names = || {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())
                .expect("dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        make();
        reset_state(dir.path(), Reset::Restart).expect("restart");
        assert_eq!(names().len(), 8);
        reset_state(dir.path(), Reset::Factory).expect("factory");
        assert_eq!(
            names(),
            ["certs", "identity.json", "netamp.lock", "users.json"]
        );
        assert!(dir.path().join("certs/x").exists());
        make();
        reset_state(dir.path(), Reset::Hard).expect("hard");
        assert_eq!(names(), ["netamp.lock"]);
    }
}
