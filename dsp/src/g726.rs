//! G.726 ADPCM at 32 kbit/s (4-bit codes, 8 kHz), decoder side.
//!
//! Follows ITU-T G.726 as the widely used Sun reference implementation (`g72x.c`,
//! `g721.c`) expresses it in integer arithmetic: adaptive quantiser scale, a two-pole
//! six-zero adaptive predictor, tone and transition detection. Transmit clients send the
//! codes packed most significant nibble first (ffmpeg's `g726` format, ITU's AAL2
//! packing); [`Packing::Lsb`] reads the RTP (RFC 3551) order.

/// Powers of two the reference uses to find a value's binary exponent.
const POWER2: [i32; 15] = [
    1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800, 0x1000, 0x2000, 0x4000,
];
/// Log-domain reconstruction levels per 4-bit code.
const DQLN: [i32; 16] = [
    -2048, 4, 135, 213, 273, 323, 373, 425, 425, 373, 323, 273, 213, 135, 4, -2048,
];
/// Scale-factor multipliers per code (already shifted by 5 as the reference passes them).
const WI: [i32; 16] = [
    -12, 18, 41, 64, 112, 198, 355, 1122, 1122, 355, 198, 112, 64, 41, 18, -12,
];
/// Rate-of-change weights per code.
const FI: [i32; 16] = [
    0, 0, 0, 0x200, 0x200, 0x200, 0x600, 0xE00, 0xE00, 0x600, 0x200, 0x200, 0x200, 0, 0, 0,
];

/// Which nibble of a byte carries the earlier code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// High nibble first (ITU AAL2, ffmpeg `g726`, what HTTP clients send).
    Msb,
    /// Low nibble first (RFC 3551 RTP payloads, ffmpeg `g726le`).
    Lsb,
}

/// Number of entries of `table` that are less than or equal to `val`.
fn quan(val: i32, table: &[i32]) -> i32 {
    table.iter().take_while(|&&t| val >= t).count() as i32
}

/// Multiplies a predictor coefficient by a value in the reference's 4.6 floating format.
fn fmult(an: i32, srn: i32) -> i32 {
    let anmag = if an > 0 { an } else { (-an) & 0x1FFF };
    let anexp = quan(anmag, &POWER2) - 6;
    let anmant = if anmag == 0 {
        32
    } else if anexp >= 0 {
        anmag >> anexp
    } else {
        anmag << -anexp
    };
    let wanexp = anexp + ((srn >> 6) & 0xF) - 13;
    let wanmant = (anmant * (srn & 0o77) + 0x30) >> 4;
    let retval = if wanexp >= 0 {
        (wanmant << wanexp) & 0x7FFF
    } else {
        wanmant >> -wanexp
    };
    if (an ^ srn) < 0 {
        -retval
    } else {
        retval
    }
}

/// A magnitude in the 4-bit exponent, 6-bit mantissa format of the predictor's history.
fn to_float(mag: i32, negative: bool) -> i32 {
    let exp = quan(mag, &POWER2);
    let f = (exp << 6) + ((mag << 6) >> exp);
    if negative {
        f - 0x400
    } else {
        f
    }
}

/// One G.726-32 decoder's state; decodes codes to 16-bit linear samples.
#[derive(Debug, Clone)]
pub struct G726Decoder {
    yl: i32,
    yu: i32,
    dms: i32,
    dml: i32,
    ap: i32,
    a: [i32; 2],
    b: [i32; 6],
    pk: [i32; 2],
    dq: [i32; 6],
    sr: [i32; 2],
    td: bool,
    packing: Packing,
}

impl G726Decoder {
    /// A decoder in the reset state G.726 specifies.
    pub fn new(packing: Packing) -> Self {
        Self {
            yl: 34816,
            yu: 544,
            dms: 0,
            dml: 0,
            ap: 0,
            a: [0; 2],
            b: [0; 6],
            pk: [0; 2],
            dq: [32; 6],
            sr: [32; 2],
            td: false,
            packing,
        }
    }

    /// Decodes the two codes of each byte, appending linear samples scaled to ±1.
    pub fn decode_bytes(&mut self, bytes: &[u8], out: &mut Vec<f32>) {
        for &byte in bytes {
            let (first, second) = match self.packing {
                Packing::Msb => (byte >> 4, byte & 0x0F),
                Packing::Lsb => (byte & 0x0F, byte >> 4),
            };
            for code in [first, second] {
                out.push(crate::sample::i16_to_f32(self.decode(code)));
            }
        }
    }

    /// Decodes one 4-bit code to a 16-bit linear sample.
    pub fn decode(&mut self, code: u8) -> i16 {
        let i = usize::from(code & 0x0F);
        let sezi = self.predictor_zero();
        let sez = sezi >> 1;
        let se = (sezi + self.predictor_pole()) >> 1;
        let y = self.step_size();
        let dq = reconstruct(i & 0x08 != 0, DQLN[i], y);
        let sr = if dq < 0 { se - (dq & 0x3FFF) } else { se + dq };
        let dqsez = sr - se + sez;
        self.update(y, WI[i] << 5, FI[i], dq, sr, dqsez);
        (sr << 2).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
    }

    fn predictor_zero(&self) -> i32 {
        self.b
            .iter()
            .zip(&self.dq)
            .map(|(&b, &dq)| fmult(b >> 2, dq))
            .sum()
    }

    fn predictor_pole(&self) -> i32 {
        fmult(self.a[1] >> 2, self.sr[1]) + fmult(self.a[0] >> 2, self.sr[0])
    }

    fn step_size(&self) -> i32 {
        if self.ap >= 256 {
            return self.yu;
        }
        let mut y = self.yl >> 6;
        let dif = self.yu - y;
        let al = self.ap >> 2;
        if dif > 0 {
            y += (dif * al) >> 6;
        } else if dif < 0 {
            y += (dif * al + 0x3F) >> 6;
        }
        y
    }

    fn update(&mut self, y: i32, wi: i32, fi: i32, dq: i32, sr: i32, dqsez: i32) {
        let pk0 = i32::from(dqsez < 0);
        let mag = dq & 0x7FFF;

        // Transition detector: a large jump after a tone resets the predictor.
        let ylint = self.yl >> 15;
        let ylfrac = (self.yl >> 10) & 0x1F;
        let thr1 = (32 + ylfrac) << ylint;
        let thr2 = if ylint > 9 { 31 << 10 } else { thr1 };
        let dqthr = (thr2 + (thr2 >> 1)) >> 1;
        let tr = self.td && mag > dqthr;

        // Quantiser scale factor adaptation.
        self.yu = (y + ((wi - y) >> 5)).clamp(544, 5120);
        self.yl += self.yu + ((-self.yl) >> 6);

        let mut a2p = 0;
        if tr {
            self.a = [0; 2];
            self.b = [0; 6];
        } else {
            let pks1 = pk0 ^ self.pk[0];
            a2p = self.a[1] - (self.a[1] >> 7);
            if dqsez != 0 {
                let fa1 = if pks1 != 0 { self.a[0] } else { -self.a[0] };
                if fa1 < -8191 {
                    a2p -= 0x100;
                } else if fa1 > 8191 {
                    a2p += 0xFF;
                } else {
                    a2p += fa1 >> 5;
                }
                if pk0 ^ self.pk[1] != 0 {
                    if a2p <= -12160 {
                        a2p = -12288;
                    } else if a2p >= 12416 {
                        a2p = 12288;
                    } else {
                        a2p -= 0x80;
                    }
                } else if a2p <= -12416 {
                    a2p = -12288;
                } else if a2p >= 12160 {
                    a2p = 12288;
                } else {
                    a2p += 0x80;
                }
            }
            self.a[1] = a2p;
            self.a[0] -= self.a[0] >> 8;
            if dqsez != 0 {
                if pks1 == 0 {
                    self.a[0] += 192;
                } else {
                    self.a[0] -= 192;
                }
            }
            let a1ul = 15360 - a2p;
            self.a[0] = self.a[0].clamp(-a1ul, a1ul);
            for cnt in 0..6 {
                self.b[cnt] -= self.b[cnt] >> 8;
                if mag != 0 {
                    if (dq ^ self.dq[cnt]) >= 0 {
                        self.b[cnt] += 128;
                    } else {
                        self.b[cnt] -= 128;
                    }
                }
            }
        }

        self.dq.copy_within(0..5, 1);
        self.dq[0] = if mag == 0 {
            if dq >= 0 {
                0x20
            } else {
                0x20 - 0x400
            }
        } else {
            to_float(mag, dq < 0)
        };

        self.sr[1] = self.sr[0];
        self.sr[0] = if sr == 0 {
            0x20
        } else if sr > 0 {
            to_float(sr, false)
        } else if sr > -32768 {
            to_float(-sr, true)
        } else {
            0x20 - 0x400
        };

        self.pk[1] = self.pk[0];
        self.pk[0] = pk0;

        // Tone detector.
        self.td = !tr && a2p < -11776;

        // Adaptation speed control.
        self.dms += (fi - self.dms) >> 5;
        self.dml += ((fi << 2) - self.dml) >> 7;
        if tr {
            self.ap = 256;
        } else if y < 1536 || self.td || ((self.dms << 2) - self.dml).abs() >= (self.dml >> 3) {
            self.ap += (0x200 - self.ap) >> 4;
        } else {
            self.ap += (-self.ap) >> 4;
        }
    }
}

/// The quantised difference signal from its log-domain level and the scale factor.
fn reconstruct(negative: bool, dqln: i32, y: i32) -> i32 {
    let dql = dqln + (y >> 2);
    if dql < 0 {
        return if negative { -0x8000 } else { 0 };
    }
    let dex = (dql >> 7) & 15;
    let dqt = 128 + (dql & 127);
    let dq = (dqt << 7) >> (14 - dex);
    if negative {
        dq - 0x8000
    } else {
        dq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal G.726-32 encoder with the same arithmetic, to round-trip a signal.
    fn encode(samples: &[i16]) -> Vec<u8> {
        // Quantiser decision levels of the 32 kbit/s quantiser (log domain).
        const QTAB: [i32; 7] = [-124, 80, 178, 246, 300, 349, 400];
        let mut st = G726Decoder::new(Packing::Msb);
        let mut codes = Vec::new();
        for &s in samples {
            let sl = i32::from(s) >> 2;
            let sezi = st.predictor_zero();
            let se = (sezi + st.predictor_pole()) >> 1;
            let d = sl - se;
            let y = st.step_size();
            // Quantise d in the log domain, as the reference's quantize().
            let dqm = d.abs();
            let exp = quan(dqm >> 1, &POWER2);
            let mant = ((dqm << 7) >> exp) & 0x7F;
            let dl = (exp << 7) + mant;
            let dln = dl - (y >> 2);
            let i = quan(dln, &QTAB);
            let code = if d < 0 {
                ((7 << 1) + 1 - i) as u8
            } else if i == 0 {
                15
            } else {
                i as u8
            };
            st.decode(code);
            codes.push(code);
        }
        codes
            .chunks(2)
            .map(|c| (c[0] << 4) | c.get(1).copied().unwrap_or(0))
            .collect()
    }

    #[test]
    fn sine_round_trips() {
        let input: Vec<i16> = (0..8000)
            .map(|i| {
                ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 12000.0) as i16
            })
            .collect();
        let coded = encode(&input);
        let mut dec = G726Decoder::new(Packing::Msb);
        let mut out = Vec::new();
        dec.decode_bytes(&coded, &mut out);
        assert_eq!(out.len(), input.len());
        let (mut num, mut den) = (0f64, 0f64);
        for (o, i) in out.iter().zip(&input).skip(400) {
            let want = f64::from(*i) / 32768.0;
            num += (f64::from(*o) - want).powi(2);
            den += want * want;
        }
        let snr = 10.0 * (den / num).log10();
        assert!(snr > 20.0, "SNR {snr:.1} dB");
    }

    #[test]
    fn any_bytes_decode_without_panic() {
        let mut dec = G726Decoder::new(Packing::Lsb);
        let mut out = Vec::new();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
        dec.decode_bytes(&bytes, &mut out);
        assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
    }
}
