//! Counters the render thread publishes through atomics.

use std::sync::atomic::{fence, AtomicU64, AtomicU8, AtomicUsize, Ordering, Ordering::Relaxed};

use crate::device::rt_priority::RtPriority;
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
    rt_priority: AtomicU8,
    /// The device clock: the last render call's first frame and its `now` (ns since
    /// `epoch`), under a sequence number (odd while being written).
    clock_seq: AtomicU64,
    clock_frames: AtomicU64,
    clock_ns: AtomicU64,
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
            rt_priority: AtomicU8::new(0),
            clock_seq: AtomicU64::new(0),
            clock_frames: AtomicU64::new(0),
            clock_ns: AtomicU64::new(0),
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
    /// The render thread's scheduling.
    pub rt_priority: RtPriority,
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
            rt_priority: RtPriority::from_u8(self.rt_priority.load(Relaxed)),
        }
    }

    /// Notes what scheduling the render thread got (render thread, once).
    pub(crate) fn set_rt_priority(&self, p: RtPriority) {
        self.rt_priority.store(p.to_u8(), Relaxed);
    }

    /// Notes a render call (render thread): its first frame `first` goes out at `now`.
    /// Lock-free for the reader and the writer alike (a sequence lock).
    pub(crate) fn set_clock(&self, first: u64, now: Instant) {
        let ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        let seq = self.clock_seq.load(Relaxed);
        self.clock_seq.store(seq.wrapping_add(1), Relaxed);
        fence(Ordering::Release);
        self.clock_frames.store(first, Relaxed);
        self.clock_ns.store(ns, Relaxed);
        self.clock_seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Where the device is at `now`, in frames (fractional): the last render call's first
    /// frame plus the time since it went out. Unlike `frames_rendered` it does not jump
    /// by whole blocks, so readings against it taken at arbitrary moments line up
    /// (clock-drift measurement).
    ///
    /// It is not held at the end of the last block: a device whose render thread is late
    /// plays on (a sound card underruns, the paced devices catch up to frame `n` at
    /// `start + n / rate`). Held, every reading taken during a stall of the render
    /// thread would look early by the stall, and the drift estimator keeps exactly the
    /// earliest-looking readings: on a loaded machine it read a steady sender as
    /// thousands of ppm fast.
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
            fence(Ordering::Acquire);
            if self.clock_seq.load(Relaxed) != seq {
                continue;
            }
            let since = ns_now.saturating_sub(ns) as f64 * f64::from(rate) / 1e9;
            return first as f64 + since;
        }
        self.frames_rendered.load(Relaxed) as f64
    }

    /// Counts one device xrun (called by device drivers).
    pub fn count_xrun(&self) {
        self.xruns.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_device_position_runs_on_while_the_render_thread_is_late() {
        let stats = Stats::default();
        let t0 = Instant::now();
        stats.set_clock(48_000, t0);
        let at = |ms: u64| stats.device_position(t0 + Duration::from_millis(ms), 48_000);
        assert_eq!(at(0), 48_000.0);
        assert!((at(2) - 48_096.0).abs() < 1e-6);
        // No render call for 50 ms: the device played on.
        assert!((at(50) - 50_400.0).abs() < 1e-6, "{}", at(50));
    }
}
