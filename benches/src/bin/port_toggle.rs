//! `port.cgi` toggle: request received → backend write latency (netamp's own measurement)
//! and requests per second under wrk, with one Digest `Authorization` header reused (as a
//! client that keeps its nonce does).
//!
//! `cargo run --release -p netamp-benches --bin port_toggle [SECONDS]`

use std::process::Command;

use md5::{Digest, Md5};
use netamp_benches::{run, Daemon};

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn main() {
    let seconds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("netamp-bench-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let d = Daemon::start(&dir.join("data"), &["--audio-out", "null"]);
    // Take a nonce from a challenge, answer it once, reuse the answer.
    let head = run(Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .arg(format!("http://{}/axis-cgi/io/port.cgi", d.addr)));
    let head = String::from_utf8_lossy(&head).to_string();
    let nonce = head
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce")
        .to_string();
    let realm = head
        .split("realm=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("realm")
        .to_string();
    let uri = "/axis-cgi/io/port.cgi";
    let ha1 = md5_hex(&format!("root:{realm}:pass"));
    let ha2 = md5_hex(&format!("GET:{uri}"));
    let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:bench:auth:{ha2}"));
    let auth = format!("Digest username=\"root\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"bench\", response=\"{resp}\"");
    let script = dir.join("toggle.lua");
    std::fs::write(
        &script,
        format!(
            "local n = 0\nrequest = function()\n  n = n + 1\n  local a = (n % 2 == 0) and '%2F' or '%5C'\n  return wrk.format('GET', '/axis-cgi/io/port.cgi?action=5%3A' .. a, {{ ['Authorization'] = '{}' }})\nend\n",
            auth.replace('\'', "\\'")
        ),
    )
    .expect("script");
    let out = run(Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            "16",
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://{}/", d.addr)));
    let out = String::from_utf8_lossy(&out).to_string();
    let rps = out
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .unwrap_or("Requests/sec: ?")
        .to_string();
    let non2xx = out
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .unwrap_or("Non-2xx or 3xx responses: 0")
        .to_string();
    let s = d.status();
    let lat = &s["io"]["action_latency_us"];
    println!(
        "port.cgi toggle (wrk -t2 -c16 {seconds}s, Digest reused): {rps} ({non2xx}); request received → backend write over the last {} actions: p50 {} µs, p99 {} µs, max {} µs",
        lat["count"], lat["p50_us"], lat["p99_us"], lat["max_us"]
    );
    println!("{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
