//! What the render thread knows about one source.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use netamp_dsp::ramp::GainRamp;

/// Identifies a source for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u64);

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Flags the producer side of a source shares with the render thread.
#[derive(Debug, Default)]
pub(crate) struct SourceShared {
    /// The producer has written its last sample.
    pub finished: AtomicBool,
    /// The source was told to stop; the producer may stop producing.
    pub stopped: AtomicBool,
    /// Frames the renderer wanted while the ring was dry (a live stream's producer
    /// rebuilds its cushion when this grows).
    pub starved_frames: AtomicU64,
}

impl SourceShared {
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// Playback state of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Waiting for its first samples.
    Pending,
    Playing,
    /// Fading to silence before removal.
    Stopping,
    /// Ended and reported; waits for room in the garbage ring (neither mixed nor reported
    /// again).
    Ended,
}

/// The render thread's half of a source. Built (and allocated) on the main thread.
pub(crate) struct Slot {
    pub id: SourceId,
    pub consumer: rtrb::Consumer<f32>,
    pub shared: Arc<SourceShared>,
    pub priority: u8,
    pub volume: GainRamp,
    pub duck: GainRamp,
    pub state: SlotState,
    /// Inside an underrun episode (counted once per episode).
    pub starved: bool,
    /// Last sample played, for fading out on an underrun.
    pub last: f32,
}
