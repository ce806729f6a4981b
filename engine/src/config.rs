//! Engine settings, fixed when the engine is built.

/// How the engine renders and feeds sources.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Frames per render block (one device period). 48 to 4800.
    pub period_frames: usize,
    /// How far ahead the feeder keeps each file source, in milliseconds.
    pub ring_ms: u32,
    /// Gain given to sources below the highest active priority (0 = mute).
    pub duck_gain: f32,
    /// Length of gain, duck and stop ramps, in milliseconds.
    pub ramp_ms: u32,
    /// Most sources that may play at once.
    pub max_sources: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            period_frames: 240,
            ring_ms: 300,
            duck_gain: 0.0,
            ramp_ms: 20,
            max_sources: 128,
        }
    }
}

impl EngineConfig {
    /// Ramp length in samples.
    pub fn ramp_samples(&self) -> u32 {
        (crate::SAMPLE_RATE / 1000 * self.ramp_ms).max(1)
    }

    /// Ring capacity of a file source, in samples.
    pub fn ring_samples(&self) -> usize {
        (crate::SAMPLE_RATE as usize / 1000 * self.ring_ms as usize).max(self.period_frames * 4)
    }

    /// Checks the values are in range.
    pub fn validate(&self) -> Result<(), crate::EngineError> {
        if !(48..=4800).contains(&self.period_frames) {
            return Err(crate::EngineError::Limit(format!(
                "period {} frames is outside 48..=4800",
                self.period_frames
            )));
        }
        if self.max_sources == 0 || self.max_sources > 1024 {
            return Err(crate::EngineError::Limit(
                "max_sources must be 1..=1024".into(),
            ));
        }
        Ok(())
    }
}
