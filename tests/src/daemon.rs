//! Starting and stopping the real `netamp` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::workspace_root;

/// Administrator every test daemon starts with.
pub const ADMIN: (&str, &str) = ("root", "pass");
/// [`ADMIN`]'s credentials as a Basic `Authorization` value's base64 part (for requests
/// written by hand on a socket).
pub fn admin_basic() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ADMIN.0, ADMIN.1))
}

/// MAC every test daemon is configured with.
pub const MAC: &str = "ACCC8EC43707";

/// The daemon binary, built on first use if `cargo build` has not made it yet.
/// `NETAMP_BIN` names another one (an installed package's, or an older build to show a
/// regression test failing on it), which is then used as it is.
pub fn netamp_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("NETAMP_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let bin = target.join("debug").join("netamp");
    static BUILD: std::sync::Once = std::sync::Once::new();
    // Always asked (a no-op when fresh): `cargo test -p netamp-tests` does not rebuild the
    // daemon by itself, and a stale binary tests old code.
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "netamp-control", "--bin", "netamp"])
            .current_dir(workspace_root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building netamp failed");
    });
    bin
}

/// The netamp binary with a state directory of its own and no config file, HTTP and SIP
/// on ephemeral loopback ports, RTSP and HTTPS off: for tests that start it by hand.
pub fn bare_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(netamp_bin());
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["--config", "/dev/null", "--http", "127.0.0.1:0"])
        .args(["--sip", "127.0.0.1:0", "--rtsp", "", "--https", ""])
        .args(["--sip-tls", ""]);
    cmd
}

/// Options for one daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// Extra lines for netamp.toml.
    pub config: String,
    /// Start without `--admin` (no account exists).
    pub no_admin: bool,
    /// Reuse this data directory (restart tests).
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address (default `127.0.0.1:0`).
    pub http: Option<String>,
    /// `--audio-in` spec (default `none`).
    pub audio_in: Option<String>,
    /// HTTPS listen address (default: HTTPS off).
    pub https: Option<String>,
    /// SIP over TLS listen address (default: off; `127.0.0.1:0` picks a port).
    pub sip_tls: Option<String>,
}

/// A running daemon; dropping it stops it (SIGTERM, so the WAV gets its final header).
pub struct Daemon {
    child: Option<Child>,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// SIP (UDP and TCP) `127.0.0.1:<port>`, empty when SIP is off.
    pub sip: String,
    /// HTTPS `127.0.0.1:<port>`, empty when HTTPS is off.
    pub https: String,
    /// SIP over TLS `127.0.0.1:<port>`, empty when it is off.
    pub sip_tls: String,
    /// Scratch directory of this daemon.
    pub dir: tempfile::TempDir,
    /// State directory.
    pub data_dir: PathBuf,
    /// The `wav:` output capture.
    pub capture: PathBuf,
}

impl Daemon {
    /// Starts with defaults.
    pub fn start() -> Self {
        Self::with(DaemonOptions::default())
    }

    /// Starts with options; waits until HTTP listens.
    pub fn with(opts: DaemonOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let capture = dir.path().join("out.wav");
        let config = dir.path().join("netamp.toml");
        // RTSP (port 554) only where a test asks for it: parallel daemons would race for it.
        let rtsp = if opts.config.contains("[rtsp]") {
            ""
        } else {
            "[rtsp]\nlisten = \"\"\n"
        };
        std::fs::write(
            &config,
            format!("[device]\nmac = \"{MAC}\"\n{rtsp}{}\n", opts.config),
        )
        .expect("write config");
        let mut cmd = Command::new(netamp_bin());
        cmd.arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--http")
            .arg(opts.http.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--https")
            .arg(opts.https.as_deref().unwrap_or(""))
            .arg("--sip-tls")
            .arg(opts.sip_tls.as_deref().unwrap_or(""))
            .args(["--sip", "127.0.0.1:0", "--audio-in"])
            .arg(opts.audio_in.as_deref().unwrap_or("none"))
            .arg("--audio-out")
            .arg(format!("wav:{}", capture.display()))
            .env(
                "RUST_LOG",
                std::env::var("NETAMP_TEST_LOG").unwrap_or_else(|_| {
                    "warn,warp::server::run=off,rsipstack::dialog::dialog=error,rustls_platform_verifier=off".into()
                }),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if !opts.no_admin {
            cmd.arg("--admin").arg(format!("{}:{}", ADMIN.0, ADMIN.1));
        }
        let mut child = cmd.spawn().expect("start netamp");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sip = String::new();
            let mut sip_tls = String::new();
            let mut https = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("netamp: SIP on udp and tcp ") {
                    sip = rest.trim().to_string();
                }
                if let Some(rest) = line.strip_prefix("netamp: SIP on tls ") {
                    sip_tls = rest.trim().to_string();
                }
                if let Some(rest) = line.strip_prefix("netamp: HTTPS listening on https://") {
                    https = rest.split('/').next().unwrap_or("").to_string();
                }
                if let Some(rest) = line.strip_prefix("netamp: HTTP listening on http://") {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send((addr, sip.clone(), https.clone(), sip_tls.clone()));
                }
            }
        });
        let (addr, sip, https, sip_tls) = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("netamp did not start listening within 30 s");
            }
        };
        Daemon {
            child: Some(child),
            addr,
            sip,
            https,
            sip_tls,
            dir,
            data_dir,
            capture,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Kills the daemon with SIGKILL, as a crash or power cut would end it.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The daemon's process id (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits up to `within` for the process to end: how long it took and
    /// its exit status, or `None` (then it is killed).
    pub fn terminate(&mut self, within: Duration) -> Option<(Duration, std::process::ExitStatus)> {
        let mut child = self.child.take()?;
        let t0 = std::time::Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        while t0.elapsed() < within {
            if let Ok(Some(status)) = child.try_wait() {
                return Some((t0.elapsed(), status));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Stops the daemon (SIGTERM) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
