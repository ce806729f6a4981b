//! Speaker impedance from a sweep: the voltage across the speaker and the current
//! through it, recorded while [`ExpSweep`] plays, deconvolved with the sweep's inverse
//! filter into two impulse responses; a window keeps each one's linear part (the
//! harmonic distortion products lie before it) and `Z(f) = V(f) / I(f)`.
//!
//! From the complex `Z` come the figures installers read: the resonance `fs` (where the
//! real part of `Z` peaks: the motional impedance is real there, and the voice coil's
//! inductance cannot move it), `|Z|` at `fs` and at 1 kHz, the DC resistance `Re` (the
//! real part's minimum above the resonance, where the motional part has died away and
//! an inductance adds nothing real), and the nominal class (the one of 2/4/8/16/32 Ω
//! nearest `Re / 0.78` on a log scale: drivers' `Re` is about 0.7–0.85 of nominal).
//!
//! Buffers are allocated once in [`ImpedanceAnalyzer::new`]; [`analyze_into`] fills a
//! caller's [`Measurement`] without allocating.
//!
//! [`analyze_into`]: ImpedanceAnalyzer::analyze_into

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::sweep::ExpSweep;

/// Why a recording could not be analysed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasureError {
    /// The recordings are not as long as the sweep (plus the latency allowance).
    #[error("the recordings need {need} samples each, got {v} and {i}")]
    Short {
        /// Samples needed.
        need: usize,
        /// Voltage samples.
        v: usize,
        /// Current samples.
        i: usize,
    },
    /// Nothing came back (an open line, a dead sense input).
    #[error("no {0} was recorded")]
    Silent(&'static str),
}

/// The figures of one measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// DC resistance, Ω.
    pub re: f64,
    /// Resonance frequency, Hz.
    pub fs: f64,
    /// |Z| at the resonance, Ω.
    pub z_fs: f64,
    /// |Z| at 1 kHz, Ω.
    pub z_1k: f64,
    /// Nominal impedance class, Ω (2, 4, 8, 16 or 32).
    pub nominal: u32,
}

/// |Z| on log-spaced frequencies, and the figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// Bin centre frequencies, Hz.
    pub freqs: Vec<f64>,
    /// |Z| at each, Ω.
    pub ohms: Vec<f64>,
    /// The figures.
    pub figures: Figures,
}

/// The deconvolution: FFT plans, the inverse filter's spectrum and work buffers.
struct Deconvolver {
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
    inverse: Vec<Complex<f64>>,
    time: Vec<f64>,
    spec: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Deconvolver {
    /// `rec` deconvolved into `out` (the linear response near `sweep.len() - 1`).
    fn run(&mut self, rec: &[f32], out: &mut [f64]) {
        let padded = rec
            .iter()
            .map(|&s| f64::from(s))
            .chain(std::iter::repeat(0.0));
        for (t, r) in self.time.iter_mut().zip(padded) {
            *t = r;
        }
        // Plans of the buffers' own sizes never fail.
        let _ = self
            .fwd
            .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch);
        let n = self.time.len() as f64;
        for (s, h) in self.spec.iter_mut().zip(&self.inverse) {
            *s *= h / n;
        }
        // A real signal's spectrum: the DC and Nyquist bins have no imaginary part.
        if let Some(s) = self.spec.first_mut() {
            s.im = 0.0;
        }
        if let Some(s) = self.spec.last_mut() {
            s.im = 0.0;
        }
        let _ = self
            .inv
            .process_with_scratch(&mut self.spec, out, &mut self.scratch);
    }
}

/// The spectrum of a windowed linear response.
struct Windowed {
    fwd: Arc<dyn RealToComplex<f64>>,
    time: Vec<f64>,
    scratch: Vec<Complex<f64>>,
}

impl Windowed {
    /// `len` samples of `ir` from `start`, faded out over the last tenth, zero-padded,
    /// into `out`.
    fn run(&mut self, ir: &[f64], start: usize, len: usize, out: &mut [Complex<f64>]) {
        self.time.iter_mut().for_each(|s| *s = 0.0);
        let fade = (len / 10).max(1);
        for k in 0..len.min(self.time.len()) {
            let w = if k + fade >= len {
                let x = (len - k) as f64 / fade as f64;
                0.5 - 0.5 * (std::f64::consts::PI * x).cos()
            } else {
                1.0
            };
            self.time[k] = ir.get(start + k).copied().unwrap_or(0.0) * w;
        }
        let _ = self
            .fwd
            .process_with_scratch(&mut self.time, out, &mut self.scratch);
    }
}

/// Analyses V/I recordings of one sweep.
pub struct ImpedanceAnalyzer {
    sweep: ExpSweep,
    latency_max: usize,
    deconv: Deconvolver,
    windowed: Windowed,
    ir_v: Vec<f64>,
    ir_i: Vec<f64>,
    zv: Vec<Complex<f64>>,
    zi: Vec<Complex<f64>>,
    pre: usize,
    post: usize,
    bins: Vec<f64>,
}

/// Bins per octave of the |Z| curve.
pub const BINS_PER_OCTAVE: f64 = 24.0;

impl ImpedanceAnalyzer {
    /// An analyser for recordings of `sweep` that may start up to `latency_max` samples
    /// late (the sense path's delay; V and I are recorded in step).
    pub fn new(sweep: ExpSweep, latency_max: usize) -> Self {
        let rate = sweep.rate();
        let n = (2 * (sweep.len() + latency_max)).next_power_of_two();
        let mut planner = RealFftPlanner::<f64>::new();
        let conv_fwd = planner.plan_fft_forward(n);
        let conv_inv = planner.plan_fft_inverse(n);
        let mut time: Vec<f64> = (0..n).map(|k| sweep.inverse(k)).collect();
        let mut inverse = conv_fwd.make_output_vec();
        let mut scratch = conv_fwd.make_scratch_vec();
        // A plan of the right sizes never fails.
        let _ = conv_fwd.process_with_scratch(&mut time, &mut inverse, &mut scratch);
        // The linear response window: half of the way back to the 2nd harmonic's
        // response (the band edges' fades make the low end of the deconvolved impulse
        // ring *before* it, and a window that cut that off would smear the resonance),
        // and 45 % of that distance after it, at most 0.5 s.
        let gap = sweep.time_constant() * 2f64.ln();
        let pre = (0.5 * gap * rate) as usize;
        let post = ((0.45 * gap).min(0.5) * rate) as usize;
        // Fine enough to place the resonance of a woofer (0.73 Hz at 48 kHz).
        let nz = ((rate / 0.75) as usize)
            .next_power_of_two()
            .max((pre + post).next_power_of_two());
        let z_fwd = planner.plan_fft_forward(nz);
        let (f1, f2) = sweep.band();
        let octaves = (f2 / f1).log2();
        let count = (octaves * BINS_PER_OCTAVE).floor() as usize + 1;
        let bins = (0..count)
            .map(|k| f1 * 2f64.powf(k as f64 / BINS_PER_OCTAVE))
            .collect();
        let scratch_len = conv_fwd.get_scratch_len().max(conv_inv.get_scratch_len());
        Self {
            latency_max,
            ir_v: vec![0.0; n],
            ir_i: vec![0.0; n],
            zv: z_fwd.make_output_vec(),
            zi: z_fwd.make_output_vec(),
            windowed: Windowed {
                time: vec![0.0; nz],
                scratch: z_fwd.make_scratch_vec(),
                fwd: z_fwd,
            },
            deconv: Deconvolver {
                spec: conv_fwd.make_output_vec(),
                time,
                inverse,
                scratch: vec![Complex::default(); scratch_len],
                fwd: conv_fwd,
                inv: conv_inv,
            },
            pre,
            post,
            bins,
            sweep,
        }
    }

    /// Samples each recording must have.
    pub fn needs(&self) -> usize {
        self.sweep.len() + self.latency_max
    }

    /// A measurement with room for this analyser's curve.
    pub fn measurement(&self) -> Measurement {
        Measurement {
            freqs: self.bins.clone(),
            ohms: vec![0.0; self.bins.len()],
            figures: Figures::default(),
        }
    }

    /// Analyses the voltage and current recorded while the sweep played.
    pub fn analyze_into(
        &mut self,
        v: &[f32],
        i: &[f32],
        out: &mut Measurement,
    ) -> Result<(), MeasureError> {
        let need = self.needs();
        if v.len() < need || i.len() < need {
            return Err(MeasureError::Short {
                need,
                v: v.len(),
                i: i.len(),
            });
        }
        let energy = |x: &[f32]| x.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>();
        if energy(&i[..need]) < 1e-12 {
            return Err(MeasureError::Silent("current"));
        }
        if energy(&v[..need]) < 1e-12 {
            return Err(MeasureError::Silent("voltage"));
        }
        self.deconv.run(&v[..need], &mut self.ir_v);
        self.deconv.run(&i[..need], &mut self.ir_i);
        // The linear response starts at the voltage response's peak (the sweep's own
        // delay plus the sense path's latency, the same for both channels).
        let lo = self.sweep.len().saturating_sub(1);
        let hi = (lo + self.latency_max + 1).min(self.ir_v.len());
        let peak = (lo..hi)
            .max_by(|&a, &b| self.ir_v[a].abs().total_cmp(&self.ir_v[b].abs()))
            .unwrap_or(lo);
        let start = peak.saturating_sub(self.pre);
        let len = self.pre + self.post;
        self.windowed.run(&self.ir_v, start, len, &mut self.zv);
        self.windowed.run(&self.ir_i, start, len, &mut self.zi);

        let rate = self.sweep.rate();
        let df = rate / self.windowed.time.len() as f64;
        let z = |k: usize| self.zv[k] / self.zi[k];
        let bin = |f: f64| ((f / df).round() as usize).min(self.zv.len() - 1);
        // Each curve point between the two nearest fine bins (a sharp resonance moves
        // faster than one bin's step).
        let at = |f: f64| {
            let x = (f / df).clamp(1.0, (self.zv.len() - 2) as f64);
            let k = x.floor() as usize;
            let t = x - k as f64;
            z(k) * (1.0 - t) + z(k + 1) * t
        };
        for (f, o) in self.bins.iter().zip(out.ohms.iter_mut()) {
            *o = at(*f).norm();
        }
        out.freqs.clone_from(&self.bins);
        // The resonance: where the real part peaks, between just above the sweep's start
        // and 5 kHz (refined by a parabola through the peak and its neighbours).
        let (f1, f2) = self.sweep.band();
        let (a, b) = (bin(f1 * 1.5).max(1), bin(5_000f64.min(f2 / 2.0)));
        let k = (a..=b)
            .max_by(|&x, &y| z(x).re.total_cmp(&z(y).re))
            .unwrap_or(a);
        let (l, c, r) = (z(k - 1).re, z(k).re, z(k + 1).re);
        let denom = l - 2.0 * c + r;
        let shift = if denom.abs() > 1e-12 {
            0.5 * (l - r) / denom
        } else {
            0.0
        };
        let fs = (k as f64 + shift.clamp(-0.5, 0.5)) * df;
        // DC resistance: the real part's minimum from 3 to 10 × fs (within the band).
        let (a, b) = (bin(3.0 * fs), bin((10.0 * fs).min(f2 / 2.0)));
        let re = (a..=b.max(a))
            .map(|k| z(k).re)
            .fold(f64::INFINITY, f64::min);
        let nominal = [2u32, 4, 8, 16, 32]
            .into_iter()
            .min_by(|x, y| {
                let d = |n: u32| ((re / 0.78) / f64::from(n)).log2().abs();
                d(*x).total_cmp(&d(*y))
            })
            .unwrap_or(8);
        out.figures = Figures {
            re,
            fs,
            z_fs: at(fs).norm(),
            z_1k: at(1000.0).norm(),
            nominal,
        };
        Ok(())
    }
}
