//! 48 kHz mono 16-bit WAV output whose header is kept valid as it grows.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{EngineError, SAMPLE_RATE};

/// Writes a WAV file; the header is rewritten every second and on `finish`/drop, so a
/// reader (or a crash) always sees a valid file. Every block is written through at once,
/// so a reader of the growing file sees audio within one period.
pub struct WavWriter {
    path: PathBuf,
    out: BufWriter<File>,
    data_bytes: u64,
    since_header: u64,
    bytes: Vec<u8>,
}

impl WavWriter {
    /// Creates (truncates) `path` and writes an empty header.
    pub fn create(path: &Path) -> Result<Self, EngineError> {
        let file = File::create(path)
            .map_err(|e| EngineError::Device(format!("cannot create {}: {e}", path.display())))?;
        let mut w = Self {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 16, file),
            data_bytes: 0,
            since_header: 0,
            bytes: Vec::with_capacity(8192),
        };
        w.write_header().map_err(|e| w.err(e))?;
        Ok(w)
    }

    fn err(&self, e: std::io::Error) -> EngineError {
        EngineError::Device(format!("writing {}: {e}", self.path.display()))
    }

    fn header(data_bytes: u32) -> [u8; 44] {
        let mut h = [0u8; 44];
        h[0..4].copy_from_slice(b"RIFF");
        h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
        h[8..16].copy_from_slice(b"WAVEfmt ");
        h[16..20].copy_from_slice(&16u32.to_le_bytes());
        h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
        h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
        h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
        h[28..32].copy_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
        h[32..34].copy_from_slice(&2u16.to_le_bytes());
        h[34..36].copy_from_slice(&16u16.to_le_bytes());
        h[36..40].copy_from_slice(b"data");
        h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
        h
    }

    fn write_header(&mut self) -> std::io::Result<()> {
        let size = u32::try_from(self.data_bytes).unwrap_or(u32::MAX - 36);
        self.out.flush()?;
        let file = self.out.get_mut();
        let end = file.stream_position()?.max(44);
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&Self::header(size))?;
        file.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    /// Appends samples (clamped to 16-bit).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), EngineError> {
        self.bytes.clear();
        for &s in samples {
            let v = netamp_dsp::sample::f32_to_i16(s);
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&self.bytes).map_err(|e| self.err(e))?;
        self.out.flush().map_err(|e| self.err(e))?;
        self.data_bytes += self.bytes.len() as u64;
        self.since_header += samples.len() as u64;
        if self.since_header >= u64::from(SAMPLE_RATE) {
            self.since_header = 0;
            self.write_header().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Writes the final header and flushes.
    pub fn finish(&mut self) -> Result<(), EngineError> {
        self.write_header().map_err(|e| self.err(e))?;
        self.out.flush().map_err(|e| self.err(e))
    }
}

impl Drop for WavWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_valid_while_growing_and_after_finish() {
        let dir = std::env::temp_dir().join(format!("netamp-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("o.wav");
        let mut w = WavWriter::create(&path).unwrap();
        w.write(&vec![0.5; 48000]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
        assert_eq!(data, 96000);
        w.write(&[0.25; 100]).unwrap();
        drop(w);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 96200);
        assert_eq!(bytes.len(), 44 + 96200);
        assert_eq!(i16::from_le_bytes([bytes[44], bytes[45]]), 16384);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
