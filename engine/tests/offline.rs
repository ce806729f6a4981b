//! Offline graph tests: render block by block with no thread and no device.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use netamp_engine::decode::DecodeLimits;
use netamp_engine::device::WavWriter;
use netamp_engine::{EndReason, Engine, EngineConfig, EngineEvent, PlayOptions, StreamOptions};

/// Counts allocations made by the current thread while counting is switched on.
struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, COUNT.with(|n| n.get()))
}

const P: usize = 240;

fn sine(freq: f32, amp: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| amp * (i as f32 * 2.0 * std::f32::consts::PI * freq / 48000.0).sin())
        .collect()
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("netamp-engine-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_wav(path: &std::path::Path, samples: &[f32]) {
    let mut w = WavWriter::create(path).unwrap();
    w.write(samples).unwrap();
    w.finish().unwrap();
}

fn render_n(r: &mut netamp_engine::Renderer, blocks: usize) -> Vec<f32> {
    let mut out = vec![0.0; blocks * P];
    for chunk in out.chunks_mut(P) {
        r.render(chunk, Instant::now());
    }
    out
}

#[test]
fn render_path_is_allocation_free() {
    let dir = temp_dir("alloc");
    let clip = dir.join("c.wav");
    write_wav(&clip, &sine(440.0, 0.3, 4800));
    let (engine, mut r, mut driver) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    let mut writers: Vec<_> = (0..16)
        .map(|i| {
            engine
                .add_stream(StreamOptions {
                    priority: (i % 9) as u8,
                    ..Default::default()
                })
                .unwrap()
        })
        .collect();
    for w in &mut writers {
        w.write(&sine(300.0, 0.1, 24000));
    }
    let file = engine
        .play_file(
            &clip,
            PlayOptions {
                repeat: 1,
                ..Default::default()
            },
        )
        .unwrap();
    driver.pump();
    // Warm up: the first blocks take the new sources in.
    render_n(&mut r, 2);
    let mut out = vec![0.0f32; P];
    let ((), allocs) = count_allocs(|| {
        for _ in 0..400 {
            r.render(&mut out, Instant::now());
        }
    });
    assert_eq!(allocs, 0, "render allocated {allocs} times");
    // Commands, stops, source ends and mute all handled on the render side without allocating.
    engine.stop(file).unwrap();
    engine.set_output_gain(2.0).unwrap();
    engine.set_mute(true).unwrap();
    for w in writers.iter().take(8) {
        engine.stop(w.id()).unwrap();
    }
    drop(writers.split_off(8)); // finished streams leave the mixer
    let ((), allocs) = count_allocs(|| {
        for _ in 0..400 {
            r.render(&mut out, Instant::now());
        }
    });
    assert_eq!(
        allocs, 0,
        "render allocated {allocs} times while handling commands"
    );
    let events = driver.events();
    let ended = events
        .iter()
        .filter(|e| matches!(e, EngineEvent::Ended { .. }))
        .count();
    assert!(
        ended >= 9,
        "expected the stopped and finished sources to end, got {events:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gain_half_is_minus_six_db_and_priority_ducks() {
    let (engine, mut r, _d) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    let mut low = engine
        .add_stream(StreamOptions {
            priority: 5,
            gain: 0.5,
            capacity_ms: 2000,
        })
        .unwrap();
    low.write(&sine(1000.0, 0.5, 96000));
    let out = render_n(&mut r, 100);
    let db = 20.0 * (rms(&out[4800..]) / rms(&sine(1000.0, 0.5, 19200))).log10();
    assert!((db + 6.02).abs() < 0.1, "gain 0.5 gave {db} dB");

    let mut high = engine
        .add_stream(StreamOptions {
            priority: 8,
            gain: 1.0,
            capacity_ms: 2000,
        })
        .unwrap();
    high.write(&sine(500.0, 0.25, 96000));
    let out = render_n(&mut r, 50);
    // After the 20 ms ramp only the high-priority source is heard.
    let tail = &out[P * 10..];
    let expect = rms(&sine(500.0, 0.25, tail.len()));
    assert!(
        (rms(tail) / expect - 1.0).abs() < 0.02,
        "ducking left {} vs {}",
        rms(tail),
        expect
    );
    // When it goes, the low one comes back.
    engine.stop(high.id()).unwrap();
    let out = render_n(&mut r, 30);
    let back = rms(&out[P * 15..]);
    assert!(
        (back / (0.5 * 0.5 / 2f32.sqrt()) - 1.0).abs() < 0.05,
        "low source level {back}"
    );
}

#[test]
fn gain_above_unity_is_limited_not_wrapped() {
    let (engine, mut r, _d) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    let mut w = engine
        .add_stream(StreamOptions {
            gain: 4.0,
            capacity_ms: 2000,
            ..Default::default()
        })
        .unwrap();
    let input = sine(440.0, 0.9, 48000);
    w.write(&input);
    let out = render_n(&mut r, 150);
    assert!(
        out.iter().all(|s| s.abs() <= 0.978),
        "output exceeded the ceiling"
    );
    // The waveform keeps its sign everywhere (a wrap would flip it).
    let flips = out[4800..30000]
        .iter()
        .zip(&input[4800..30000])
        .filter(|(o, i)| i.abs() > 0.1 && o.signum() != i.signum())
        .count();
    assert_eq!(flips, 0);
    assert!(engine.stats().limiter_engaged > 0);
}

#[test]
fn stop_silences_within_one_ramp() {
    let (engine, mut r, mut d) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    let mut w = engine
        .add_stream(StreamOptions {
            capacity_ms: 2000,
            ..Default::default()
        })
        .unwrap();
    w.write(&sine(440.0, 0.5, 96000));
    render_n(&mut r, 10);
    engine.stop(w.id()).unwrap();
    let out = render_n(&mut r, 10);
    // Ramp is 20 ms = 960 samples = 4 blocks; everything after that is silent.
    assert!(out[960..].iter().all(|s| *s == 0.0));
    assert!(out[..100].iter().any(|s| s.abs() > 0.1));
    let events = d.events();
    assert!(events.iter().any(|e| matches!(
        e,
        EngineEvent::Ended {
            reason: EndReason::Stopped,
            ..
        }
    )));
}

#[test]
fn file_repeats_gaplessly() {
    let dir = temp_dir("repeat");
    let clip = dir.join("r.wav");
    // 0.1 s of a ramp signal: any gap or overlap at the seam breaks the sawtooth pattern.
    let one: Vec<f32> = (0..4800).map(|i| (i as f32 / 4800.0) - 0.5).collect();
    write_wav(&clip, &one);
    let (engine, mut r, mut d) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    engine
        .play_file(
            &clip,
            PlayOptions {
                repeat: 2,
                ..Default::default()
            },
        )
        .unwrap();
    let mut out = Vec::new();
    for _ in 0..100 {
        d.pump();
        out.extend(render_n(&mut r, 1));
    }
    let start = out
        .iter()
        .position(|s| *s != 0.0)
        .unwrap_or(0)
        .saturating_sub(1);
    let played = &out[start..start + 14400];
    for (i, s) in played.iter().enumerate() {
        let expect = one[i % 4800];
        assert!((s - expect).abs() < 0.001, "sample {i}: {s} vs {expect}");
    }
    assert!(
        out[start + 14400..].iter().all(|s| *s == 0.0),
        "played more than three times"
    );
    let events = d.events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, EngineEvent::Started { .. }))
            .count(),
        1
    );
    assert!(events.iter().any(|e| matches!(
        e,
        EngineEvent::Ended {
            reason: EndReason::Finished,
            ..
        }
    )));
    assert_eq!(engine.stats().underruns, 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn au_file_at_16k_plays_resampled() {
    let dir = temp_dir("au");
    let clip = dir.join("t.au");
    let mut bytes = Vec::new();
    for w in [0x2e736e64u32, 24, u32::MAX, 3, 16000, 1] {
        bytes.extend_from_slice(&w.to_be_bytes());
    }
    for i in 0..16000 {
        let v = (0.5 * (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 16000.0).sin() * 32767.0)
            as i16;
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    std::fs::write(&clip, bytes).unwrap();
    let info = netamp_engine::decode::probe(&clip, DecodeLimits::default()).unwrap();
    assert_eq!(
        (info.sample_rate, info.channels, info.frames),
        (16000, 1, 16000)
    );
    let (engine, mut r, mut d) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    engine.play_file(&clip, PlayOptions::default()).unwrap();
    let mut out = Vec::new();
    for _ in 0..250 {
        d.pump();
        out.extend(render_n(&mut r, 1));
    }
    let first = out.iter().position(|s| s.abs() > 1e-4).unwrap();
    let last = out.iter().rposition(|s| s.abs() > 1e-4).unwrap();
    let active = last - first + 1;
    assert!(
        (47000..=48100).contains(&active),
        "expected ~1 s at 48 kHz, got {active} samples"
    );
    let level = rms(&out[2400..45000]);
    assert!(
        (level / (0.5 / 2f32.sqrt()) - 1.0).abs() < 0.02,
        "level {level}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_dry_stream_counts_the_frames_it_was_short() {
    let (engine, mut r, _d) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).unwrap();
    let mut w = engine.add_stream(StreamOptions::default()).unwrap();
    // Waiting for its first samples is not starving.
    render_n(&mut r, 3);
    assert_eq!(w.starved_frames(), 0);
    w.write(&sine(440.0, 0.5, P + 100));
    render_n(&mut r, 1);
    assert_eq!(w.starved_frames(), 0);
    // 100 frames left for a whole block, then two dry blocks.
    render_n(&mut r, 3);
    assert_eq!(w.starved_frames(), (3 * P - 100) as u64);
    w.write(&sine(440.0, 0.5, P));
    render_n(&mut r, 1);
    assert_eq!(w.starved_frames(), (3 * P - 100) as u64);
}
