//! Encoding captured audio for listeners: G.711 µ-law, 16-bit linear (big-endian, as
//! `audio/L16`) and Opus in Ogg, at the rate the listener asked for.

use netamp_dsp::g711;
use netamp_dsp::sample::f32_to_i16;

use super::ogg::OggWriter;
use super::opus_voice::VoiceEncoder;
use crate::resample::StreamResampler;
use crate::EngineError;

/// Opus frames are 20 ms.
const OPUS_FRAME_MS: u32 = 20;

/// What a listener receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutCodec {
    /// G.711 µ-law.
    Ulaw,
    /// Signed 16-bit big-endian.
    L16,
    /// Opus in Ogg pages, one 20 ms packet per page.
    OggOpus,
}

/// Turns 48 kHz capture frames into encoded bytes for one listener.
pub struct LiveEncoder {
    codec: OutCodec,
    rate: u32,
    resampler: StreamResampler,
    opus: Option<OpusState>,
}

struct OpusState {
    encoder: VoiceEncoder,
    ogg: OggWriter,
    pending: Vec<f32>,
    packet: Vec<u8>,
    granule: u64,
    headers_sent: bool,
}

impl LiveEncoder {
    /// An encoder for `codec` at `rate` (Opus: 8, 12, 16, 24 or 48 kHz).
    pub fn new(codec: OutCodec, rate: u32) -> Result<Self, EngineError> {
        if !(8000..=48000).contains(&rate) {
            return Err(EngineError::Unsupported(format!("sample rate {rate}")));
        }
        let opus = if codec == OutCodec::OggOpus {
            Some(OpusState {
                encoder: VoiceEncoder::new(rate)?,
                ogg: OggWriter::new(0x6e65_7461),
                pending: Vec::new(),
                packet: Vec::with_capacity(super::opus_voice::MAX_PACKET),
                granule: 0,
                headers_sent: false,
            })
        } else {
            None
        };
        Ok(Self {
            codec,
            rate,
            resampler: StreamResampler::from_internal(rate)?,
            opus,
        })
    }

    /// The MIME type of the output.
    pub fn content_type(&self) -> String {
        match self.codec {
            OutCodec::Ulaw if self.rate == 8000 => "audio/basic".into(),
            OutCodec::Ulaw => format!("audio/axis-mulaw-{}", self.rate * 8 / 1000),
            OutCodec::L16 => format!("audio/L16;rate={};channels=1", self.rate),
            OutCodec::OggOpus => "audio/ogg;codecs=opus".into(),
        }
    }

    /// Encodes 48 kHz samples, appending whole units to `units`: for G.711 and L16 the
    /// bytes of this call, for Opus one Ogg page each (the header pages first).
    pub fn push(&mut self, samples: &[f32], units: &mut Vec<Vec<u8>>) -> Result<(), EngineError> {
        self.resampler.push(samples);
        let ready = self.resampler.ready();
        match (&mut self.opus, self.codec) {
            (Some(o), _) => {
                if !o.headers_sent {
                    o.headers_sent = true;
                    let mut head = b"OpusHead".to_vec();
                    head.push(1);
                    head.push(1);
                    // Pre-skip: the encoder's look-ahead, in 48 kHz samples.
                    let lookahead = u64::from(o.encoder.lookahead());
                    let pre_skip = lookahead * 48_000 / u64::from(self.rate);
                    head.extend_from_slice(&(pre_skip as u16).to_le_bytes());
                    head.extend_from_slice(&self.rate.to_le_bytes());
                    head.extend_from_slice(&0u16.to_le_bytes());
                    head.push(0);
                    let mut page = Vec::new();
                    o.ogg.page(&head, 0, false, &mut page);
                    let mut tags = b"OpusTags".to_vec();
                    let vendor = b"netamp";
                    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
                    tags.extend_from_slice(vendor);
                    tags.extend_from_slice(&0u32.to_le_bytes());
                    o.ogg.page(&tags, 0, false, &mut page);
                    units.push(page);
                }
                o.pending.extend_from_slice(ready);
                let frame = (self.rate * OPUS_FRAME_MS / 1000) as usize;
                let mut start = 0;
                while o.pending.len() - start >= frame {
                    o.packet.clear();
                    let n = o
                        .encoder
                        .encode(&o.pending[start..start + frame], &mut o.packet)?;
                    start += frame;
                    o.granule += u64::from(48 * OPUS_FRAME_MS);
                    let mut page = Vec::with_capacity(n + 64);
                    o.ogg.page(&o.packet[..n], o.granule, false, &mut page);
                    units.push(page);
                }
                o.pending.drain(..start);
            }
            (None, OutCodec::Ulaw) => {
                units.push(ready.iter().map(|&s| g711::f32_to_ulaw(s)).collect());
            }
            (None, _) => {
                units.push(
                    ready
                        .iter()
                        .flat_map(|&s| f32_to_i16(s).to_be_bytes())
                        .collect(),
                );
            }
        }
        let n = self.resampler.ready().len();
        self.resampler.consume(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Coding, LiveDecoder, LiveFormat};

    fn tone(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48000.0).sin() * 0.5)
            .collect()
    }

    #[test]
    fn ulaw_and_l16_have_the_requested_rate() {
        for (codec, rate, bytes_per) in [(OutCodec::Ulaw, 8000, 1), (OutCodec::L16, 16000, 2)] {
            let mut e = LiveEncoder::new(codec, rate).unwrap();
            let mut units = Vec::new();
            for c in tone(48000).chunks(480) {
                e.push(c, &mut units).unwrap();
            }
            let total: usize = units.iter().map(Vec::len).sum();
            let want = rate as usize * bytes_per;
            // The resampler holds its filter delay (a few ms) until the stream ends.
            assert!(total <= want && total + 100 * bytes_per >= want, "{total}");
        }
    }

    #[test]
    fn opus_round_trips_through_our_own_ogg_reader() {
        let mut e = LiveEncoder::new(OutCodec::OggOpus, 48000).unwrap();
        let mut units = Vec::new();
        for c in tone(48000).chunks(480) {
            e.push(c, &mut units).unwrap();
        }
        let mut d = LiveDecoder::new(LiveFormat {
            coding: Coding::OggOpus,
            rate: 48000,
            channels: 1,
        });
        let mut out = Vec::new();
        for u in &units {
            d.push(u, &mut out).unwrap();
        }
        assert!(out.len() > 40_000, "{}", out.len());
        let rms = (out[10_000..40_000].iter().map(|s| s * s).sum::<f32>() / 30_000.0).sqrt();
        assert!((rms - 0.3535).abs() < 0.05, "rms {rms}");
    }
}
