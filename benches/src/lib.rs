//! Shared pieces of netamp's side-by-side benchmarks: a release daemon and a tiny HTTP
//! client with pre-emptive Basic auth (so one request is one round trip).

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

pub use netamp_tests::{run, workspace_root as root};

/// A release-build daemon on an ephemeral port with the `null` output.
pub struct Daemon {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// SIP `127.0.0.1:<port>` (UDP and TCP), when started with `--sip`.
    pub sip: String,
    /// HTTPS `127.0.0.1:<port>`, when started with `--https` (off otherwise).
    pub https: String,
    /// SIP over TLS `127.0.0.1:<port>`, when started with `--sip-tls` (off otherwise).
    pub sip_tls: String,
}

impl Daemon {
    /// Builds (release) and starts netamp with `extra` args; data in `dir`.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        run(Command::new(env!("CARGO"))
            .args(["build", "--release", "-q", "-p", "netamp-control"])
            .current_dir(root()));
        let mut child = Command::new(root().join("target/release/netamp"))
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--http",
                "127.0.0.1:0",
                "--audio-in",
                "none",
                "--admin",
                "root:pass",
            ])
            .args(extra)
            // HTTPS only where a bench asks for it: daemons side by side would race for 443.
            .args(if extra.contains(&"--https") {
                &[][..]
            } else {
                &["--https", ""][..]
            })
            .args(if extra.contains(&"--sip-tls") {
                &[][..]
            } else {
                &["--sip-tls", ""][..]
            })
            .env("RUST_LOG", "warn,rsipstack::dialog::dialog=error")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start netamp");
        let stdout = child.stdout.take().expect("stdout");
        let mut addr = String::new();
        let mut sip = String::new();
        let mut https = String::new();
        let mut sip_tls = String::new();
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
                addr = rest.split('/').next().unwrap_or("").to_string();
                break;
            }
        }
        assert!(!addr.is_empty(), "netamp did not start");
        Daemon {
            child,
            addr,
            sip,
            https,
            sip_tls,
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the daemon has used so far (user + system), from `/proc`.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised name: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        Duration::from_millis(ticks * 10)
    }

    /// GET with Basic auth; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "")
    }

    /// A request with Basic auth and a JSON `body` (empty: none); returns (status, body).
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let auth = base64::engine::general_purpose::STANDARD.encode("root:pass");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let status = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The status document.
    pub fn status(&self) -> serde_json::Value {
        let (_, body) = self.get("/api/v1/status");
        serde_json::from_str(&body).expect("status json")
    }

    /// Uploads a file with curl; returns the clip id.
    pub fn upload(&self, file: &Path) -> u32 {
        let out = run(Command::new("curl")
            .args(["-sS", "--basic", "-u", "root:pass", "-F"])
            .arg(format!("file=@{}", file.display()))
            .arg(format!(
                "http://{}/axis-cgi/mediaclip.cgi?action=upload",
                self.addr
            )));
        let text = String::from_utf8_lossy(&out).to_string();
        text.lines()
            .find_map(|l| l.strip_prefix("uploaded="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("upload failed: {text}"))
    }

    /// Plays whose first sample went out so far.
    pub fn started(&self) -> u64 {
        self.status()["clips"]["trigger_latency_us"]["count"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Waits until `started` plays have started and nothing plays any more.
    pub fn wait_played(&self, started: u64, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            let s = self.status();
            let n = s["clips"]["trigger_latency_us"]["count"]
                .as_u64()
                .unwrap_or(0);
            if n >= started && s["audio"]["active_sources"].as_u64() == Some(0) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("still playing after {timeout:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Median of a sample.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Latencies (ms, sorted) of clicks sent at `sent` (Unix ns) as they appear in a `wav:`
/// capture whose first sample went out at `started` (Unix ns): each click is the first
/// loud sample after 100 ms of quiet that follows its send by less than 400 ms.
pub fn click_latencies(wav: &Path, started: u64, sent: &[u64]) -> Vec<f64> {
    let bytes = std::fs::read(wav).expect("capture");
    let mut onsets = Vec::new();
    let mut quiet = 0usize;
    for (n, b) in bytes.get(44..).unwrap_or(&[]).chunks_exact(2).enumerate() {
        if i16::from_le_bytes([b[0], b[1]]).unsigned_abs() > 8000 {
            if quiet > 4800 {
                onsets.push(started + n as u64 * 1_000_000_000 / 48_000);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    let mut lat: Vec<f64> = sent
        .iter()
        .filter_map(|&t| {
            onsets
                .iter()
                .find(|&&o| o > t && o - t < 400_000_000)
                .map(|&o| (o - t) as f64 / 1e6)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    lat
}

/// A bare-bones SIP caller for the benches: INVITE with a PCMU offer, ACK, BYE over UDP.
pub mod caller {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    /// An INVITE for call `i` from `port`, offering PCMU on `rtp_port` in `direction`.
    pub fn invite(i: usize, port: u16, rtp_port: u16, direction: &str) -> String {
        let sdp = format!("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n");
        format!(
            "INVITE sip:netamp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-b{i};rport\r\nFrom: <sip:bench@127.0.0.1>;tag=f{i}\r\nTo: <sip:netamp@127.0.0.1>\r\nCall-ID: bench-{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:bench@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    /// An in-dialog request of call `i`.
    pub fn in_dialog(method: &str, cseq: u32, i: usize, port: u16, to_tag: &str) -> String {
        format!(
            "{method} sip:netamp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{method}{i};rport\r\nFrom: <sip:bench@127.0.0.1>;tag=f{i}\r\nTo: <sip:netamp@127.0.0.1>;tag={to_tag}\r\nCall-ID: bench-{i}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    }

    /// An answered call.
    pub struct Answered {
        /// The To tag netamp chose.
        pub to_tag: String,
        /// netamp's RTP port from its answer.
        pub rtp_port: u16,
        /// INVITE sent → 200 OK received.
        pub rtt: Duration,
    }

    /// Sends the INVITE of call `i` to `target` and waits for the 200 (panics on 4xx/5xx).
    pub fn call(
        sock: &UdpSocket,
        target: &str,
        i: usize,
        rtp_port: u16,
        direction: &str,
    ) -> Answered {
        let port = sock.local_addr().expect("addr").port();
        let mut buf = [0u8; 4096];
        let t0 = Instant::now();
        sock.send_to(invite(i, port, rtp_port, direction).as_bytes(), target)
            .expect("send");
        loop {
            let (len, _) = sock.recv_from(&mut buf).expect("reply");
            let r = String::from_utf8_lossy(&buf[..len]).to_string();
            if r.starts_with("SIP/2.0 200") && r.contains("INVITE") {
                let rtt = t0.elapsed();
                let to_tag = r
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                    .and_then(|l| l.split("tag=").nth(1))
                    .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
                    .unwrap_or_default();
                let rtp_port = r
                    .lines()
                    .find_map(|l| l.strip_prefix("m=audio "))
                    .and_then(|m| m.split_whitespace().next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                return Answered {
                    to_tag,
                    rtp_port,
                    rtt,
                };
            }
            assert!(
                !r.starts_with("SIP/2.0 4") && !r.starts_with("SIP/2.0 5"),
                "{r}"
            );
        }
    }

    /// ACK and BYE for call `i`; waits for the BYE's 200.
    pub fn hang_up(sock: &UdpSocket, target: &str, i: usize, to_tag: &str) {
        let port = sock.local_addr().expect("addr").port();
        sock.send_to(in_dialog("BYE", 2, i, port, to_tag).as_bytes(), target)
            .expect("bye");
        let mut buf = [0u8; 4096];
        loop {
            let (len, _) = sock.recv_from(&mut buf).expect("bye reply");
            let r = String::from_utf8_lossy(&buf[..len]);
            if r.contains("BYE") && r.starts_with("SIP/2.0 200") {
                return;
            }
        }
    }

    /// ACK for call `i`.
    pub fn ack(sock: &UdpSocket, target: &str, i: usize, to_tag: &str) {
        let port = sock.local_addr().expect("addr").port();
        sock.send_to(in_dialog("ACK", 1, i, port, to_tag).as_bytes(), target)
            .expect("ack");
    }
}
