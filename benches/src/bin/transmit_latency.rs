//! transmit.cgi latency: a byte's arrival at netamp → that sample leaving the output
//! device, at steady state. A sender streams µ-law 8 kHz in 20 ms packets (an RTP-like
//! pace) with a click at the start of every 25th packet, noting the wall-clock time just
//! before each click's packet is written; the daemon's `wav:` output maps frame `n` to
//! `audio.output.started_unix_ns + n / 48 kHz`, so each click's latency is where it
//! appears in the capture minus when it was sent. The first two seconds are left out
//! (start-up), and loopback TCP adds microseconds, so "sent" is "arrived".
//!
//! `cargo run --release -p netamp-benches --bin transmit_latency [SECONDS] [MIN_BUFFER_MS]`

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netamp_benches::{click_latencies, Daemon};

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let min_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let dir = std::env::temp_dir().join(format!("netamp-bench-tx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("netamp.toml");
    std::fs::write(
        &conf,
        format!("[rtsp]\nlisten = \"\"\n[audio]\ntransmit_buffer_min_ms = {min_ms}\n"),
    )
    .expect("config");
    let wav = dir.join("out.wav");
    let d = Daemon::start(
        &dir.join("data"),
        &[
            "--config",
            conf.to_str().unwrap_or_default(),
            "--audio-out",
            &format!("wav:{}", wav.display()),
        ],
    );
    let started = d.status()["audio"]["output"]["started_unix_ns"]
        .as_u64()
        .expect("started_unix_ns");

    let mut s = std::net::TcpStream::connect(d.addr.as_str()).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    write!(
        s,
        "POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Basic cm9vdDpwYXNz\r\nContent-Type: audio/basic\r\n\
         Content-Length: 99999999\r\n\r\n",
        d.addr
    )
    .expect("headers");
    let silence = netamp_dsp::g711::linear_to_ulaw(0);
    let click = netamp_dsp::g711::linear_to_ulaw(24000);
    let packets = seconds * 50;
    let mut sent = Vec::new();
    let t0 = Instant::now();
    for i in 0..packets {
        let due = t0 + Duration::from_millis(20 * i);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let mut p = vec![silence; 160];
        if i % 25 == 0 {
            p[..8].fill(click);
            sent.push(unix_ns());
        }
        s.write_all(&p).expect("send");
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(1500));
    drop(d);

    let lat = click_latencies(&wav, started, sent.get(4..).unwrap_or(&[]));
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!(
        "transmit.cgi byte arrival -> device output over {} clicks (µ-law 8 kHz, 20 ms packets, min cushion {min_ms} ms, period 5 ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; goal p50 <= 30 ms",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
