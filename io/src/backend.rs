//! Hardware backends. `sim` is the machine without GPIO (and the tests): its inputs are set
//! from outside and every output edge is recorded with its time.

use std::time::{Instant, SystemTime};

use crate::{Circuit, Direction, IoError};

/// Drives outputs. Inputs reach the board as readings (`Board::input`).
pub trait Backend: Send {
    /// Short name (`sim`, `gpiocdev:<chip>`).
    fn name(&self) -> String;
    /// Makes `port` an input or an output (an output starts at `normal`). Called for
    /// every port at start and whenever a direction changes.
    fn set_direction(
        &mut self,
        port: usize,
        direction: Direction,
        normal: Circuit,
    ) -> Result<(), IoError> {
        let _ = (port, direction, normal);
        Ok(())
    }
    /// Drives `port` to `circuit`.
    fn write(&mut self, port: usize, circuit: Circuit) -> Result<(), IoError>;
    /// Recorded output edges, when the backend records them.
    fn edges(&self) -> Option<&[Edge]> {
        None
    }
}

/// One recorded output change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Port (0-based).
    pub port: usize,
    /// New circuit state.
    pub circuit: Circuit,
    /// Monotonic time of the write.
    pub at: Instant,
    /// Wall-clock time of the write.
    pub wall: SystemTime,
}

/// The simulated board.
#[derive(Debug, Default)]
pub struct SimBackend {
    edges: Vec<Edge>,
}

/// Edges kept; older ones are dropped.
const MAX_EDGES: usize = 10_000;

impl SimBackend {
    /// An empty simulated board.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Backend for SimBackend {
    fn name(&self) -> String {
        "sim".into()
    }

    fn write(&mut self, port: usize, circuit: Circuit) -> Result<(), IoError> {
        if self.edges.len() >= MAX_EDGES {
            self.edges.drain(..MAX_EDGES / 2);
        }
        self.edges.push(Edge {
            port,
            circuit,
            at: Instant::now(),
            wall: SystemTime::now(),
        });
        Ok(())
    }

    fn edges(&self) -> Option<&[Edge]> {
        Some(&self.edges)
    }
}
