//! The call's playout in simulated time: a sender whose clock runs fast or slow against
//! the device's, with and without network jitter, its packets handed to
//! [`CallPlayout`] at their arrival instants and the offline engine rendered at the
//! device's. Minutes of audio run in seconds, and the thread scheduling of a busy
//! machine does not enter.

use std::time::{Duration, Instant};

use netamp_dsp::g711;
use netamp_engine::decode::DecodeLimits;
use netamp_engine::{Engine, EngineConfig};
use netamp_sip::playout::{CallPlayout, LEAD_IN, MAX_CUSHION};
use netamp_sip::rtp::RtpHeader;
use netamp_sip::rtp_in::{RtpInParams, RtpInStats};

/// Simulation step, seconds.
const STEP: f64 = 0.0005;
/// Render block, seconds (the engine's 240 frames).
const BLOCK: f64 = 0.005;

struct Sender {
    /// Its clock against the device's, ppm (+: fast).
    ppm: f64,
    /// Seconds of audio.
    secs: f64,
    /// Network delay of packet i beyond 1 ms, ms.
    jitter: fn(usize) -> f64,
    /// Packets in this range (by index) are not sent (silence suppression).
    silent: std::ops::Range<usize>,
    /// The receive thread does not run in these spans (seconds): packets wait in the
    /// socket and nothing is written while the device plays on.
    stalls: &'static [std::ops::Range<f64>],
    /// The render thread does not run while this says so (seconds): the device plays on
    /// and the missed blocks are rendered at once afterwards, as the paced devices do.
    render_stalled: fn(f64) -> bool,
}

impl Default for Sender {
    fn default() -> Self {
        Self {
            ppm: 0.0,
            secs: 60.0,
            jitter: |_| 0.0,
            silent: 0..0,
            stalls: &[],
            render_stalled: |_| false,
        }
    }
}

/// What came out.
struct Played {
    /// Output at 48 kHz.
    out: Vec<f32>,
    /// The engine ring's level after each block, 48 kHz samples.
    levels: Vec<usize>,
    /// Engine underrun episodes counted at each whole second.
    underruns: Vec<u64>,
    /// The drift the playout cancelled at each whole second (relative).
    drift: Vec<f64>,
    /// The sent audio, decoded, at 8 kHz.
    sent: Vec<f32>,
}

/// A 440 Hz tone whose level steps every 100 ms: enough shape to align on.
fn signal(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let level = 4000.0 + 3000.0 * ((i / 800) % 3) as f32;
            ((i as f32 * 440.0 / 8000.0 * std::f32::consts::TAU).sin() * level) as i16
        })
        .collect()
}

fn simulate(s: Sender) -> Played {
    let (engine, mut renderer, _driver) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    let mut playout = CallPlayout::new(engine.clone(), &RtpInParams::pcmu()).expect("playout");
    let stats = RtpInStats::default();
    let pcm = signal((s.secs * 8000.0) as usize);
    let coded: Vec<u8> = pcm.iter().map(|&x| g711::linear_to_ulaw(x)).collect();
    let sent = coded
        .iter()
        .map(|&b| f32::from(g711::ulaw_to_linear(b)) / 32768.0)
        .collect();
    // (arrival seconds, packet index)
    let mut arrivals: Vec<(f64, usize)> = (0..coded.len() / 160)
        .filter(|i| !s.silent.contains(i))
        .map(|i| {
            let sent_at = i as f64 * 0.02 / (1.0 + s.ppm / 1e6);
            (sent_at + (1.0 + (s.jitter)(i)) / 1000.0, i)
        })
        .collect();
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let t0 = Instant::now();
    let at = |t: f64| t0 + Duration::from_secs_f64(t);
    let mut block = vec![0f32; renderer.period()];
    let mut played = Played {
        out: Vec::new(),
        levels: Vec::new(),
        underruns: Vec::new(),
        drift: Vec::new(),
        sent,
    };
    let (mut next, mut blocks) = (0, 0u64);
    let end = s.secs + 0.5;
    let steps = (end / STEP) as u64;
    let stalled = |t: f64| s.stalls.iter().any(|r| r.contains(&t));
    for step in 0..steps {
        let t = step as f64 * STEP;
        while !stalled(t) && next < arrivals.len() && arrivals[next].0 <= t {
            let i = arrivals[next].1;
            let h = RtpHeader {
                marker: i == 0,
                payload_type: 0,
                seq: 1000u16.wrapping_add(i as u16),
                timestamp: 5000 + 160 * i as u32,
                ssrc: 0xCAFE,
            };
            playout.push(&h, &coded[i * 160..(i + 1) * 160], at(t));
            next += 1;
        }
        if !stalled(t) {
            playout.poll(at(t), &stats);
        }
        while !(s.render_stalled)(t) && blocks as f64 * BLOCK <= t {
            renderer.render(&mut block, at(t));
            played.out.extend_from_slice(&block);
            played.levels.push(playout.buffered());
            blocks += 1;
            if blocks % 200 == 0 {
                played.underruns.push(engine.stats().underruns);
                played.drift.push(playout.drift());
            }
        }
    }
    played
}

/// The ring's lowest and highest level between `from` and `to` seconds, ms.
fn level_range(p: &Played, from: usize, to: usize) -> (f64, f64) {
    let span = &p.levels[from * 200..to * 200];
    let ms = |x: usize| x as f64 / 48.0;
    (
        ms(span.iter().copied().min().unwrap_or(0)),
        ms(span.iter().copied().max().unwrap_or(0)),
    )
}

/// The longest run of near-silence in the output between two whole seconds, ms.
fn longest_silence_ms(p: &Played, from: usize, to: usize) -> f64 {
    let span = &p.out[from * 48_000..to * 48_000];
    let (mut run, mut longest) = (0usize, 0usize);
    for s in span {
        run = if s.abs() < 0.01 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest as f64 / 48.0
}

fn underruns_between(p: &Played, from: usize, to: usize) -> u64 {
    p.underruns[to - 1] - p.underruns[from - 1]
}

#[test]
fn a_sender_1000_ppm_fast_or_slow_is_followed_and_the_ring_holds() {
    for ppm in [-1000.0, 1000.0] {
        let p = simulate(Sender {
            ppm,
            ..Sender::default()
        });
        let learnt = p.drift[59] * 1e6;
        // Until 55 s: the stream ends at 60 s (sender time) and the ring with it.
        let (low, high) = level_range(&p, 20, 55);
        let late = underruns_between(&p, 20, 55);
        eprintln!(
            "{ppm:+} ppm: learnt {learnt:+.0} ppm, ring {low:.1}–{high:.1} ms from 20 to 55 s, underruns {} ({late} in that time)",
            p.underruns[59]
        );
        assert!((learnt - ppm).abs() < 50.0, "learnt {learnt} ppm for {ppm}");
        // Uncorrected, 40 s of 1,000 ppm moves the ring by 40 ms (or runs it dry every
        // 10 ms worth).
        assert!(high - low < 25.0, "the ring moved {low:.1}–{high:.1} ms");
        assert_eq!(late, 0, "the ring ran dry after the drift was learnt");
    }
}

#[test]
fn a_steady_jittery_sender_is_not_stretched() {
    let p = simulate(Sender {
        secs: 40.0,
        // 20–50 ms of jitter with reordering, as in the receive test.
        jitter: |i| 20.0 + ((i * 7919) % 31) as f64 + if i % 3 == 1 { 30.0 } else { 0.0 },
        ..Sender::default()
    });
    assert!(
        p.drift.iter().all(|&d| d == 0.0),
        "a steady sender was corrected: {:?}",
        p.drift
    );
    // The output is the sent audio at its own pace: a piece from 30 s into the call
    // lines up with the sent one, no more than 150 ms later.
    let reference: Vec<f32> = {
        let mut r = netamp_engine::resample::StreamResampler::new(8000).expect("resampler");
        r.push(&p.sent);
        r.finish();
        r.ready().to_vec()
    };
    let piece = &reference[30 * 48_000..30 * 48_000 + 9600];
    let best = (0..48 * 150)
        .map(|lag| {
            let c = &p.out[30 * 48_000 + lag..30 * 48_000 + 9600 + lag];
            let dot: f64 = piece.iter().zip(c).map(|(a, b)| f64::from(a * b)).sum();
            let e = |x: &[f32]| x.iter().map(|s| f64::from(s * s)).sum::<f64>();
            dot / (e(piece) * e(c)).sqrt().max(1e-12)
        })
        .fold(0.0, f64::max);
    eprintln!(
        "steady jittery sender: correlation {best:.4} at 30 s, underruns {}",
        p.underruns[39]
    );
    assert!(best > 0.95, "correlation {best:.4}");
}

#[test]
fn drift_is_followed_through_jitter_and_a_silent_stretch() {
    let p = simulate(Sender {
        ppm: -500.0,
        secs: 50.0,
        jitter: |i| ((i * 7919) % 23) as f64,
        // A second and a half of silence suppression at 20 s.
        silent: 1000..1075,
        ..Sender::default()
    });
    let learnt = p.drift[49] * 1e6;
    let late = underruns_between(&p, 25, 50);
    eprintln!(
        "-500 ppm with jitter and a pause: learnt {learnt:+.0} ppm, underruns {} ({late} after 25 s)",
        p.underruns[49]
    );
    assert!((learnt + 500.0).abs() < 50.0, "learnt {learnt} ppm");
    assert_eq!(late, 0);
}

#[test]
fn a_ring_that_ran_dry_gets_its_cushion_back() {
    // The path's delay steps up by 45 ms at 10 s: the jitter buffer holds frames back
    // while it follows, and again when the old transits leave its window (at 14 s), and
    // the ring runs dry each time. Played from an empty ring after that, every frame
    // would run it dry again.
    let p = simulate(Sender {
        secs: 20.0,
        jitter: |i| if i >= 500 { 45.0 } else { 0.0 },
        ..Sender::default()
    });
    let (low, high) = level_range(&p, 15, 19);
    let later = underruns_between(&p, 15, 19);
    let gap = longest_silence_ms(&p, 9, 19);
    eprintln!(
        "a 45 ms delay step: underruns {} ({later} from 15 s), ring {low:.1}–{high:.1} ms from 15 s, longest gap {gap:.1} ms",
        p.underruns[19]
    );
    assert!(p.underruns[11] >= 1, "the step did not run the ring dry");
    assert_eq!(later, 0);
    // The whole 10 ms cushion is back at once (rebuilt 2.5 ms at a time, the ring ran
    // 2.5 ms from dry until the next dry spell).
    assert!(low >= 7.5, "the ring runs {low:.1} ms from dry");
    // The rebuild is concealment, not a second gap after the dry spell (rebuilt with
    // silence, the gap was 10.0 ms; with concealment it is the dry spell alone, 4.8).
    assert!(gap < 8.0, "a gap of {gap:.1} ms");
}

#[test]
fn a_late_receive_thread_grows_the_cushion_but_does_not_pile_up_delay() {
    // The receive thread sleeps 80 ms at 10 s, and 20 ms at 12 s and at 14 s (a loaded
    // machine): the device plays on, and the frames due meanwhile are written late.
    // Kept whole, they would add the time the ring was dry to the call's delay for the
    // rest of the call (the ring's highest level went from 20.7 to 90.0 ms).
    let p = simulate(Sender {
        secs: 20.0,
        stalls: &[10.0..10.08, 12.0..12.02, 14.0..14.02],
        ..Sender::default()
    });
    let (_, before) = level_range(&p, 5, 10);
    let (_, after) = level_range(&p, 11, 12);
    let (_, again) = level_range(&p, 13, 19);
    eprintln!(
        "stalls of 80, 20 and 20 ms: underruns {:?}, highest ring {before:.1} ms before, {after:.1} after one, {again:.1} after three",
        &p.underruns[8..16]
    );
    let dry_at = |s: usize| p.underruns[s] > p.underruns[s - 1];
    assert!(dry_at(10), "the first stall did not run the ring dry");
    // Once is not a pattern: the delay is what it was.
    assert!(
        after <= before + 1.0,
        "the delay grew from {before:.1} to {after:.1} ms after one stall"
    );
    // The second time, the cushion grows by what it lacked (its limit at most), and
    // the third stall, as long as the second, no longer runs the ring dry.
    assert!(dry_at(12), "the second stall did not run the ring dry");
    let grown = (MAX_CUSHION - LEAD_IN) as f64 / 48.0;
    assert!(
        again <= before + grown + 1.0,
        "the delay grew from {before:.1} to {again:.1} ms"
    );
    assert!(!dry_at(14), "the third stall ran the ring dry");
}

#[test]
fn a_render_thread_that_stalls_does_not_read_as_drift() {
    // A loaded machine at the call's start: the render thread misses 50 ms of every 250
    // between 1 and 4 s, then runs freely. Readings of the
    // sender's clock taken meanwhile must not see the device stand still (the drift
    // estimator keeps the earliest-looking readings, and a held device clock makes
    // every one taken in a stall look early by the stall).
    let p = simulate(Sender {
        secs: 30.0,
        render_stalled: |t| (1.0..4.0).contains(&t) && t % 0.25 < 0.05,
        ..Sender::default()
    });
    eprintln!("render stalls: drift {:?}", &p.drift[..29]);
    assert!(
        p.drift.iter().all(|&d| d == 0.0),
        "a steady sender was corrected: {:?}",
        p.drift
    );
}
