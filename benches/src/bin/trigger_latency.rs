//! Clip trigger latency: HTTP request received → first clip sample written to the device,
//! p50/p99 over 200+ plays at the default period (netamp measures both ends itself and
//! reports them in /api/v1/status).
//!
//! `cargo run --release -p netamp-benches --bin trigger_latency [PLAYS]`

use std::process::Command;
use std::time::Duration;

use netamp_benches::{run, Daemon};

fn main() {
    let plays: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(250);
    let dir = std::env::temp_dir().join(format!("netamp-bench-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let clip = dir.join("click.mp3");
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:duration=0.05:sample_rate=44100",
        ])
        .arg(&clip));
    let d = Daemon::start(&dir.join("data"), &["--audio-out", "null"]);
    let id = d.upload(&clip);
    for i in 0..plays {
        let (status, body) = d.get(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"));
        assert_eq!(status, 200, "{body}");
        d.wait_played(i as u64 + 1, Duration::from_secs(5));
    }
    let s = d.status();
    let lat = &s["clips"]["trigger_latency_us"];
    let period_ms = s["audio"]["output"]["period_frames"]
        .as_f64()
        .unwrap_or(240.0)
        / 48.0;
    println!(
        "clip trigger latency over {} plays (MP3 44.1 kHz, period {period_ms} ms): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; goal p99 <= {:.1} ms",
        lat["count"],
        lat["p50_us"].as_f64().unwrap_or(0.0) / 1000.0,
        lat["p99_us"].as_f64().unwrap_or(0.0) / 1000.0,
        lat["max_us"].as_f64().unwrap_or(0.0) / 1000.0,
        period_ms + 5.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
