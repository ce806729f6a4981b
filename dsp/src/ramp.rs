//! Linear gain ramps, so gain changes never click.

/// A gain that moves linearly to its target over a fixed number of samples.
#[derive(Debug, Clone, Copy)]
pub struct GainRamp {
    current: f32,
    target: f32,
    step: f32,
    ramp_len: u32,
    remaining: u32,
}

impl GainRamp {
    /// Creates a ramp that starts settled at `gain` and takes `ramp_len` samples per change.
    pub fn new(gain: f32, ramp_len: u32) -> Self {
        Self {
            current: gain,
            target: gain,
            step: 0.0,
            ramp_len: ramp_len.max(1),
            remaining: 0,
        }
    }

    /// Starts moving towards `target`; a change mid-ramp restarts from where it is.
    pub fn set_target(&mut self, target: f32) {
        if (target - self.target).abs() < f32::EPSILON && self.remaining > 0 {
            return;
        }
        self.target = target;
        self.remaining = self.ramp_len;
        self.step = (target - self.current) / self.ramp_len as f32;
    }

    /// Jumps to `gain` at once.
    pub fn set_now(&mut self, gain: f32) {
        self.current = gain;
        self.target = gain;
        self.remaining = 0;
    }

    /// The gain that the next sample will get.
    pub fn current(&self) -> f32 {
        self.current
    }

    /// The gain the ramp is heading to.
    pub fn target(&self) -> f32 {
        self.target
    }

    /// True when the ramp has reached its target.
    pub fn settled(&self) -> bool {
        self.remaining == 0
    }

    /// Advances one sample and returns the gain for it.
    #[inline]
    pub fn next_gain(&mut self) -> f32 {
        if self.remaining > 0 {
            self.remaining -= 1;
            self.current = if self.remaining == 0 {
                self.target
            } else {
                self.current + self.step
            };
        }
        self.current
    }

    /// Multiplies `block` in place by the ramped gain.
    pub fn process(&mut self, block: &mut [f32]) {
        if self.settled() {
            let g = self.current;
            if g != 1.0 {
                block.iter_mut().for_each(|s| *s *= g);
            }
            return;
        }
        for s in block {
            *s *= self.next_gain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_target_in_ramp_len_samples() {
        let mut r = GainRamp::new(0.0, 10);
        r.set_target(1.0);
        let gains: Vec<f32> = (0..12).map(|_| r.next_gain()).collect();
        assert!((gains[0] - 0.1).abs() < 1e-6);
        assert_eq!(gains[9], 1.0);
        assert_eq!(gains[11], 1.0);
        assert!(r.settled());
        assert!(gains.windows(2).all(|w| w[1] >= w[0]));
    }

    #[test]
    fn settled_unity_leaves_block_alone() {
        let mut r = GainRamp::new(1.0, 4);
        let mut b = [0.5f32; 8];
        r.process(&mut b);
        assert_eq!(b, [0.5; 8]);
    }
}
