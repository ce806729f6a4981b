//! The port model: what a port is (config) and what it is doing (state).

use serde::{Deserialize, Serialize};

/// An electrical circuit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Circuit {
    /// No current flows.
    Open,
    /// Current flows.
    Closed,
}

impl Circuit {
    /// `open` / `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    /// Parses `open` / `closed`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    /// The other state.
    pub fn flip(self) -> Self {
        match self {
            Self::Open => Self::Closed,
            Self::Closed => Self::Open,
        }
    }
}

/// Which way a port works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Reads a contact.
    Input,
    /// Drives a load.
    Output,
}

impl Direction {
    /// `input` / `output`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
        }
    }

    /// Parses `input` / `output`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "input" => Some(Self::Input),
            "output" => Some(Self::Output),
            _ => None,
        }
    }
}

/// The hardware behind a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortKind {
    /// A plain digital input.
    DigitalInput,
    /// An input with end-of-line resistors: open, closed, short, cut.
    SupervisedInput,
    /// An open-collector / open-drain output.
    OpenCollectorOutput,
    /// A relay (dry contact).
    Relay,
    /// Configurable: digital input or open-collector output.
    Configurable,
}

/// What the operator may set about a port (persisted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    /// Shown name.
    pub name: String,
    /// Free text (`Door`, `Button`…).
    pub usage: String,
    /// Current direction.
    pub direction: Direction,
    /// The circuit state that is "inactive".
    pub normal: Circuit,
}

/// Live state of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortState {
    /// Circuit now (outputs: what is driven; inputs: what is read).
    pub circuit: Circuit,
    /// For supervised inputs: short or cut, where the circuit is unknown.
    pub fault: Option<crate::supervised::Fault>,
}

impl PortState {
    /// "Active" means the circuit differs from its normal state.
    pub fn active(&self, normal: Circuit) -> bool {
        self.fault.is_none() && self.circuit != normal
    }
}
