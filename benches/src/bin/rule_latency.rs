//! Rules, end to end on release daemons:
//!
//! 1. input edge (simulated backend) → first sample of the rule's clip at the device,
//!    side by side with the HTTP clip trigger (`mediaclip.cgi`) on a second daemon in
//!    the same run. Both are netamp's own measurement (`clips.trigger_latency_us`): from
//!    the input event's creation, or the HTTP request's arrival, to the block carrying the
//!    clip's first sample.
//! 2. input edge → HTTP notification received by a keep-alive loopback server (this
//!    process), measured from just before the simulated-input request is sent, so it
//!    includes that request (an upper bound of event → notification).
//!
//! `cargo run --release -p netamp-benches --bin rule_latency [EDGES]`

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netamp_benches::{run, Daemon};
use serde_json::json;

const PORT_TOPIC: &str = "tns1:Device/tnsaxis:IO/Port";

fn on_input(port: u32) -> serde_json::Value {
    json!({"topic": PORT_TOPIC, "content": format!(
        "boolean(//SimpleItem[@Name=\"port\" and @Value=\"{port}\"]) and boolean(//SimpleItem[@Name=\"state\" and @Value=\"1\"])")})
}

fn add(d: &Daemon, path: &str, body: serde_json::Value) -> u64 {
    let (status, reply) = d.request("POST", path, &body.to_string());
    assert_eq!(status, 200, "{reply}");
    serde_json::from_str::<serde_json::Value>(&reply).expect("json")["id"]
        .as_u64()
        .expect("id")
}

fn flip(d: &Daemon, port: u32, closed: bool) {
    let state = if closed { "closed" } else { "open" };
    let (status, reply) = d.request(
        "POST",
        "/api/v1/io/sim",
        &json!({"port": port, "state": state}).to_string(),
    );
    assert_eq!(status, 200, "{reply}");
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A keep-alive HTTP server answering 200 to every request; sends each arrival time.
fn server() -> (u16, mpsc::Receiver<Instant>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let _ = conn.set_nodelay(true);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let _ = tx.send(Instant::now());
                        buf.drain(..end + 4);
                        if conn
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, rx)
}

fn main() {
    let edges: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(250);
    let dir = std::env::temp_dir().join(format!("netamp-bench-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let clip = dir.join("click.mp3");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=1000:duration=0.05:sample_rate=44100")
        .arg(&clip));
    let http = Daemon::start(
        &dir.join("http"),
        &["--audio-out", "null", "--sip", "127.0.0.1:0", "--rtsp", ""],
    );
    let rules = Daemon::start(
        &dir.join("rules"),
        &["--audio-out", "null", "--sip", "127.0.0.1:0", "--rtsp", ""],
    );
    let http_clip = http.upload(&clip);
    let rule_clip = rules.upload(&clip);

    // Input 1 (port 7) closes → play the clip; input 2 (port 8) closes → notify.
    let play = add(
        &rules,
        "/api/v1/rules/actions",
        json!({"name": "click", "template": "com.axis.action.fixed.play.audioclip",
               "parameters": {"clip": rule_clip.to_string()}}),
    );
    add(
        &rules,
        "/api/v1/rules",
        json!({"name": "click", "enabled": true, "trigger": on_input(7), "action": play}),
    );
    let (port, arrivals) = server();
    let notify = add(
        &rules,
        "/api/v1/rules/actions",
        json!({"name": "notify", "template": "com.axis.action.fixed.notification.http",
               "parameters": {"upload_url": format!("http://127.0.0.1:{port}/event"),
                              "message": "input 2"}}),
    );
    add(
        &rules,
        "/api/v1/rules",
        json!({"name": "notify", "enabled": true, "trigger": on_input(8), "action": notify}),
    );

    for i in 0..edges {
        let (status, body) = http.get(&format!(
            "/axis-cgi/mediaclip.cgi?action=play&clip={http_clip}"
        ));
        assert_eq!(status, 200, "{body}");
        http.wait_played(i as u64 + 1, Duration::from_secs(5));
        flip(&rules, 7, true);
        rules.wait_played(i as u64 + 1, Duration::from_secs(5));
        flip(&rules, 7, false);
    }
    let mut notified = Vec::with_capacity(edges);
    for _ in 0..edges {
        let sent = Instant::now();
        flip(&rules, 8, true);
        let got = arrivals
            .recv_timeout(Duration::from_secs(5))
            .expect("notification");
        notified.push(got.duration_since(sent).as_secs_f64() * 1000.0);
        flip(&rules, 8, false);
    }
    let ms = |s: &serde_json::Value, k: &str| {
        s["clips"]["trigger_latency_us"][k].as_f64().unwrap_or(0.0) / 1000.0
    };
    let (h, r) = (http.status(), rules.status());
    println!(
        "clip trigger over {} plays each: HTTP request p50 {:.2} ms, p99 {:.2} ms; input edge (rule) p50 {:.2} ms, p99 {:.2} ms; p99 difference {:+.2} ms (goal within 1 ms)",
        edges,
        ms(&h, "p50_us"),
        ms(&h, "p99_us"),
        ms(&r, "p50_us"),
        ms(&r, "p99_us"),
        ms(&r, "p99_us") - ms(&h, "p99_us"),
    );
    let p50 = percentile(&mut notified, 0.5);
    let p99 = percentile(&mut notified, 0.99);
    println!(
        "input edge → HTTP notification received (keep-alive loopback server), {edges} edges: p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms (goal p99 <= 5 ms)",
        notified.last().copied().unwrap_or(0.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
