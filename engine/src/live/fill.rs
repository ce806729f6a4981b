//! Holding a network stream's ring fill against clock drift.
//!
//! A network stream runs on its sender's clock and the device on its own
//! (ARCHITECTURE.md §2): a phone 100 ppm slow empties a 10 ms cushion in 100 s, one
//! 100 ppm fast adds 6 ms of delay a minute. [`FillControl`] watches the ring's fill just
//! before each write (the trough of its sawtooth), takes the lowest value of each window,
//! and steers the stream's resampler ratio with a proportional-integral law so that low
//! water stays where the second window found it (kept within a floor and a ceiling; the
//! first is the stream's start-up): the trough's place depends on how packets and render
//! blocks happen to line up, and steering it to a fixed number would read that as drift. The integral term learns the clock difference itself, so the
//! fill settles on the target instead of short of it; the proportional term restores the
//! cushion after a step (a jitter buffer that moved its delay). A state machine with time
//! passed in: the tests run minutes of drift in milliseconds. Within a deadband of the
//! target nothing is corrected, so a stream without drift is never resampled off 1.

use std::time::{Duration, Instant};

use crate::SAMPLE_RATE;

/// Largest correction, relative (0.5 %: 5,000 ppm, fifty times a poor crystal's error,
/// and still inaudible as a pitch change on speech).
pub const MAX_CORRECTION: f64 = 0.005;
/// Proportional gain, per second: an error of 10 ms asks for 0.2 %. Low, because low
/// water moves by up to a render block (5 ms) as the sender's packets and the device's
/// blocks slide past each other, and that beat is not drift.
const KP: f64 = 0.3;
/// Low water within this many samples (1.5 ms) of the target is left alone: the ratio
/// stays exactly 1 on a stream without drift, so nothing is stretched for nothing (the
/// trough moves that much with scheduling anyway).
pub const DEADBAND: usize = 72;
/// Integral gain, per second squared (with `KP`: damping 0.7, settled in about 30 s).
const KI: f64 = 0.06;

/// The drift controller of one stream.
#[derive(Debug, Clone)]
pub struct FillControl {
    bounds: (usize, usize),
    target: Option<usize>,
    /// Windows judged so far (the first only ends the start-up).
    windows: u32,
    /// Low water of the last window judged.
    last_low: Option<usize>,
    window: Duration,
    window_start: Instant,
    last_write: Instant,
    low: Option<usize>,
    integral: f64,
    ratio: f64,
}

impl FillControl {
    /// Holds low water where the second `window` finds it, within `floor..=ceiling`
    /// samples (48 kHz), judging every `window`.
    pub fn new(floor: usize, ceiling: usize, window: Duration, now: Instant) -> Self {
        Self {
            bounds: (floor, ceiling.max(floor)),
            target: None,
            windows: 0,
            last_low: None,
            window: window.max(Duration::from_millis(100)),
            window_start: now,
            last_write: now,
            low: None,
            integral: 0.0,
            ratio: 1.0,
        }
    }

    /// The resampler ratio asked for now (above 1: more output per input).
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The clock difference learnt so far, relative (the integral term alone: above 0
    /// when the sender is slow). Steadier than [`ratio`](Self::ratio), which also carries
    /// the correction of the moment.
    pub fn drift(&self) -> f64 {
        -KI * self.integral
    }

    /// The low water of the last window judged, samples.
    pub fn last_low(&self) -> Option<usize> {
        self.last_low
    }

    /// The low water held, once the second window has set it.
    pub fn target(&self) -> Option<usize> {
        self.target
    }

    /// Notes the ring's fill just before a write; returns a new ratio when a window
    /// closes. A pause in writes longer than a window (a sender on hold, silence
    /// suppression) starts a new window: the ring ran dry because nothing was sent, which
    /// is not drift.
    pub fn observe(&mut self, buffered: usize, now: Instant) -> Option<f64> {
        let paused = now.saturating_duration_since(self.last_write) > self.window;
        self.last_write = now;
        if paused {
            self.window_start = now;
            self.low = None;
            return None;
        }
        self.low = Some(self.low.map_or(buffered, |l| l.min(buffered)));
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed < self.window {
            return None;
        }
        self.window_start = now;
        let low = self.low.take()?;
        self.windows += 1;
        self.last_low = Some(low);
        if self.windows == 1 {
            return None;
        }
        let target = *self
            .target
            .get_or_insert(low.clamp(self.bounds.0, self.bounds.1));
        let dt = elapsed.as_secs_f64();
        let off = low as f64 - target as f64;
        let beyond = off.signum() * (off.abs() - DEADBAND as f64).max(0.0);
        let error = beyond / f64::from(SAMPLE_RATE);
        // Anti-windup: the integral alone never asks for more than the limit.
        let limit = MAX_CORRECTION / KI;
        self.integral = (self.integral + error * dt).clamp(-limit, limit);
        let correction = (KP * error + KI * self.integral).clamp(-MAX_CORRECTION, MAX_CORRECTION);
        self.ratio = 1.0 - correction;
        Some(self.ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One second of a simulated stream.
    #[derive(Debug, Clone, Copy)]
    struct Second {
        low: f64,
        high: f64,
        short_blocks: u32,
    }

    impl Default for Second {
        fn default() -> Self {
            Self {
                low: f64::MAX,
                high: 0.0,
                short_blocks: 0,
            }
        }
    }

    /// A sender whose clock runs `ppm` fast (negative: slow) writes 20 ms frames through
    /// the controlled ratio into a ring the device drains in 5 ms blocks. Returns, per
    /// second of the run, the lowest and highest fill just before a write and the blocks
    /// that found the ring short, the mean ratio over the last quarter, and the low water
    /// held.
    fn run(ppm: f64, seconds: u64, step_at: Option<(u64, usize)>) -> (Vec<Second>, f64, f64) {
        let t0 = Instant::now();
        let mut c = FillControl::new(240, 720, Duration::from_secs(1), t0);
        let mut ring: f64 = 480.0 + 960.0;
        let frame_every = 20_000.0 / (1.0 + ppm * 1e-6); // µs
        let mut next_frame = frame_every;
        let mut per_second: Vec<Second> = Vec::new();
        let mut us = 0.0;
        let mut stepped = false;
        let mut ratios = Vec::new();
        while us < seconds as f64 * 1e6 {
            us += 5000.0;
            let second = (us / 1e6) as usize;
            while per_second.len() <= second {
                per_second.push(Second::default());
            }
            if ring < 240.0 {
                per_second[second].short_blocks += 1;
            }
            ring = (ring - 240.0).max(0.0);
            while next_frame <= us {
                let now = t0 + Duration::from_micros(next_frame as u64);
                if let Some((at, extra)) = step_at {
                    if !stepped && next_frame >= at as f64 * 1e6 {
                        ring += extra as f64;
                        stepped = true;
                    }
                }
                if let Some(r) = c.observe(ring as usize, now) {
                    if next_frame > seconds as f64 * 0.75e6 {
                        ratios.push(r);
                    }
                }
                let e = &mut per_second[(next_frame / 1e6) as usize];
                e.low = e.low.min(ring);
                e.high = e.high.max(ring);
                ring += 960.0 * c.ratio();
                next_frame += frame_every;
            }
        }
        let mean = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
        (per_second, mean, c.target().unwrap_or(0) as f64)
    }

    /// Mean low water over the last 20 whole seconds.
    fn settled_low(fill: &[Second]) -> f64 {
        let tail = &fill[fill.len() - 21..fill.len() - 1];
        tail.iter().map(|s| s.low).sum::<f64>() / tail.len() as f64
    }

    #[test]
    fn no_drift_keeps_the_ratio_at_one() {
        let (fill, ratio, target) = run(0.0, 60, None);
        assert_eq!(ratio, 1.0, "nothing resampled off 1 without drift");
        assert!(fill.iter().all(|s| s.short_blocks == 0), "{fill:?}");
        // The trough the stream started with (the lead-in's 10 ms) is kept, not steered
        // to the floor.
        assert_eq!(target, 480.0);
        let lo = settled_low(&fill);
        assert!(
            (lo - target).abs() < (DEADBAND + 60) as f64,
            "low water {lo}"
        );
    }

    #[test]
    fn a_slow_or_fast_sender_is_followed_and_low_water_settles_on_the_target() {
        // A poor crystal (100 ppm) never empties the cushion; a sender 0.3 % off (thirty
        // times that) does at first, and is followed within 30 s.
        for (ppm, settle) in [(-3000.0, 30), (-100.0, 1), (100.0, 1), (3000.0, 10)] {
            let (fill, ratio, target) = run(ppm, 120, None);
            // At large drifts the ratio makes up the sender's error, give or take 100 ppm;
            // at small ones the fill wanders inside the deadband and the fill checks below
            // are what counts.
            let expected = 1.0 / (1.0 + ppm * 1e-6);
            if ppm.abs() >= 1000.0 {
                assert!((ratio - expected).abs() < 1e-4, "{ppm} ppm: ratio {ratio}");
            }
            for (n, s) in fill.iter().enumerate().skip(settle) {
                assert_eq!(s.short_blocks, 0, "{ppm} ppm: ran dry in second {n}");
                assert!(
                    s.high < 2400.0,
                    "{ppm} ppm: {} samples behind in second {n}",
                    s.high
                );
            }
            let lo = settled_low(&fill);
            assert!(
                (lo - target).abs() < (DEADBAND + 60) as f64,
                "{ppm} ppm: low water {lo}, target {target}"
            );
        }
    }

    #[test]
    fn a_step_in_fill_is_drained_back_to_the_target() {
        // 40 ms more in the ring at 10 s (a jitter buffer that shortened its delay).
        let (fill, ratio, target) = run(0.0, 90, Some((10, 1920)));
        assert!(fill[11].low > 1500.0, "the step happened: {:?}", fill[11]);
        let lo = settled_low(&fill);
        assert!(
            (lo - target).abs() < (DEADBAND + 60) as f64,
            "low water {lo}, target {target}"
        );
        assert!((ratio - 1.0).abs() < 2e-4, "{ratio}");
    }

    #[test]
    fn a_pause_in_writes_is_not_counted_as_drift() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut c = FillControl::new(240, 720, Duration::from_millis(500), t0);
        // The start-up window, then one that sets the target.
        for n in (20..1000).step_by(20) {
            assert_eq!(c.observe(240, ms(n)), None);
        }
        assert_eq!(c.observe(240, ms(1000)), Some(1.0));
        // Ten seconds on hold, then the ring is empty: a new window starts.
        assert_eq!(c.observe(0, ms(11_000)), None);
        for n in (11_020..11_500).step_by(20) {
            assert_eq!(c.observe(240, ms(n)), None);
        }
        assert_eq!(
            c.observe(240, ms(11_500)),
            Some(1.0),
            "the empty ring was not counted"
        );
    }

    #[test]
    fn a_start_below_the_floor_is_raised_to_it() {
        let t0 = Instant::now();
        let mut c = FillControl::new(240, 720, Duration::from_millis(500), t0);
        for n in (20..=1000).step_by(20) {
            c.observe(60, t0 + Duration::from_millis(n));
        }
        assert_eq!(c.target(), Some(240));
        assert!(c.ratio() > 1.0, "more output, to fill up: {}", c.ratio());
    }
}
