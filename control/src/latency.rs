//! A window of recent latencies with percentiles (clip triggers, port actions).

use std::collections::VecDeque;

/// Samples kept.
const WINDOW: usize = 4096;

/// The most recent latencies, microseconds.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: VecDeque<u64>,
}

/// Percentiles over the window.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LatencySummary {
    /// Samples in the window.
    pub count: usize,
    /// Median, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Largest, microseconds.
    pub max_us: u64,
}

impl LatencyWindow {
    /// Records one sample, dropping the oldest when full.
    pub fn record(&mut self, us: u64) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(us);
    }

    /// Percentiles of what the window holds.
    pub fn summary(&self) -> LatencySummary {
        let mut v: Vec<u64> = self.samples.iter().copied().collect();
        if v.is_empty() {
            return LatencySummary::default();
        }
        v.sort_unstable();
        let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        LatencySummary {
            count: v.len(),
            p50_us: pct(0.5),
            p99_us: pct(0.99),
            max_us: v[v.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut w = LatencyWindow::default();
        for i in 1..=100 {
            w.record(i);
        }
        let s = w.summary();
        assert_eq!((s.count, s.p50_us, s.p99_us, s.max_us), (100, 51, 99, 100));
        for _ in 0..5000 {
            w.record(7);
        }
        assert_eq!(w.summary().count, 4096);
    }
}
