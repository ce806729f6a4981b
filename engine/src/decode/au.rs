//! Sun/NeXT `.au` files: big-endian header, then µ-law, A-law, linear PCM or float data.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use netamp_dsp::{g711, sample};

use super::{downmix_into, SampleReader};
use crate::EngineError;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Ulaw,
    Alaw,
    Pcm8,
    Pcm16,
    Pcm24,
    Pcm32,
    Float32,
    Float64,
}

impl Encoding {
    fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Self::Ulaw,
            2 => Self::Pcm8,
            3 => Self::Pcm16,
            4 => Self::Pcm24,
            5 => Self::Pcm32,
            6 => Self::Float32,
            7 => Self::Float64,
            27 => Self::Alaw,
            _ => return None,
        })
    }

    fn bytes(self) -> usize {
        match self {
            Self::Ulaw | Self::Alaw | Self::Pcm8 => 1,
            Self::Pcm16 => 2,
            Self::Pcm24 => 3,
            Self::Pcm32 | Self::Float32 => 4,
            Self::Float64 => 8,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            Self::Ulaw => g711::ulaw_to_f32(b[0]),
            Self::Alaw => g711::alaw_to_f32(b[0]),
            Self::Pcm8 => sample::i8_to_f32(b[0] as i8),
            Self::Pcm16 => sample::i16_to_f32(i16::from_be_bytes([b[0], b[1]])),
            Self::Pcm24 => sample::i32_to_f32(i32::from_be_bytes([b[0], b[1], b[2], 0])),
            Self::Pcm32 => sample::i32_to_f32(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            Self::Float32 => f32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            Self::Float64 => {
                f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
        }
    }
}

/// Streaming reader of `.au` files.
pub struct AuReader {
    path: PathBuf,
    file: BufReader<File>,
    encoding: Encoding,
    rate: u32,
    channels: usize,
    data_offset: u64,
    /// Data bytes the header announces (None: to end of file).
    data_size: Option<u64>,
    consumed: u64,
    raw: Vec<u8>,
    frame: Vec<f32>,
}

impl AuReader {
    /// Opens and validates the header.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let io = |source| EngineError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = BufReader::new(File::open(path).map_err(io)?);
        let mut h = [0u8; 24];
        file.read_exact(&mut h)
            .map_err(|_| EngineError::Truncated("au header".into()))?;
        let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        if &h[..4] != b".snd" {
            return Err(EngineError::Unsupported("not an .au file".into()));
        }
        let data_offset = u64::from(word(4));
        let size = word(8);
        let encoding = Encoding::from_code(word(12))
            .ok_or_else(|| EngineError::Unsupported(format!("au encoding {}", word(12))))?;
        let rate = word(16);
        let channels = word(20) as usize;
        if !(24..=1 << 20).contains(&data_offset) {
            return Err(EngineError::Corrupt(format!(
                "au data offset {data_offset}"
            )));
        }
        if channels == 0 {
            return Err(EngineError::Corrupt("header declares 0 channels".into()));
        }
        if channels > 64 {
            return Err(EngineError::Limit(format!("{channels} channels")));
        }
        let file_len = file.get_ref().metadata().map_err(io)?.len();
        if file_len < data_offset {
            return Err(EngineError::Truncated("au header longer than file".into()));
        }
        file.seek(SeekFrom::Start(data_offset)).map_err(io)?;
        let data_size = (size != u32::MAX).then_some(u64::from(size));
        Ok(Self {
            path: path.to_owned(),
            file,
            encoding,
            rate,
            channels,
            data_offset,
            data_size,
            consumed: 0,
            raw: Vec::new(),
            frame: Vec::new(),
        })
    }
}

impl SampleReader for AuReader {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn expected_frames(&self) -> Option<u64> {
        self.data_size
            .map(|s| s / (self.encoding.bytes() * self.channels) as u64)
    }

    fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, EngineError> {
        let frame_bytes = self.encoding.bytes() * self.channels;
        let mut want = (max * frame_bytes) as u64;
        if let Some(size) = self.data_size {
            want = want.min(size.saturating_sub(self.consumed));
        }
        self.raw.resize(want as usize, 0);
        let mut filled = 0;
        while filled < self.raw.len() {
            match self.file.read(&mut self.raw[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(EngineError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
        let whole = filled / frame_bytes * frame_bytes;
        self.consumed += whole as u64;
        self.frame.clear();
        let enc = self.encoding;
        self.frame.extend(
            self.raw[..whole]
                .chunks_exact(enc.bytes())
                .map(|b| enc.decode(b)),
        );
        downmix_into(&self.frame, self.channels, out);
        Ok(whole / frame_bytes)
    }

    fn rewind(&mut self) -> Result<(), EngineError> {
        self.file
            .seek(SeekFrom::Start(self.data_offset))
            .map_err(|source| EngineError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.consumed = 0;
        Ok(())
    }
}
