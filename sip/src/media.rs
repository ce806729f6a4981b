//! Payload coding for the call leg: decoders with packet-loss concealment, encoders for
//! the uplink.
//!
//! G.711 and L16 conceal a lost 20 ms frame with the last good one fading to half its
//! level, the next to a quarter, the third to silence, and later ones are silent; the gain
//! moves smoothly across each frame so a loss never clicks. Opus conceals with its own PLC.
//! G.722 is negotiable in SDP but has no codec here yet, so it is not offered by default.

use netamp_engine::dsp::g711;

use crate::sdp::AudioCodec;
use crate::SipError;

/// Samples per second a codec's decoder produces and its encoder takes.
pub fn pcm_rate(codec: AudioCodec) -> u32 {
    match codec {
        AudioCodec::Opus => 48_000,
        AudioCodec::G722 => 16_000,
        _ => 8000,
    }
}

/// Decodes one stream's payloads, concealing losses.
pub struct Decoder {
    codec: AudioCodec,
    opus: Option<opus::Decoder>,
    last: Vec<f32>,
    gain: f32,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("codec", &self.codec)
            .finish()
    }
}

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: AudioCodec) -> Result<Self, SipError> {
        let opus = match codec {
            AudioCodec::Opus => Some(
                opus::Decoder::new(48_000, opus::Channels::Mono)
                    .map_err(|e| SipError::Unsupported(format!("opus decoder: {e}")))?,
            ),
            AudioCodec::G722 => return Err(SipError::Unsupported("G.722 decoding".into())),
            _ => None,
        };
        Ok(Self {
            codec,
            opus,
            last: Vec::new(),
            gain: 1.0,
        })
    }

    /// Decodes a payload, appending samples at [`pcm_rate`]. A payload that does not
    /// decode is concealed as a lost frame of `frame` samples.
    pub fn decode(&mut self, payload: &[u8], frame: usize, out: &mut Vec<f32>) {
        let start = out.len();
        match self.codec {
            AudioCodec::Pcmu => out.extend(
                payload
                    .iter()
                    .map(|&b| f32::from(g711::ulaw_to_linear(b)) / 32768.0),
            ),
            AudioCodec::Pcma => out.extend(
                payload
                    .iter()
                    .map(|&b| f32::from(g711::alaw_to_linear(b)) / 32768.0),
            ),
            AudioCodec::L16 => out.extend(
                payload
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_be_bytes([b[0], b[1]])) / 32768.0),
            ),
            AudioCodec::Opus | AudioCodec::G722 => {
                if let Some(dec) = self.opus.as_mut() {
                    // 120 ms is the longest Opus packet.
                    out.resize(start + 5760, 0.0);
                    match dec.decode_float(payload, &mut out[start..], false) {
                        Ok(n) => out.truncate(start + n),
                        Err(_) => {
                            out.truncate(start);
                            self.conceal(frame, out);
                        }
                    }
                }
                return;
            }
        }
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
        if let Some(dec) = self.opus.as_mut() {
            let start = out.len();
            out.resize(start + samples, 0.0);
            if dec.decode_float(&[], &mut out[start..], false).is_err() {
                out[start..].fill(0.0);
            }
            return;
        }
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

/// Encodes the uplink, one 20 ms frame at a time.
pub struct Encoder {
    codec: AudioCodec,
    opus: Option<opus::Encoder>,
}

impl Encoder {
    /// An encoder for `codec`.
    pub fn new(codec: AudioCodec) -> Result<Self, SipError> {
        let opus = match codec {
            AudioCodec::Opus => {
                let mut e =
                    opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
                        .map_err(|e| SipError::Unsupported(format!("opus encoder: {e}")))?;
                let _ = e.set_bitrate(opus::Bitrate::Bits(32_000));
                Some(e)
            }
            AudioCodec::G722 => return Err(SipError::Unsupported("G.722 encoding".into())),
            _ => None,
        };
        Ok(Self { codec, opus })
    }

    /// Appends the payload for `pcm` (one frame at [`pcm_rate`]) to `out`.
    pub fn encode(&mut self, pcm: &[f32], out: &mut Vec<u8>) {
        let q = |s: f32| (s.clamp(-1.0, 1.0) * 32767.0) as i16;
        match self.codec {
            AudioCodec::Pcmu => out.extend(pcm.iter().map(|&s| g711::linear_to_ulaw(q(s)))),
            AudioCodec::Pcma => out.extend(pcm.iter().map(|&s| g711::linear_to_alaw(q(s)))),
            AudioCodec::L16 => {
                for &s in pcm {
                    out.extend_from_slice(&q(s).to_be_bytes());
                }
            }
            AudioCodec::Opus | AudioCodec::G722 => {
                if let Some(enc) = self.opus.as_mut() {
                    let start = out.len();
                    out.resize(start + 1500, 0);
                    match enc.encode_float(pcm, &mut out[start..]) {
                        Ok(n) => out.truncate(start + n),
                        Err(_) => out.truncate(start),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concealment_fades_to_silence_and_recovers_smoothly() {
        let mut d = Decoder::new(AudioCodec::Pcmu).unwrap();
        let frame: Vec<u8> = (0..160)
            .map(|i| g711::linear_to_ulaw(((i % 40) * 400) as i16))
            .collect();
        let mut out = Vec::new();
        d.decode(&frame, 160, &mut out);
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
        d.decode(&frame, 160, &mut back);
        assert!(back[0].abs() < 1e-6, "recovers from silence with a fade-in");
    }
}
