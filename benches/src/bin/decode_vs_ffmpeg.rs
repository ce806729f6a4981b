//! Decode + resample of a 3-minute MP3 to 48 kHz mono: netamp's decoder path against
//! `ffmpeg -i x.mp3 -ar 48000 -ac 1 -f f32le -`, timed side by side in one run.
//!
//! `cargo run --release -p netamp-benches --bin decode_vs_ffmpeg`

use std::process::{Command, Stdio};
use std::time::Instant;

use netamp_benches::{median, run};
use netamp_engine::decode::{self, DecodeLimits};
use netamp_engine::resample::StreamResampler;

fn netamp_decode(path: &std::path::Path) -> usize {
    let mut reader = decode::open(path, DecodeLimits::default()).expect("open");
    let mut rs = StreamResampler::new(reader.sample_rate()).expect("resampler");
    let mut buf = Vec::with_capacity(4096);
    let mut out = 0usize;
    loop {
        buf.clear();
        let n = reader.read(&mut buf, 4096).expect("decode");
        if n == 0 {
            break;
        }
        rs.push(&buf);
        out += rs.ready().len();
        let k = rs.ready().len();
        rs.consume(k);
    }
    rs.finish();
    out + rs.ready().len()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("netamp-bench-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mp3 = dir.join("three-minutes.mp3");
    run(Command::new("ffmpeg").args([
        "-v", "error", "-y", "-f", "lavfi", "-i",
        "sine=frequency=440:duration=180:sample_rate=44100,aeval=val(0)*0.5+0.1*random(0)|val(0)*0.4:c=stereo",
        "-b:a", "192k",
    ]).arg(&mp3));
    let runs = 5;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut frames = 0;
    for _ in 0..runs {
        let t = Instant::now();
        frames = netamp_decode(&mp3);
        ours.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-threads", "1", "-i"])
            .arg(&mp3)
            .args(["-ar", "48000", "-ac", "1", "-f", "f32le", "-"])
            .stdout(Stdio::null())
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        theirs.push(t.elapsed().as_secs_f64());
    }
    let (o, f) = (median(ours), median(theirs));
    println!(
        "3-minute MP3 (44.1 kHz stereo, 192 kb/s) → 48 kHz mono f32, median of {runs}: netamp {:.3} s, ffmpeg {:.3} s, ratio {:.2} (goal <= 1.0); {frames} frames",
        o, f, o / f
    );
    let _ = std::fs::remove_dir_all(&dir);
}
