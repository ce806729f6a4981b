//! Devices on a machine without a sound card: the cpal/ALSA path runs up to the point
//! where hardware is needed, `default` falls back to `null`, and `wav:` writes real time.

use std::time::Duration;

use netamp_engine::decode::DecodeLimits;
use netamp_engine::device::{open_output, OutputSpec};
use netamp_engine::{Engine, EngineConfig, EngineError, StreamOptions};

fn engine() -> (Engine, netamp_engine::Renderer) {
    let (e, r, _events) =
        Engine::start(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    (e, r)
}

/// A started engine reports through its event channel, on the reader's side: the
/// stream's start and its end arrive in order, and the reader's thread is the one
/// that sees them (no caller code runs on the housekeeper).
#[test]
fn events_arrive_on_the_channel_in_order() {
    let (e, r, mut events) =
        Engine::start(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    let dev = open_output(&OutputSpec::Null, r).expect("null");
    let mut w = e.add_stream(StreamOptions::default()).expect("stream");
    let id = w.id();
    w.write(&[0.1; 480]);
    drop(w);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        match events.try_next() {
            Some(netamp_engine::EngineEvent::Started { id: s, .. }) if s == id => {
                seen.push("started")
            }
            Some(netamp_engine::EngineEvent::Ended { id: s, .. }) if s == id => seen.push("ended"),
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(seen, ["started", "ended"]);
    dev.stop();
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
