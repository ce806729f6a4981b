//! Streaming mono resampling to 48 kHz on top of rubato's allocation-free API.

use rubato::{FftFixedIn, Resampler};

use crate::{EngineError, SAMPLE_RATE};

/// Input frames per rubato chunk.
const CHUNK: usize = 1024;

/// Converts a stream of mono frames at any rate to 48 kHz, with the resampler's own delay
/// removed and its tail flushed, so output length is `input * 48000 / rate`.
pub struct StreamResampler {
    inner: Option<FftFixedIn<f32>>,
    in_rate: u32,
    input: Vec<f32>,
    output: Vec<f32>,
    out_pos: usize,
    scratch_out: Vec<Vec<f32>>,
    skip: usize,
    in_total: u64,
    out_total: u64,
    finished: bool,
}

impl StreamResampler {
    /// A resampler from `in_rate` to 48 kHz (a pass-through when it is already 48 kHz).
    pub fn new(in_rate: u32) -> Result<Self, EngineError> {
        let (inner, skip, scratch_out) = if in_rate == SAMPLE_RATE {
            (None, 0, Vec::new())
        } else {
            let r = FftFixedIn::<f32>::new(in_rate as usize, SAMPLE_RATE as usize, CHUNK, 2, 1)
                .map_err(|e| EngineError::Unsupported(format!("resampler: {e}")))?;
            let skip = r.output_delay();
            let max = r.output_frames_max();
            (Some(r), skip, vec![vec![0.0; max]])
        };
        Ok(Self {
            inner,
            in_rate,
            input: Vec::with_capacity(CHUNK * 2),
            output: Vec::with_capacity(CHUNK * 4),
            out_pos: 0,
            scratch_out,
            skip,
            in_total: 0,
            out_total: 0,
            finished: false,
        })
    }

    /// The input rate.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// True once `finish` was called and every frame was taken.
    pub fn is_finished(&self) -> bool {
        self.finished && self.ready().is_empty()
    }

    /// Output frames ready to be taken.
    pub fn ready(&self) -> &[f32] {
        &self.output[self.out_pos..]
    }

    /// Marks `n` ready frames as taken.
    pub fn consume(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.output.len());
        if self.out_pos == self.output.len() {
            self.output.clear();
            self.out_pos = 0;
        }
    }

    /// Feeds input frames; output becomes ready in whole chunks.
    pub fn push(&mut self, frames: &[f32]) {
        self.in_total += frames.len() as u64;
        let Some(need) = self.inner.as_ref().map(|r| r.input_frames_next()) else {
            self.output.extend_from_slice(frames);
            self.out_total += frames.len() as u64;
            return;
        };
        self.input.extend_from_slice(frames);
        let mut start = 0;
        // FftFixedIn always takes the same chunk size.
        while self.input.len() - start >= need {
            start += self.run_chunk(start);
        }
        self.input.drain(..start);
    }

    /// Resamples one chunk of `input` from `start`; returns the input frames it took.
    fn run_chunk(&mut self, start: usize) -> usize {
        let Some(inner) = self.inner.as_mut() else {
            return 0;
        };
        let need = inner.input_frames_next();
        let chunk = [&self.input[start..start + need]];
        if let Ok((_, produced)) = inner.process_into_buffer(&chunk, &mut self.scratch_out, None) {
            let out = &self.scratch_out[0][..produced];
            // The first output frames are the filter's delay, not signal.
            let skip = self.skip.min(out.len());
            self.skip -= skip;
            self.output.extend_from_slice(&out[skip..]);
            self.out_total += (out.len() - skip) as u64;
        }
        need
    }

    /// Frames the whole stream should produce given the input so far.
    fn expected_out(&self) -> u64 {
        (self.in_total * u64::from(SAMPLE_RATE) + u64::from(self.in_rate) / 2)
            / u64::from(self.in_rate)
    }

    /// Ends the stream: flushes the resampler's tail and trims to the exact length.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let expected = self.expected_out();
        if let Some(need) = self.inner.as_ref().map(|r| r.input_frames_next()) {
            // Zeros push the delayed tail out; a few chunks always suffice.
            let mut guard = 0;
            while self.out_total < expected && guard < 8 {
                guard += 1;
                // The first chunk keeps the input still waiting, padded with zeros.
                self.input.resize(need, 0.0);
                self.run_chunk(0);
                self.input.clear();
            }
            self.input.clear();
        }
        if self.out_total > expected {
            let extra = (self.out_total - expected) as usize;
            let keep = self.output.len().saturating_sub(extra).max(self.out_pos);
            self.output.truncate(keep);
            self.out_total = expected;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: u32, len: usize) -> Vec<f32> {
        let input: Vec<f32> = (0..len)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / rate as f32).sin())
            .collect();
        let mut r = StreamResampler::new(rate).unwrap();
        let mut out = Vec::new();
        for chunk in input.chunks(333) {
            r.push(chunk);
            out.extend_from_slice(r.ready());
            let n = r.ready().len();
            r.consume(n);
        }
        r.finish();
        out.extend_from_slice(r.ready());
        out
    }

    #[test]
    fn length_is_exact() {
        for rate in [8000u32, 16000, 22050, 44100, 48000] {
            let out = run(rate, rate as usize);
            assert_eq!(out.len(), 48000, "rate {rate}");
        }
    }

    #[test]
    fn delay_is_removed() {
        // A 440 Hz sine resampled must line up with a 48 kHz sine from t=0.
        let out = run(16000, 16000);
        let reference: Vec<f32> = (0..48000)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48000.0).sin())
            .collect();
        let err: f32 = out[2000..46000]
            .iter()
            .zip(&reference[2000..46000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.05, "max error {err}");
    }
}
