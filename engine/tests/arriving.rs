//! A `transmit.cgi` body's path in simulated time: bytes handed to [`ArrivingStream`] at
//! their arrival instants, written to an offline engine's stream as the playout core
//! plans, the renderer run at the device's pace. Minutes of audio run in a second, and
//! a busy machine's scheduling does not enter.

use std::time::{Duration, Instant};

use netamp_dsp::g711;
use netamp_engine::decode::DecodeLimits;
use netamp_engine::live::playout::{PlayoutConfig, Ring};
use netamp_engine::live::{ArrivingStream, LiveFormat};
use netamp_engine::{Engine, EngineConfig, StreamOptions, StreamWriter};

/// Simulation step, seconds.
const STEP: f64 = 0.0005;
/// Render block, seconds (the engine's 240 frames).
const BLOCK: f64 = 0.005;

struct Sender {
    /// Its clock against the device's, ppm (+: fast).
    ppm: f64,
    /// Seconds of audio.
    secs: f64,
    /// Sender seconds per write (0.02: an RTP-like sender; 0.256: ffmpeg `-re`).
    chunk: f64,
    /// Extra network delay of chunk i, ms.
    jitter: fn(usize) -> f64,
    /// Sends everything at once (a whole file POSTed).
    at_once: bool,
}

impl Default for Sender {
    fn default() -> Self {
        Self {
            ppm: 0.0,
            secs: 60.0,
            chunk: 0.02,
            jitter: |_| 0.0,
            at_once: false,
        }
    }
}

struct Played {
    /// The ring's level after each block, ms.
    levels: Vec<f64>,
    /// Dry spells counted at each whole second.
    dry: Vec<u64>,
    /// The drift cancelled at each whole second.
    drift: Vec<f64>,
    /// Samples the writer could not place at once (held back).
    held_back: bool,
}

const CONFIG: PlayoutConfig = PlayoutConfig {
    cushion: 960,
    max_cushion: 24_000,
    poll_slack: 0,
};

fn simulate(s: Sender) -> Played {
    let (engine, mut renderer, _driver) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    let mut stream = ArrivingStream::new(LiveFormat::from_mime("audio/basic").unwrap(), CONFIG);
    let n = (s.secs * 8000.0) as usize;
    let bytes: Vec<u8> = (0..n)
        .map(|i| {
            let x = (i as f32 * 440.0 / 8000.0 * std::f32::consts::TAU).sin() * 8000.0;
            g711::linear_to_ulaw(x as i16)
        })
        .collect();
    let per = (s.chunk * 8000.0) as usize;
    // (arrival seconds, byte range)
    let mut arrivals: Vec<(f64, usize)> = (0..n.div_ceil(per))
        .map(|i| {
            let sent = if s.at_once {
                0.0
            } else {
                (i + 1) as f64 * s.chunk / (1.0 + s.ppm / 1e6)
            };
            (sent + (s.jitter)(i) / 1000.0, i)
        })
        .collect();
    // TCP delivers in order.
    for i in 1..arrivals.len() {
        arrivals[i].0 = arrivals[i].0.max(arrivals[i - 1].0);
    }
    let t0 = Instant::now();
    let at = |t: f64| t0 + Duration::from_secs_f64(t);
    let mut writer: Option<StreamWriter> = None;
    let mut pending: Vec<f32> = Vec::new();
    let mut block = vec![0f32; renderer.period()];
    let mut played = Played {
        levels: Vec::new(),
        dry: Vec::new(),
        drift: Vec::new(),
        held_back: false,
    };
    let (mut next, mut blocks) = (0, 0u64);
    for step in 0..((s.secs + 1.0) / STEP) as u64 {
        let t = step as f64 * STEP;
        // Like the handler: the next chunk is read only once the last one is written.
        if pending.is_empty() && next < arrivals.len() && arrivals[next].0 <= t {
            let i = arrivals[next].1;
            let chunk = &bytes[i * per..((i + 1) * per).min(n)];
            let device = engine.device_position(at(t));
            let samples = stream.decode(Some(chunk), device).expect("decode").to_vec();
            let w = writer.get_or_insert_with(|| {
                engine
                    .add_stream(StreamOptions {
                        gain: 1.0,
                        priority: 7,
                        capacity_ms: 1000,
                    })
                    .expect("stream")
            });
            let plan = stream.plan(Ring {
                buffered: w.buffered(),
                starved: w.starved_frames(),
                device: device as u64,
            });
            pending.resize(plan.fill, 0.0);
            pending.extend_from_slice(&samples);
            next += 1;
        }
        if let Some(w) = writer.as_mut() {
            let n = w.write(&pending);
            pending.drain(..n);
            if !pending.is_empty() {
                // The handler waits for room: the sender is ahead of real time.
                stream.held_back();
                played.held_back = true;
            }
        }
        while blocks as f64 * BLOCK <= t {
            renderer.render(&mut block, at(t));
            played
                .levels
                .push(writer.as_ref().map_or(0, StreamWriter::buffered) as f64 / 48.0);
            blocks += 1;
            if blocks % 200 == 0 {
                played.dry.push(stream.playout().dry_spells());
                played.drift.push(stream.playout().drift());
            }
        }
    }
    played
}

fn level_range(p: &Played, from: usize, to: usize) -> (f64, f64) {
    let span = &p.levels[from * 200..to * 200];
    (
        span.iter().copied().fold(f64::MAX, f64::min),
        span.iter().copied().fold(0.0, f64::max),
    )
}

#[test]
fn a_sender_1000_ppm_fast_or_slow_is_followed_and_the_ring_holds() {
    for ppm in [-1000.0, 1000.0] {
        let p = simulate(Sender {
            ppm,
            ..Sender::default()
        });
        let learnt = p.drift[58] * 1e6;
        let (low, high) = level_range(&p, 15, 55);
        let dry = p.dry[55] - p.dry[15];
        eprintln!(
            "{ppm:+} ppm: learnt {learnt:+.0} ppm, ring {low:.1}–{high:.1} ms from 15 to 55 s, {dry} dry spells then, {} in all",
            p.dry[58]
        );
        assert!((learnt - ppm).abs() < 50.0, "learnt {learnt} ppm for {ppm}");
        // Uncorrected, 40 s of 1,000 ppm moves the ring by 40 ms, or runs it dry over
        // and over.
        assert!(high - low < 25.0, "the ring moved {low:.1}–{high:.1} ms");
        assert_eq!(dry, 0, "the ring ran dry after the drift was learnt");
    }
}

#[test]
fn a_steady_sender_in_bursts_or_with_jitter_is_not_stretched() {
    for (chunk, jitter) in [
        (0.256, (|_| 0.0) as fn(usize) -> f64),
        (0.02, |i| ((i * 7919) % 31) as f64),
    ] {
        let p = simulate(Sender {
            secs: 40.0,
            chunk,
            jitter,
            ..Sender::default()
        });
        eprintln!(
            "{chunk} s chunks: drift {:?}, dry spells {}",
            &p.drift[..5],
            p.dry[38]
        );
        assert!(
            p.drift.iter().all(|&d| d == 0.0),
            "a steady sender was corrected: {:?}",
            p.drift
        );
    }
}

#[test]
fn a_whole_file_at_once_is_held_back_and_never_stretched() {
    let p = simulate(Sender {
        secs: 20.0,
        chunk: 0.128,
        at_once: true,
        ..Sender::default()
    });
    assert!(p.held_back, "the ring never filled");
    assert!(p.drift.iter().all(|&d| d == 0.0), "{:?}", p.drift);
    let (low, _) = level_range(&p, 2, 18);
    assert!(
        low > 500.0,
        "a held-back sender keeps the ring full: {low:.1} ms"
    );
}
