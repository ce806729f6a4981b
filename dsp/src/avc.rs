//! Automatic volume control: the output follows the room's ambient noise.
//!
//! The noise estimate is the microphone level after the echo canceller (so the device's
//! own sound is not mistaken for the room), smoothed over a few seconds and tracked
//! downwards faster than upwards so speech bursts near the microphone weigh little.
//! Above `threshold_dbfs` every dB of noise asks for `slope` dB of gain, up to
//! `max_boost_db`; the gain moves at most `slew_db_per_s`. Time is passed in.

/// Settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvcConfig {
    /// Noise level (dBFS at the microphone) at and below which no boost is applied.
    pub threshold_dbfs: f32,
    /// dB of gain per dB of noise above the threshold.
    pub slope: f32,
    /// Largest boost, dB.
    pub max_boost_db: f32,
    /// Fastest change of the gain, dB per second.
    pub slew_db_per_s: f32,
}

impl Default for AvcConfig {
    fn default() -> Self {
        Self {
            threshold_dbfs: -60.0,
            slope: 0.5,
            max_boost_db: 12.0,
            slew_db_per_s: 3.0,
        }
    }
}

/// Time constant of the noise estimate going up, seconds.
const RISE_S: f32 = 3.0;
/// Time constant of the noise estimate going down, seconds.
const FALL_S: f32 = 0.5;

/// The controller's state.
#[derive(Debug, Clone)]
pub struct Avc {
    config: AvcConfig,
    noise_db: f32,
    gain_db: f32,
}

impl Avc {
    /// A controller at 0 dB with the noise estimate at the floor.
    pub fn new(config: AvcConfig) -> Self {
        Self {
            config,
            noise_db: -90.0,
            gain_db: 0.0,
        }
    }

    /// The noise estimate, dBFS.
    pub fn noise_dbfs(&self) -> f32 {
        self.noise_db
    }

    /// The output gain now, dB.
    pub fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// Feeds the microphone level of the last `dt_s` seconds; returns the new gain in dB.
    pub fn update(&mut self, level_dbfs: f32, dt_s: f32) -> f32 {
        let level = level_dbfs.max(-90.0);
        let tau = if level > self.noise_db {
            RISE_S
        } else {
            FALL_S
        };
        let a = (dt_s / tau).min(1.0);
        self.noise_db += a * (level - self.noise_db);
        let c = self.config;
        let target = ((self.noise_db - c.threshold_dbfs) * c.slope).clamp(0.0, c.max_boost_db);
        let step = c.slew_db_per_s * dt_s;
        self.gain_db += (target - self.gain_db).clamp(-step, step);
        self.gain_db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `seconds` of constant noise in 10 ms steps; returns the largest change per step.
    fn hold(avc: &mut Avc, level: f32, seconds: f32) -> f32 {
        let mut max_step = 0f32;
        for _ in 0..(seconds * 100.0) as usize {
            let before = avc.gain_db();
            avc.update(level, 0.01);
            max_step = max_step.max((avc.gain_db() - before).abs());
        }
        max_step
    }

    #[test]
    fn ten_db_more_noise_raises_the_gain_within_limit_and_slew_and_silence_returns_it() {
        let c = AvcConfig::default();
        let mut avc = Avc::new(c);
        hold(&mut avc, -50.0, 20.0);
        let quiet = avc.gain_db();
        assert!((quiet - 5.0).abs() < 0.2, "at -50 dBFS: {quiet}");
        let step = hold(&mut avc, -40.0, 20.0);
        let loud = avc.gain_db();
        assert!((loud - 10.0).abs() < 0.2, "at -40 dBFS: {loud}");
        assert!(step <= c.slew_db_per_s * 0.01 + 1e-4, "slew {step}");
        hold(&mut avc, -20.0, 30.0);
        assert!(avc.gain_db() <= c.max_boost_db + 1e-4, "limit");
        hold(&mut avc, -90.0, 10.0);
        assert!(
            avc.gain_db().abs() < 1e-3,
            "silence returns it: {}",
            avc.gain_db()
        );
    }

    #[test]
    fn a_short_burst_weighs_little() {
        let mut avc = Avc::new(AvcConfig::default());
        hold(&mut avc, -70.0, 5.0);
        hold(&mut avc, -20.0, 0.3);
        assert!(avc.gain_db() < 1.0, "{}", avc.gain_db());
    }
}
