//! A simulated speaker line: the electrical Thiele–Small model of one or more drivers in
//! parallel behind a line resistance, and a streaming filter that turns the voltage an
//! amplifier puts out into the current the line draws. It is what a `sim:` speaker
//! sense device records as V and I, so the impedance sweep, calibration and supervision
//! can be tested without a speaker.
//!
//! Each driver is `Z(f) = Re + jωLe + Res / (1 + jQms(f/fs − fs/f))` with
//! `Res = Re·Qms/Qes` (the motional part a parallel resonance). The current filter is a
//! FIR made once from the exact admittance `1/Z(f)` sampled on a fine grid (an inverse
//! FFT, the tail tapered): a bilinear IIR would warp `ωLe` by 17 % at 10 kHz, where the
//! inductance dominates. It runs as overlap-save FFT convolution; every buffer is made in
//! [`CurrentFilter::new`], so [`CurrentFilter::process_into`] does not allocate.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// One driver's Thiele–Small electrical parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Driver {
    /// Voice-coil DC resistance, Ω.
    pub re: f64,
    /// Voice-coil inductance, H.
    pub le: f64,
    /// Resonance, Hz.
    pub fs: f64,
    /// Mechanical Q.
    pub qms: f64,
    /// Electrical Q.
    pub qes: f64,
}

impl Driver {
    /// Its impedance at `f` Hz.
    pub fn z(&self, f: f64) -> Complex<f64> {
        let w = 2.0 * std::f64::consts::PI * f;
        let res = self.re * self.qms / self.qes;
        let motional = if f > 0.0 {
            let x = f / self.fs - self.fs / f;
            Complex::new(res, 0.0) / Complex::new(1.0, self.qms * x)
        } else {
            Complex::new(0.0, 0.0)
        };
        Complex::new(self.re, w * self.le) + motional
    }
}

/// What an amplifier output drives: drivers in parallel behind a line resistance. No
/// driver is an open line; a line resistance alone, a short.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The drivers, in parallel.
    pub drivers: Vec<Driver>,
    /// Series resistance of the line, Ω.
    pub line: f64,
}

impl Load {
    /// Its admittance at `f` Hz, S (zero for an open line).
    pub fn y(&self, f: f64) -> Complex<f64> {
        let y: Complex<f64> = self.drivers.iter().map(|d| d.z(f).inv()).sum();
        if y.norm() == 0.0 {
            return Complex::new(0.0, 0.0);
        }
        (y.inv() + self.line).inv()
    }

    /// Its impedance at `f` Hz, Ω (infinite for an open line).
    pub fn z(&self, f: f64) -> Complex<f64> {
        self.y(f).inv()
    }
}

/// Taps of the current filter: long enough for the slowest resonance in range (a 20 Hz
/// driver with Qms 10 rings for about 0.16 s: 8192 taps at 48 kHz hold it).
pub const TAPS: usize = 8192;

/// Samples the current filter's response is delayed by, beyond its block.
pub const LEAD: usize = 512;

/// Streams V → I through a [`Load`].
pub struct CurrentFilter {
    /// The filter's spectrum on the convolution grid.
    kernel: Vec<Complex<f64>>,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
    /// The last `TAPS - 1` inputs then the block being gathered.
    window: Vec<f64>,
    /// Inputs gathered for the next block.
    filled: usize,
    /// Outputs of the last block not handed out yet.
    ready: Vec<f32>,
    taken: usize,
    spectrum: Vec<Complex<f64>>,
    time: Vec<f64>,
    scratch_fwd: Vec<Complex<f64>>,
    scratch_inv: Vec<Complex<f64>>,
}

impl CurrentFilter {
    /// The filter of `load` at `rate` Hz. Its output lags its input by one block and
    /// [`LEAD`] ([`TAPS`] + [`LEAD`] samples), as a sense ADC's would by its buffering.
    pub fn new(load: &Load, rate: f64) -> Self {
        let n = 2 * TAPS;
        let mut planner = RealFftPlanner::<f64>::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        // The impulse response: the admittance sampled on a grid four times finer than
        // the filter, so its time-domain alias lies far past the taps kept.
        let fine = 4 * n;
        let design_inv = planner.plan_fft_inverse(fine);
        // Delayed by LEAD samples: a continuous-time admittance (falling as 1/f up to
        // the band's edge) sampled on a grid has a response that starts a little before
        // zero; the delay brings that part into the taps kept.
        let mut spec: Vec<Complex<f64>> = (0..=fine / 2)
            .map(|k| {
                let f = k as f64 * rate / fine as f64;
                let phase = -2.0 * std::f64::consts::PI * f * LEAD as f64 / rate;
                load.y(f) * Complex::from_polar(1.0, phase)
            })
            .collect();
        spec[0].im = 0.0;
        if let Some(last) = spec.last_mut() {
            last.im = 0.0;
        }
        let mut h = vec![0.0; fine];
        let _ = design_inv.process(&mut spec, &mut h);
        // Half a Hann window over the last eighth of the taps.
        let fade = TAPS / 8;
        let mut taps: Vec<f64> = h[..TAPS].iter().map(|x| x / fine as f64).collect();
        for (k, t) in taps[TAPS - fade..].iter_mut().enumerate() {
            let w = 0.5 * (1.0 + (std::f64::consts::PI * k as f64 / fade as f64).cos());
            *t *= w;
        }
        let mut padded = vec![0.0; n];
        padded[..TAPS].copy_from_slice(&taps);
        let mut kernel = fwd.make_output_vec();
        let _ = fwd.process(&mut padded, &mut kernel);
        Self {
            kernel,
            scratch_fwd: fwd.make_scratch_vec(),
            scratch_inv: inv.make_scratch_vec(),
            spectrum: fwd.make_output_vec(),
            time: vec![0.0; n],
            fwd,
            inv,
            window: vec![0.0; n],
            filled: 0,
            ready: vec![0.0; TAPS],
            taken: TAPS,
        }
    }

    /// How many samples the current lags the voltage it answers.
    pub fn delay(&self) -> usize {
        TAPS + LEAD
    }

    /// Writes the current for each voltage sample of `v` into `i` (same length).
    pub fn process_into(&mut self, v: &[f32], i: &mut [f32]) {
        let n = 2 * TAPS;
        for (x, out) in v.iter().zip(i.iter_mut()) {
            self.window[TAPS + self.filled] = f64::from(*x);
            self.filled += 1;
            *out = if self.taken < TAPS {
                self.taken += 1;
                self.ready[self.taken - 1]
            } else {
                0.0
            };
            if self.filled == TAPS {
                self.block(n);
            }
        }
    }

    /// Convolves the gathered block (overlap-save) and keeps its outputs.
    fn block(&mut self, n: usize) {
        self.time.copy_from_slice(&self.window);
        let _ = self.fwd.process_with_scratch(
            &mut self.time,
            &mut self.spectrum,
            &mut self.scratch_fwd,
        );
        for (s, k) in self.spectrum.iter_mut().zip(&self.kernel) {
            *s *= k;
        }
        self.spectrum[0].im = 0.0;
        if let Some(last) = self.spectrum.last_mut() {
            last.im = 0.0;
        }
        let _ = self.inv.process_with_scratch(
            &mut self.spectrum,
            &mut self.time,
            &mut self.scratch_inv,
        );
        for (r, t) in self.ready.iter_mut().zip(&self.time[TAPS..]) {
            *r = (t / n as f64) as f32;
        }
        self.taken = 0;
        self.window.copy_within(TAPS.., 0);
        self.filled = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_draws_the_current_the_model_says_one_block_later() {
        let rate = 48_000.0;
        let load = Load {
            drivers: vec![Driver {
                re: 6.2,
                le: 0.4e-3,
                fs: 55.0,
                qms: 3.0,
                qes: 0.435,
            }],
            line: 0.3,
        };
        let mut f = CurrentFilter::new(&load, rate);
        for freq in [55.0, 1_000.0, 8_000.0] {
            let len = 4 * TAPS;
            let v: Vec<f32> = (0..len)
                .map(|k| (2.0 * std::f64::consts::PI * freq * k as f64 / rate).sin() as f32)
                .collect();
            let mut i = vec![0f32; len];
            for (vb, ib) in v.chunks(480).zip(i.chunks_mut(480)) {
                f.process_into(vb, ib);
            }
            // Past the delay and the load's own settling: the amplitude is |1/Z|.
            let tail = &i[3 * TAPS..];
            let rms = (tail.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / tail.len() as f64)
                .sqrt();
            let amplitude = rms * std::f64::consts::SQRT_2;
            let want = load.y(freq).norm();
            assert!(
                (amplitude - want).abs() / want < 0.01,
                "{freq} Hz: {amplitude} A vs {want} A"
            );
        }
        // An open line draws nothing.
        let mut open = CurrentFilter::new(
            &Load {
                drivers: vec![],
                line: 0.0,
            },
            rate,
        );
        let mut i = vec![1f32; 2 * TAPS];
        open.process_into(&vec![0.5; 2 * TAPS], &mut i);
        assert!(i.iter().all(|x| x.abs() < 1e-9));
    }
}
