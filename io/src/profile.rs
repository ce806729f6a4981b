//! Port layouts of the device profiles (ARCHITECTURE.md §4).

use crate::supervised::Wiring;
use crate::{Circuit, Direction, PortConfig, PortKind};

/// What a port is, fixed by the hardware.
#[derive(Debug, Clone, PartialEq)]
pub struct PortDef {
    /// The hardware.
    pub kind: PortKind,
    /// Factory configuration.
    pub default: PortConfig,
    /// End-of-line wiring, for supervised inputs.
    pub wiring: Option<Wiring>,
}

impl PortDef {
    /// True when the direction may change.
    pub fn configurable(&self) -> bool {
        self.kind == PortKind::Configurable
    }

    fn new(kind: PortKind, name: &str, direction: Direction, normal: Circuit) -> Self {
        let wiring = (kind == PortKind::SupervisedInput).then_some(Wiring::ParallelFirst);
        Self {
            kind,
            default: PortConfig {
                name: name.into(),
                usage: String::new(),
                direction,
                normal,
            },
            wiring,
        }
    }
}

/// The ports of a profile: `c8210` (amplifier: two configurable I/O ports), `a9210` (I/O
/// relay module) or `combined` (the a9210 layout, whose configurable ports also serve the
/// amplifier's role).
///
/// a9210 order: relay, two supervised inputs, two configurable I/Os, two open-drain
/// outputs, two plain inputs.
pub fn ports(profile: &str) -> Vec<PortDef> {
    use Circuit::*;
    use Direction::*;
    use PortKind::*;
    match profile {
        "c8210" => vec![
            PortDef::new(Configurable, "I/O 1", Input, Open),
            PortDef::new(Configurable, "I/O 2", Input, Open),
        ],
        _ => vec![
            PortDef::new(Relay, "Relay", Output, Open),
            PortDef::new(SupervisedInput, "Supervised input 1", Input, Open),
            PortDef::new(SupervisedInput, "Supervised input 2", Input, Open),
            PortDef::new(Configurable, "I/O 1", Input, Open),
            PortDef::new(Configurable, "I/O 2", Output, Open),
            PortDef::new(OpenCollectorOutput, "Output 1", Output, Open),
            PortDef::new(OpenCollectorOutput, "Output 2", Output, Open),
            PortDef::new(DigitalInput, "Input 1", Input, Open),
            PortDef::new(DigitalInput, "Input 2", Input, Open),
        ],
    }
}
