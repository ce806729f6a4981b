//! Streaming decoders that turn clip files into mono `f32` frames at their own rate.
//!
//! Memory does not grow with clip length: a reader holds one decoded packet at a time.

mod au;
mod symph;
mod wave_check;

use std::path::Path;

use crate::EngineError;

pub use au::AuReader;
pub use symph::SymphoniaReader;

/// Limits applied to every file netamp decodes (they bound hostile input).
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Lowest accepted sample rate.
    pub min_rate: u32,
    /// Highest accepted sample rate.
    pub max_rate: u32,
    /// Most channels accepted.
    pub max_channels: usize,
    /// Longest accepted clip, in frames at its own rate.
    pub max_frames: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 8 kHz to 192 kHz, up to 8 channels, up to 6 hours.
        Self {
            min_rate: 8_000,
            max_rate: 192_000,
            max_channels: 8,
            max_frames: 192_000 * 3600 * 6,
        }
    }
}

/// A source of mono frames decoded from a file.
pub trait SampleReader: Send {
    /// The file's own sample rate.
    fn sample_rate(&self) -> u32;
    /// The file's channel count (frames are downmixed to mono).
    fn channels(&self) -> usize;
    /// Frames the header promises, when it says.
    fn expected_frames(&self) -> Option<u64>;
    /// Appends up to `max` mono frames to `out`; returns how many, 0 at end of stream.
    fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, EngineError>;
    /// Starts again from the first frame.
    fn rewind(&mut self) -> Result<(), EngineError>;
}

/// Opens `path` with the reader its content needs (AU by magic, everything else by probe).
pub fn open(path: &Path, limits: DecodeLimits) -> Result<Box<dyn SampleReader>, EngineError> {
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|source| EngineError::Io {
            path: path.to_owned(),
            source,
        })?;
        let n = f.read(&mut magic).map_err(|source| EngineError::Io {
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            return Err(EngineError::Empty);
        }
    }
    let reader: Box<dyn SampleReader> = if &magic == b".snd" {
        Box::new(AuReader::open(path)?)
    } else {
        Box::new(SymphoniaReader::open(path)?)
    };
    check_limits(reader.as_ref(), limits)?;
    Ok(reader)
}

fn check_limits(r: &dyn SampleReader, limits: DecodeLimits) -> Result<(), EngineError> {
    let rate = r.sample_rate();
    if rate < limits.min_rate || rate > limits.max_rate {
        return Err(EngineError::Limit(format!(
            "sample rate {rate} Hz is outside {}..={} Hz",
            limits.min_rate, limits.max_rate
        )));
    }
    if r.channels() == 0 {
        return Err(EngineError::Corrupt("header declares 0 channels".into()));
    }
    if r.channels() > limits.max_channels {
        return Err(EngineError::Limit(format!(
            "{} channels (at most {})",
            r.channels(),
            limits.max_channels
        )));
    }
    Ok(())
}

/// What a full probe decode learned about a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipInfo {
    /// The file's own rate.
    pub sample_rate: u32,
    /// The file's channel count.
    pub channels: usize,
    /// Frames decoded, at the file's own rate.
    pub frames: u64,
}

impl ClipInfo {
    /// Length in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Decodes the whole file once to prove it plays: errors for anything that would not.
/// A file that comes from outside (an upload) passes here first, so its WAVE headers are
/// screened once ([`wave_check`]) rather than on every play.
pub fn probe(path: &Path, limits: DecodeLimits) -> Result<ClipInfo, EngineError> {
    {
        let mut f = std::fs::File::open(path).map_err(|source| EngineError::Io {
            path: path.to_owned(),
            source,
        })?;
        wave_check::check(&mut f)?;
    }
    let mut reader = open(path, limits)?;
    let mut buf = Vec::with_capacity(8192);
    let mut frames = 0u64;
    loop {
        buf.clear();
        let n = reader.read(&mut buf, 8192)?;
        if n == 0 {
            break;
        }
        if buf.iter().any(|s| !s.is_finite()) {
            return Err(EngineError::Corrupt("non-finite samples".into()));
        }
        frames += n as u64;
        if frames > limits.max_frames {
            return Err(EngineError::Limit(format!(
                "longer than {} frames",
                limits.max_frames
            )));
        }
    }
    if frames == 0 {
        return Err(EngineError::Empty);
    }
    if let Some(expected) = reader.expected_frames() {
        // Encoders pad and trim a little; a real truncation loses far more than a frame.
        let slack = 4096 + expected / 200;
        if frames + slack < expected {
            return Err(EngineError::Truncated(format!(
                "decoded {frames} of {expected} frames the header announces"
            )));
        }
    }
    Ok(ClipInfo {
        sample_rate: reader.sample_rate(),
        channels: reader.channels(),
        frames,
    })
}

/// Adds `channels`-interleaved samples to `out` as their mono average.
pub(crate) fn downmix_into(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    if channels <= 1 {
        out.extend_from_slice(interleaved);
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|f| f.iter().sum::<f32>() * scale),
    );
}
