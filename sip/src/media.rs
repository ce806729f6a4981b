//! Payload coding for the call leg: decoders with packet-loss concealment, encoders for
//! the uplink.
//!
//! G.711 and L16 conceal a lost 20 ms frame with the last good one fading to half its
//! level, the next to a quarter, the third to silence, and later ones are silent; the gain
//! moves smoothly across each frame so a loss never clicks; G.722 the same at 16 kHz. Opus
//! conceals with its own PLC. G.722 is ezk-g722's port of the public-domain CMU/spandsp
//! coder (64 kbit/s, 16 kHz audio, an 8 kHz RTP clock as RFC 3551 has it).

use netamp_dsp::g711;
use netamp_dsp::sample::{f32_to_i16, i16_to_f32};
use netamp_engine::live::opus_voice::{VoiceDecoder, VoiceEncoder};

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
    opus: Option<VoiceDecoder>,
    g722: Option<ezk_g722::libg722::decoder::Decoder>,
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
            AudioCodec::Opus => {
                Some(VoiceDecoder::new().map_err(|e| SipError::Unsupported(e.to_string()))?)
            }
            _ => None,
        };
        let g722 = (codec == AudioCodec::G722).then(|| {
            ezk_g722::libg722::decoder::Decoder::new(
                ezk_g722::libg722::Bitrate::Mode1_64000,
                false,
                false,
            )
        });
        Ok(Self {
            codec,
            opus,
            g722,
            last: Vec::new(),
            gain: 1.0,
        })
    }

    /// Decodes a payload, appending samples at [`pcm_rate`]. A payload that does not
    /// decode is concealed as a lost frame of `frame` samples.
    pub fn decode(&mut self, payload: &[u8], frame: usize, out: &mut Vec<f32>) {
        let start = out.len();
        match self.codec {
            AudioCodec::Pcmu => out.extend(payload.iter().map(|&b| g711::ulaw_to_f32(b))),
            AudioCodec::Pcma => out.extend(payload.iter().map(|&b| g711::alaw_to_f32(b))),
            AudioCodec::L16 => out.extend(
                payload
                    .chunks_exact(2)
                    .map(|b| i16_to_f32(i16::from_be_bytes([b[0], b[1]]))),
            ),
            AudioCodec::G722 => {
                if let Some(dec) = self.g722.as_mut() {
                    out.extend(dec.decode(payload).iter().map(|&s| i16_to_f32(s)));
                }
            }
            AudioCodec::Opus => {
                if let Some(dec) = self.opus.as_mut() {
                    if dec.decode(payload, out).is_err() {
                        self.conceal(frame, out);
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
            dec.conceal(samples, out);
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
    opus: Option<VoiceEncoder>,
    g722: Option<ezk_g722::libg722::encoder::Encoder>,
    pcm16: Vec<i16>,
}

impl Encoder {
    /// An encoder for `codec`.
    pub fn new(codec: AudioCodec) -> Result<Self, SipError> {
        let opus = match codec {
            AudioCodec::Opus => {
                Some(VoiceEncoder::new(48_000).map_err(|e| SipError::Unsupported(e.to_string()))?)
            }
            _ => None,
        };
        let g722 = (codec == AudioCodec::G722).then(|| {
            ezk_g722::libg722::encoder::Encoder::new(
                ezk_g722::libg722::Bitrate::Mode1_64000,
                false,
                false,
            )
        });
        Ok(Self {
            codec,
            opus,
            g722,
            pcm16: Vec::with_capacity(320),
        })
    }

    /// Appends the payload for `pcm` (one frame at [`pcm_rate`]) to `out`.
    pub fn encode(&mut self, pcm: &[f32], out: &mut Vec<u8>) {
        match self.codec {
            AudioCodec::Pcmu => out.extend(pcm.iter().map(|&s| g711::f32_to_ulaw(s))),
            AudioCodec::Pcma => out.extend(pcm.iter().map(|&s| g711::f32_to_alaw(s))),
            AudioCodec::L16 => {
                for &s in pcm {
                    out.extend_from_slice(&f32_to_i16(s).to_be_bytes());
                }
            }
            AudioCodec::G722 => {
                if let Some(enc) = self.g722.as_mut() {
                    self.pcm16.clear();
                    self.pcm16.extend(pcm.iter().map(|&s| f32_to_i16(s)));
                    out.extend_from_slice(&enc.encode(&self.pcm16));
                }
            }
            AudioCodec::Opus => {
                if let Some(enc) = self.opus.as_mut() {
                    // A frame that does not encode sends nothing (a lost packet).
                    let _ = enc.encode(pcm, out);
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

    #[test]
    fn g722_round_trip_keeps_a_wideband_tone() {
        let tone: Vec<f32> = (0..16_000)
            .map(|i| 0.4 * (i as f32 * 2.0 * std::f32::consts::PI * 5000.0 / 16_000.0).sin())
            .collect();
        let mut enc = Encoder::new(AudioCodec::G722).unwrap();
        let mut dec = Decoder::new(AudioCodec::G722).unwrap();
        let mut out = Vec::new();
        for frame in tone.chunks_exact(320) {
            let mut payload = Vec::new();
            enc.encode(frame, &mut payload);
            assert_eq!(payload.len(), 160, "64 kbit/s: 160 bytes per 20 ms");
            dec.decode(&payload, 320, &mut out);
        }
        assert_eq!(out.len(), tone.len());
        // The codec delays by a few samples: find the best lag.
        let best = (0..64)
            .map(|lag| {
                let a = &tone[..15_000];
                let b = &out[lag..lag + 15_000];
                let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                let na: f32 = a.iter().map(|x| x * x).sum();
                let nb: f32 = b.iter().map(|x| x * x).sum();
                dot / (na * nb).sqrt().max(1e-9)
            })
            .fold(0f32, f32::max);
        assert!(best > 0.95, "5 kHz (above narrowband) survives: {best}");
    }
}
