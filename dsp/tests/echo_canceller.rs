//! Echo canceller, offline: far-end speech through a simulated echo path (30–120 ms
//! delay, −6 dB direct path, a reverberant tail) plus near-end speech. After 2 s of
//! convergence the echo must be ≥ 25 dB down (ERLE) while near-end speech comes through
//! (correlation ≥ 0.9 with the clean near-end signal over 3 s alone and 3 s of double
//! talk, after aligning for the chain's own latency). Noise suppression is off here: it
//! takes synthetic voices for noise; the figures are printed for BENCHMARKS.md.

use netamp_dsp::echo::{CaptureProcessor, Stages, FRAME};

const RATE: f32 = 48_000.0;

/// A small deterministic PRNG (xorshift32) in [-1, 1).
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

/// Speech-like signal: syllables of 120–320 ms with their own pitch (±25 % around
/// `f0`, gliding), a formant, 30 harmonics; one in five unvoiced (noise), pauses between
/// phrases. Built from a seed so each talker is different but every run the same.
fn speech(seconds: f32, f0: f32, seed: u32) -> Vec<f32> {
    let mut rng = Noise(seed);
    let n = (seconds * RATE) as usize;
    let mut out = Vec::with_capacity(n);
    let mut phase = 0f32;
    while out.len() < n {
        let len = ((0.22 + 0.1 * rng.next()) * RATE) as usize;
        let pitch0 = f0 * (1.0 + 0.25 * rng.next());
        let glide = 0.15 * rng.next();
        let formant = 600.0 + 300.0 * rng.next();
        let voiced = rng.next() > -0.6;
        let pause = rng.next() > 0.6;
        for i in 0..len {
            let x = i as f32 / len as f32;
            let env = (std::f32::consts::PI * x).sin().powf(0.7);
            let v = if pause {
                0.0
            } else if voiced {
                let pitch = pitch0 * (1.0 + glide * x);
                phase = (phase + pitch / RATE).fract();
                let mut v = 0f32;
                for k in 1..=30 {
                    let f = pitch * k as f32;
                    let w = 1.0 + 2.0 * (-((f - formant) / 300.0).powi(2)).exp();
                    v += (2.0 * std::f32::consts::PI * phase * k as f32).sin() * w / k as f32;
                }
                0.12 * v
            } else {
                0.08 * rng.next()
            };
            out.push((v + 0.01 * rng.next()) * env);
        }
    }
    out.truncate(n);
    out
}

/// Loudspeaker → microphone: the direct path at `delay_ms` and −6 dB, then 60 reflections
/// over 150 ms decaying by 60 dB per 300 ms.
fn echo_path(delay_ms: f32) -> Vec<(usize, f32)> {
    let mut noise = Noise(0x1234_5678);
    let d = (delay_ms / 1000.0 * RATE) as usize;
    let mut taps = vec![(d, 0.5f32)];
    for k in 1..=60 {
        let after = (k as f32 * 2.5 + 2.0 * noise.next().abs()) / 1000.0;
        let amp = 0.35 * 10f32.powf(-3.0 * after / 0.3) * noise.next().signum();
        taps.push((d + (after * RATE) as usize, amp));
    }
    taps
}

fn convolve(x: &[f32], taps: &[(usize, f32)]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    for &(lag, g) in taps {
        for i in lag..x.len() {
            y[i] += g * x[i - lag];
        }
    }
    y
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum()
}

/// The lag (0–20 ms) at which `b` best matches `a`.
fn best_lag(a: &[f32], b: &[f32]) -> usize {
    let n = a.len() - 960;
    (0..960)
        .max_by(|&x, &y| {
            correlation(&a[..n], &b[x..x + n]).total_cmp(&correlation(&a[..n], &b[y..y + n]))
        })
        .unwrap_or(0)
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    dot / (energy(a) * energy(b)).sqrt()
}

/// The echo canceller alone (no noise suppression, no AGC) over `mic`, 10 ms at a time,
/// fed `far` as what the speaker plays (none: no reference) and `delay_ms` as the hint.
fn cancel(far: Option<&[f32]>, mic: &[f32], delay_ms: i32) -> Vec<f32> {
    let mut apm = CaptureProcessor::new(Stages {
        echo_cancel: true,
        noise_suppression: false,
        agc: false,
    });
    let mut out = mic.to_vec();
    for f in 0..mic.len() / FRAME {
        let r = f * FRAME..(f + 1) * FRAME;
        if let Some(far) = far {
            apm.render(&far[r.clone()]);
        }
        apm.set_delay_ms(delay_ms);
        apm.capture(&mut out[r]);
    }
    out
}

/// Runs one scenario; returns ERLE (dB, far-end only, 2–6 s), the near-end correlation
/// over 6–12 s (alone, then double talk) and in double talk alone.
fn scenario(delay_ms: f32) -> (f64, f64, f64) {
    let secs = 12.0;
    let far = speech(secs, 120.0, 7);
    let near_full = speech(secs, 210.0, 99);
    // Near-end talks from 6 s on: 6–9 s alone (far-end pauses), 9–12 s double talk.
    let s = |t: f32| (t * RATE) as usize;
    let mut far_played = far.clone();
    far_played[s(6.0)..s(9.0)].fill(0.0);
    let mut near = near_full;
    near[..s(6.0)].fill(0.0);
    let echo = convolve(&far_played, &echo_path(delay_ms));
    let mic: Vec<f32> = echo.iter().zip(&near).map(|(e, v)| e + v).collect();

    // What a device knows of its own output-to-input buffering: the delay hint.
    let out = cancel(Some(&far_played), &mic, delay_ms as i32);
    let far_only = s(2.0)..s(6.0);
    let erle = 10.0 * (energy(&echo[far_only.clone()]) / energy(&out[far_only])).log10();
    // The chain delays its output (16 kHz processing and its filters): align first.
    let lag = best_lag(&near[s(6.0)..s(12.0)], &out[s(6.0)..s(12.0)]);
    let kept_at =
        |r: std::ops::Range<usize>| correlation(&near[r.clone()], &out[r.start + lag..r.end + lag]);
    let kept = kept_at(s(6.0)..s(11.9));
    let alone = kept_at(s(6.0)..s(9.0));
    let double = kept_at(s(9.0)..s(11.9));
    eprintln!(
        "echo delay {delay_ms:>5.0} ms: ERLE {erle:5.1} dB; near-end correlation {kept:.3} (alone {alone:.3}, double talk {double:.3}); chain latency {:.1} ms",
        lag as f64 / 48.0
    );
    (erle, kept, double)
}

#[test]
fn erle_and_near_end_at_30_80_and_120_ms() {
    for delay in [30.0, 80.0, 120.0] {
        let (erle, kept, double) = scenario(delay);
        assert!(erle >= 25.0, "{delay} ms: ERLE {erle:.1} dB");
        assert!(kept >= 0.9, "{delay} ms: near-end correlation {kept:.3}");
        // AEC3's suppressor takes a little of the near-end while both talk.
        assert!(
            double >= 0.75,
            "{delay} ms: double-talk correlation {double:.3}"
        );
    }
}

/// A 127-tap windowed-sinc low-pass at 6 kHz (Hann window).
fn lowpass_6k(x: &[f32]) -> Vec<f32> {
    const TAPS: usize = 127;
    let fc = 6000.0 / RATE;
    let mid = (TAPS / 2) as f32;
    let h: Vec<f32> = (0..TAPS)
        .map(|i| {
            let t = i as f32 - mid;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f32::consts::PI * fc * t).sin() / (std::f32::consts::PI * t)
            };
            sinc * (0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (TAPS - 1) as f32).cos())
        })
        .collect();
    (0..x.len())
        .map(|n| {
            h.iter()
                .enumerate()
                .filter(|(k, _)| n >= *k)
                .map(|(k, c)| c * x[n - k])
                .sum()
        })
        .collect()
}

/// No acoustic path at all: the far end talks the whole time and so does the room, and
/// the microphone hears only the room. `reference`: whether the canceller is fed what
/// the speaker plays. Returns the one-second correlations and level changes (dB) of
/// seconds 1–9.
fn no_echo_path(reference: bool) -> Vec<(f64, f64)> {
    let secs = 10.0;
    let far = speech(secs, 120.0, 7);
    // Band-limited to 6 kHz, inside the chain's own 7.2 kHz band (16 kHz processing):
    // what is measured is the canceller, not the band limit.
    let near = lowpass_6k(&speech(secs, 210.0, 99));
    let out = cancel(reference.then_some(&far[..]), &near, 40);
    let s = |t: f32| (t * RATE) as usize;
    let lag = best_lag(&near[s(1.0)..s(9.0)], &out[s(1.0)..s(9.0)]);
    let seconds: Vec<(f64, f64)> = (1..9)
        .map(|k| {
            let r = s(k as f32)..s(k as f32 + 1.0);
            let o = &out[r.start + lag..r.end + lag];
            let c = correlation(&near[r.clone()], o);
            (c, 10.0 * (energy(o) / energy(&near[r])).log10())
        })
        .collect();
    let line: String = seconds
        .iter()
        .map(|(c, db)| format!(" {c:.3}/{db:+.1}"))
        .collect();
    eprintln!(
        "no echo path, both talking, reference {reference}: seconds 1–8 (correlation/dB):{line}"
    );
    seconds
}

#[test]
fn without_an_echo_path_the_room_comes_through_while_the_far_end_talks() {
    // Without a reference (netamp feeds none when either device is a file or `null`):
    // the room as it is, every second.
    for (k, (c, db)) in no_echo_path(false).into_iter().enumerate() {
        assert!(c >= 0.98, "second {}: correlation {c:.3}", k + 1);
        assert!(db.abs() <= 1.0, "second {}: {db:+.1} dB", k + 1);
    }
    // With one but no echo in the microphone (a headset on a sound card), AEC3 assumes an
    // echo path until its no-echo detector has heard 6 s of far-end audio, and lets the
    // room through from then on.
    let fed = no_echo_path(true);
    for (k, (c, db)) in fed.into_iter().enumerate().skip(6) {
        assert!(c >= 0.98, "second {}: correlation {c:.3}", k + 1);
        assert!(db.abs() <= 1.0, "second {}: {db:+.1} dB", k + 1);
    }
}
