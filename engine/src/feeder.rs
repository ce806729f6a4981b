//! The feeder thread: decodes and resamples file sources ahead of the render thread.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::decode::SampleReader;
use crate::resample::StreamResampler;
use crate::source::{SourceId, SourceShared};
use crate::EngineError;

/// Input frames decoded per step.
const DECODE_STEP: usize = 1024;

/// Free ring space (samples) at which a source is topped up: a little more than one decode
/// step at 48 kHz, so a pass ends once every ring is nearly full instead of chasing the
/// render thread's consumption forever.
const TOP_UP_ROOM: usize = 2048;

/// One file being played: decoder → resampler → the source's ring.
pub(crate) struct FileSource {
    pub id: SourceId,
    reader: Box<dyn SampleReader>,
    resampler: StreamResampler,
    producer: rtrb::Producer<f32>,
    shared: Arc<SourceShared>,
    /// Plays left after this one; negative means forever.
    repeats_left: i64,
    decoded: Vec<f32>,
    /// Frames decoded in the current pass over the file.
    pass_frames: u64,
    done: bool,
}

impl FileSource {
    pub fn new(
        id: SourceId,
        reader: Box<dyn SampleReader>,
        producer: rtrb::Producer<f32>,
        shared: Arc<SourceShared>,
        repeat: i32,
    ) -> Result<Self, EngineError> {
        let resampler = StreamResampler::new(reader.sample_rate())?;
        Ok(Self {
            id,
            reader,
            resampler,
            producer,
            shared,
            repeats_left: i64::from(repeat),
            decoded: Vec::with_capacity(DECODE_STEP),
            pass_frames: 0,
            done: false,
        })
    }

    /// True once every sample is in the ring (or the source was stopped).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// True while the ring has room for at least one more decode step.
    pub fn wants_more(&self) -> bool {
        !self.done && self.producer.slots() >= TOP_UP_ROOM
    }

    /// Samples waiting in the ring.
    pub fn buffered(&self) -> usize {
        self.producer.buffer().capacity() - self.producer.slots()
    }

    /// Decodes one step (used to prefill before the source joins the mixer).
    pub fn pump_some(&mut self) -> Result<(), EngineError> {
        self.pump_bounded(1)
    }

    /// Pushes what is ready, then decodes up to `steps` steps; stops early on a full ring
    /// or at the end.
    fn pump_bounded(&mut self, mut steps: usize) -> Result<(), EngineError> {
        if self.done {
            return Ok(());
        }
        if self.shared.stopped.load(Ordering::Relaxed) || self.producer.is_abandoned() {
            self.finish();
            return Ok(());
        }
        loop {
            let ready = self.resampler.ready();
            if !ready.is_empty() {
                let (pushed, _) = self.producer.push_partial_slice(ready);
                let n = pushed.len();
                self.resampler.consume(n);
                if !self.resampler.ready().is_empty() {
                    return Ok(()); // ring full
                }
            }
            if self.resampler.is_finished() {
                self.finish();
                return Ok(());
            }
            if steps == 0 {
                return Ok(());
            }
            steps -= 1;
            self.decoded.clear();
            let n = self.reader.read(&mut self.decoded, DECODE_STEP)?;
            if n > 0 {
                self.pass_frames += n as u64;
                self.resampler.push(&self.decoded);
                continue;
            }
            // End of one pass. Repeats continue into the same resampler, so the seam has no
            // gap; an empty pass ends the source rather than spinning forever.
            if self.repeats_left != 0 && self.pass_frames > 0 {
                if self.repeats_left > 0 {
                    self.repeats_left -= 1;
                }
                self.reader.rewind()?;
                self.pass_frames = 0;
                continue;
            }
            self.resampler.finish();
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.shared.finish();
    }
}

/// Messages to the feeder.
pub(crate) enum FeederMsg {
    Add(FileSource),
}

/// The feeder's state; run by its own thread, or pumped by hand in offline mode.
pub(crate) struct Feeder {
    rx: mpsc::Receiver<FeederMsg>,
    sources: Vec<FileSource>,
}

impl Feeder {
    pub fn new(rx: mpsc::Receiver<FeederMsg>) -> Self {
        Self {
            rx,
            sources: Vec::new(),
        }
    }

    /// Takes new sources and fills every ring once. Returns false when the engine is gone.
    pub fn step(&mut self, wait: Duration) -> bool {
        let first = if self.sources.is_empty() {
            match self.rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        } else {
            None
        };
        for msg in first.into_iter().chain(self.rx.try_iter()) {
            match msg {
                FeederMsg::Add(src) => self.sources.push(src),
            }
        }
        // Fill the emptiest ring first, one decode step at a time, so a burst of new
        // sources cannot starve the ones already playing.
        loop {
            // New sources join mid-pass: they have the least buffered and go first.
            for msg in self.rx.try_iter() {
                match msg {
                    FeederMsg::Add(src) => self.sources.push(src),
                }
            }
            let next = self
                .sources
                .iter_mut()
                .filter(|s| s.wants_more())
                .min_by_key(|s| s.buffered());
            let Some(src) = next else { break };
            if let Err(e) = src.pump_some() {
                tracing::warn!(source = %src.id, "decoding failed mid-stream: {e}");
                src.finish();
            }
        }
        self.sources.retain(|s| !s.is_done());
        true
    }

    /// Runs until the engine is dropped.
    pub fn run(mut self, period: Duration) {
        while self.step(Duration::from_millis(200)) {
            if !self.sources.is_empty() {
                std::thread::sleep(period);
            }
        }
    }
}
