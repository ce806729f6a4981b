//! SIP over TLS against the release daemon on loopback, side by side with UDP in the same
//! run: INVITE (with an SRTP offer over TLS, a plain one over UDP) → 200 OK with
//! auto-answer, one call at a time (INVITE, 200, ACK, BYE, 200); over TLS on one kept
//! connection, and with a new TLS connection (handshake) per call.
//!
//! `cargo run --release -p netamp-benches --bin sip_tls [CALLS]`

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netamp_benches::{caller, Daemon};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A client configuration that trusts netamp's (self-signed) certificate.
fn client(cert_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(c.expect("certificate")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn connect(config: &Arc<rustls::ClientConfig>, addr: &str) -> Tls {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).ok();
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.flush().expect("handshake");
    s
}

const KEY: &str = "inline:YUJDZGVmZ2hpSktMbW5vUFFSc3R1VndYeXoxMjM0";

fn invite(i: usize, port: u16) -> String {
    let sdp = format!("v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 {KEY}\r\na=inactive\r\n");
    format!(
        "INVITE sip:netamp@127.0.0.1;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK-t{i};rport\r\nFrom: <sip:bench@127.0.0.1>;tag=f{i}\r\nTo: <sip:netamp@127.0.0.1>\r\nCall-ID: tls-bench-{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:bench@127.0.0.1:{port};transport=tls>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn in_dialog(method: &str, cseq: u32, i: usize, port: u16, to_tag: &str) -> String {
    format!(
        "{method} sip:netamp@127.0.0.1;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK-{method}{i};rport\r\nFrom: <sip:bench@127.0.0.1>;tag=f{i}\r\nTo: <sip:netamp@127.0.0.1>;tag={to_tag}\r\nCall-ID: tls-bench-{i}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads responses until one starting with `status` for `method`.
fn wait_for(s: &mut Tls, pending: &mut String, status: &str, method: &str) -> String {
    let mut buf = [0u8; 8192];
    loop {
        // Messages are split at their Content-Length (TLS is a stream).
        while let Some(end) = pending.find("\r\n\r\n") {
            let len: usize = pending[..end]
                .lines()
                .find_map(|l| {
                    let l = l.to_ascii_lowercase();
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if pending.len() < end + 4 + len {
                break;
            }
            let msg: String = pending.drain(..end + 4 + len).collect();
            assert!(
                !msg.starts_with("SIP/2.0 4") && !msg.starts_with("SIP/2.0 5"),
                "{msg}"
            );
            if msg.starts_with(status) && msg.contains(&format!(" {method}\r\n")) {
                return msg;
            }
        }
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "netamp closed the connection");
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

/// One call on `s`: INVITE → 200 time.
fn tls_call(s: &mut Tls, i: usize) -> Duration {
    let port = s.sock.local_addr().expect("addr").port();
    let mut pending = String::new();
    let t0 = Instant::now();
    s.write_all(invite(i, port).as_bytes()).expect("invite");
    let ok = wait_for(s, &mut pending, "SIP/2.0 200", "INVITE");
    let rtt = t0.elapsed();
    assert!(
        ok.contains("RTP/SAVP") && ok.contains("a=crypto:1 "),
        "{ok}"
    );
    let to_tag = ok
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .and_then(|l| l.split("tag=").nth(1))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    s.write_all(in_dialog("ACK", 1, i, port, &to_tag).as_bytes())
        .expect("ack");
    s.write_all(in_dialog("BYE", 2, i, port, &to_tag).as_bytes())
        .expect("bye");
    wait_for(s, &mut pending, "SIP/2.0 200", "BYE");
    rtt
}

fn report(label: &str, mut times: Vec<f64>) {
    let n = times.len();
    let p50 = percentile(&mut times, 0.5);
    let p99 = percentile(&mut times, 0.99);
    let max = percentile(&mut times, 1.0);
    println!(
        "INVITE -> 200 OK, {label} ({n} calls): p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms"
    );
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("netamp-bench-sip-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("netamp.toml");
    // As the UDP bench: a call's end is handled after its BYE's 200, so the next call may
    // come while it is still counted.
    std::fs::write(&conf, "[rtsp]\nlisten = \"\"\n[sip]\nmax_calls = 64\n").expect("config");
    let d = Daemon::start(
        &dir.join("data"),
        &[
            "--config",
            conf.to_str().unwrap_or_default(),
            "--sip-tls",
            "127.0.0.1:0",
            "--sip",
            "127.0.0.1:0",
            "--audio-out",
            "null",
        ],
    );
    let tls_addr = d.sip_tls.clone();
    let (status, pem) = d.get("/api/v1/https/certificate");
    assert_eq!(status, 200, "{pem}");
    let config = client(pem.as_bytes());
    let warm = 20;

    // UDP in the same run, as the reference.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let mut udp = Vec::new();
    for i in 0..calls + warm {
        let a = caller::call(&sock, &d.sip, i, 9, "inactive");
        if i >= warm {
            udp.push(a.rtt.as_secs_f64() * 1000.0);
        }
        caller::ack(&sock, &d.sip, i, &a.to_tag);
        caller::hang_up(&sock, &d.sip, i, &a.to_tag);
    }
    report("UDP, plain RTP offer", udp);

    let mut s = connect(&config, &tls_addr);
    let mut kept = Vec::new();
    for i in 0..calls + warm {
        let rtt = tls_call(&mut s, 100_000 + i);
        if i >= warm {
            kept.push(rtt.as_secs_f64() * 1000.0);
        }
    }
    report("TLS on one connection, SRTP offer", kept);

    let mut fresh = Vec::new();
    for i in 0..calls / 2 + warm {
        let t0 = Instant::now();
        let mut s = connect(&config, &tls_addr);
        let handshake = t0.elapsed();
        let rtt = tls_call(&mut s, 200_000 + i);
        if i >= warm {
            fresh.push((handshake + rtt).as_secs_f64() * 1000.0);
        }
        s.conn.send_close_notify();
        let _ = s.flush();
    }
    report(
        "new TLS connection per call (handshake + INVITE → 200), SRTP offer",
        fresh,
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
