//! Devices on a machine without a sound card: the cpal/ALSA path runs up to the point
//! where hardware is needed, `default` falls back to `null`, and `wav:` writes real time.

use std::time::Duration;

use netamp_engine::decode::DecodeLimits;
use netamp_engine::device::{open_output, OutputSpec};
use netamp_engine::{Engine, EngineConfig, EngineError, StreamOptions};

fn engine() -> (Engine, netamp_engine::Renderer) {
    Engine::start(EngineConfig::default(), DecodeLimits::default(), |_| {}).expect("engine")
}

#[test]
fn named_devices_that_do_not_exist_are_clear_errors() {
    for spec in ["cpal:no-such-card", "alsa:no-such-pcm"] {
        let (_e, r) = engine();
        let spec: OutputSpec = spec.parse().expect("spec");
        match open_output(&spec, r) {
            Err(EngineError::Device(msg)) => assert!(!msg.is_empty()),
            Err(other) => panic!("{spec}: unexpected error {other}"),
            Ok(dev) => {
                // A machine with that device name: then it must really run.
                assert!(dev.name().starts_with("cpal:"), "{}", dev.name());
            }
        }
    }
}

#[test]
fn default_output_opens_a_card_or_falls_back_to_null() {
    let (e, r) = engine();
    let dev = open_output(&OutputSpec::Default, r).expect("default output");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        dev.name() == "null" || dev.name().starts_with("cpal:"),
        "{}",
        dev.name()
    );
    assert!(e.stats().frames_rendered > 0, "nothing rendered");
    dev.stop();
}

#[test]
fn wav_output_is_paced_at_real_time_and_finalised() {
    let dir = std::env::temp_dir().join(format!("netamp-dev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("o.wav");
    let (e, r) = engine();
    let mut w = e
        .add_stream(StreamOptions {
            capacity_ms: 2000,
            ..Default::default()
        })
        .expect("stream");
    w.write(&vec![0.25; 48_000]);
    let t0 = std::time::Instant::now();
    let dev = open_output(&OutputSpec::Wav(path.clone()), r).expect("wav");
    std::thread::sleep(Duration::from_millis(600));
    dev.stop();
    let elapsed = t0.elapsed().as_secs_f64();
    let bytes = std::fs::read(&path).expect("read");
    let frames = (bytes.len() - 44) / 2;
    let data_len = u32::from_le_bytes(bytes[40..44].try_into().expect("4 bytes")) as usize;
    assert_eq!(data_len, bytes.len() - 44, "header not final");
    // Paced: the frame count follows wall-clock time (ratio, not an absolute time).
    let ratio = frames as f64 / (elapsed * 48_000.0);
    assert!(
        (0.8..=1.05).contains(&ratio),
        "{frames} frames in {elapsed:.3} s"
    );
    assert_eq!(
        i16::from_le_bytes([bytes[44], bytes[45]]),
        (0.25f32 * 32767.0).round() as i16
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}
