//! Messages between the main-thread half and the render thread.

use std::time::Instant;

use crate::source::{Slot, SourceId};

/// Main thread → render thread.
pub(crate) enum Command {
    /// A new source; the box was allocated on the main thread.
    Add(Box<Slot>),
    /// Fade a source out and remove it.
    Stop(SourceId),
    /// Change a source's volume (linear), ramped.
    SetGain(SourceId, f32),
    /// Output volume (linear), ramped.
    SetOutputGain(f32),
    /// Output mute, ramped.
    SetMute(bool),
}

/// Render thread → housekeeper.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RtEvent {
    /// A source's first sample went out in the block rendered at `at`.
    Started {
        id: SourceId,
        at: Instant,
        frame: u64,
    },
    /// A source left the mixer.
    Ended {
        id: SourceId,
        stopped: bool,
        frame: u64,
    },
    /// A source's ring ran dry while it was still playing.
    Underrun { id: SourceId },
}
