//! The call-leg receive path over a real UDP socket: RTP in, engine stream out, rendered
//! at real time by the test (offline engine, no device).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use netamp_dsp::g711;
use netamp_engine::decode::DecodeLimits;
use netamp_engine::resample::StreamResampler;
use netamp_engine::{Engine, EngineConfig};
use netamp_sip::jitter::JitterConfig;
use netamp_sip::rtp::{self, RtpHeader};
use netamp_sip::rtp_in::RtpInParams;
use netamp_sip::rtp_in::RtpReceiver;
use netamp_sip::sdp::AudioCodec;

/// A 150 Hz → 3 kHz sweep at 8 kHz, `secs` long.
fn sweep(secs: f32) -> Vec<i16> {
    let n = (secs * 8000.0) as usize;
    let mut phase = 0f32;
    (0..n)
        .map(|i| {
            let f = 150.0 + 2850.0 * i as f32 / n as f32;
            phase += f / 8000.0;
            ((phase * std::f32::consts::TAU).sin() * 12_000.0) as i16
        })
        .collect()
}

#[derive(Clone, Copy)]
struct Plan {
    /// Extra network delay of packet i, ms.
    delay: fn(usize) -> f64,
    /// Packet i is lost.
    lost: fn(usize) -> bool,
    alaw: bool,
    /// Seconds of audio sent.
    secs: f32,
    /// Packet length, ms.
    packet_ms: u32,
    /// The sender's clock against the test's, ppm (+: fast).
    ppm: f64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            delay: |_| 1.0,
            lost: |_| false,
            alaw: false,
            secs: 2.0,
            packet_ms: 20,
            ppm: 0.0,
        }
    }
}

/// What a run gave.
struct Run {
    /// Output at 48 kHz.
    out: Vec<f32>,
    /// The sent audio at 48 kHz.
    reference: Vec<f32>,
    /// Engine underruns: all of them, and those in the second half of the audio.
    underruns: u64,
    late_underruns: u64,
    /// Frames concealed.
    concealed: u64,
    /// The drift the receiver cancelled at the end, ppm.
    drift_ppm: i64,
    /// How late the test's own threads (renderer, sender) woke at worst, ms.
    stall_ms: f64,
}

/// A wake-up this late (ms) means the machine, not the code under test, stalled: every
/// thread of the run was off the CPU for that long.
const STALL_MS: f64 = 8.0;

/// [`run_once`], again (three runs at most) while the machine stalls during it: these
/// runs are real time, and a shared machine sometimes takes the CPU away for tens of
/// milliseconds. The simulated-time tests (`tests/playout.rs`) hold the exact figures.
fn run(plan: Plan) -> Run {
    let mut r = run_once(plan);
    for _ in 0..2 {
        if r.stall_ms < STALL_MS {
            break;
        }
        eprintln!(
            "the machine stalled {:.1} ms during the run: again",
            r.stall_ms
        );
        r = run_once(plan);
    }
    r
}

/// Sends the sweep as RTP packets per `plan`, renders the engine at real time (the
/// test's clock is the device's), and returns what came out.
fn run_once(plan: Plan) -> Run {
    // One at a time: each run renders in real time, and runs side by side on two cores
    // disturb each other's timing more than any network here would.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (engine, mut renderer, _driver) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = rx.local_addr().expect("addr");
    let params = RtpInParams {
        codec: if plan.alaw {
            AudioCodec::Pcma
        } else {
            AudioCodec::Pcmu
        },
        payload_type: if plan.alaw { 8 } else { 0 },
        telephone_event: None,
        jitter: JitterConfig::default(),
        // The sender's port is its own: the latch takes it from the first packet.
        remote: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        latch_window: netamp_sip::latch::DEFAULT_WINDOW,
    };
    let receiver = RtpReceiver::start(
        rx,
        engine.clone(),
        params,
        Default::default(),
        Box::new(|_| {}),
    )
    .expect("rx");
    let pcm = sweep(plan.secs);
    let coded: Vec<u8> = pcm
        .iter()
        .map(|&s| {
            if plan.alaw {
                g711::linear_to_alaw(s)
            } else {
                g711::linear_to_ulaw(s)
            }
        })
        .collect();
    // The reference: the coded sweep decoded and resampled the way the receiver does.
    let mut reference = {
        let dec: Vec<f32> = coded
            .iter()
            .map(|&b| {
                f32::from(if plan.alaw {
                    g711::alaw_to_linear(b)
                } else {
                    g711::ulaw_to_linear(b)
                }) / 32768.0
            })
            .collect();
        let mut r = StreamResampler::new(8000).expect("resampler");
        r.push(&dec);
        r.finish();
        r.ready().to_vec()
    };
    reference.truncate(reference.len() - 4800);
    let t0 = Instant::now() + Duration::from_millis(50);
    let units = 8 * plan.packet_ms as usize;
    let mut schedule: Vec<(Instant, Vec<u8>)> = coded
        .chunks(units)
        .enumerate()
        .filter(|(i, _)| !(plan.lost)(*i))
        .map(|(i, payload)| {
            let h = RtpHeader {
                marker: i == 0,
                payload_type: if plan.alaw { 8 } else { 0 },
                seq: 1000 + i as u16,
                timestamp: 5000 + (units * i) as u32,
                ssrc: 0xCAFE,
            };
            let mut p = Vec::new();
            rtp::write(&h, payload, &mut p);
            let sent = f64::from(plan.packet_ms) * i as f64 / (1.0 + plan.ppm / 1e6);
            let at = t0 + Duration::from_secs_f64((sent + (plan.delay)(i)) / 1000.0);
            (at, p)
        })
        .collect();
    schedule.sort_by_key(|(t, _)| *t);
    let sender = std::thread::spawn(move || {
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        // A few datagrams that are not RTP: they must change nothing.
        for junk in [&b"hello"[..], &[0x80; 5][..], &[0xFF; 300][..]] {
            let _ = tx.send_to(junk, addr);
        }
        let mut stall = Duration::ZERO;
        for (at, p) in schedule {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            stall = stall.max(Instant::now().saturating_duration_since(at));
            tx.send_to(&p, addr).expect("send");
        }
        stall
    });
    let mut out = Vec::new();
    let mut block = vec![0f32; renderer.period()];
    let start = Instant::now();
    let blocks = ((plan.secs + 0.6) * 200.0) as u64;
    // The second half of the audio: from half way until before the last packet plays.
    let (half, end) = ((plan.secs * 100.0) as u64, (plan.secs * 200.0) as u64);
    let (mut half_underruns, mut end_underruns) = (0, 0);
    let mut stall = Duration::ZERO;
    for b in 0..blocks {
        if b == half {
            half_underruns = engine.stats().underruns;
        }
        if b == end {
            end_underruns = engine.stats().underruns;
        }
        let due = start + Duration::from_millis(5 * b);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        stall = stall.max(Instant::now().saturating_duration_since(due));
        renderer.render(&mut block, due);
        out.extend_from_slice(&block);
    }
    let stall = stall.max(sender.join().expect("sender"));
    let concealed = receiver
        .stats()
        .concealed
        .load(std::sync::atomic::Ordering::Relaxed);
    let malformed = receiver
        .stats()
        .malformed
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(malformed, 3, "junk datagrams counted and dropped");
    let drift_ppm = receiver
        .stats()
        .drift_ppm
        .load(std::sync::atomic::Ordering::Relaxed);
    drop(receiver);
    let underruns = engine.stats().underruns;
    Run {
        out,
        reference,
        underruns,
        late_underruns: end_underruns - half_underruns,
        concealed,
        drift_ppm,
        stall_ms: stall.as_secs_f64() * 1e3,
    }
}

/// Where `reference` sits in `capture` near `onset + offset` (within 30 ms), and how well
/// it matches there: the shared FFT alignment over that window.
fn align(reference: &[f32], offset: usize, capture: &[f32]) -> (usize, f64) {
    let onset = capture.iter().position(|s| s.abs() > 0.01).unwrap_or(0);
    let start = (onset + offset).saturating_sub(1440);
    let end = (onset + offset + 1440 + reference.len()).min(capture.len());
    let a = netamp_tests::audio::align(reference, &capture[start..end]);
    (start + a.lag, a.correlation)
}

#[test]
fn clean_pcmu_plays_the_sent_audio() {
    let Run {
        out,
        reference,
        underruns,
        concealed,
        ..
    } = run(Plan::default());
    // A 1.5 s stretch of the middle, so the search stays short.
    let first = reference.iter().position(|s| s.abs() > 0.01).unwrap_or(0);
    let mid = &reference[9600..9600 + 24_000];
    let (_, c) = align(mid, 9600 - first, &out);
    eprintln!("clean PCMU: correlation {c:.4}, underruns {underruns}, concealed {concealed}");
    assert!(c >= 0.95, "correlation {c:.4}");
    assert_eq!(concealed, 0);
    // One underrun at most: the ring running dry after the last packet.
    assert!(underruns <= 1, "underruns {underruns}");
    assert!(netamp_tests::audio::longest_gap_ms(&out, 0.01) < 5.0);
}

#[test]
fn jitter_reordering_and_loss_stay_continuous() {
    let Run {
        out,
        underruns,
        concealed,
        ..
    } = run(Plan {
        // 20–50 ms of jitter with reordering (every third packet 30 ms later than its
        // neighbours), 5 % loss spread out.
        delay: |i| 20.0 + ((i * 7919) % 31) as f64 + if i % 3 == 1 { 30.0 } else { 0.0 },
        lost: |i| i % 20 == 7,
        alaw: true,
        ..Plan::default()
    });
    let gap = netamp_tests::audio::longest_gap_ms(&out, 0.01);
    eprintln!("jittered PCMA with 5 % loss: longest gap {gap:.1} ms, underruns {underruns}, concealed {concealed}");
    // While the target delay grows to the measured jitter (the first half second), the
    // buffer holds frames back and the engine ring runs dry for a block at a time: a
    // few short dips, never a dropout.
    assert!(gap < 10.0, "a dropout of {gap:.1} ms");
    assert!(concealed >= 5, "losses concealed: {concealed}");
    assert!(underruns <= 10, "underruns {underruns}");
}

#[test]
fn thirty_ms_packets_play_at_their_own_pace() {
    let r = run(Plan {
        alaw: true,
        packet_ms: 30,
        secs: 6.0,
        ..Plan::default()
    });
    let first = r.reference.iter().position(|s| s.abs() > 0.01).unwrap_or(0);
    // Half-second windows across the settled second half, each aligned on its own: one
    // underrun the machine causes (allowed below) shifts what follows and spoils the
    // window it falls in, not the others. The median says whether the audio is right.
    let mut windows: Vec<f64> = (5..10)
        .map(|k| {
            let at = k * 24_000;
            align(&r.reference[at..at + 24_000], at - first, &r.out).1
        })
        .collect();
    windows.sort_by(f64::total_cmp);
    let c = windows[windows.len() / 2];
    eprintln!(
        "30 ms PCMA: correlation {c:.4} (windows {windows:.3?}), underruns {} ({} late), concealed {}",
        r.underruns, r.late_underruns, r.concealed
    );
    assert!(c >= 0.95, "correlation {c:.4}");
    assert_eq!(r.concealed, 0);
    // Played at 20 ms and waited for, the frames ran the ring dry every 60 ms.
    assert!(r.late_underruns <= 1, "{} underruns", r.late_underruns);
}

#[test]
fn a_drifting_sender_is_measured_over_real_sockets() {
    // The logic is tested in simulated time (tests/playout.rs); this is the wiring: the
    // receive thread's arrival readings against a device rendered in real time.
    let r = run(Plan {
        secs: 10.0,
        ppm: -1500.0,
        ..Plan::default()
    });
    eprintln!(
        "-1500 ppm sender: cancelled {} ppm, underruns {} ({} late)",
        r.drift_ppm, r.underruns, r.late_underruns
    );
    assert!(
        (r.drift_ppm + 1500).abs() < 300,
        "cancelled {} ppm",
        r.drift_ppm
    );
}
