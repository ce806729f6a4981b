//! The impedance sweep against simulated speakers: a Thiele–Small electrical model
//! (`Re`, `Le`, `fs`, `Qms`, `Qes`; two in parallel; a series line resistance) turns the
//! amplifier's voltage (the sweep with 1 % third-order distortion) into the current it
//! draws, exactly, in the frequency domain; then noise at −60 dB re the sweep is added
//! to both recorded channels. The analyser must find |Z| within 5 % of the model at
//! every bin 50 Hz–10 kHz, `Re` and `fs` within 3 %, and the nominal class. The same
//! holds for the current the streaming model (`speaker_model::CurrentFilter`, what a
//! simulated sense device records) draws, block by block.

use netamp_dsp::impedance::ImpedanceAnalyzer;
use netamp_dsp::speaker_model::{CurrentFilter, Driver, Load};
use netamp_dsp::sweep::ExpSweep;
use realfft::RealFftPlanner;

const RATE: f64 = 48_000.0;

/// A small deterministic generator with Gaussian samples.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|s| s * s).sum::<f64>() / x.len() as f64).sqrt()
}

/// The voltage and current the load records while `sweep` plays at half scale.
fn record(sweep: &ExpSweep, load: &Load, rng: &mut Rng, need: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (need + sweep.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    // The amplifier's output: the sweep at half scale with 1 % third-order distortion
    // (the speaker draws the current of what the amplifier really puts out).
    let mut v: Vec<f64> = (0..n)
        .map(|k| {
            let x = 0.5 * sweep.sample(k);
            x + 0.04 * x * x * x / 0.25
        })
        .collect();
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut v.clone(), &mut spec).expect("fft");
    for (k, s) in spec.iter_mut().enumerate() {
        *s /= load.z(k as f64 * RATE / n as f64) * n as f64;
    }
    spec[0].im = 0.0;
    if let Some(s) = spec.last_mut() {
        s.im = 0.0;
    }
    let mut i = vec![0.0; n];
    inv.process(&mut spec, &mut i).expect("ifft");
    let (nv, ni) = (rms(&v[..sweep.len()]) * 1e-3, rms(&i[..sweep.len()]) * 1e-3);
    for s in v.iter_mut() {
        *s += nv * rng.gauss();
    }
    for s in i.iter_mut() {
        *s += ni * rng.gauss();
    }
    (
        v[..need].iter().map(|&s| s as f32).collect(),
        i[..need].iter().map(|&s| s as f32).collect(),
    )
}

fn check(name: &str, load: &Load, expect_nominal: Option<u32>, rng: &mut Rng) {
    let sweep = ExpSweep::new(RATE, 20.0, 20_000.0, 5.0, 0.02).expect("sweep");
    let mut a = ImpedanceAnalyzer::new(sweep.clone(), 480);
    let (v, i) = record(&sweep, load, rng, a.needs());
    let mut m = a.measurement();
    a.analyze_into(&v, &i, &mut m).expect("analyze");
    let mut worst = 0f64;
    for (f, ohms) in m.freqs.iter().zip(&m.ohms) {
        if (50.0..=10_000.0).contains(f) {
            let model = load.z(*f).norm();
            worst = worst.max((ohms - model).abs() / model);
        }
    }
    let re = load.z(0.0).re;
    let fs = load.drivers[0].fs;
    let fig = m.figures;
    eprintln!(
        "{name}: worst |Z| error {:.2} %, Re {:.3} (model {re:.3}), fs {:.2} (model {fs:.2}), |Z(fs)| {:.1}, |Z(1k)| {:.2}, nominal {}",
        worst * 100.0,
        fig.re,
        fig.fs,
        fig.z_fs,
        fig.z_1k,
        fig.nominal
    );
    assert!(worst < 0.05, "{name}: |Z| off by {:.2} %", worst * 100.0);
    assert!(
        (fig.re - re).abs() / re < 0.03,
        "{name}: Re {} vs {re}",
        fig.re
    );
    assert!(
        (fig.fs - fs).abs() / fs < 0.03,
        "{name}: fs {} vs {fs}",
        fig.fs
    );
    if let Some(n) = expect_nominal {
        assert_eq!(fig.nominal, n, "{name}");
    }
}

#[test]
fn named_speakers_are_measured_within_their_tolerances() {
    let woofer = Driver {
        re: 6.2,
        le: 0.4e-3,
        fs: 55.0,
        qms: 3.0,
        qes: 0.435,
    };
    let four = Driver {
        re: 3.2,
        le: 0.25e-3,
        fs: 45.0,
        qms: 4.0,
        qes: 0.5,
    };
    let tweeter = Driver {
        re: 12.6,
        le: 0.05e-3,
        fs: 1_500.0,
        qms: 1.5,
        qes: 1.2,
    };
    let mut rng = Rng(1);
    let one = |d: Driver| Load {
        drivers: vec![d],
        line: 0.0,
    };
    check("8 Ω woofer", &one(woofer), Some(8), &mut rng);
    check("4 Ω", &one(four), Some(4), &mut rng);
    check(
        "two 8 Ω in parallel",
        &Load {
            drivers: vec![woofer, woofer],
            line: 0.0,
        },
        Some(4),
        &mut rng,
    );
    check("16 Ω tweeter", &one(tweeter), Some(16), &mut rng);
    check(
        "8 Ω woofer on a 0.4 Ω line",
        &Load {
            drivers: vec![woofer],
            line: 0.4,
        },
        Some(8),
        &mut rng,
    );
}

#[test]
fn twenty_random_thiele_small_sets() {
    let mut rng = Rng(42);
    for k in 0..20 {
        let d = Driver {
            re: rng.between(2.8, 13.0),
            le: rng.between(0.05e-3, 1.0e-3),
            fs: rng.between(30.0, 200.0),
            qms: rng.between(2.0, 8.0),
            qes: rng.between(0.3, 1.0),
        };
        check(
            &format!("random {k} {d:?}"),
            &Load {
                drivers: vec![d],
                line: 0.0,
            },
            None,
            &mut rng,
        );
    }
}

#[test]
fn short_or_silent_recordings_are_refused() {
    let sweep = ExpSweep::new(RATE, 20.0, 20_000.0, 0.5, 0.01).expect("sweep");
    let mut a = ImpedanceAnalyzer::new(sweep, 0);
    let mut m = a.measurement();
    let n = a.needs();
    assert!(a.analyze_into(&[0.1; 10], &[0.1; 10], &mut m).is_err());
    assert!(a
        .analyze_into(&vec![0.1; n], &vec![0.0; n], &mut m)
        .is_err());
}

#[test]
fn the_streaming_speaker_model_measures_as_the_model_says() {
    let sweep = ExpSweep::new(RATE, 20.0, 20_000.0, 5.0, 0.02).expect("sweep");
    for (name, load) in [
        (
            "8 Ω woofer on a 0.3 Ω line",
            Load {
                drivers: vec![Driver {
                    re: 6.2,
                    le: 0.4e-3,
                    fs: 55.0,
                    qms: 3.0,
                    qes: 0.435,
                }],
                line: 0.3,
            },
        ),
        (
            "two 16 Ω horns",
            Load {
                drivers: vec![
                    Driver {
                        re: 12.6,
                        le: 0.3e-3,
                        fs: 180.0,
                        qms: 5.0,
                        qes: 0.9,
                    };
                    2
                ],
                line: 0.0,
            },
        ),
    ] {
        let mut filter = CurrentFilter::new(&load, RATE);
        let delay = filter.delay();
        let mut a = ImpedanceAnalyzer::new(sweep.clone(), 480);
        let need = a.needs();
        let v: Vec<f32> = (0..need + delay)
            .map(|k| (0.5 * sweep.sample(k)) as f32)
            .collect();
        let mut i = vec![0f32; v.len()];
        for (vb, ib) in v.chunks(480).zip(i.chunks_mut(480)) {
            filter.process_into(vb, ib);
        }
        let mut m = a.measurement();
        a.analyze_into(&v[..need], &i[delay..delay + need], &mut m)
            .expect("analyze");
        let mut worst = 0f64;
        for (f, ohms) in m.freqs.iter().zip(&m.ohms) {
            if (50.0..=10_000.0).contains(f) {
                let model = load.z(*f).norm();
                worst = worst.max((ohms - model).abs() / model);
            }
        }
        let (re, fs) = (load.z(0.0).re, load.drivers[0].fs);
        eprintln!(
            "{name}: worst |Z| error {:.2} %, Re {:.3} ({re:.3}), fs {:.2} ({fs:.2})",
            worst * 100.0,
            m.figures.re,
            m.figures.fs
        );
        assert!(worst < 0.05, "{name}: |Z| off by {:.2} %", worst * 100.0);
        assert!((m.figures.re - re).abs() / re < 0.03, "{name}: Re");
        assert!((m.figures.fs - fs).abs() / fs < 0.03, "{name}: fs");
    }
}
