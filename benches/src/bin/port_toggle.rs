//! `port.cgi` toggle: request received → backend write latency (netamp's own measurement)
//! and requests per second under wrk, with Basic credentials on every request (a Digest
//! answer reused would be refused as a replay).
//!
//! `cargo run --release -p netamp-benches --bin port_toggle [SECONDS]`

use std::process::Command;

use netamp_benches::{run, Daemon};

fn main() {
    let seconds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("netamp-bench-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let d = Daemon::start(&dir.join("data"), &["--audio-out", "null"]);
    // Basic credentials on every request: wrk cannot compute a Digest answer per request,
    // and one answer reused is a replay, which netamp refuses since it tracks them.
    let auth = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("root:pass")
        )
    };
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
        "port.cgi toggle (wrk -t2 -c16 {seconds}s, Basic): {rps} ({non2xx}); request received → backend write over the last {} actions: p50 {} µs, p99 {} µs, max {} µs",
        lat["count"], lat["p50_us"], lat["p99_us"], lat["max_us"]
    );
    println!("{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
