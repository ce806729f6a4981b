//! Running pulse and state sequences: a state machine with time passed in. The daemon
//! polls it from a timer task; tests poll it with a fake clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::Circuit;

/// One step: drive a circuit state, or wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Drive the output to this circuit state.
    Set(Circuit),
    /// Hold before the next step.
    Wait(Duration),
}

#[derive(Debug)]
struct Running {
    steps: Vec<Step>,
    next: usize,
    due: Instant,
}

/// Sequences running on ports; at most one per port.
#[derive(Debug, Default)]
pub struct Sequencer {
    running: BTreeMap<usize, Running>,
}

/// A circuit change the sequencer wants applied.
pub type Write = (usize, Circuit);

impl Sequencer {
    /// An idle sequencer.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a sequence runs on `port`.
    pub fn is_running(&self, port: usize) -> bool {
        self.running.contains_key(&port)
    }

    /// Starts `steps` on `port` (replacing what ran there); returns the writes due now.
    pub fn start(&mut self, port: usize, steps: Vec<Step>, now: Instant) -> Vec<Write> {
        self.running.insert(
            port,
            Running {
                steps,
                next: 0,
                due: now,
            },
        );
        self.poll(now)
    }

    /// Stops the sequence on `port`, if any.
    pub fn cancel(&mut self, port: usize) -> bool {
        self.running.remove(&port).is_some()
    }

    /// Stops every sequence.
    pub fn cancel_all(&mut self) {
        self.running.clear();
    }

    /// When `poll` next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.running.values().map(|r| r.due).min()
    }

    /// Runs every step that is due at `now`; returns the writes in order.
    ///
    /// A wait is measured from when its step was due, not from `now`, so a late poll
    /// does not stretch the rest of the sequence.
    pub fn poll(&mut self, now: Instant) -> Vec<Write> {
        let mut writes = Vec::new();
        let mut finished = Vec::new();
        for (&port, r) in self.running.iter_mut() {
            while r.due <= now {
                let Some(step) = r.steps.get(r.next).copied() else {
                    finished.push(port);
                    break;
                };
                r.next += 1;
                match step {
                    Step::Set(c) => writes.push((port, c)),
                    Step::Wait(d) => r.due += d,
                }
            }
        }
        for p in finished {
            self.running.remove(&p);
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn two_pulses_with_a_fake_clock() {
        let t0 = Instant::now();
        let mut s = Sequencer::new();
        let steps = vec![
            Step::Set(Circuit::Closed),
            Step::Wait(ms(300)),
            Step::Set(Circuit::Open),
            Step::Wait(ms(500)),
            Step::Set(Circuit::Closed),
            Step::Wait(ms(300)),
            Step::Set(Circuit::Open),
        ];
        assert_eq!(s.start(1, steps, t0), vec![(1, Circuit::Closed)]);
        assert_eq!(s.next_deadline(), Some(t0 + ms(300)));
        assert!(s.poll(t0 + ms(299)).is_empty());
        assert_eq!(s.poll(t0 + ms(300)), vec![(1, Circuit::Open)]);
        // A late poll keeps the schedule.
        assert_eq!(s.poll(t0 + ms(850)), vec![(1, Circuit::Closed)]);
        assert_eq!(s.next_deadline(), Some(t0 + ms(1100)));
        assert_eq!(s.poll(t0 + ms(1100)), vec![(1, Circuit::Open)]);
        assert!(!s.is_running(1));
    }

    #[test]
    fn a_new_sequence_or_cancel_stops_the_old_one() {
        let t0 = Instant::now();
        let mut s = Sequencer::new();
        s.start(
            0,
            vec![
                Step::Set(Circuit::Closed),
                Step::Wait(ms(100)),
                Step::Set(Circuit::Open),
            ],
            t0,
        );
        s.start(0, vec![Step::Set(Circuit::Open)], t0 + ms(10));
        assert!(s.poll(t0 + ms(200)).is_empty());
        s.start(
            2,
            vec![
                Step::Set(Circuit::Closed),
                Step::Wait(ms(100)),
                Step::Set(Circuit::Open),
            ],
            t0,
        );
        assert!(s.cancel(2));
        assert!(s.poll(t0 + ms(200)).is_empty());
        assert_eq!(s.next_deadline(), None);
    }
}
