//! Mono voice Opus, the one place netamp makes an Opus decoder or encoder: the live
//! transmit body (Ogg Opus), `receive.cgi` (Ogg Opus out), and SIP calls (RTP Opus both
//! ways) all go through these, so the channel layout, the bit rate and the buffer sizes
//! are set once.

use crate::EngineError;

/// Samples in the longest Opus packet at 48 kHz (120 ms).
pub const MAX_FRAME: usize = 5760;
/// Largest encoded packet netamp writes, bytes.
pub const MAX_PACKET: usize = 1500;
/// Bit rate of netamp's voice Opus.
pub const BITRATE: i32 = 32_000;

/// A mono decoder at 48 kHz (a stereo stream is mixed down by the decoder itself).
pub struct VoiceDecoder(opus::Decoder);

impl VoiceDecoder {
    /// A new decoder.
    pub fn new() -> Result<Self, EngineError> {
        opus::Decoder::new(48_000, opus::Channels::Mono)
            .map(Self)
            .map_err(|e| EngineError::Unsupported(format!("Opus decoder: {e}")))
    }

    /// Decodes `packet`, appending its samples to `out`; how many.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<usize, EngineError> {
        let start = out.len();
        out.resize(start + MAX_FRAME, 0.0);
        match self.0.decode_float(packet, &mut out[start..], false) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(EngineError::Corrupt(format!("Opus packet: {e}")))
            }
        }
    }

    /// Appends `samples` of the decoder's own concealment for a lost packet (silence if
    /// it has none).
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + samples, 0.0);
        if self.0.decode_float(&[], &mut out[start..], false).is_err() {
            out[start..].fill(0.0);
        }
    }
}

/// A mono voice encoder at `rate` (8, 12, 16, 24 or 48 kHz), [`BITRATE`].
pub struct VoiceEncoder(opus::Encoder);

impl VoiceEncoder {
    /// A new encoder.
    pub fn new(rate: u32) -> Result<Self, EngineError> {
        let mut e = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Voip)
            .map_err(|e| EngineError::Unsupported(format!("Opus at {rate} Hz: {e}")))?;
        e.set_bitrate(opus::Bitrate::Bits(BITRATE))
            .map_err(|e| EngineError::Unsupported(format!("Opus bitrate: {e}")))?;
        Ok(Self(e))
    }

    /// The encoder's look-ahead in samples at its rate (an Ogg stream's pre-skip).
    pub fn lookahead(&mut self) -> u32 {
        self.0.get_lookahead().map_or(0, |n| n.max(0) as u32)
    }

    /// Encodes one frame (2.5–60 ms of samples at the encoder's rate), appending the
    /// packet to `out`; nothing is appended when the frame cannot be encoded.
    pub fn encode(&mut self, pcm: &[f32], out: &mut Vec<u8>) -> Result<usize, EngineError> {
        let start = out.len();
        out.resize(start + MAX_PACKET, 0);
        match self.0.encode_float(pcm, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(EngineError::Corrupt(format!("Opus frame: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voice_frame_survives_the_round_trip_and_garbage_is_an_error() {
        let mut enc = VoiceEncoder::new(48_000).expect("encoder");
        let mut dec = VoiceDecoder::new().expect("decoder");
        let tone: Vec<f32> = (0..960)
            .map(|i| 0.3 * (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin())
            .collect();
        let mut packet = Vec::new();
        let mut out = Vec::new();
        for _ in 0..5 {
            packet.clear();
            assert!(enc.encode(&tone, &mut packet).expect("encode") > 0);
            assert_eq!(dec.decode(&packet, &mut out).expect("decode"), 960);
        }
        assert_eq!(out.len(), 4800);
        let rms = (out[3840..].iter().map(|s| s * s).sum::<f32>() / 960.0).sqrt();
        assert!(rms > 0.1, "decoded RMS {rms}");
        // A broken packet appends nothing; concealment appends what was asked.
        assert!(dec.decode(&[0xFF; 3], &mut out).is_err() || out.len() >= 4800);
        let before = out.len();
        dec.conceal(960, &mut out);
        assert_eq!(out.len(), before + 960);
        assert!(
            enc.encode(&tone[..7], &mut packet).is_err(),
            "7 samples is no Opus frame"
        );
    }
}
