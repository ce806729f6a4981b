//! Real servers for the recipient tests, started by the test: an HTTP(S) server that
//! records what it gets (Python's `http.server`, TLS by Python's `ssl`), an SMTP server
//! (Debian's `python3-aiosmtpd`), and a self-signed certificate made with `openssl`.
//! Each prints one JSON line per thing it received; [`Peer::next`] reads them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::{require_tool, run, workspace_root};

/// Debian's Python, which has `python3-aiosmtpd` (`scripts/test` installs it).
const PYTHON: &str = "/usr/bin/python3";

/// A peer process; killed when dropped.
pub struct Peer {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// The first line it printed (its port, or that it is ready).
    pub hello: Value,
}

impl Peer {
    fn start(script: &str, args: &[&str]) -> Self {
        assert!(
            Path::new(PYTHON).exists(),
            "the recipient tests need {PYTHON}; run scripts/test, which installs it"
        );
        let mut child = Command::new(PYTHON)
            .arg(workspace_root().join("tests/peers").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let hello = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                panic!("{script} did not start within 20 s");
            }
        };
        Self {
            child,
            lines: rx,
            hello,
        }
    }

    /// The next thing it received, waiting at most `within`.
    pub fn next(&self, within: Duration) -> Option<Value> {
        self.lines.recv_timeout(within).ok()
    }

    /// The port it listens on (HTTP recorder).
    pub fn port(&self) -> u16 {
        self.hello["port"].as_u64().expect("port") as u16
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP server recording each request; HTTPS with `tls` (certificate, key).
pub fn http_recorder(tls: Option<(&Path, &Path)>) -> Peer {
    match tls {
        Some((c, k)) => Peer::start(
            "http_recorder.py",
            &[&c.to_string_lossy(), &k.to_string_lossy()],
        ),
        None => Peer::start("http_recorder.py", &[]),
    }
}

/// An SMTP server on `port` requiring STARTTLS and then AUTH as `user`/`password`.
pub fn smtp_server(port: u16, cert: &Path, key: &Path, user: &str, password: &str) -> Peer {
    Peer::start(
        "smtp_server.py",
        &[
            &port.to_string(),
            &cert.to_string_lossy(),
            &key.to_string_lossy(),
            user,
            password,
        ],
    )
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (certificate, key).
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    require_tool("openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null()));
    (cert, key)
}

/// A syslog server on 127.0.0.1: UDP and TLS (with `cert`, `key`) ports in its hello.
pub fn syslog_receiver(cert: &Path, key: &Path) -> Peer {
    Peer::start(
        "syslog_receiver.py",
        &[&cert.to_string_lossy(), &key.to_string_lossy()],
    )
}

/// A CA and a server certificate it signed for 127.0.0.1, in `dir`: (CA certificate,
/// server certificate, server key), PEM files.
pub fn ca_signed(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    require_tool("openssl");
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=netamp test CA"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem"))
        .stderr(Stdio::null()));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr"))
        .stderr(Stdio::null()));
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "1", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("server.ext"))
        .arg("-out")
        .arg(p("server.pem"))
        .stderr(Stdio::null()));
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Kamailio as a registrar that takes REGISTER only over TLS (no authentication), with
/// `cert` and `key` (PEM) for its TLS listener; killed when dropped.
pub struct KamailioTls {
    child: Child,
    /// Its TLS port on 127.0.0.1.
    pub tls_port: u16,
    dir: tempfile::TempDir,
}

impl KamailioTls {
    /// Starts it on free ports and waits for its TLS listener.
    pub fn start(cert: &Path, key: &Path) -> Self {
        require_tool("kamailio");
        let dir = tempfile::tempdir().expect("tmp");
        let (udp, tls_port) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("tls.cfg"),
            format!(
                "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\nprivate_key = {}\ncertificate = {}\n",
                key.display(),
                cert.display()
            ),
        )
        .expect("tls.cfg");
        std::fs::write(
            dir.path().join("kamailio.cfg"),
            format!(
                r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
enable_tls=yes
auto_aliases=no
listen=udp:127.0.0.1:{udp}
listen=tls:127.0.0.1:{tls_port}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "tls.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
modparam("tls", "config", "{}")
modparam("usrloc", "db_mode", 0)
request_route {{
    if (is_method("REGISTER")) {{
        if ($pr != "tls") {{
            sl_send_reply("403", "TLS only");
            exit;
        }}
        xlog("L_NOTICE", "REGISTER over $pr for $tu\n");
        save("location");
        exit;
    }}
    sl_send_reply("404", "Not here");
    exit;
}}
"#,
                dir.path().join("tls.cfg").display()
            ),
        )
        .expect("kamailio.cfg");
        let log = std::fs::File::create(dir.path().join("kamailio.log")).expect("log");
        // Its own process group: Kamailio forks its workers, and they go with it.
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("kamailio")
            .process_group(0)
            .arg("-f")
            .arg(dir.path().join("kamailio.cfg"))
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
            .arg(dir.path())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start kamailio");
        let t0 = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("kamailio.log"));
                panic!("kamailio exited ({status}): {}", log.unwrap_or_default());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "kamailio did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            tls_port,
            dir,
        }
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for KamailioTls {
    fn drop(&mut self) {
        // The whole group: killing the main process alone leaves its workers behind.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
