//! A peak limiter: output never exceeds its ceiling, so gain above unity never wraps or clips.

/// Instant-attack, smooth-release peak limiter.
///
/// The gain is computed from a peak envelope that rises at once and decays with the release
/// time, so `|out| <= ceiling` holds for every sample while quiet passages stay untouched.
#[derive(Debug, Clone)]
pub struct Limiter {
    ceiling: f32,
    release_coef: f32,
    envelope: f32,
    engaged: u64,
}

impl Limiter {
    /// Creates a limiter with `ceiling` (linear, e.g. 0.98) and release time in samples.
    pub fn new(ceiling: f32, release_samples: f32) -> Self {
        let release_coef = (-1.0 / release_samples.max(1.0)).exp();
        Self {
            ceiling,
            release_coef,
            envelope: 0.0,
            engaged: 0,
        }
    }

    /// The limiter netamp uses on its output: −0.2 dBFS ceiling, 50 ms release at 48 kHz.
    pub fn output_default() -> Self {
        Self::new(0.977, 2400.0)
    }

    /// How many samples so far were reduced.
    pub fn engaged_samples(&self) -> u64 {
        self.engaged
    }

    /// Limits `block` in place.
    pub fn process(&mut self, block: &mut [f32]) {
        for s in block {
            let x = if s.is_finite() { *s } else { 0.0 };
            let peak = x.abs();
            self.envelope = peak.max(self.envelope * self.release_coef);
            if self.envelope > self.ceiling {
                self.engaged += 1;
                *s = x * (self.ceiling / self.envelope);
            } else {
                *s = x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_ceiling() {
        let mut l = Limiter::output_default();
        let mut block: Vec<f32> = (0..4800).map(|i| 4.0 * (i as f32 * 0.05).sin()).collect();
        l.process(&mut block);
        let max = block.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(max <= 0.977 + 1e-6, "max {max}");
        assert!(l.engaged_samples() > 0);
    }

    #[test]
    fn quiet_signal_is_untouched() {
        let mut l = Limiter::output_default();
        let orig: Vec<f32> = (0..480).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect();
        let mut block = orig.clone();
        l.process(&mut block);
        assert_eq!(block, orig);
    }

    #[test]
    fn nan_becomes_silence() {
        let mut l = Limiter::output_default();
        let mut b = [f32::NAN, f32::INFINITY, 0.1];
        l.process(&mut b);
        assert_eq!(&b[..2], &[0.0, 0.0]);
    }
}
