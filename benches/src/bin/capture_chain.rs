//! Capture chain CPU: one 10 ms frame (48 kHz mono) through the echo canceller (render
//! reference fed too), noise suppression and AGC, each alone and all together. Reports
//! microseconds per frame and the share of real time (10 ms) on this machine.
//!
//! `cargo run --release -p netamp-benches --bin capture_chain [FRAMES]`

use std::time::Instant;

use netamp_dsp::echo::{CaptureProcessor, Stages, FRAME};

fn main() {
    let frames: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    // Far-end and microphone: two different pseudo-random signals with an echo of the
    // first in the second, so every stage has work to do.
    let mut x = 0x9e37_79b9u32;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x as f32 / u32::MAX as f32) * 0.2 - 0.1
    };
    let far: Vec<f32> = (0..frames * FRAME).map(|_| rnd()).collect();
    let mic: Vec<f32> = (0..frames * FRAME)
        .map(|i| 0.5 * far[i.saturating_sub(2400)] + 0.3 * rnd())
        .collect();
    let cases = [
        (
            "echo canceller",
            Stages {
                echo_cancel: true,
                noise_suppression: false,
                agc: false,
            },
        ),
        (
            "noise suppression",
            Stages {
                echo_cancel: false,
                noise_suppression: true,
                agc: false,
            },
        ),
        (
            "AGC",
            Stages {
                echo_cancel: false,
                noise_suppression: false,
                agc: true,
            },
        ),
        (
            "AEC3 + NS + AGC",
            Stages {
                echo_cancel: true,
                noise_suppression: true,
                agc: true,
            },
        ),
    ];
    for (name, stages) in cases {
        let mut p = CaptureProcessor::new(stages);
        let mut frame = vec![0f32; FRAME];
        let t0 = Instant::now();
        for f in 0..frames {
            let r = f * FRAME..(f + 1) * FRAME;
            p.render(&far[r.clone()]);
            frame.copy_from_slice(&mic[r]);
            p.capture(&mut frame);
        }
        let per = t0.elapsed().as_secs_f64() / frames as f64;
        println!(
            "capture chain, {name}: {:.1} µs per 10 ms frame = {:.2} % of real time ({frames} frames)",
            per * 1e6,
            per / 0.01 * 100.0
        );
    }
}
