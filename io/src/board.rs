//! The board: every port's definition, configuration and state, the running sequences and
//! the backend, behind one `&mut` API. Time is passed in.

use std::time::{Duration, Instant};

use crate::action::{Action, ActionStep};
use crate::backend::Backend;
use crate::profile::PortDef;
use crate::sequence::{Sequencer, Step};
use crate::supervised::{Classifier, LoopState};
use crate::{Circuit, Direction, IoError, PortConfig, PortKind, PortState};

/// A reading from an input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// A digital input's circuit.
    Digital(Circuit),
    /// A supervised loop's resistance, ohms (infinity for an open loop).
    Ohms(f64),
}

/// Something about a port changed (the daemon turns these into events).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Port (0-based).
    pub port: usize,
    /// Its direction now.
    pub direction: Direction,
    /// Its state now.
    pub state: PortState,
    /// Whether it is active now.
    pub active: bool,
    /// For supervised inputs, the loop state.
    pub loop_state: Option<LoopState>,
}

/// Changes to a port's configuration; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigPatch {
    /// New name.
    pub name: Option<String>,
    /// New usage.
    pub usage: Option<String>,
    /// New direction.
    pub direction: Option<Direction>,
    /// New normal state.
    pub normal: Option<Circuit>,
}

/// Longest step of a state sequence, ms.
pub const MAX_STEP_MS: u64 = 65_535;

/// All ports.
pub struct Board {
    defs: Vec<PortDef>,
    configs: Vec<PortConfig>,
    states: Vec<PortState>,
    classifiers: Vec<Option<Classifier>>,
    sequencer: Sequencer,
    backend: Box<dyn Backend>,
}

impl Board {
    /// Builds the board from the profile's ports and saved configuration (matched by
    /// position; a saved direction is ignored on a non-configurable port). Outputs start
    /// in their normal state.
    pub fn new(
        defs: Vec<PortDef>,
        saved: Option<Vec<PortConfig>>,
        backend: Box<dyn Backend>,
    ) -> Result<Self, IoError> {
        let mut configs: Vec<PortConfig> = defs.iter().map(|d| d.default.clone()).collect();
        if let Some(saved) = saved {
            for ((c, s), d) in configs.iter_mut().zip(saved).zip(&defs) {
                let direction = if d.configurable() {
                    s.direction
                } else {
                    c.direction
                };
                *c = PortConfig { direction, ..s };
            }
        }
        let states = configs
            .iter()
            .map(|c| PortState {
                circuit: c.normal,
                fault: None,
            })
            .collect();
        let classifiers = defs.iter().map(|d| d.wiring.map(Classifier::new)).collect();
        let mut board = Self {
            defs,
            configs,
            states,
            classifiers,
            sequencer: Sequencer::new(),
            backend,
        };
        for port in 0..board.defs.len() {
            let (direction, normal) = (board.configs[port].direction, board.configs[port].normal);
            board.backend.set_direction(port, direction, normal)?;
            if board.configs[port].direction == Direction::Output {
                let normal = board.configs[port].normal;
                board.drive(port, normal)?;
            }
        }
        Ok(board)
    }

    /// Number of ports.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// True with no ports.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// A port's definition, configuration and state.
    pub fn port(&self, port: usize) -> Result<(&PortDef, &PortConfig, PortState), IoError> {
        match (
            self.defs.get(port),
            self.configs.get(port),
            self.states.get(port),
        ) {
            (Some(d), Some(c), Some(s)) => Ok((d, c, *s)),
            _ => Err(IoError::NoSuchPort(port.to_string())),
        }
    }

    /// Every port's configuration (what is persisted).
    pub fn configs(&self) -> &[PortConfig] {
        &self.configs
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// A supervised input's loop state.
    pub fn loop_state(&self, port: usize) -> Option<LoopState> {
        self.classifiers
            .get(port)
            .and_then(|c| c.as_ref())
            .and_then(|c| c.state())
    }

    fn change(&self, port: usize) -> Change {
        let c = &self.configs[port];
        let s = self.states[port];
        Change {
            port,
            direction: c.direction,
            state: s,
            active: s.active(c.normal),
            loop_state: self.loop_state(port),
        }
    }

    fn drive(&mut self, port: usize, circuit: Circuit) -> Result<Option<Change>, IoError> {
        self.backend.write(port, circuit)?;
        let before = self.states[port];
        self.states[port] = PortState {
            circuit,
            fault: None,
        };
        Ok((before != self.states[port]).then(|| self.change(port)))
    }

    fn output(&self, port: usize) -> Result<(), IoError> {
        let (_, c, _) = self.port(port)?;
        if c.direction != Direction::Output {
            return Err(IoError::NotAnOutput(port));
        }
        Ok(())
    }

    /// Drives an output to a circuit state, cancelling a sequence on it.
    pub fn set_output(&mut self, port: usize, circuit: Circuit) -> Result<Vec<Change>, IoError> {
        self.output(port)?;
        self.sequencer.cancel(port);
        Ok(self.drive(port, circuit)?.into_iter().collect())
    }

    /// Runs a `port.cgi` action (1-based port), replacing any sequence on that port.
    pub fn run_action(&mut self, action: &Action, now: Instant) -> Result<Vec<Change>, IoError> {
        let port = action.port - 1;
        self.output(port)?;
        let normal = self.configs[port].normal;
        let steps = action
            .steps
            .iter()
            .map(|s| match s {
                ActionStep::Set(true) => Step::Set(normal.flip()),
                ActionStep::Set(false) => Step::Set(normal),
                ActionStep::Wait(d) => Step::Wait(*d),
            })
            .collect();
        let writes = self.sequencer.start(port, steps, now);
        self.apply(writes)
    }

    /// Starts a portmanagement state sequence: each (circuit, ms) is driven, then held.
    /// Refused while one runs on the port.
    pub fn start_sequence(
        &mut self,
        port: usize,
        seq: &[(Circuit, u64)],
        now: Instant,
    ) -> Result<Vec<Change>, IoError> {
        self.output(port)?;
        if self.sequencer.is_running(port) {
            return Err(IoError::Busy(port));
        }
        if seq.is_empty() {
            return Err(IoError::BadAction("empty sequence".into()));
        }
        let mut steps = Vec::with_capacity(seq.len() * 2);
        for &(circuit, ms) in seq {
            if ms > MAX_STEP_MS {
                return Err(IoError::Limit(format!(
                    "step time {ms} ms exceeds {MAX_STEP_MS} ms"
                )));
            }
            steps.push(Step::Set(circuit));
            steps.push(Step::Wait(Duration::from_millis(ms)));
        }
        let writes = self.sequencer.start(port, steps, now);
        self.apply(writes)
    }

    fn apply(&mut self, writes: Vec<(usize, Circuit)>) -> Result<Vec<Change>, IoError> {
        let mut changes = Vec::new();
        for (port, circuit) in writes {
            changes.extend(self.drive(port, circuit)?);
        }
        Ok(changes)
    }

    /// When [`Board::poll`] next has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sequencer.next_deadline()
    }

    /// Runs due sequence steps.
    pub fn poll(&mut self, now: Instant) -> Result<Vec<Change>, IoError> {
        let writes = self.sequencer.poll(now);
        self.apply(writes)
    }

    /// Feeds an input reading; returns the change it caused.
    pub fn input(&mut self, port: usize, reading: Reading) -> Result<Option<Change>, IoError> {
        let (def, config, before) = self.port(port)?;
        if config.direction != Direction::Input {
            return Err(IoError::NotAnOutput(port))
                .map_err(|_| IoError::BadAction(format!("port {port} is an output")));
        }
        let kind = def.kind;
        let new = match (reading, self.classifiers[port].as_mut()) {
            (Reading::Ohms(ohms), Some(classifier)) => {
                classifier.update(ohms);
                let (circuit, fault) = classifier.state().unwrap_or(LoopState::Open).split();
                PortState { circuit, fault }
            }
            (Reading::Digital(circuit), None) => PortState {
                circuit,
                fault: None,
            },
            (Reading::Ohms(_), None) => {
                return Err(IoError::BadAction(format!(
                    "port {port} is not a supervised input"
                )))
            }
            (Reading::Digital(_), Some(_)) => {
                return Err(IoError::BadAction(format!(
                    "port {port} ({kind:?}) takes a loop resistance"
                )))
            }
        };
        self.states[port] = new;
        Ok((before != new).then(|| self.change(port)))
    }

    /// Changes a port's configuration. A direction or normal-state change cancels the
    /// port's sequence and returns an output to its normal state.
    pub fn configure(&mut self, port: usize, patch: &ConfigPatch) -> Result<Vec<Change>, IoError> {
        let (def, _, _) = self.port(port)?;
        if let Some(d) = patch.direction {
            if d != self.configs[port].direction && !def.configurable() {
                return Err(IoError::NotConfigurable(port));
            }
        }
        let kind = def.kind;
        let mut next = self.configs[port].clone();
        if let Some(n) = &patch.name {
            next.name = n.clone();
        }
        if let Some(u) = &patch.usage {
            next.usage = u.clone();
        }
        if let Some(d) = patch.direction {
            next.direction = d;
        }
        if let Some(n) = patch.normal {
            next.normal = n;
        }
        let c = &self.configs[port];
        let electrical = next.direction != c.direction || next.normal != c.normal;
        if electrical {
            // The hardware first: if it refuses, the configuration stays as it was.
            self.backend
                .set_direction(port, next.direction, next.normal)?;
            if next.direction == Direction::Output {
                self.backend.write(port, next.normal)?;
            }
        }
        let (direction, normal) = (next.direction, next.normal);
        self.configs[port] = next;
        if !electrical {
            return Ok(Vec::new());
        }
        self.sequencer.cancel(port);
        if direction == Direction::Output || kind == PortKind::Configurable {
            // An output sits at its normal state; a port that just became an input reads as
            // its normal state until a reading comes.
            self.states[port] = PortState {
                circuit: normal,
                fault: None,
            };
        }
        Ok(vec![self.change(port)])
    }

    /// Returns every output to its normal state (clean shutdown).
    pub fn shutdown(&mut self) -> Result<(), IoError> {
        self.sequencer.cancel_all();
        for port in 0..self.len() {
            if self.configs[port].direction == Direction::Output {
                let normal = self.configs[port].normal;
                self.drive(port, normal)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::SimBackend;
    use crate::profile;

    fn board() -> Board {
        Board::new(
            profile::ports("combined"),
            None,
            Box::new(SimBackend::new()),
        )
        .unwrap()
    }

    #[test]
    fn outputs_start_normal_and_actions_pulse() {
        let mut b = board();
        let t0 = Instant::now();
        let edges_at_start = b.backend().edges().unwrap().len();
        assert!(edges_at_start > 0, "outputs are driven to normal at start");
        let a = crate::action::parse("5:/300\\").unwrap();
        let ch = b.run_action(&a, t0).unwrap();
        assert_eq!(ch.len(), 1);
        assert!(ch[0].active);
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(300)));
        let ch = b.poll(t0 + Duration::from_millis(300)).unwrap();
        assert!(!ch[0].active);
        // Inputs cannot be driven.
        assert_eq!(
            b.run_action(&crate::action::parse("2:/").unwrap(), t0),
            Err(IoError::NotAnOutput(1))
        );
        assert!(matches!(
            b.run_action(&crate::action::parse("42:/").unwrap(), t0),
            Err(IoError::NoSuchPort(_))
        ));
    }

    #[test]
    fn supervised_inputs_report_faults() {
        let mut b = board();
        let ch = b.input(1, Reading::Ohms(4700.0)).unwrap().unwrap();
        assert!(ch.active, "closed differs from normal (open)");
        let ch = b.input(1, Reading::Ohms(0.0)).unwrap().unwrap();
        assert_eq!(ch.loop_state, Some(LoopState::Short));
        assert!(!ch.active, "a fault is not 'active'");
        assert!(b.input(1, Reading::Digital(Circuit::Closed)).is_err());
        assert!(b.input(7, Reading::Ohms(1.0)).is_err());
    }

    #[test]
    fn config_change_cancels_and_restores_normal() {
        let mut b = board();
        let t0 = Instant::now();
        b.run_action(&crate::action::parse("5:/1000\\").unwrap(), t0)
            .unwrap();
        let ch = b
            .configure(
                4,
                &ConfigPatch {
                    normal: Some(Circuit::Closed),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(ch[0].state.circuit, Circuit::Closed);
        assert!(!ch[0].active);
        assert!(
            b.poll(t0 + Duration::from_secs(2)).unwrap().is_empty(),
            "sequence was cancelled"
        );
        assert_eq!(
            b.configure(
                0,
                &ConfigPatch {
                    direction: Some(Direction::Input),
                    ..Default::default()
                }
            ),
            Err(IoError::NotConfigurable(0))
        );
        let busy = b.start_sequence(5, &[(Circuit::Closed, 100)], t0).unwrap();
        assert_eq!(busy.len(), 1);
        assert_eq!(
            b.start_sequence(5, &[(Circuit::Open, 100)], t0),
            Err(IoError::Busy(5))
        );
        assert!(b.start_sequence(6, &[(Circuit::Open, 70_000)], t0).is_err());
    }
}
