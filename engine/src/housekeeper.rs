//! Drains what the render thread hands back: events to report, boxes to drop.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::command::RtEvent;
use crate::event::{EndReason, EngineEvent};
use crate::source::Slot;
use crate::stats::Stats;

/// The non-real-time consumer of the event and garbage rings.
pub(crate) struct Housekeeper {
    events: rtrb::Consumer<RtEvent>,
    garbage: rtrb::Consumer<Box<Slot>>,
    stats: Arc<Stats>,
    pub(crate) live: Arc<std::sync::atomic::AtomicUsize>,
}

impl Housekeeper {
    pub fn new(
        events: rtrb::Consumer<RtEvent>,
        garbage: rtrb::Consumer<Box<Slot>>,
        stats: Arc<Stats>,
        live: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Self {
        Self {
            events,
            garbage,
            stats,
            live,
        }
    }

    /// Drops released slots and passes each event to `sink`.
    pub fn run_once(&mut self, sink: &mut dyn FnMut(EngineEvent)) {
        // A box back from the render thread is a source's place free again: counted here,
        // not from its Ended event, which a full event ring may have dropped.
        while let Ok(slot) = self.garbage.pop() {
            drop(slot);
            let _ = self
                .live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
        while let Ok(ev) = self.events.pop() {
            let ev = match ev {
                RtEvent::Started { id, at, frame } => EngineEvent::Started { id, at, frame },
                RtEvent::Ended { id, stopped, frame } => {
                    let reason = if stopped {
                        EndReason::Stopped
                    } else {
                        EndReason::Finished
                    };
                    EngineEvent::Ended { id, reason, frame }
                }
                RtEvent::Underrun { id } => EngineEvent::Underrun { id },
            };
            sink(ev);
        }
    }

    /// The counters (for tests).
    #[allow(dead_code)]
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }
}
