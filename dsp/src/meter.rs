//! Level metering: peak and RMS in dBFS over a block.

/// Peak and RMS of one block, linear.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Level {
    /// Largest absolute sample.
    pub peak: f32,
    /// Root mean square.
    pub rms: f32,
}

/// Measures a block.
pub fn measure(block: &[f32]) -> Level {
    if block.is_empty() {
        return Level::default();
    }
    let mut peak = 0f32;
    let mut sum = 0f64;
    for &s in block {
        peak = peak.max(s.abs());
        sum += f64::from(s) * f64::from(s);
    }
    Level {
        peak,
        rms: (sum / block.len() as f64).sqrt() as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_sine_is_minus_3_db_rms() {
        let b: Vec<f32> = (0..48000).map(|i| (i as f32 * 0.1).sin()).collect();
        let l = measure(&b);
        assert!((crate::to_db(l.rms) + 3.01).abs() < 0.05);
        assert!(l.peak > 0.999);
    }
}
