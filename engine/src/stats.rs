//! Counters the render thread publishes through atomics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Live counters shared by the render thread (writer) and everyone else (readers).
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) frames_rendered: AtomicU64,
    pub(crate) blocks: AtomicU64,
    pub(crate) xruns: AtomicU64,
    pub(crate) underruns: AtomicU64,
    pub(crate) active_sources: AtomicUsize,
    pub(crate) render_ns_total: AtomicU64,
    pub(crate) render_ns_max: AtomicU64,
    pub(crate) started_unix_ns: AtomicU64,
    pub(crate) limiter_engaged: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Frames written to the output device since start.
    pub frames_rendered: u64,
    /// Blocks rendered since start.
    pub blocks: u64,
    /// Device under/overruns (a paced device counts late wake-ups).
    pub xruns: u64,
    /// Times a source's ring ran dry while it was still playing.
    pub underruns: u64,
    /// Sources in the mixer now.
    pub active_sources: usize,
    /// Sum of render time over all blocks, nanoseconds.
    pub render_ns_total: u64,
    /// Longest single block render, nanoseconds.
    pub render_ns_max: u64,
    /// Wall-clock time of the first rendered block, Unix nanoseconds (0 before start).
    pub started_unix_ns: u64,
    /// Samples the output limiter reduced.
    pub limiter_engaged: u64,
    /// Render events lost because the event ring was full.
    pub dropped_events: u64,
}

impl Stats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            frames_rendered: self.frames_rendered.load(Relaxed),
            blocks: self.blocks.load(Relaxed),
            xruns: self.xruns.load(Relaxed),
            underruns: self.underruns.load(Relaxed),
            active_sources: self.active_sources.load(Relaxed),
            render_ns_total: self.render_ns_total.load(Relaxed),
            render_ns_max: self.render_ns_max.load(Relaxed),
            started_unix_ns: self.started_unix_ns.load(Relaxed),
            limiter_engaged: self.limiter_engaged.load(Relaxed),
            dropped_events: self.dropped_events.load(Relaxed),
        }
    }

    /// Counts one device xrun (called by device drivers).
    pub fn count_xrun(&self) {
        self.xruns.fetch_add(1, Relaxed);
    }
}
