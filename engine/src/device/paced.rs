//! Timer-paced devices (`null`, `wav:`): render one period, then sleep to the next deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::WavWriter;
use crate::{EngineError, Renderer, SAMPLE_RATE};

/// Starts the pacing thread. A block that starts more than one period late counts as an
/// xrun; the missed blocks are then rendered at once, so frame `n` of the output always
/// belongs to `start + n / 48 kHz` (tests map WAV sample indices to wall-clock time).
pub(super) fn spawn(
    mut renderer: Renderer,
    mut wav: Option<WavWriter>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, EngineError> {
    std::thread::Builder::new()
        .name("netamp-render".into())
        .spawn(move || {
            let period = renderer.period();
            let period_ns = period as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE);
            let at = |blocks: u64| Duration::from_nanos(blocks.saturating_mul(period_ns));
            let mut buf = vec![0.0f32; period];
            let start = Instant::now();
            let mut blocks: u64 = 0;
            let mut late = false;
            while !stop.load(Ordering::Relaxed) {
                let deadline = start + at(blocks);
                let now = Instant::now();
                renderer.render(&mut buf, now.max(deadline));
                if let Some(w) = wav.as_mut() {
                    if let Err(e) = w.write(&buf) {
                        tracing::error!("{e}; output continues without the file");
                        wav = None;
                    }
                }
                blocks += 1;
                let next = start + at(blocks);
                let now = Instant::now();
                if now > next + at(1) {
                    // One xrun per late episode, however many blocks it takes to catch up.
                    if !late {
                        renderer.stats().count_xrun();
                    }
                    late = true;
                    continue;
                }
                late = false;
                if next > now {
                    std::thread::sleep(next - now);
                }
            }
            if let Some(mut w) = wav {
                if let Err(e) = w.finish() {
                    tracing::error!("{e}");
                }
            }
        })
        .map_err(|e| EngineError::Device(format!("cannot spawn render thread: {e}")))
}
