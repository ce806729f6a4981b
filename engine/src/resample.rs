//! Streaming mono resampling to 48 kHz on top of rubato's allocation-free API.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, Fft, FixedAsync, FixedSync, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

use crate::{EngineError, SAMPLE_RATE};

/// Input frames per rubato chunk for files (latency does not matter, quality does).
const CHUNK: usize = 1024;
/// Largest relative ratio change a live stream's clock-drift control may ask for.
const MAX_DRIFT: f64 = 1.05;

/// The two rubato resamplers behind one type (rubato's trait is not object safe).
enum Inner {
    /// Files: fixed ratio, best quality (boxed: it is twice the size of the other).
    Fft(Box<Fft<f32>>),
    /// Live streams: short chunks, adjustable ratio.
    Sinc(Async<f32>),
}

impl Inner {
    fn input_frames_next(&self) -> usize {
        match self {
            Inner::Fft(r) => r.input_frames_next(),
            Inner::Sinc(r) => r.input_frames_next(),
        }
    }

    fn output_delay(&self) -> usize {
        match self {
            Inner::Fft(r) => r.output_delay(),
            Inner::Sinc(r) => r.output_delay(),
        }
    }

    fn output_frames_next(&self) -> usize {
        match self {
            Inner::Fft(r) => r.output_frames_next(),
            Inner::Sinc(r) => r.output_frames_next(),
        }
    }

    fn output_frames_max(&self) -> usize {
        match self {
            Inner::Fft(r) => r.output_frames_max(),
            Inner::Sinc(r) => r.output_frames_max(),
        }
    }

    /// Resamples mono `input` into `output` (one channel: interleaved is sequential).
    fn process_into_buffer(
        &mut self,
        input: &[f32],
        output: &mut [f32],
    ) -> rubato::ResampleResult<(usize, usize)> {
        let (Ok(input), Ok(mut output)) = (
            InterleavedSlice::new(input, 1, input.len()),
            InterleavedSlice::new_mut(output, 1, output.len()),
        ) else {
            // Cannot happen for one channel; refused like a wrong-sized buffer.
            return Err(rubato::ResampleError::InsufficientOutputBufferSize {
                expected: 0,
                actual: 0,
            });
        };
        match self {
            Inner::Fft(r) => r.process_into_buffer(&input, &mut output, None),
            Inner::Sinc(r) => r.process_into_buffer(&input, &mut output, None),
        }
    }
}

/// Converts a stream of mono frames at any rate to 48 kHz, with the resampler's own delay
/// removed and its tail flushed, so output length is `input * 48000 / rate`.
pub struct StreamResampler {
    inner: Option<Inner>,
    in_rate: u32,
    out_rate: u32,
    input: Vec<f32>,
    output: Vec<f32>,
    out_pos: usize,
    scratch_out: Vec<f32>,
    skip: usize,
    in_total: u64,
    out_total: u64,
    finished: bool,
    /// Chunks rubato refused (a buffer of the wrong size: a bug, not input).
    errors: u64,
}

impl StreamResampler {
    /// A resampler from `in_rate` to 48 kHz (a pass-through when it is already 48 kHz).
    pub fn new(in_rate: u32) -> Result<Self, EngineError> {
        if in_rate == SAMPLE_RATE {
            return Ok(Self::with(None, in_rate));
        }
        let r = Fft::<f32>::new_custom(
            in_rate as usize,
            SAMPLE_RATE as usize,
            CHUNK,
            2,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .map_err(|e| EngineError::Unsupported(format!("resampler: {e}")))?;
        Ok(Self::with(Some(Inner::Fft(Box::new(r))), in_rate))
    }

    /// A low-latency resampler for live network audio: 2.5 ms chunks, a short sinc filter,
    /// and a ratio that [`set_drift`](Self::set_drift) can nudge to follow the sender's
    /// clock. Always resamples, even at 48 kHz, so the drift control works at every rate.
    pub fn live(in_rate: u32) -> Result<Self, EngineError> {
        if !(1000..=384_000).contains(&in_rate) {
            return Err(EngineError::Unsupported(format!("sample rate {in_rate}")));
        }
        let params = || SincInterpolationParameters {
            sinc_len: 64,
            f_cutoff: Some(rubato::calculate_cutoff::<f32>(
                64,
                WindowFunction::BlackmanHarris2,
            )),
            oversampling_factor: 128,
            interpolation: SincInterpolationType::Linear,
            window: WindowFunction::BlackmanHarris2,
        };
        let chunk = (in_rate as usize / 400).max(16);
        let make = || {
            Async::<f32>::new_sinc(
                f64::from(SAMPLE_RATE) / f64::from(in_rate),
                MAX_DRIFT,
                &params(),
                chunk,
                1,
                FixedAsync::Input,
            )
            .map_err(|e| EngineError::Unsupported(format!("resampler: {e}")))
        };
        let mut this = Self::with(Some(Inner::Sinc(make()?)), in_rate);
        // rubato's reported delay for the sinc resampler misses part of its start-up
        // latency; an impulse through a twin shows the true one.
        let mut probe = Self::with(Some(Inner::Sinc(make()?)), in_rate);
        probe.skip = 0;
        let mut impulse = vec![0f32; chunk * 8];
        impulse[0] = 1.0;
        probe.push(&impulse);
        let peak = probe
            .ready()
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map_or(0, |(i, _)| i);
        this.skip = peak;
        Ok(this)
    }

    /// Nudges a live resampler's ratio by `relative` (1.0 = nominal; above 1 produces more
    /// output per input). Clamped to the range the resampler was built for.
    pub fn set_drift(&mut self, relative: f64) {
        if let Some(Inner::Sinc(r)) = self.inner.as_mut() {
            let rel = relative.clamp(1.0 / MAX_DRIFT, MAX_DRIFT);
            // Within the range the resampler was built for, so it cannot refuse.
            let _ = r.set_resample_ratio_relative(rel, true);
        }
    }

    /// A low-latency converter from 48 kHz down to `out_rate` for streaming capture out
    /// (10 ms chunks; a pass-through at 48 kHz).
    pub fn from_internal(out_rate: u32) -> Result<Self, EngineError> {
        if out_rate == SAMPLE_RATE {
            return Ok(Self::with(None, SAMPLE_RATE));
        }
        let r = Fft::<f32>::new_custom(
            SAMPLE_RATE as usize,
            out_rate as usize,
            480,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Input,
        )
        .map_err(|e| EngineError::Unsupported(format!("resampler: {e}")))?;
        let mut this = Self::with(Some(Inner::Fft(Box::new(r))), SAMPLE_RATE);
        this.out_rate = out_rate;
        Ok(this)
    }

    fn with(inner: Option<Inner>, in_rate: u32) -> Self {
        let (skip, scratch_out) = match inner.as_ref() {
            Some(r) => (r.output_delay(), vec![0.0; r.output_frames_max()]),
            None => (0, Vec::new()),
        };
        Self {
            inner,
            in_rate,
            out_rate: SAMPLE_RATE,
            input: Vec::with_capacity(CHUNK * 2),
            output: Vec::with_capacity(CHUNK * 4),
            out_pos: 0,
            scratch_out,
            skip,
            in_total: 0,
            out_total: 0,
            finished: false,
            errors: 0,
        }
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
        let chunk = &self.input[start..start + need];
        let expected = inner.output_frames_next();
        let produced = match inner.process_into_buffer(chunk, &mut self.scratch_out) {
            Ok((_, produced)) => produced,
            Err(_) => {
                // Silence in its place keeps the stream's length (and the sender's
                // timing) right; the count shows it happened.
                self.errors += 1;
                let n = expected.min(self.scratch_out.len());
                self.scratch_out[..n].fill(0.0);
                n
            }
        };
        let out = &self.scratch_out[..produced];
        // The first output frames are the filter's delay, not signal.
        let skip = self.skip.min(out.len());
        self.skip -= skip;
        self.output.extend_from_slice(&out[skip..]);
        self.out_total += (out.len() - skip) as u64;
        need
    }

    /// Chunks the resampler refused and that became silence (0 unless netamp has a bug).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Frames the whole stream should produce given the input so far.
    fn expected_out(&self) -> u64 {
        (self.in_total * u64::from(self.out_rate) + u64::from(self.in_rate) / 2)
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

    #[test]
    fn a_chunk_rubato_refuses_is_counted_not_dropped_silently() {
        let mut r = StreamResampler::new(8000).unwrap();
        r.push(&[0.5; 2048]);
        assert_eq!(r.errors(), 0);
        // A scratch buffer too small for a chunk (what a sizing bug would do).
        r.scratch_out.truncate(1);
        r.push(&[0.5; 2048]);
        assert!(r.errors() > 0, "the refused chunks were not counted");
    }

    fn run(rate: u32, len: usize) -> Vec<f32> {
        run_with(StreamResampler::new(rate).unwrap(), rate, len, 333)
    }

    /// A 440 Hz sine of `len` frames at `rate` through `r`, pushed `chunk` at a time.
    fn run_with(mut r: StreamResampler, rate: u32, len: usize, chunk: usize) -> Vec<f32> {
        let input: Vec<f32> = (0..len)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / rate as f32).sin())
            .collect();
        let mut out = Vec::new();
        for chunk in input.chunks(chunk) {
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
    fn live_resampler_is_exact_and_aligned() {
        for rate in [8000u32, 16000, 44100, 48000] {
            let out = run_with(
                StreamResampler::live(rate).unwrap(),
                rate,
                rate as usize,
                160,
            );
            assert_eq!(out.len(), 48000, "rate {rate}");
            let err: f32 = (2000..46000)
                .map(|i| {
                    let want = (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48000.0).sin();
                    (out[i] - want).abs()
                })
                .fold(0.0, f32::max);
            assert!(err < 0.05, "rate {rate}: max error {err}");
        }
    }

    #[test]
    fn down_to_8k_keeps_length() {
        let mut r = StreamResampler::from_internal(8000).unwrap();
        let mut n = 0;
        for _ in 0..100 {
            r.push(&[0.1; 480]);
            n += r.ready().len();
            let k = r.ready().len();
            r.consume(k);
        }
        r.finish();
        n += r.ready().len();
        assert_eq!(n, 8000);
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
