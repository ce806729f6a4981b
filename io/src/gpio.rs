//! Linux GPIO character-device backend (`gpiocdev`): any GPIO chip, edge events for inputs.
//!
//! Ports are mapped to lines one by one in `netamp.toml`; ports without a line stay
//! simulated. A "closed" circuit is an active line (`active_low` inverts, as wiring needs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use gpiocdev::line::{EdgeDetection, EdgeKind, Value};
use gpiocdev::Request;
use serde::Deserialize;

use crate::backend::{Backend, Edge, SimBackend};
use crate::{Circuit, Direction, IoError};

/// Where one port is wired.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// Port (0-based).
    pub port: usize,
    /// The chip, e.g. `/dev/gpiochip0` (gpiocdev only).
    #[serde(default = "default_chip")]
    pub chip: PathBuf,
    /// Line offset on the chip; the BCM pin number with rppal.
    pub line: u32,
    /// Active-low wiring.
    #[serde(default)]
    pub active_low: bool,
}

fn default_chip() -> PathBuf {
    PathBuf::from("/dev/gpiochip0")
}

/// An input's circuit change, from its edge thread.
pub type InputEvent = (usize, Circuit);

enum Line {
    Output(Request),
    Input {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    },
    Released,
}

/// GPIO lines for the mapped ports, the simulated board for the rest.
pub struct GpiocdevBackend {
    specs: HashMap<usize, LineSpec>,
    lines: HashMap<usize, Line>,
    sim: SimBackend,
    events: mpsc::Sender<InputEvent>,
}

fn err(spec: &LineSpec, e: impl std::fmt::Display) -> IoError {
    IoError::Backend(format!(
        "{} line {} (port {}): {e}",
        spec.chip.display(),
        spec.line,
        spec.port
    ))
}

fn value_of(c: Circuit) -> Value {
    match c {
        Circuit::Closed => Value::Active,
        Circuit::Open => Value::Inactive,
    }
}

impl GpiocdevBackend {
    /// A backend for `specs`; input changes arrive on the returned receiver.
    pub fn new(specs: Vec<LineSpec>) -> Result<(Self, mpsc::Receiver<InputEvent>), IoError> {
        let mut map = HashMap::new();
        for s in specs {
            if map.insert(s.port, s.clone()).is_some() {
                return Err(IoError::Backend(format!("port {} is mapped twice", s.port)));
            }
        }
        let (tx, rx) = mpsc::channel();
        Ok((
            Self {
                specs: map,
                lines: HashMap::new(),
                sim: SimBackend::new(),
                events: tx,
            },
            rx,
        ))
    }

    fn release(&mut self, port: usize) {
        if let Some(Line::Input { stop, thread }) = self.lines.get_mut(&port) {
            stop.store(true, Ordering::Relaxed);
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
        self.lines.insert(port, Line::Released);
    }

    fn request_input(&mut self, spec: &LineSpec) -> Result<(), IoError> {
        let mut b = Request::builder();
        b.on_chip(&spec.chip)
            .with_consumer("netamp")
            .with_line(spec.line)
            .as_input()
            .with_edge_detection(EdgeDetection::BothEdges);
        if spec.active_low {
            b.as_active_low();
        }
        let req = b.request().map_err(|e| err(spec, e))?;
        let initial = req.value(spec.line).map_err(|e| err(spec, e))?;
        let port = spec.port;
        let tx = self.events.clone();
        let _ = tx.send((
            port,
            if initial == Value::Active {
                Circuit::Closed
            } else {
                Circuit::Open
            },
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("netamp-gpio-{port}"))
            .spawn(move || {
                // Wake up now and then to notice a release; edges wake it at once.
                while !stop_thread.load(Ordering::Relaxed) {
                    match req.wait_edge_event(Duration::from_millis(200)) {
                        Ok(false) => continue,
                        Ok(true) => {}
                        Err(_) => break,
                    }
                    let Ok(ev) = req.read_edge_event() else { break };
                    let c = if ev.kind == EdgeKind::Rising {
                        Circuit::Closed
                    } else {
                        Circuit::Open
                    };
                    if tx.send((port, c)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| err(spec, e))?;
        self.lines.insert(
            port,
            Line::Input {
                stop,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    fn request_output(&mut self, spec: &LineSpec, initial: Circuit) -> Result<(), IoError> {
        let mut b = Request::builder();
        b.on_chip(&spec.chip)
            .with_consumer("netamp")
            .with_line(spec.line)
            .as_output(value_of(initial));
        if spec.active_low {
            b.as_active_low();
        }
        let req = b.request().map_err(|e| err(spec, e))?;
        self.lines.insert(spec.port, Line::Output(req));
        Ok(())
    }
}

impl Backend for GpiocdevBackend {
    fn name(&self) -> String {
        if self.specs.is_empty() {
            "sim".into()
        } else {
            "gpiocdev".into()
        }
    }

    fn set_direction(
        &mut self,
        port: usize,
        direction: Direction,
        normal: Circuit,
    ) -> Result<(), IoError> {
        let Some(spec) = self.specs.get(&port).cloned() else {
            return Ok(());
        };
        self.release(port);
        match direction {
            Direction::Input => self.request_input(&spec),
            Direction::Output => self.request_output(&spec, normal),
        }
    }

    fn write(&mut self, port: usize, circuit: Circuit) -> Result<(), IoError> {
        // Every write is recorded, so the edge log works with real lines too.
        self.sim.write(port, circuit)?;
        let Some(spec) = self.specs.get(&port) else {
            return Ok(());
        };
        match self.lines.get(&port) {
            Some(Line::Output(req)) => req
                .set_value(spec.line, value_of(circuit))
                .map_err(|e| err(spec, e)),
            _ => Err(err(spec, "line is not requested as an output")),
        }
    }

    fn edges(&self) -> Option<&[Edge]> {
        self.sim.edges()
    }
}

impl Drop for GpiocdevBackend {
    fn drop(&mut self) {
        let ports: Vec<usize> = self.lines.keys().copied().collect();
        for p in ports {
            self.release(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_chip_is_a_clear_error() {
        let spec = LineSpec {
            port: 0,
            chip: "/dev/gpiochip-netamp-missing".into(),
            line: 3,
            active_low: false,
        };
        let (mut b, _rx) = GpiocdevBackend::new(vec![spec]).unwrap();
        let e = b
            .set_direction(0, Direction::Output, Circuit::Open)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("/dev/gpiochip-netamp-missing line 3 (port 0)"),
            "{e}"
        );
        // Unmapped ports stay simulated.
        assert!(b.set_direction(5, Direction::Output, Circuit::Open).is_ok());
        assert!(b.write(5, Circuit::Closed).is_ok());
        assert_eq!(b.edges().unwrap().len(), 1);
    }

    #[test]
    fn a_port_mapped_twice_is_refused() {
        let s = LineSpec {
            port: 1,
            chip: "/dev/gpiochip0".into(),
            line: 1,
            active_low: false,
        };
        assert!(GpiocdevBackend::new(vec![s.clone(), s]).is_err());
    }
}
