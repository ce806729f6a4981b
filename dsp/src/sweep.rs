//! The exponential (Farina) sine sweep: a sweep from `f1` to `f2` whose frequency rises
//! exponentially, with raised-cosine fades at both ends, and its inverse filter (the
//! time-reversed sweep falling 6 dB per octave), which turns a recorded response into
//! impulse responses with the harmonic distortion products placed *before* the linear
//! response (`L·ln k` earlier for the k-th harmonic), where a window drops them.
//!
//! [`ExpSweep::fill`] writes any stretch of the sweep into a buffer without allocating,
//! so the render thread can play it block by block.

use std::f64::consts::PI;

/// Why a sweep cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    /// Frequencies out of order or beyond Nyquist.
    #[error("the sweep needs 0 < f1 < f2 < rate / 2 (got {f1} Hz to {f2} Hz at {rate} Hz)")]
    Range {
        /// Start frequency.
        f1: f64,
        /// End frequency.
        f2: f64,
        /// Sample rate.
        rate: f64,
    },
    /// Too short, or too long to analyse.
    #[error("the sweep must last 0.1 to 30 s with fades shorter than half of it")]
    Length,
}

/// An exponential sine sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpSweep {
    rate: f64,
    f1: f64,
    f2: f64,
    len: usize,
    fade: usize,
    /// The sweep's time constant `L = T / ln(f2 / f1)`, s.
    l: f64,
}

impl ExpSweep {
    /// A sweep from `f1` to `f2` Hz lasting `seconds` at `rate`, with `fade_s` fades.
    pub fn new(rate: f64, f1: f64, f2: f64, seconds: f64, fade_s: f64) -> Result<Self, SweepError> {
        if !(f1 > 0.0 && f1 < f2 && f2 < rate / 2.0) {
            return Err(SweepError::Range { f1, f2, rate });
        }
        if !(0.1..=30.0).contains(&seconds) || !(0.0..seconds / 2.0).contains(&fade_s) {
            return Err(SweepError::Length);
        }
        let len = (seconds * rate).round() as usize;
        Ok(Self {
            rate,
            f1,
            f2,
            len,
            fade: (fade_s * rate).round() as usize,
            l: seconds / (f2 / f1).ln(),
        })
    }

    /// Samples in the sweep.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the sweep has no samples (never: [`new`](Self::new) refuses that).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sample rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The start and end frequencies.
    pub fn band(&self) -> (f64, f64) {
        (self.f1, self.f2)
    }

    /// The time constant `L`, s: the k-th harmonic's response lies `L·ln k` before the
    /// linear one.
    pub fn time_constant(&self) -> f64 {
        self.l
    }

    /// Sample `n` (0 outside the sweep), full scale ±1.
    pub fn sample(&self, n: usize) -> f64 {
        if n >= self.len {
            return 0.0;
        }
        let t = n as f64 / self.rate;
        let phase = 2.0 * PI * self.f1 * self.l * ((t / self.l).exp() - 1.0);
        phase.sin() * self.envelope(n)
    }

    fn envelope(&self, n: usize) -> f64 {
        let edge = n.min(self.len - 1 - n);
        if self.fade == 0 || edge >= self.fade {
            1.0
        } else {
            0.5 - 0.5 * (PI * edge as f64 / self.fade as f64).cos()
        }
    }

    /// Writes samples `start..start + out.len()` scaled by `gain` (0 past the end).
    pub fn fill(&self, start: usize, gain: f32, out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = (self.sample(start + i) * f64::from(gain)) as f32;
        }
    }

    /// Sample `n` of the inverse filter: the sweep reversed, falling 6 dB per octave of
    /// its own frequency, so sweep ∗ inverse is a band-limited impulse at `len - 1`.
    pub fn inverse(&self, n: usize) -> f64 {
        if n >= self.len {
            return 0.0;
        }
        let t = n as f64 / self.rate;
        self.sample(self.len - 1 - n) * (-t / self.l).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_starts_and_ends_silent_and_rises_in_frequency() {
        let s = ExpSweep::new(48_000.0, 20.0, 20_000.0, 1.0, 0.01).expect("sweep");
        assert_eq!(s.len(), 48_000);
        assert_eq!(s.sample(0), 0.0);
        assert!(s.sample(s.len() - 1).abs() < 1e-3);
        assert_eq!(s.sample(s.len()), 0.0);
        // Zero crossings per 10 ms: few at the start, many at the end.
        let crossings = |from: usize| {
            (from..from + 480)
                .filter(|&n| s.sample(n).signum() != s.sample(n + 1).signum())
                .count()
        };
        assert!(crossings(1000) < crossings(46_000) / 50);
        let mut block = [0f32; 64];
        s.fill(24_000, 0.5, &mut block);
        assert!((f64::from(block[3]) - 0.5 * s.sample(24_003)).abs() < 1e-6);
        for bad in [
            ExpSweep::new(48_000.0, 20.0, 30_000.0, 1.0, 0.0),
            ExpSweep::new(48_000.0, 200.0, 100.0, 1.0, 0.0),
            ExpSweep::new(48_000.0, 20.0, 20_000.0, 0.01, 0.0),
            ExpSweep::new(48_000.0, 20.0, 20_000.0, 1.0, 0.6),
        ] {
            assert!(bad.is_err());
        }
    }
}
