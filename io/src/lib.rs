//! netamp's I/O: the port model, supervised inputs, pulse sequences and GPIO backends.
//!
//! Independent of audio. Protocol-like parts are state machines with time passed in
//! (`sequence`), so the daemon drives them from a thin timer task and tests drive them
//! with a fake clock.

#![forbid(unsafe_code)]

pub mod action;
pub mod backend;
pub mod board;
pub mod gpio;
pub mod port;
pub mod profile;
#[cfg(feature = "rppal")]
pub mod rpi;
pub mod sequence;
pub mod supervised;

pub use port::{Circuit, Direction, PortConfig, PortKind, PortState};

/// Errors of the I/O layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// No port with that id.
    #[error("no such port: {0}")]
    NoSuchPort(String),
    /// The port is an input (or otherwise cannot be driven).
    #[error("port {0} is not an output")]
    NotAnOutput(usize),
    /// The port's direction cannot be changed.
    #[error("port {0} is not configurable")]
    NotConfigurable(usize),
    /// A malformed action or sequence string.
    #[error("malformed action: {0}")]
    BadAction(String),
    /// A value out of range (sequence step time, resistance…).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A sequence already runs on that port.
    #[error("a sequence is already running on port {0}")]
    Busy(usize),
    /// The hardware backend failed.
    #[error("backend: {0}")]
    Backend(String),
}
