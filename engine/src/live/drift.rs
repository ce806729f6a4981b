//! How fast a sender's clock runs against the device's: a state machine fed with
//! readings, time passed in. Used by the playout core ([`super::playout`]) for every
//! live stream: a SIP call's RTP timestamps and a `transmit.cgi` body's sample count.
//!
//! Each reading pairs the device's clock (its position when data arrived) with how far
//! the sender's media had come. With no drift, media minus device stays constant apart
//! from the network's delay; a sender whose clock runs fast by 1,000 ppm gains a
//! millisecond a second on it. Network jitter and a late receiving thread only ever make
//! data look later, so each half second keeps its earliest-looking reading (the largest
//! offset), and the estimate is the least-squares slope of those over the last
//! [`WINDOW`] seconds. A slope the scatter could make by itself is not taken for drift,
//! so a steady sender's audio is never stretched.
//!
//! A jitter buffer's own timing is no use here: it plays at the sender's pace only as
//! far as its windowed minimum transit follows, which lags by the window.

use std::collections::VecDeque;

/// Readings older than this (device time, seconds) are dropped.
pub const WINDOW: f64 = 60.0;
/// The estimate is trusted once the readings span this long (seconds).
pub const TRUST: f64 = 4.0;
/// Estimates smaller than this (ppm) are taken as no drift.
pub const DEADBAND_PPM: f64 = 20.0;
/// A slope within this many standard errors of zero is taken as no drift.
const SIGNIFICANCE: f64 = 4.0;
/// How far off the line a reading can sit for want of a finer clock (seconds).
const READING_STEP: f64 = 0.001;
/// Each this long (device seconds) contributes its earliest-looking reading.
const BUCKET: f64 = 0.5;
/// A jump of the offset by more than this (seconds) is a new timeline, not drift.
const STEP: f64 = 0.1;
/// The largest drift believed (a sender off by more is broken, not drifting).
const MAX_DRIFT: f64 = 0.01;

/// The estimator.
#[derive(Debug)]
pub struct DriftEstimator {
    /// (device seconds, media − device seconds), one per bucket.
    readings: VecDeque<(f64, f64)>,
    /// The bucket being filled: its start and its best reading so far.
    bucket: Option<(f64, (f64, f64))>,
}

impl Default for DriftEstimator {
    fn default() -> Self {
        Self::new()
    }
}

impl DriftEstimator {
    /// An estimator with no readings.
    pub fn new() -> Self {
        Self {
            // One reading per bucket over the window, allocated once.
            readings: VecDeque::with_capacity((WINDOW / BUCKET) as usize + 2),
            bucket: None,
        }
    }

    /// Forgets every reading (a new source, a timestamp jump).
    pub fn reset(&mut self) {
        self.readings.clear();
        self.bucket = None;
    }

    /// A reading: the device at `device` seconds, the media at `media` seconds (both on
    /// their own running clocks).
    pub fn observe(&mut self, device: f64, media: f64) {
        let reading = (device, media - device);
        match self.bucket {
            Some((start, best)) if device - start >= BUCKET => {
                self.commit(best);
                self.bucket = Some((device, reading));
            }
            Some((start, best)) => {
                if reading.1 > best.1 {
                    self.bucket = Some((start, reading));
                }
            }
            None => self.bucket = Some((device, reading)),
        }
    }

    /// Adds a bucket's reading. One far off the last (a sender that restarted its
    /// timestamps without a jump big enough to resync the jitter buffer) starts over.
    fn commit(&mut self, (device, offset): (f64, f64)) {
        if let Some(&(last_at, last_offset)) = self.readings.back() {
            let allowed = STEP + (device - last_at) * MAX_DRIFT;
            if (offset - last_offset).abs() > allowed {
                self.readings.clear();
            }
        }
        if self.readings.len() == self.readings.capacity() {
            self.readings.pop_front();
        }
        self.readings.push_back((device, offset));
        while let Some(&(first, _)) = self.readings.front() {
            if device - first <= WINDOW {
                break;
            }
            self.readings.pop_front();
        }
    }

    /// How long the readings span, seconds.
    pub fn span(&self) -> f64 {
        match (self.readings.front(), self.readings.back()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0.0,
        }
    }

    /// The sender's clock against the device's, relative (+0.001: the sender runs
    /// 1,000 ppm fast), once the readings span [`TRUST`]; 0 when not significant.
    pub fn drift(&self) -> Option<f64> {
        if self.span() < TRUST || self.readings.len() < 4 {
            return None;
        }
        let n = self.readings.len() as f64;
        let (mx, my) = self
            .readings
            .iter()
            .fold((0.0, 0.0), |(sx, sy), &(x, y)| (sx + x / n, sy + y / n));
        let (sxy, sxx) = self
            .readings
            .iter()
            .fold((0.0, 0.0), |(sxy, sxx), &(x, y)| {
                (sxy + (x - mx) * (y - my), sxx + (x - mx) * (x - mx))
            });
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        // The slope's standard error from the scatter about the line.
        let residual: f64 = self
            .readings
            .iter()
            .map(|&(x, y)| {
                let r = y - my - slope * (x - mx);
                r * r
            })
            .sum();
        let error = (residual / (n - 2.0) / sxx).sqrt();
        // A reading's error at the ends of a short span makes a slope of its own.
        let floor = (DEADBAND_PPM / 1e6)
            .max(SIGNIFICANCE * error)
            .max(READING_STEP / self.span());
        Some(if slope.abs() < floor {
            0.0
        } else {
            slope.clamp(-MAX_DRIFT, MAX_DRIFT)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readings every 20 ms for `secs` from a sender `ppm` off, with up to ±`noise_ms`
    /// of scheduling noise (deterministic pseudo-random).
    fn feed(e: &mut DriftEstimator, from: f64, secs: f64, ppm: f64, noise_ms: f64) {
        let mut seed = 0x1234_5678_u64;
        let steps = (secs / 0.02) as usize;
        for i in 0..steps {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let noise = ((seed >> 33) as f64 / f64::from(u32::MAX) - 0.5) * 2.0 * noise_ms / 1e3;
            let device = from + i as f64 * 0.02;
            let media = device * (1.0 + ppm / 1e6) + 0.04 + noise;
            e.observe(device, media);
        }
    }

    #[test]
    fn not_trusted_before_four_seconds() {
        let mut e = DriftEstimator::new();
        feed(&mut e, 0.0, 3.9, 1000.0, 0.0);
        assert_eq!(e.drift(), None);
        feed(&mut e, 3.9, 2.0, 1000.0, 0.0);
        let d = e.drift().expect("trusted");
        assert!((d * 1e6 - 1000.0).abs() < 1.0, "{d}");
    }

    #[test]
    fn noisy_readings_give_the_drift_within_a_few_percent() {
        for ppm in [-1000.0, 1000.0, -300.0, 300.0] {
            let mut e = DriftEstimator::new();
            feed(&mut e, 0.0, 11.0, ppm, 5.0);
            let early = e.drift().expect("trusted") * 1e6;
            assert!(
                (early - ppm).abs() < 150.0,
                "{ppm} ppm read as {early} at 11 s"
            );
            feed(&mut e, 11.0, 49.0, ppm, 5.0);
            let late = e.drift().expect("trusted") * 1e6;
            assert!(
                (late - ppm).abs() < 40.0,
                "{ppm} ppm read as {late} at 60 s"
            );
        }
    }

    #[test]
    fn network_jitter_does_not_bend_the_estimate() {
        // Packets 20–70 ms late, unevenly; the earliest in each half second sets the line.
        let mut e = DriftEstimator::new();
        let mut arrivals: Vec<(f64, f64)> = (0..3000u64)
            .map(|i| {
                let sent = i as f64 * 0.02;
                let late =
                    0.02 + ((i * 7919) % 31) as f64 / 1000.0 + if i % 3 == 1 { 0.02 } else { 0.0 };
                (sent + late, sent * (1.0 - 300e-6))
            })
            .collect();
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (device, media) in arrivals {
            e.observe(device, media);
        }
        let d = e.drift().expect("trusted") * 1e6;
        assert!((d + 300.0).abs() < 15.0, "{d}");
    }

    #[test]
    fn a_steady_sender_reads_as_no_drift() {
        let mut e = DriftEstimator::new();
        feed(&mut e, 0.0, 60.0, 0.0, 5.0);
        assert_eq!(e.drift(), Some(0.0));
        assert!(e.span() <= WINDOW + 0.001);
    }

    #[test]
    fn a_timeline_step_starts_over() {
        let mut e = DriftEstimator::new();
        feed(&mut e, 0.0, 20.0, 500.0, 0.0);
        assert!(e.drift().is_some());
        // The same sender, its media suddenly 300 ms on.
        for i in 0..60 {
            let t = 20.0 + f64::from(i) * 0.02;
            e.observe(t, t * 1.0005 + 0.34);
        }
        assert_eq!(e.drift(), None);
        assert!(e.span() < 1.0);
    }
}
