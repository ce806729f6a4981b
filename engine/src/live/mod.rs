//! Decoding of live network audio as its bytes arrive (transmit.cgi bodies).
//!
//! The format comes from the Content-Type, unless the body starts with a WAV, AU or Ogg
//! header, which then says what it is. Output is 48 kHz mono through the low-latency
//! [`StreamResampler::live`], whose ratio the caller may nudge to follow the sender's
//! clock.

mod arriving;
pub mod drift;
mod encode;
mod ogg;
pub mod opus_voice;
pub mod playout;

use netamp_dsp::g711;
use netamp_dsp::g726::{G726Decoder, Packing};

use crate::resample::StreamResampler;
use crate::EngineError;
pub use arriving::ArrivingStream;
pub use encode::{LiveEncoder, OutCodec};
pub use ogg::{last_granule, OggPackets, OggWriter};

/// Largest header (WAV chunks before `data`, AU offset) read before audio starts.
const MAX_HEADER: usize = 4096;

/// How the bytes of a live stream are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// G.711 µ-law.
    Ulaw,
    /// G.711 A-law.
    Alaw,
    /// Signed 16-bit big-endian (audio/L16, AU).
    L16Be,
    /// Signed 16-bit little-endian (WAV).
    L16Le,
    /// G.726 at 32 kbit/s, high nibble first.
    G726_32,
    /// Opus in Ogg.
    OggOpus,
}

/// A live stream's coding, rate and channel count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveFormat {
    /// The coding.
    pub coding: Coding,
    /// Samples per second per channel.
    pub rate: u32,
    /// Interleaved channels (mixed down to mono).
    pub channels: usize,
}

impl LiveFormat {
    const fn mono(coding: Coding, rate: u32) -> Self {
        Self {
            coding,
            rate,
            channels: 1,
        }
    }

    /// The format a Content-Type names (case-insensitive, parameters `rate` and
    /// `channels` for L16). An empty or generic type means µ-law 8 kHz unless the body
    /// carries a header.
    pub fn from_mime(content_type: &str) -> Result<Self, EngineError> {
        let lower = content_type.to_ascii_lowercase();
        let mut parts = lower.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let param = |k: &str| -> Result<Option<u32>, EngineError> {
            params
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| {
                    v.parse::<u32>()
                        .map_err(|_| EngineError::Unsupported(format!("{k}={v}")))
                })
                .transpose()
        };
        let unsupported = || EngineError::Unsupported(format!("media type {content_type:?}"));
        let f = match mime {
            "audio/basic" | "audio/pcmu" | "audio/g711" | "audio/g711u" | "audio/mulaw"
            | "audio/x-mulaw" => Self::mono(Coding::Ulaw, 8000),
            "audio/pcma" | "audio/g711a" | "audio/g.711a" | "audio/alaw" | "audio/x-alaw" => {
                Self::mono(Coding::Alaw, 8000)
            }
            m if m.starts_with("audio/axis-mulaw-") => {
                let kbps: u32 = m["audio/axis-mulaw-".len()..]
                    .parse()
                    .map_err(|_| unsupported())?;
                // The number is the bit rate: 8 bits per sample.
                Self::mono(Coding::Ulaw, kbps * 1000 / 8)
            }
            "audio/g726-32" | "audio/g726" => Self::mono(Coding::G726_32, 8000),
            "audio/l16" => Self {
                coding: Coding::L16Be,
                rate: param("rate")?.unwrap_or(8000),
                channels: param("channels")?.unwrap_or(1) as usize,
            },
            "audio/opus" | "audio/ogg" | "application/ogg" => Self::mono(Coding::OggOpus, 48000),
            // A WAV or AU body says what it is in its header.
            "audio/wav"
            | "audio/x-wav"
            | "audio/wave"
            | "audio/au"
            | "application/octet-stream"
            | "" => Self::mono(Coding::Ulaw, 8000),
            _ => return Err(unsupported()),
        };
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), EngineError> {
        if !(8000..=48000).contains(&self.rate) || !(1..=8).contains(&self.channels) {
            return Err(EngineError::Unsupported(format!(
                "{} Hz, {} channels",
                self.rate, self.channels
            )));
        }
        Ok(())
    }

    fn bytes_per_frame(&self) -> usize {
        self.channels
            * match self.coding {
                Coding::Ulaw | Coding::Alaw => 1,
                Coding::L16Be | Coding::L16Le => 2,
                // Two codes a byte; channels are not interleaved for G.726 (mono only).
                Coding::G726_32 | Coding::OggOpus => 1,
            }
    }
}

fn u16le(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32le(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn u32be(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// What the start of a body says about itself.
#[derive(Debug, PartialEq)]
enum Sniffed {
    /// More bytes are needed to tell.
    NeedMore,
    /// No header: raw audio in the declared format.
    Raw,
    /// A header giving the format, and its length in bytes.
    Header(LiveFormat, usize),
}

/// Recognises a WAV, AU or Ogg header at the start of `head`.
fn sniff(head: &[u8]) -> Result<Sniffed, EngineError> {
    if head.len() < 4 {
        return Ok(Sniffed::NeedMore);
    }
    match &head[..4] {
        b"OggS" => Ok(Sniffed::Header(LiveFormat::mono(Coding::OggOpus, 48000), 0)),
        b".snd" => sniff_au(head),
        b"RIFF" => sniff_wav(head),
        _ => Ok(Sniffed::Raw),
    }
}

fn sniff_au(head: &[u8]) -> Result<Sniffed, EngineError> {
    let (Some(off), Some(enc), Some(rate), Some(ch)) = (
        u32be(head, 4),
        u32be(head, 12),
        u32be(head, 16),
        u32be(head, 20),
    ) else {
        return Ok(Sniffed::NeedMore);
    };
    let off = off as usize;
    if off > MAX_HEADER {
        return Err(EngineError::Limit("AU header too long".into()));
    }
    if head.len() < off {
        return Ok(Sniffed::NeedMore);
    }
    let coding = match enc {
        1 => Coding::Ulaw,
        27 => Coding::Alaw,
        3 => Coding::L16Be,
        _ => return Err(EngineError::Unsupported(format!("AU encoding {enc}"))),
    };
    Ok(Sniffed::Header(
        LiveFormat {
            coding,
            rate,
            channels: ch as usize,
        },
        off,
    ))
}

fn sniff_wav(head: &[u8]) -> Result<Sniffed, EngineError> {
    // Walk the chunks to "data"; the fmt chunk comes before it.
    let mut pos = 12;
    let mut fmt = None;
    loop {
        if pos > MAX_HEADER {
            return Err(EngineError::Limit("WAV header too long".into()));
        }
        let (Some(id), Some(len)) = (head.get(pos..pos + 4), u32le(head, pos + 4)) else {
            return Ok(Sniffed::NeedMore);
        };
        let len = len as usize;
        if id == b"fmt " {
            let (Some(tag), Some(ch), Some(rate)) = (
                u16le(head, pos + 8),
                u16le(head, pos + 10),
                u32le(head, pos + 12),
            ) else {
                return Ok(Sniffed::NeedMore);
            };
            let coding = match tag {
                1 => Coding::L16Le,
                6 => Coding::Alaw,
                7 => Coding::Ulaw,
                t => return Err(EngineError::Unsupported(format!("WAV format tag {t}"))),
            };
            fmt = Some(LiveFormat {
                coding,
                rate,
                channels: usize::from(ch),
            });
        } else if id == b"data" {
            return fmt
                .map(|f| Sniffed::Header(f, pos + 8))
                .ok_or_else(|| EngineError::Corrupt("WAV data before its fmt chunk".into()));
        }
        pos = pos
            .checked_add(8 + len + (len & 1))
            .ok_or_else(|| EngineError::Corrupt("WAV chunk length".into()))?;
    }
}

/// Opus in Ogg: the header packets, then audio packets.
struct OggOpus {
    pages: OggPackets,
    packets: Vec<Vec<u8>>,
    decoder: Option<opus_voice::VoiceDecoder>,
    seen_tags: bool,
    pre_skip: usize,
    frame: Vec<f32>,
}

impl OggOpus {
    fn new() -> Self {
        Self {
            pages: OggPackets::default(),
            packets: Vec::new(),
            decoder: None,
            seen_tags: false,
            pre_skip: 0,
            frame: Vec::with_capacity(opus_voice::MAX_FRAME),
        }
    }

    fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), EngineError> {
        self.pages.push(bytes, &mut self.packets)?;
        for packet in self.packets.drain(..) {
            let Some(dec) = self.decoder.as_mut() else {
                if packet.len() < 19 || &packet[..8] != b"OpusHead" {
                    return Err(EngineError::Unsupported(
                        "Ogg stream is not Opus (no OpusHead)".into(),
                    ));
                }
                if packet[18] != 0 && packet[9] > 2 {
                    return Err(EngineError::Unsupported(format!(
                        "Opus channel mapping family {} with {} channels",
                        packet[18], packet[9]
                    )));
                }
                self.pre_skip = usize::from(u16::from_le_bytes([packet[10], packet[11]]));
                // A mono decoder mixes a stereo stream down itself.
                self.decoder = Some(opus_voice::VoiceDecoder::new()?);
                continue;
            };
            if !self.seen_tags {
                self.seen_tags = true;
                if packet.starts_with(b"OpusTags") {
                    continue;
                }
            }
            self.frame.clear();
            let n = dec.decode(&packet, &mut self.frame)?;
            let skip = self.pre_skip.min(n);
            self.pre_skip -= skip;
            out.extend_from_slice(&self.frame[skip..n]);
        }
        Ok(())
    }
}

/// The per-coding decoder state.
enum Decoder {
    Pcm,
    G726(G726Decoder),
    Opus(Box<OggOpus>),
}

/// Turns the bytes of a live body into 48 kHz mono samples as they arrive.
pub struct LiveDecoder {
    declared: LiveFormat,
    format: Option<LiveFormat>,
    decoder: Decoder,
    pending: Vec<u8>,
    decoded: Vec<f32>,
    resampler: Option<StreamResampler>,
    /// Frames decoded at the stream's own rate, before resampling: the sender's clock.
    source_frames: u64,
}

impl LiveDecoder {
    /// A decoder for a body declared as `declared` (a header in the body overrides it).
    pub fn new(declared: LiveFormat) -> Self {
        Self {
            declared,
            format: None,
            decoder: Decoder::Pcm,
            pending: Vec::new(),
            decoded: Vec::new(),
            resampler: None,
            source_frames: 0,
        }
    }

    /// How far the sender's media has come, seconds of its own clock: the frames
    /// decoded so far at the stream's rate (0 before the format is known).
    pub fn media_secs(&self) -> f64 {
        self.format
            .map_or(0.0, |f| self.source_frames as f64 / f64::from(f.rate))
    }

    /// The format in use, once the start of the body was seen.
    pub fn format(&self) -> Option<LiveFormat> {
        self.format
    }

    /// Nudges the resampler to follow the sender's clock (see [`StreamResampler::set_drift`]).
    pub fn set_drift(&mut self, relative: f64) {
        if let Some(r) = self.resampler.as_mut() {
            r.set_drift(relative);
        }
    }

    /// Decodes `bytes`, appending the 48 kHz samples they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), EngineError> {
        self.pending.extend_from_slice(bytes);
        self.run(false, out)
    }

    /// Ends the body: decodes what is left and flushes the resampler.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), EngineError> {
        self.run(true, out)
    }

    fn run(&mut self, end: bool, out: &mut Vec<f32>) -> Result<(), EngineError> {
        let Some(format) = self.start(end)? else {
            return Ok(());
        };
        self.decoded.clear();
        let frame = format.bytes_per_frame();
        let whole = self.pending.len() / frame * frame;
        match &mut self.decoder {
            Decoder::Pcm => decode_pcm(format, &self.pending[..whole], &mut self.decoded),
            Decoder::G726(d) => d.decode_bytes(&self.pending[..whole], &mut self.decoded),
            Decoder::Opus(d) => d.push(&self.pending[..whole], &mut self.decoded)?,
        }
        self.pending.drain(..whole);
        self.source_frames += self.decoded.len() as u64;
        let Some(rs) = self.resampler.as_mut() else {
            return Ok(());
        };
        rs.push(&self.decoded);
        if end {
            rs.finish();
        }
        out.extend_from_slice(rs.ready());
        let n = rs.ready().len();
        rs.consume(n);
        Ok(())
    }

    /// Settles the format from the first bytes; `None` while more are needed.
    fn start(&mut self, end: bool) -> Result<Option<LiveFormat>, EngineError> {
        if let Some(f) = self.format {
            return Ok(Some(f));
        }
        let sniffed = if self.declared.coding == Coding::OggOpus {
            Sniffed::Raw
        } else {
            sniff(&self.pending)?
        };
        let format = match sniffed {
            Sniffed::NeedMore if !end => return Ok(None),
            Sniffed::NeedMore | Sniffed::Raw => self.declared,
            Sniffed::Header(f, len) => {
                self.pending.drain(..len);
                f
            }
        };
        format.check()?;
        if format.coding == Coding::G726_32 && format.channels != 1 {
            return Err(EngineError::Unsupported(
                "G.726 with more than one channel".into(),
            ));
        }
        self.decoder = match format.coding {
            Coding::G726_32 => Decoder::G726(G726Decoder::new(Packing::Msb)),
            Coding::OggOpus => Decoder::Opus(Box::new(OggOpus::new())),
            _ => Decoder::Pcm,
        };
        self.resampler = Some(StreamResampler::live(format.rate)?);
        self.format = Some(format);
        Ok(Some(format))
    }
}

/// Decodes whole frames of G.711 or 16-bit PCM, mixing channels down.
fn decode_pcm(format: LiveFormat, bytes: &[u8], out: &mut Vec<f32>) {
    let ch = format.channels.max(1);
    for f in bytes.chunks_exact(format.bytes_per_frame()) {
        let mut sum = 0f32;
        for c in 0..ch {
            let s = match format.coding {
                Coding::Ulaw => g711::ulaw_to_linear(f[c]),
                Coding::Alaw => g711::alaw_to_linear(f[c]),
                Coding::L16Be => i16::from_be_bytes([f[2 * c], f[2 * c + 1]]),
                _ => i16::from_le_bytes([f[2 * c], f[2 * c + 1]]),
            };
            sum += netamp_dsp::sample::i16_to_f32(s);
        }
        out.push(sum / ch as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            LiveFormat::from_mime("audio/basic").unwrap(),
            LiveFormat::mono(Coding::Ulaw, 8000)
        );
        assert_eq!(
            LiveFormat::from_mime("audio/axis-mulaw-128").unwrap().rate,
            16000
        );
        assert_eq!(
            LiveFormat::from_mime("Audio/L16; rate=16000; channels=2").unwrap(),
            LiveFormat {
                coding: Coding::L16Be,
                rate: 16000,
                channels: 2
            }
        );
        assert_eq!(
            LiveFormat::from_mime("audio/G726-32").unwrap().coding,
            Coding::G726_32
        );
        assert!(LiveFormat::from_mime("audio/mpeg").is_err());
        assert!(LiveFormat::from_mime("audio/axis-mulaw-x").is_err());
        assert!(LiveFormat::from_mime("audio/L16;rate=abc").is_err());
        assert!(LiveFormat::from_mime("audio/L16;rate=1000000").is_err());
    }

    #[test]
    fn headers_are_recognised() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&18u32.to_le_bytes());
        wav.extend_from_slice(&7u16.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&16000u32.to_le_bytes());
        wav.extend_from_slice(&[0; 10]);
        wav.extend_from_slice(b"data\xff\xff\xff\xff");
        assert_eq!(
            sniff(&wav).unwrap(),
            Sniffed::Header(LiveFormat::mono(Coding::Ulaw, 16000), wav.len())
        );
        assert_eq!(sniff(&wav[..20]).unwrap(), Sniffed::NeedMore);
        assert_eq!(sniff(b"\xff\xfe\x7f\x00").unwrap(), Sniffed::Raw);
        let mut endless = b"RIFF\0\0\0\0WAVE".to_vec();
        for _ in 0..600 {
            endless.extend_from_slice(b"junk\0\0\0\0");
        }
        assert!(sniff(&endless).is_err(), "an endless header is refused");
    }

    #[test]
    fn wav_header_in_the_body_wins() {
        let mut body = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        body.extend_from_slice(&16u32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&48000u32.to_le_bytes());
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(b"data\xff\xff\xff\xff");
        for i in 0..4800i32 {
            body.extend_from_slice(&((i % 100 - 50) as i16 * 300).to_le_bytes());
        }
        let mut d = LiveDecoder::new(LiveFormat::mono(Coding::Ulaw, 8000));
        let mut out = Vec::new();
        for c in body.chunks(7) {
            d.push(c, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        assert_eq!(d.format().unwrap().coding, Coding::L16Le);
        assert_eq!(out.len(), 4800);
    }
}
