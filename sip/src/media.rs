//! Payload decoding for the call leg: G.711 with packet-loss concealment.
//!
//! A lost 20 ms frame is replaced by the last good one fading to half its level, the next
//! to a quarter, the third to silence, and later ones are silent; the gain moves smoothly across each
//! frame so a loss never clicks. (Opus brings its own PLC/FEC; G.722 lands with it.)

use netamp_engine::dsp::g711;

/// The payloads the receiver decodes so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The codec of a static payload type.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        8000
    }
}

/// Decodes one stream's payloads, concealing losses.
#[derive(Debug)]
pub struct Decoder {
    codec: Codec,
    last: Vec<f32>,
    gain: f32,
}

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            last: Vec::new(),
            gain: 1.0,
        }
    }

    /// Decodes a payload, appending samples at the codec's rate.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<f32>) {
        let start = out.len();
        out.extend(payload.iter().map(|&b| {
            let s = match self.codec {
                Codec::Pcmu => g711::ulaw_to_linear(b),
                Codec::Pcma => g711::alaw_to_linear(b),
            };
            f32::from(s) / 32768.0
        }));
        // Coming back from concealment: fade the real audio in from where it was.
        if self.gain < 1.0 {
            let n = out.len() - start;
            for (i, s) in out[start..].iter_mut().enumerate() {
                *s *= self.gain + (1.0 - self.gain) * i as f32 / n.max(1) as f32;
            }
            self.gain = 1.0;
        }
        self.last.clear();
        self.last.extend_from_slice(&out[start..]);
    }

    /// Appends `samples` of concealment for a lost frame.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<f32>) {
        let from = self.gain;
        let to = if from > 0.3 { from * 0.5 } else { 0.0 };
        for i in 0..samples {
            let g = from + (to - from) * i as f32 / samples.max(1) as f32;
            let s = if self.last.is_empty() {
                0.0
            } else {
                self.last[i % self.last.len()]
            };
            out.push(s * g);
        }
        self.gain = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concealment_fades_to_silence_and_recovers_smoothly() {
        let mut d = Decoder::new(Codec::Pcmu);
        let frame: Vec<u8> = (0..160)
            .map(|i| g711::linear_to_ulaw(((i % 40) * 400) as i16))
            .collect();
        let mut out = Vec::new();
        d.decode(&frame, &mut out);
        let peak = |x: &[f32]| x.iter().fold(0f32, |m, s| m.max(s.abs()));
        let good = peak(&out);
        for k in 0..4 {
            let mut c = Vec::new();
            d.conceal(160, &mut c);
            let p = peak(&c);
            assert!(p <= good * 1.0001, "loss {k}: {p}");
            if k == 2 {
                assert!(p <= good * 0.25 + 1e-6, "the third loss fades out: {p}");
            }
            if k >= 3 {
                assert!(p < 1e-6, "silent after the third loss");
            }
        }
        let mut back = Vec::new();
        d.decode(&frame, &mut back);
        assert!(back[0].abs() < 1e-6, "recovers from silence with a fade-in");
    }
}
