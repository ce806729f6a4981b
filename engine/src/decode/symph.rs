//! Everything symphonia demuxes (WAV, MP3, FLAC, Ogg Vorbis, Ogg Opus through libopus).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::{downmix_into, SampleReader};
use crate::EngineError;

/// Consecutive undecodable packets after which a stream counts as corrupt.
const MAX_CONSECUTIVE_DECODE_ERRORS: u32 = 16;

fn codecs() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
}

fn sym_err(e: SymError) -> EngineError {
    match e {
        SymError::Unsupported(what) => EngineError::Unsupported(what.to_string()),
        SymError::LimitError(what) => EngineError::Limit(what.to_string()),
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            EngineError::Truncated(e.to_string())
        }
        other => EngineError::Corrupt(other.to_string()),
    }
}

/// Streaming reader over a symphonia demuxer and decoder.
pub struct SymphoniaReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    rate: u32,
    channels: usize,
    expected: Option<u64>,
    interleaved: Vec<f32>,
    pending: Vec<f32>,
    pending_pos: usize,
    ended: bool,
}

impl SymphoniaReader {
    /// Probes the container and opens a decoder for its first audio track.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let file = File::open(path).map_err(|source| EngineError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::Unsupported(_) | SymError::IoError(_) => {
                    EngineError::Unsupported("not a recognised audio file".into())
                }
                other => sym_err(other),
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| EngineError::Unsupported("no audio track".into()))?;
        let track_id = track.id;
        let expected = track.num_frames;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| EngineError::Unsupported("track is not audio".into()))?
            .clone();
        let rate = params
            .sample_rate
            .ok_or_else(|| EngineError::Corrupt("no sample rate in header".into()))?;
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(1);
        if channels == 0 {
            return Err(EngineError::Corrupt("header declares 0 channels".into()));
        }
        let decoder = codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(sym_err)?;
        Ok(Self {
            path: path.to_owned(),
            format,
            decoder,
            track_id,
            rate,
            channels,
            expected,
            interleaved: Vec::new(),
            pending: Vec::new(),
            pending_pos: 0,
            ended: false,
        })
    }

    /// Decodes packets until one yields audio; false at end of stream.
    fn decode_next(&mut self) -> Result<bool, EngineError> {
        let mut bad = 0u32;
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(false),
                // A stream whose last packet is cut short simply ends there.
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(false)
                }
                Err(SymError::ResetRequired) => return Ok(false),
                Err(e) => return Err(sym_err(e)),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let ch = buf.spec().channels().count().max(1);
                    buf.copy_to_vec_interleaved(&mut self.interleaved);
                    self.pending.clear();
                    self.pending_pos = 0;
                    downmix_into(&self.interleaved, ch, &mut self.pending);
                    if !self.pending.is_empty() {
                        return Ok(true);
                    }
                }
                Err(SymError::DecodeError(msg)) => {
                    bad += 1;
                    if bad >= MAX_CONSECUTIVE_DECODE_ERRORS {
                        return Err(EngineError::Corrupt(msg.to_string()));
                    }
                }
                Err(e) => return Err(sym_err(e)),
            }
        }
    }
}

impl SampleReader for SymphoniaReader {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn expected_frames(&self) -> Option<u64> {
        self.expected
    }

    fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, EngineError> {
        let mut written = 0;
        while written < max {
            if self.pending_pos >= self.pending.len() && (self.ended || !self.decode_next()?) {
                self.ended = true;
                break;
            }
            let take = (self.pending.len() - self.pending_pos).min(max - written);
            out.extend_from_slice(&self.pending[self.pending_pos..self.pending_pos + take]);
            self.pending_pos += take;
            written += take;
        }
        Ok(written)
    }

    fn rewind(&mut self) -> Result<(), EngineError> {
        // Reopening is cheap and works for every container, seekable or not.
        *self = Self::open(&self.path.clone())?;
        Ok(())
    }
}
