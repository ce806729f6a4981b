//! Resident memory: idle, and the increase while a 1-hour clip plays (decoding streams, so
//! memory must not grow with clip length).
//!
//! `cargo run --release -p netamp-benches --bin memory`

use std::process::Command;
use std::time::Duration;

use netamp_benches::{run, Daemon};

fn rss_mb(d: &Daemon) -> f64 {
    d.status()["process"]["rss_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0
}

fn main() {
    let dir = std::env::temp_dir().join(format!("netamp-bench-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let hour = dir.join("one-hour.mp3");
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=3600:sample_rate=44100",
            "-ac",
            "1",
            "-b:a",
            "48k",
        ])
        .arg(&hour));
    let d = Daemon::start(&dir.join("data"), &["--audio-out", "null"]);
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_mb(&d);
    let id = d.upload(&hour);
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_mb(&d);
    let (status, body) = d.get(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"));
    assert_eq!(status, 200, "{body}");
    let mut peak: f64 = before;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(rss_mb(&d));
    }
    println!(
        "RSS idle {idle:.1} MB (goal < 20); after uploading a 1-hour MP3 {before:.1} MB; peak while it plays {peak:.1} MB, increase {:.2} MB (goal < 2)",
        peak - before
    );
    let _ = std::fs::remove_dir_all(&dir);
}
