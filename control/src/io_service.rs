//! The I/O service: the board behind a lock, its timer task, persistence and events.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use netamp_io::action;
use netamp_io::board::{Board, Change, ConfigPatch, Reading};
use netamp_io::gpio::{GpiocdevBackend, InputEvent, LineSpec};
use netamp_io::profile::{self, PortDef};
use netamp_io::sequence::{Sequencer, Step};
use netamp_io::supervised::LoopState;
use netamp_io::{Circuit, Direction, IoError, PortConfig, PortKind};
use tokio::sync::Notify;

use crate::error::ControlError;
use crate::events::{Event, EventBus};
use crate::latency::{LatencySummary, LatencyWindow};
use crate::store;

/// Input and output port topics.
pub const TOPIC_PORT: &str = "tns1:Device/tnsaxis:IO/Port";
/// Output port topic.
pub const TOPIC_OUTPUT_PORT: &str = "tns1:Device/tnsaxis:IO/OutputPort";
/// Supervised input topic.
pub const TOPIC_SUPERVISED: &str = "tns1:Device/tnsaxis:IO/SupervisedPort";
/// Virtual inputs (activate.cgi / deactivate.cgi).
pub const TOPIC_VIRTUAL_INPUT: &str = "tns1:Device/tnsaxis:IO/VirtualInput";
/// Manual trigger (io/virtualinput.cgi).
pub const TOPIC_VIRTUAL_PORT: &str = "tns1:Device/tnsaxis:IO/VirtualPort";
/// ONVIF digital input.
pub const TOPIC_DIGITAL_INPUT: &str = "tns1:Device/Trigger/DigitalInput";
/// ONVIF relay.
pub const TOPIC_RELAY: &str = "tns1:Device/Trigger/Relay";

/// Virtual inputs, numbered 1..=64.
pub const VIRTUAL_INPUTS: usize = 64;

struct Virtual {
    active: [bool; VIRTUAL_INPUTS + 1],
    /// Timed activations (`duration=`) and manual-trigger pulses, keyed by
    /// `port` (virtual inputs) or `1000 + port` (manual trigger).
    timers: Sequencer,
}

const MANUAL_BASE: usize = 1000;

/// The I/O service.
pub struct IoService {
    board: Mutex<Board>,
    virtual_: Mutex<Virtual>,
    bus: Arc<EventBus>,
    wake: Notify,
    path: PathBuf,
    /// Request received → backend written, for port actions.
    action_latency: Mutex<LatencyWindow>,
    /// Input changes from GPIO edge threads, until `start` takes them.
    gpio_inputs: Mutex<Option<std::sync::mpsc::Receiver<InputEvent>>>,
    config: crate::config::IoConfig,
}

impl IoService {
    /// Builds the board for `profile` with the saved configuration; outputs start normal.
    pub fn new(
        profile_name: &str,
        config: &crate::config::IoConfig,
        data_dir: &std::path::Path,
        bus: Arc<EventBus>,
    ) -> Result<Self, ControlError> {
        let path = data_dir.join("io.json");
        let saved: Option<Vec<PortConfig>> = store::load_json(&path)?;
        let mut defs = profile::ports(profile_name);
        for s in &config.supervised {
            match defs.get_mut(s.port) {
                Some(d) if d.kind == PortKind::SupervisedInput => {
                    s.wiring.validate().map_err(|e| {
                        ControlError::Config(format!("[[io.supervised]] port {}: {e}", s.port))
                    })?;
                    d.wiring = Some(s.wiring);
                }
                _ => {
                    return Err(ControlError::Config(format!(
                        "[[io.supervised]] port {} is not a supervised input",
                        s.port
                    )))
                }
            }
        }
        let lines: Vec<LineSpec> = config.lines.clone();
        if let Some(l) = lines.iter().find(|l| l.port >= defs.len()) {
            return Err(ControlError::Config(format!(
                "[[io.lines]] port {} does not exist in this profile",
                l.port
            )));
        }
        let config_err = |e: IoError| ControlError::Config(format!("I/O: {e}"));
        let (backend, gpio_inputs) = open_backend(&config.gpio, lines).map_err(config_err)?;
        let board = Board::new(defs, saved, backend).map_err(config_err)?;
        let svc = Self {
            board: Mutex::new(board),
            virtual_: Mutex::new(Virtual {
                active: [false; VIRTUAL_INPUTS + 1],
                timers: Sequencer::new(),
            }),
            bus,
            wake: Notify::new(),
            path,
            action_latency: Mutex::new(LatencyWindow::default()),
            gpio_inputs: Mutex::new(Some(gpio_inputs)),
            config: config.clone(),
        };
        let initial: Vec<Change> = {
            let b = svc.board();
            (0..b.len()).filter_map(|p| current_change(&b, p)).collect()
        };
        svc.publish(&initial);
        for port in 1..=VIRTUAL_INPUTS {
            svc.bus
                .publish(virtual_event(TOPIC_VIRTUAL_INPUT, port, "active", false));
        }
        Ok(svc)
    }

    /// `[io]` as the operator started it.
    pub fn config(&self) -> &crate::config::IoConfig {
        &self.config
    }

    /// The board, locked.
    pub fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn virtual_lock(&self) -> MutexGuard<'_, Virtual> {
        self.virtual_.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes port changes as events.
    fn publish(&self, changes: &[Change]) {
        let b = self.board();
        for ch in changes {
            let Ok((def, _, _)) = b.port(ch.port) else {
                continue;
            };
            for ev in port_events(def, ch) {
                self.bus.publish(ev);
            }
        }
    }

    /// Runs a `port.cgi` action string; `received` is when the request arrived.
    pub fn action(&self, s: &str, received: Instant) -> Result<(), IoError> {
        let a = action::parse(s)?;
        let changes = self.board().run_action(&a, Instant::now())?;
        let us = received.elapsed().as_micros() as u64;
        self.action_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(us);
        self.publish(&changes);
        self.wake.notify_one();
        Ok(())
    }

    /// Starts a portmanagement state sequence.
    pub fn sequence(&self, port: usize, steps: &[(Circuit, u64)]) -> Result<(), IoError> {
        let changes = self.board().start_sequence(port, steps, Instant::now())?;
        self.publish(&changes);
        self.wake.notify_one();
        Ok(())
    }

    /// Drives an output to a circuit state.
    pub fn set_output(&self, port: usize, circuit: Circuit) -> Result<(), IoError> {
        let changes = self.board().set_output(port, circuit)?;
        self.publish(&changes);
        Ok(())
    }

    /// Validates patches against the board without applying them.
    pub fn check_patch(&self, port: usize, patch: &ConfigPatch) -> Result<(), IoError> {
        let b = self.board();
        let (def, config, _) = b.port(port)?;
        if let Some(d) = patch.direction {
            if d != config.direction && !def.configurable() {
                return Err(IoError::NotConfigurable(port));
            }
        }
        Ok(())
    }

    /// Changes a port's configuration and saves it.
    ///
    /// The board stays locked from the change to the rename of `io.json`, so concurrent
    /// changes are stored in the order they were acknowledged; when the file cannot be
    /// written the port goes back to what it was and the error is returned.
    pub fn configure(&self, port: usize, patch: &ConfigPatch) -> Result<(), IoError> {
        let mut board = self.board();
        let before = board.port(port)?.1.clone();
        let changes = board.configure(port, patch)?;
        if let Err(e) = store::save_json(&self.path, &board.configs()) {
            let undo = ConfigPatch {
                name: Some(before.name),
                usage: Some(before.usage),
                direction: Some(before.direction),
                normal: Some(before.normal),
            };
            if let Err(u) = board.configure(port, &undo) {
                tracing::error!("port {port}: could not undo a change that was not saved: {u}");
            }
            return Err(IoError::Backend(e.to_string()));
        }
        drop(board);
        self.publish(&changes);
        Ok(())
    }

    /// Feeds a simulated input reading.
    pub fn input(&self, port: usize, reading: Reading) -> Result<(), IoError> {
        let change = self.board().input(port, reading)?;
        self.publish(&change.into_iter().collect::<Vec<_>>());
        Ok(())
    }

    /// Activates or deactivates a virtual input (1-based); `duration_s` turns it back
    /// after that many seconds (0: on, then off at once). Returns whether it changed.
    pub fn set_virtual(
        &self,
        port: usize,
        on: bool,
        duration_s: Option<u64>,
    ) -> Result<bool, IoError> {
        if !(1..=VIRTUAL_INPUTS).contains(&port) {
            return Err(IoError::NoSuchPort(port.to_string()));
        }
        let mut v = self.virtual_lock();
        let changed = v.active[port] != on;
        v.timers.cancel(port);
        v.active[port] = on;
        if changed {
            self.bus
                .publish(virtual_event(TOPIC_VIRTUAL_INPUT, port, "active", on));
        }
        if let (true, Some(secs)) = (on, duration_s) {
            let steps = vec![
                Step::Wait(std::time::Duration::from_secs(secs)),
                Step::Set(Circuit::Open),
            ];
            let now = Instant::now();
            v.timers.start(port, steps, now);
            let due = v.timers.poll(now);
            drop(v);
            self.apply_virtual(due);
            self.wake.notify_one();
        }
        Ok(changed)
    }

    /// Runs a manual-trigger action on a virtual port (`io/virtualinput.cgi`).
    pub fn manual_trigger(&self, s: &str) -> Result<(), IoError> {
        let a = action::parse(s)?;
        if !(1..=VIRTUAL_INPUTS).contains(&a.port) {
            return Err(IoError::NoSuchPort(a.port.to_string()));
        }
        let steps = a
            .steps
            .iter()
            .map(|s| match s {
                action::ActionStep::Set(true) => Step::Set(Circuit::Closed),
                action::ActionStep::Set(false) => Step::Set(Circuit::Open),
                action::ActionStep::Wait(d) => Step::Wait(*d),
            })
            .collect();
        let due = self
            .virtual_lock()
            .timers
            .start(MANUAL_BASE + a.port, steps, Instant::now());
        self.apply_virtual(due);
        self.wake.notify_one();
        Ok(())
    }

    fn apply_virtual(&self, writes: Vec<(usize, Circuit)>) {
        for (key, circuit) in writes {
            let on = circuit == Circuit::Closed;
            if key >= MANUAL_BASE {
                self.bus.publish(virtual_event(
                    TOPIC_VIRTUAL_PORT,
                    key - MANUAL_BASE,
                    "state",
                    on,
                ));
            } else {
                let mut v = self.virtual_lock();
                if v.active[key] != on {
                    v.active[key] = on;
                    drop(v);
                    self.bus
                        .publish(virtual_event(TOPIC_VIRTUAL_INPUT, key, "active", on));
                }
            }
        }
    }

    /// Request → backend-write latency of port actions.
    pub fn action_latency(&self) -> LatencySummary {
        self.action_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summary()
    }

    /// Starts the timer task and the thread that feeds GPIO input edges to the board.
    pub fn start(self: &Arc<Self>) {
        tokio::spawn(self.clone().run_timers());
        let rx = self
            .gpio_inputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(rx) = rx {
            let svc = self.clone();
            let spawned = std::thread::Builder::new()
                .name("netamp-gpio-inputs".into())
                .spawn(move || {
                    for (port, circuit) in rx {
                        if let Err(e) = svc.input(port, Reading::Digital(circuit)) {
                            tracing::warn!(port, "GPIO input: {e}");
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start the GPIO input thread: {e}");
            }
        }
    }

    /// Drives sequences and timers until the process ends.
    async fn run_timers(self: Arc<Self>) {
        loop {
            let next = {
                let b = self.board().next_deadline();
                let v = self.virtual_lock().timers.next_deadline();
                match (b, v) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                        _ = self.wake.notified() => {}
                    }
                }
                None => self.wake.notified().await,
            }
            let now = Instant::now();
            let polled = self.board().poll(now);
            match polled {
                Ok(changes) => self.publish(&changes),
                Err(e) => tracing::error!("I/O backend: {e}"),
            }
            let due = self.virtual_lock().timers.poll(now);
            self.apply_virtual(due);
        }
    }

    /// Returns outputs to their normal state (clean shutdown).
    pub fn shutdown(&self) {
        if let Err(e) = self.board().shutdown() {
            tracing::error!("I/O shutdown: {e}");
        }
    }
}

type Opened = (
    Box<dyn netamp_io::backend::Backend>,
    std::sync::mpsc::Receiver<InputEvent>,
);

/// The backend `[io] gpio` names.
fn open_backend(gpio: &str, lines: Vec<LineSpec>) -> Result<Opened, IoError> {
    match gpio {
        "gpiocdev" => {
            let (b, rx) = GpiocdevBackend::new(lines)?;
            Ok((Box::new(b), rx))
        }
        #[cfg(feature = "rppal")]
        "rppal" => {
            let (b, rx) = netamp_io::rpi::RppalBackend::new(lines)?;
            Ok((Box::new(b), rx))
        }
        #[cfg(not(feature = "rppal"))]
        "rppal" => Err(IoError::Backend(
            "this build has no rppal support (cargo feature `rppal`)".into(),
        )),
        other => Err(IoError::Backend(format!(
            "unknown [io] gpio {other:?}: use gpiocdev or rppal"
        ))),
    }
}

fn current_change(b: &Board, port: usize) -> Option<Change> {
    let (_, config, state) = b.port(port).ok()?;
    Some(Change {
        port,
        direction: config.direction,
        state,
        active: state.active(config.normal),
        loop_state: b.loop_state(port),
    })
}

fn virtual_event(topic: &str, port: usize, item: &str, on: bool) -> Event {
    Event::new(
        topic,
        &[("port", &port.to_string())],
        &[(item, if on { "1" } else { "0" })],
        true,
    )
}

/// The events one port change produces.
pub fn port_events(def: &PortDef, ch: &Change) -> Vec<Event> {
    let port = ch.port.to_string();
    let p = port.as_str();
    let on = |yes: &'static str, no: &'static str| if ch.active { yes } else { no };
    // IO/Port carries every port; the other topics depend on what the port is.
    let mut out = vec![Event::new(
        TOPIC_PORT,
        &[("port", p)],
        &[("state", on("1", "0"))],
        true,
    )];
    match ch.direction {
        Direction::Input => {
            out.push(Event::new(
                TOPIC_DIGITAL_INPUT,
                &[("InputToken", p)],
                &[("LogicalState", on("true", "false"))],
                true,
            ));
            if def.kind == PortKind::SupervisedInput {
                let s = ch.loop_state.map_or("undefined", LoopState::as_str);
                out.push(Event::new(
                    TOPIC_SUPERVISED,
                    &[("port", p)],
                    &[("state", s)],
                    true,
                ));
            }
        }
        Direction::Output => {
            out.push(Event::new(
                TOPIC_OUTPUT_PORT,
                &[("port", p)],
                &[("state", on("high", "low"))],
                true,
            ));
            out.push(Event::new(
                TOPIC_RELAY,
                &[("RelayToken", p)],
                &[("LogicalState", on("active", "inactive"))],
                true,
            ));
        }
    }
    out
}
