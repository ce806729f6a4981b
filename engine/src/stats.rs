//! Counters the render thread publishes through atomics.

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering, Ordering::Relaxed};
use std::time::Instant;

/// Live counters shared by the render thread (writer) and everyone else (readers).
#[derive(Debug)]
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
    /// The device clock: the last render call's first frame, its `now` (ns since
    /// `epoch`) and length, under a sequence number (odd while being written).
    clock_seq: AtomicU64,
    clock_frames: AtomicU64,
    clock_ns: AtomicU64,
    clock_len: AtomicU64,
    epoch: Instant,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            frames_rendered: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            xruns: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            active_sources: AtomicUsize::new(0),
            render_ns_total: AtomicU64::new(0),
            render_ns_max: AtomicU64::new(0),
            started_unix_ns: AtomicU64::new(0),
            limiter_engaged: AtomicU64::new(0),
            dropped_events: AtomicU64::new(0),
            clock_seq: AtomicU64::new(0),
            clock_frames: AtomicU64::new(0),
            clock_ns: AtomicU64::new(0),
            clock_len: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
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

    /// Notes a render call (render thread): `len` frames from `first`, going out at `now`.
    /// Lock-free for the reader and the writer alike (a sequence lock).
    pub(crate) fn set_clock(&self, first: u64, len: usize, now: Instant) {
        let ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        let seq = self.clock_seq.load(Relaxed);
        self.clock_seq.store(seq.wrapping_add(1), Relaxed);
        fence(Ordering::Release);
        self.clock_frames.store(first, Relaxed);
        self.clock_ns.store(ns, Relaxed);
        self.clock_len.store(len as u64, Relaxed);
        self.clock_seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Where the device is at `now`, in frames (fractional): the last render call's first
    /// frame plus the time since it went out, at most its length. Unlike
    /// `frames_rendered` it does not jump by whole blocks, so readings against it taken
    /// at arbitrary moments line up (clock-drift measurement).
    pub fn device_position(&self, now: Instant, rate: u32) -> f64 {
        let ns_now = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        for _ in 0..16 {
            let seq = self.clock_seq.load(Ordering::Acquire);
            if seq % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let first = self.clock_frames.load(Relaxed);
            let ns = self.clock_ns.load(Relaxed);
            let len = self.clock_len.load(Relaxed);
            fence(Ordering::Acquire);
            if self.clock_seq.load(Relaxed) != seq {
                continue;
            }
            let since = ns_now.saturating_sub(ns) as f64 * f64::from(rate) / 1e9;
            return first as f64 + since.min(len as f64);
        }
        self.frames_rendered.load(Relaxed) as f64
    }

    /// Counts one device xrun (called by device drivers).
    pub fn count_xrun(&self) {
        self.xruns.fetch_add(1, Relaxed);
    }
}
