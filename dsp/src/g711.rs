//! G.711 µ-law and A-law, as ITU-T G.711 defines them (sign-magnitude, segment and step).

use crate::sample::{f32_to_i16, i16_to_f32};

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Decodes one µ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let t = ((i32::from(u & 0x0f) << 3) + BIAS) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (BIAS - t) as i16
    } else {
        (t - BIAS) as i16
    }
}

/// Encodes one 16-bit linear sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - ((s as u32) << 17).leading_zeros().min(7)) as i32;
    let exponent = exponent.clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & 0x0f) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

/// Encodes one 16-bit linear sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3;
    let mask = if s >= 0 {
        0xd5
    } else {
        s = -s - 1;
        0x55
    };
    const SEG_END: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
    let seg = SEG_END.iter().position(|&end| s <= end).unwrap_or(8) as i32;
    if seg >= 8 {
        return (0x7f ^ mask) as u8;
    }
    let mut aval = seg << 4;
    aval |= if seg < 2 {
        (s >> 1) & 0x0f
    } else {
        (s >> seg) & 0x0f
    };
    (aval ^ mask) as u8
}

/// Decodes one µ-law byte to an `f32` sample.
#[inline]
pub fn ulaw_to_f32(byte: u8) -> f32 {
    i16_to_f32(ulaw_to_linear(byte))
}

/// Decodes one A-law byte to an `f32` sample.
#[inline]
pub fn alaw_to_f32(byte: u8) -> f32 {
    i16_to_f32(alaw_to_linear(byte))
}

/// Encodes one `f32` sample (saturated) to µ-law.
#[inline]
pub fn f32_to_ulaw(sample: f32) -> u8 {
    linear_to_ulaw(f32_to_i16(sample))
}

/// Encodes one `f32` sample (saturated) to A-law.
#[inline]
pub fn f32_to_alaw(sample: f32) -> u8 {
    linear_to_alaw(f32_to_i16(sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trips_every_code() {
        for code in 0..=255u8 {
            let lin = ulaw_to_linear(code);
            let back = linear_to_ulaw(lin);
            // 0x7f and 0xff both mean zero; everything else must map back exactly.
            assert_eq!(ulaw_to_linear(back), lin, "code {code:#x}");
        }
    }

    #[test]
    fn alaw_round_trips_every_code() {
        for code in 0..=255u8 {
            let lin = alaw_to_linear(code);
            assert_eq!(linear_to_alaw(lin), code, "code {code:#x}");
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut last = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let v = ulaw_to_linear(linear_to_ulaw(s));
            assert!(v >= last);
            last = v;
        }
    }
}
