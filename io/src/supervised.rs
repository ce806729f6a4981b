//! Supervised inputs: the loop resistance, measured across end-of-line resistors, tells
//! open, closed, short (wires bridged) and cut (wire broken) apart.
//!
//! Two wirings (the seed manual's): **parallel-first** — 22 kΩ across the contact, 4.7 kΩ
//! in series: closed reads 4.7 kΩ, open 26.7 kΩ; **serial-first** — two equal resistors
//! R (1, 2.2, 4.7 or 10 kΩ), one in series, one across the contact: closed reads R, open 2R.
//!
//! Thresholds sit between the nominal values: short below half the closed value, the
//! closed/open boundary at their geometric mean, cut above twice the open value. Each
//! boundary has ±10 % hysteresis, so a value resting on a threshold never chatters: a
//! state is left only once the value is 10 % past the boundary.

use serde::{Deserialize, Serialize};

use crate::{Circuit, IoError};

/// A supervised loop fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    /// The loop reads (near) zero ohms.
    Short,
    /// The loop reads (near) infinite ohms.
    Cut,
}

/// Every state a supervised input can be in, lowest resistance first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoopState {
    /// Bridged wires.
    Short,
    /// Contact closed.
    Closed,
    /// Contact open.
    Open,
    /// Broken wire.
    Cut,
}

impl LoopState {
    /// `shorted`, `closed`, `open`, `cut`: the Axis names (`IO/SupervisedPort` events,
    /// supervised I/O states).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Short => "shorted",
            Self::Closed => "closed",
            Self::Open => "open",
            Self::Cut => "cut",
        }
    }

    /// The circuit and fault this loop state means.
    pub fn split(self) -> (Circuit, Option<Fault>) {
        match self {
            Self::Short => (Circuit::Closed, Some(Fault::Short)),
            Self::Closed => (Circuit::Closed, None),
            Self::Open => (Circuit::Open, None),
            Self::Cut => (Circuit::Open, Some(Fault::Cut)),
        }
    }
}

/// How the end-of-line resistors are wired.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "wiring", rename_all = "kebab-case")]
pub enum Wiring {
    /// 22 kΩ parallel, 4.7 kΩ serial.
    ParallelFirst,
    /// Two equal resistors of `ohms` (1000, 2200, 4700 or 10000).
    SerialFirst {
        /// Each resistor's value.
        ohms: u32,
    },
}

const HYSTERESIS: f64 = 1.10;

impl Wiring {
    /// Validates the resistor values.
    pub fn validate(&self) -> Result<(), IoError> {
        match self {
            Self::ParallelFirst => Ok(()),
            Self::SerialFirst { ohms } if [1000, 2200, 4700, 10_000].contains(ohms) => Ok(()),
            Self::SerialFirst { ohms } => Err(IoError::Limit(format!(
                "serial-first resistors must be 1, 2.2, 4.7 or 10 kΩ, not {ohms} Ω"
            ))),
        }
    }

    /// Nominal loop resistance with the contact closed and open, ohms.
    pub fn nominal(&self) -> (f64, f64) {
        match self {
            Self::ParallelFirst => (4700.0, 26_700.0),
            Self::SerialFirst { ohms } => (f64::from(*ohms), 2.0 * f64::from(*ohms)),
        }
    }

    /// Boundaries short|closed, closed|open, open|cut, ohms.
    pub fn thresholds(&self) -> [f64; 3] {
        let (closed, open) = self.nominal();
        [closed / 2.0, (closed * open).sqrt(), open * 2.0]
    }
}

/// Classifies loop resistance readings with hysteresis.
#[derive(Debug, Clone)]
pub struct Classifier {
    wiring: Wiring,
    state: Option<LoopState>,
}

impl Classifier {
    /// A classifier with no reading yet.
    pub fn new(wiring: Wiring) -> Self {
        Self {
            wiring,
            state: None,
        }
    }

    /// The wiring.
    pub fn wiring(&self) -> Wiring {
        self.wiring
    }

    /// The current state (None before the first reading).
    pub fn state(&self) -> Option<LoopState> {
        self.state
    }

    fn plain(&self, ohms: f64) -> LoopState {
        let [s, o, c] = self.wiring.thresholds();
        if ohms < s {
            LoopState::Short
        } else if ohms < o {
            LoopState::Closed
        } else if ohms < c {
            LoopState::Open
        } else {
            LoopState::Cut
        }
    }

    /// Feeds one reading (ohms; `f64::INFINITY` for an open loop); returns the new state
    /// when it changed.
    pub fn update(&mut self, ohms: f64) -> Option<LoopState> {
        let ohms = if ohms.is_nan() {
            f64::INFINITY
        } else {
            ohms.max(0.0)
        };
        let Some(current) = self.state else {
            let s = self.plain(ohms);
            self.state = Some(s);
            return Some(s);
        };
        let t = self.wiring.thresholds();
        // Bounds of the current state's band, widened by the hysteresis.
        let (low, high) = match current {
            LoopState::Short => (0.0, t[0] * HYSTERESIS),
            LoopState::Closed => (t[0] / HYSTERESIS, t[1] * HYSTERESIS),
            LoopState::Open => (t[1] / HYSTERESIS, t[2] * HYSTERESIS),
            LoopState::Cut => (t[2] / HYSTERESIS, f64::INFINITY),
        };
        if ohms >= low && (ohms < high || (current == LoopState::Cut)) {
            return None;
        }
        let next = self.plain(ohms);
        if next == current {
            return None;
        }
        self.state = Some(next);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(wiring: Wiring) -> Vec<LoopState> {
        let mut c = Classifier::new(wiring);
        let mut seen = Vec::new();
        let (_, open) = wiring.nominal();
        // Up from a short to a cut, then jitter around every threshold.
        let mut values: Vec<f64> = (0..=400).map(|i| i as f64 * open * 3.0 / 400.0).collect();
        values.push(f64::INFINITY);
        for v in values {
            if let Some(s) = c.update(v) {
                seen.push(s);
            }
        }
        seen
    }

    #[test]
    fn both_wirings_sweep_through_every_state_once() {
        for w in [
            Wiring::ParallelFirst,
            Wiring::SerialFirst { ohms: 1000 },
            Wiring::SerialFirst { ohms: 10_000 },
        ] {
            assert_eq!(
                sweep(w),
                vec![
                    LoopState::Short,
                    LoopState::Closed,
                    LoopState::Open,
                    LoopState::Cut
                ],
                "{w:?}"
            );
        }
    }

    #[test]
    fn no_chatter_at_thresholds() {
        for w in [
            Wiring::ParallelFirst,
            Wiring::SerialFirst { ohms: 2200 },
            Wiring::SerialFirst { ohms: 4700 },
        ] {
            for t in w.thresholds() {
                let mut c = Classifier::new(w);
                c.update(t * 0.8);
                let mut changes = 0;
                for i in 0..1000 {
                    // ±5 % noise around the threshold: inside the hysteresis band.
                    let v = t * (1.0 + 0.05 * ((i as f64) * 0.7).sin());
                    if c.update(v).is_some() {
                        changes += 1;
                    }
                }
                assert!(changes <= 1, "{w:?} threshold {t}: {changes} changes");
            }
        }
    }

    #[test]
    fn nominal_values_classify() {
        let w = Wiring::ParallelFirst;
        let mut c = Classifier::new(w);
        assert_eq!(c.update(4700.0), Some(LoopState::Closed));
        assert_eq!(c.update(26_700.0), Some(LoopState::Open));
        assert_eq!(c.update(0.0), Some(LoopState::Short));
        assert_eq!(c.update(f64::INFINITY), Some(LoopState::Cut));
        assert!(Wiring::SerialFirst { ohms: 3300 }.validate().is_err());
    }
}
