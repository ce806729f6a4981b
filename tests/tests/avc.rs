//! Automatic volume control end to end: the `wav:` microphone plays a room whose noise
//! rises by 10 dB, then falls silent; the output gain follows within the configured
//! limit and slew, and a clip playing meanwhile gets louder by that much.

use std::time::Duration;

use netamp_tests::audio::read_capture;
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, status, upload_ok};
use netamp_tests::http::curl;

const RATE: u32 = 48_000;

/// Room noise: 120 sines between 100 Hz and 4 kHz with fixed pseudo-random frequencies
/// and phases, scaled to `rms_dbfs`.
fn room(seconds: f32, rms_dbfs: f32, seed: u32) -> Vec<f32> {
    let mut x = seed;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as f32 / u32::MAX as f32
    };
    let partials: Vec<(f32, f32)> = (0..120)
        .map(|_| (100.0 + 3900.0 * rnd(), std::f32::consts::TAU * rnd()))
        .collect();
    // Each unit sine has RMS 1/√2; 120 of them, uncorrelated: RMS √60.
    let scale = 10f32.powf(rms_dbfs / 20.0) / 60f32.sqrt();
    (0..(seconds * RATE as f32) as usize)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            partials
                .iter()
                .map(|(f, p)| (std::f32::consts::TAU * f * t + p).sin())
                .sum::<f32>()
                * scale
        })
        .collect()
}

fn write_wav(path: &std::path::Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for s in samples {
        w.write_sample((s * 32767.0) as i16).expect("sample");
    }
    w.finalize().expect("finalize");
}

fn rms_db(x: &[f32]) -> f64 {
    let e: f64 = x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64;
    10.0 * e.log10()
}

#[test]
fn output_follows_room_noise_within_limit_and_slew() {
    let scratch = tempfile::tempdir().expect("tmp");
    // 8 s at −50 dBFS, 8 s at −40 dBFS, 7 s at −20 dBFS, 9 s of silence.
    let mut mic = room(8.0, -50.0, 1);
    mic.extend(room(8.0, -40.0, 2));
    mic.extend(room(7.0, -20.0, 3));
    mic.extend(vec![0.0; 9 * RATE as usize]);
    let mic_path = scratch.path().join("room.wav");
    write_wav(&mic_path, &mic);
    // A steady 1 kHz tone at −26 dBFS to hear the gain by.
    let tone: Vec<f32> = (0..36 * RATE)
        .map(|i| 0.05 * (std::f32::consts::TAU * 1000.0 * i as f32 / RATE as f32).sin())
        .collect();
    let tone_path = scratch.path().join("tone.wav");
    write_wav(&tone_path, &tone);

    let d = Daemon::with(DaemonOptions {
        audio_in: Some(format!("wav:{}", mic_path.display())),
        config: "[audio]\navc = true\navc_threshold_dbfs = -60.0\navc_slope = 0.5\n\
                 avc_max_boost_db = 12.0\navc_slew_db_per_s = 3.0\n"
            .into(),
        ..DaemonOptions::default()
    });
    let id = upload_ok(&d, &tone_path);
    let r = curl(
        admin(),
        &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"))],
    );
    assert_eq!(r.status, 200);
    // (microphone time s, gain dB, output frame) every 250 ms.
    let mut trace: Vec<(f64, f64, u64)> = Vec::new();
    loop {
        let s = status(&d);
        let t = s["audio"]["input"]["frames"].as_f64().unwrap_or(0.0) / 100.0;
        let g = s["audio"]["avc_gain_db"].as_f64().unwrap_or(f64::NAN);
        let f = s["audio"]["output"]["frames_rendered"]
            .as_u64()
            .unwrap_or(0);
        trace.push((t, g, f));
        if t > 31.5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let at = |sec: f64| {
        trace
            .iter()
            .min_by(|a, b| (a.0 - sec).abs().total_cmp(&(b.0 - sec).abs()))
            .copied()
            .expect("trace")
    };
    let (quiet, loud, louder, silent) = (at(7.5).1, at(15.5).1, at(22.5).1, at(31.5).1);
    eprintln!(
        "AVC gain: {quiet:+.2} dB at −50 dBFS, {loud:+.2} dB at −40 dBFS, {louder:+.2} dB at −20 dBFS, {silent:+.2} dB in silence"
    );
    // Slope 0.5: 10 dB more noise asks for about 5 dB more gain. The estimate is read
    // after the echo canceller and tracks dips faster than peaks, so it sits 1–4 dB
    // under the mean level, more so in a quiet room; the rise is 5–7 dB.
    assert!(quiet > 1.0, "boosted above the threshold: {quiet}");
    assert!((4.0..=7.5).contains(&(loud - quiet)), "{quiet} → {loud}");
    assert!(
        (louder - 12.0).abs() < 0.3,
        "held to the 12 dB limit: {louder}"
    );
    assert!(silent.abs() < 0.5, "silence returns it: {silent}");
    let steepest = trace
        .windows(2)
        .filter(|w| w[1].0 - w[0].0 > 0.1)
        .map(|w| (w[1].1 - w[0].1).abs() / (w[1].0 - w[0].0))
        .fold(0.0, f64::max);
    eprintln!("steepest change {steepest:.2} dB/s (slew 3)");
    assert!(steepest <= 3.6, "slew: {steepest:.2} dB/s");
    // The clip itself got louder by the gain: output level at 15.5 s vs at 7.5 s.
    let capture = read_capture(&d.capture, 0);
    let level_at = |frame: u64| {
        let f = frame as usize;
        rms_db(&capture[f.saturating_sub(24_000)..f.min(capture.len())])
    };
    let rise = level_at(at(15.5).2) - level_at(at(7.5).2);
    eprintln!("clip level rose {rise:+.2} dB");
    assert!(
        (rise - (loud - quiet)).abs() < 0.7,
        "rise {rise:+.2} vs gain {:+.2}",
        loud - quiet
    );
}
