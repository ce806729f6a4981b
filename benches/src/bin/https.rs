//! HTTPS against plain HTTP on one daemon in the same run:
//! - a new connection's TLS handshake plus one Digest request (the 401 and the answered
//!   retry on that connection), curl's own timing, 200 times, p50/p99; the same over HTTP;
//! - `port.cgi` toggles per second with keep-alive (wrk -t2 -c16, Basic), HTTPS over HTTP.
//!
//! `cargo run --release -p netamp-benches --bin https [SECONDS]`

use std::process::Command;

use netamp_benches::{run, Daemon};

/// curl's `time_total` of one fresh-connection Digest request, seconds.
fn one(url: &str, ca: &str) -> f64 {
    let out = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--digest", "-u", "root:pass"])
        .args(["--cacert", ca, "-w", "%{time_total}"])
        .arg(url));
    String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] * 1000.0;
    (at(0.5), at(0.99))
}

/// wrk's requests per second toggling port 5 at `base` for `seconds`.
fn rate(base: &str, seconds: u32, script: &std::path::Path) -> f64 {
    let out = run(Command::new("wrk")
        .args(["-t", "2", "-c", "16", "-d", &format!("{seconds}s"), "-s"])
        .arg(script)
        .arg(base));
    let out = String::from_utf8_lossy(&out).to_string();
    assert!(!out.contains("Non-2xx"), "{out}");
    out.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let seconds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    let dir = std::env::temp_dir().join(format!("netamp-bench-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("data");
    let d = Daemon::start(
        &data,
        &[
            "--audio-out",
            "null",
            "--https",
            "127.0.0.1:0",
            "--rtsp",
            "",
        ],
    );
    let ca = data.join("certs/https.crt").display().to_string();
    let path = "/axis-cgi/param.cgi?action=list&group=Brand";
    let (mut tls, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        tls.push(one(&format!("https://{}{path}", d.https), &ca));
        plain.push(one(&format!("http://{}{path}", d.addr), &ca));
    }
    let (t50, t99) = percentiles(tls);
    let (p50, p99) = percentiles(plain);
    println!(
        "new connection + Digest request (200 each, interleaved): HTTPS p50 {t50:.2} ms, p99 {t99:.2} ms; HTTP p50 {p50:.2} ms, p99 {p99:.2} ms"
    );

    let script = dir.join("toggle.lua");
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("root:pass")
    };
    std::fs::write(
        &script,
        format!(
            "local n = 0\nrequest = function()\n  n = n + 1\n  local a = (n % 2 == 0) and '%2F' or '%5C'\n  return wrk.format('GET', '/axis-cgi/io/port.cgi?action=5%3A' .. a, {{ ['Authorization'] = 'Basic {auth}' }})\nend\n"
        ),
    )
    .expect("script");
    let http = rate(&format!("http://{}/", d.addr), seconds, &script);
    let https = rate(&format!("https://{}/", d.https), seconds, &script);
    let http2 = rate(&format!("http://{}/", d.addr), seconds, &script);
    let https2 = rate(&format!("https://{}/", d.https), seconds, &script);
    println!(
        "port.cgi toggles/s, keep-alive (wrk -t2 -c16 {seconds}s, Basic), alternating: HTTP {http:.0} / {http2:.0}, HTTPS {https:.0} / {https2:.0}; HTTPS/HTTP {:.2}",
        (https + https2) / (http + http2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
