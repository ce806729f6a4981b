//! Raspberry Pi GPIO through rppal (BCM pin numbers), behind the `rppal` cargo feature.
//! Same mapping as the gpiocdev backend: `line` is the BCM pin, unmapped ports stay
//! simulated, inputs report both edges.

use std::collections::HashMap;
use std::sync::mpsc;

use rppal::gpio::{Gpio, InputPin, OutputPin, Trigger};

use crate::backend::{Backend, Edge, SimBackend};
use crate::gpio::{InputEvent, LineSpec};
use crate::{Circuit, Direction, IoError};

enum Pin {
    Output(OutputPin),
    // Held so its interrupt stays armed.
    Input(#[allow(dead_code)] InputPin),
}

/// Raspberry Pi pins for the mapped ports, the simulated board for the rest.
pub struct RppalBackend {
    gpio: Option<Gpio>,
    specs: HashMap<usize, LineSpec>,
    pins: HashMap<usize, Pin>,
    sim: SimBackend,
    events: mpsc::Sender<InputEvent>,
}

fn err(spec: &LineSpec, e: impl std::fmt::Display) -> IoError {
    IoError::Backend(format!("BCM pin {} (port {}): {e}", spec.line, spec.port))
}

impl RppalBackend {
    /// A backend for `specs`; input changes arrive on the returned receiver.
    pub fn new(specs: Vec<LineSpec>) -> Result<(Self, mpsc::Receiver<InputEvent>), IoError> {
        let mut map = HashMap::new();
        for s in specs {
            if s.line > u32::from(u8::MAX) {
                return Err(err(&s, "not a BCM pin number"));
            }
            if map.insert(s.port, s.clone()).is_some() {
                return Err(IoError::Backend(format!("port {} is mapped twice", s.port)));
            }
        }
        let gpio = if map.is_empty() {
            None
        } else {
            Some(Gpio::new().map_err(|e| IoError::Backend(format!("Raspberry Pi GPIO: {e}")))?)
        };
        let (tx, rx) = mpsc::channel();
        Ok((
            Self {
                gpio,
                specs: map,
                pins: HashMap::new(),
                sim: SimBackend::new(),
                events: tx,
            },
            rx,
        ))
    }

    fn active(spec: &LineSpec, closed: bool) -> bool {
        closed != spec.active_low
    }
}

impl Backend for RppalBackend {
    fn name(&self) -> String {
        if self.specs.is_empty() {
            "sim".into()
        } else {
            "rppal".into()
        }
    }

    fn set_direction(
        &mut self,
        port: usize,
        direction: Direction,
        normal: Circuit,
    ) -> Result<(), IoError> {
        let (Some(spec), Some(gpio)) = (self.specs.get(&port).cloned(), self.gpio.as_ref()) else {
            return Ok(());
        };
        self.pins.remove(&port);
        let pin = gpio.get(spec.line as u8).map_err(|e| err(&spec, e))?;
        match direction {
            Direction::Output => {
                let high = Self::active(&spec, normal == Circuit::Closed);
                let out = if high {
                    pin.into_output_high()
                } else {
                    pin.into_output_low()
                };
                self.pins.insert(port, Pin::Output(out));
            }
            Direction::Input => {
                let mut input = pin.into_input();
                let closed = Self::active(&spec, input.is_high());
                let _ = self.events.send((
                    port,
                    if closed {
                        Circuit::Closed
                    } else {
                        Circuit::Open
                    },
                ));
                let tx = self.events.clone();
                let low = spec.active_low;
                input
                    .set_async_interrupt(Trigger::Both, None, move |ev| {
                        let high = ev.trigger == Trigger::RisingEdge;
                        let c = if high != low {
                            Circuit::Closed
                        } else {
                            Circuit::Open
                        };
                        let _ = tx.send((port, c));
                    })
                    .map_err(|e| err(&spec, e))?;
                self.pins.insert(port, Pin::Input(input));
            }
        }
        Ok(())
    }

    fn write(&mut self, port: usize, circuit: Circuit) -> Result<(), IoError> {
        self.sim.write(port, circuit)?;
        let Some(spec) = self.specs.get(&port) else {
            return Ok(());
        };
        match self.pins.get_mut(&port) {
            Some(Pin::Output(p)) => {
                if Self::active(spec, circuit == Circuit::Closed) {
                    p.set_high();
                } else {
                    p.set_low();
                }
                Ok(())
            }
            _ => Err(err(spec, "pin is not an output")),
        }
    }

    fn edges(&self) -> Option<&[Edge]> {
        self.sim.edges()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_pi_mapped_pins_are_a_clear_error_and_unmapped_ports_simulate() {
        let (mut b, _rx) = RppalBackend::new(Vec::new()).unwrap();
        assert_eq!(b.name(), "sim");
        assert!(b.set_direction(0, Direction::Output, Circuit::Open).is_ok());
        assert!(b.write(0, Circuit::Closed).is_ok());
        let spec = LineSpec {
            port: 0,
            chip: "/dev/gpiochip0".into(),
            line: 17,
            active_low: false,
        };
        // On a machine that is not a Raspberry Pi, opening the GPIO fails with a reason.
        if let Err(e) = RppalBackend::new(vec![spec]) {
            assert!(e.to_string().contains("Raspberry Pi GPIO"), "{e}");
        }
    }
}
