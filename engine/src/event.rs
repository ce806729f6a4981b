//! What the engine reports about its sources, and the channel it reports on.

use std::time::Instant;

use crate::source::SourceId;

/// Why a source left the mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// It played to its end.
    Finished,
    /// It was stopped.
    Stopped,
}

/// What the engine reports about its sources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineEvent {
    /// The source's first sample went out in the block rendered at `at` (output frame `frame`).
    Started {
        /// The source.
        id: SourceId,
        /// When its first block was rendered.
        at: Instant,
        /// Output frame index of its first sample.
        frame: u64,
    },
    /// The source left the mixer after output frame `frame`.
    Ended {
        /// The source.
        id: SourceId,
        /// Why.
        reason: EndReason,
        /// Output frame index just past its last sample.
        frame: u64,
    },
    /// The source's ring ran dry while it was playing.
    Underrun {
        /// The source.
        id: SourceId,
    },
}

/// How many engine events may wait for their reader before new ones are dropped.
pub const EVENT_QUEUE: usize = 4096;

/// What the engine reports, in order, for a reader on another thread or task: a
/// [`futures_util::Stream`]-style receiver (`futures_channel`), so an async task awaits it
/// and a thread may poll it with [`EngineEvents::try_next`].
pub struct EngineEvents(pub(crate) futures_channel::mpsc::Receiver<EngineEvent>);

impl EngineEvents {
    /// The next event; `None` once the engine has shut down and every event was read.
    pub async fn next(&mut self) -> Option<EngineEvent> {
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut self.0), cx)
        })
        .await
    }

    /// An event that is already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<EngineEvent> {
        self.0.try_recv().ok()
    }
}
