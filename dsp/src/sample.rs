//! Sample-format conversions between integer PCM and the internal `f32`, written once for
//! every decoder, encoder and device, on `dasp_sample` (the conversion part of `dasp`,
//! which the design card names; cpal builds it already, so it adds nothing to the build).
//!
//! Full scale is 2^(bits − 1) both ways; `f32` to integer saturates at the ends and
//! truncates toward zero, dasp's rule (the largest error is one step, 1/32768 for 16 bits).

use dasp_sample::Sample;

/// A 16-bit sample as `f32` (−1 ≤ x < 1).
#[inline]
pub fn i16_to_f32(s: i16) -> f32 {
    s.to_sample()
}

/// An `f32` sample as 16 bits, saturated.
#[inline]
pub fn f32_to_i16(s: f32) -> i16 {
    s.to_sample()
}

/// A signed 8-bit sample as `f32`.
#[inline]
pub fn i8_to_f32(s: i8) -> f32 {
    s.to_sample()
}

/// A 32-bit sample as `f32`; a 24-bit one read into the top three bytes reads the same.
#[inline]
pub fn i32_to_f32(s: i32) -> f32 {
    s.to_sample()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_and_saturation() {
        assert_eq!(i16_to_f32(i16::MIN), -1.0);
        assert_eq!(i16_to_f32(16384), 0.5);
        assert_eq!(f32_to_i16(0.5), 16384);
        assert_eq!(f32_to_i16(1.5), i16::MAX);
        assert_eq!(f32_to_i16(-1.5), i16::MIN);
        assert_eq!(f32_to_i16(f32::NAN), 0);
        assert_eq!(i8_to_f32(-128), -1.0);
        assert_eq!(i32_to_f32(0x4000_0000), 0.5);
        for s in [-32768i16, -1, 0, 1, 12345, 32767] {
            assert_eq!(
                f32_to_i16(i16_to_f32(s)),
                s,
                "16 bits survive the round trip"
            );
        }
    }
}
