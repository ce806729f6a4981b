//! Timer-paced devices (`null`, `wav:`): render one period, then sleep to the next deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::WavWriter;
use crate::{EngineError, Renderer, SAMPLE_RATE};

/// How much audio the `wav:` writer may fall behind before blocks are lost, in samples.
const WAV_RING: usize = 2 * SAMPLE_RATE as usize;

/// Starts the pacing thread. A block that starts more than one period late counts as an
/// xrun; the missed blocks are then rendered at once, so frame `n` of the output always
/// belongs to `start + n / 48 kHz` (tests map WAV sample indices to wall-clock time).
///
/// A `wav:` file is written by a thread of its own behind a wait-free ring: the render
/// thread does no file I/O (a slow disk would otherwise stall the audio). If the writer
/// falls [`WAV_RING`] behind, the blocks that do not fit are lost and counted as xruns.
pub(super) fn spawn(
    mut renderer: Renderer,
    wav: Option<WavWriter>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, EngineError> {
    let writer = match wav {
        Some(w) => Some(spawn_writer(w, renderer.period())?),
        None => None,
    };
    std::thread::Builder::new()
        .name("netamp-render".into())
        .spawn(move || {
            let period = renderer.period();
            let period_ns = period as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE);
            let at = |blocks: u64| Duration::from_nanos(blocks.saturating_mul(period_ns));
            let mut buf = vec![0.0f32; period];
            let mut writer = writer;
            let start = Instant::now();
            let mut blocks: u64 = 0;
            let mut late = false;
            while !stop.load(Ordering::Relaxed) {
                let deadline = start + at(blocks);
                let now = Instant::now();
                renderer.render(&mut buf, now.max(deadline));
                if let Some((ring, _, _)) = writer.as_mut() {
                    if !ring.push_partial_slice(&buf).1.is_empty() {
                        renderer.stats().count_xrun();
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
            // Out of the real-time loop: the writer drains what is left and finishes.
            if let Some((ring, done, thread)) = writer {
                drop(ring);
                done.store(true, Ordering::Relaxed);
                let _ = thread.join();
            }
        })
        .map_err(|e| EngineError::Device(format!("cannot spawn render thread: {e}")))
}

/// The render thread's end of the `wav:` writer: its ring, its stop flag, its thread.
type Writer = (rtrb::Producer<f32>, Arc<AtomicBool>, JoinHandle<()>);

/// The `wav:` writer thread: what the render thread pushes, written to the file.
fn spawn_writer(mut wav: WavWriter, period: usize) -> Result<Writer, EngineError> {
    let (producer, mut consumer) = rtrb::RingBuffer::new(WAV_RING);
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let poll = Duration::from_nanos(period as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE) / 2);
    let thread = std::thread::Builder::new()
        .name("netamp-wav".into())
        .spawn(move || {
            let mut chunk = vec![0.0f32; WAV_RING];
            let mut ok = true;
            loop {
                let last = finished.load(Ordering::Relaxed);
                let n = consumer.slots();
                if n > 0 {
                    if let Ok(c) = consumer.read_chunk(n) {
                        let (a, b) = c.as_slices();
                        chunk[..a.len()].copy_from_slice(a);
                        chunk[a.len()..n].copy_from_slice(b);
                        c.commit_all();
                    }
                    if ok {
                        if let Err(e) = wav.write(&chunk[..n]) {
                            tracing::error!("{e}; output continues without the file");
                            ok = false;
                        }
                    }
                } else if last {
                    break;
                } else {
                    std::thread::sleep(poll);
                }
            }
            if ok {
                if let Err(e) = wav.finish() {
                    tracing::error!("{e}");
                }
            }
        })
        .map_err(|e| EngineError::Device(format!("cannot spawn the wav writer: {e}")))?;
    Ok((producer, done, thread))
}
