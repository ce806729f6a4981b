//! The main-thread half of the engine: start and stop sources, read counters.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use netamp_dsp::ramp::GainRamp;

use crate::command::Command;
use crate::decode::{self, DecodeLimits};
use crate::event::{EngineEvent, EngineEvents, EVENT_QUEUE};
use crate::feeder::{Feeder, FeederMsg, FileSource};
use crate::housekeeper::Housekeeper;
use crate::render::Renderer;
use crate::source::{Slot, SlotState, SourceId, SourceShared};
use crate::stats::{Stats, StatsSnapshot};
use crate::{EngineConfig, EngineError};

/// Samples a new file source decodes before it joins the mixer (100 ms): enough to ride
/// out the feeder thread picking it up while many sources start at once.
const PREFILL: usize = 4800;

/// How a file is played.
#[derive(Debug, Clone, Copy)]
pub struct PlayOptions {
    /// Linear gain (1.0 = unity; above 1 is limited at the output, never wrapped).
    pub gain: f32,
    /// Mixer priority 0–9.
    pub priority: u8,
    /// −1 forever, 0 once, n = n more times.
    pub repeat: i32,
}

impl Default for PlayOptions {
    fn default() -> Self {
        Self {
            gain: 1.0,
            priority: 5,
            repeat: 0,
        }
    }
}

/// How a pushed stream is mixed.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Linear gain.
    pub gain: f32,
    /// Mixer priority 0–9.
    pub priority: u8,
    /// Ring capacity in milliseconds.
    pub capacity_ms: u32,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            gain: 1.0,
            priority: 7,
            capacity_ms: 500,
        }
    }
}

/// Sets the automatic volume control gain the renderer applies (ramped) after the output
/// gain and before the limiter.
#[derive(Clone)]
pub struct AvcHandle(Arc<std::sync::atomic::AtomicU32>);

impl AvcHandle {
    /// Sets the gain in dB.
    pub fn set_gain_db(&self, db: f32) {
        self.0
            .store(netamp_dsp::from_db(db).to_bits(), Ordering::Relaxed);
    }

    /// The gain now, dB.
    pub fn gain_db(&self) -> f32 {
        netamp_dsp::to_db(f32::from_bits(self.0.load(Ordering::Relaxed)))
    }
}

/// The writing end of a pushed stream (network audio, tones, tests).
pub struct StreamWriter {
    id: SourceId,
    producer: rtrb::Producer<f32>,
    shared: Arc<SourceShared>,
}

impl StreamWriter {
    /// The source this writer feeds.
    pub fn id(&self) -> SourceId {
        self.id
    }

    /// Writes as many samples as fit; returns how many.
    pub fn write(&mut self, samples: &[f32]) -> usize {
        self.producer.push_partial_slice(samples).0.len()
    }

    /// Free room in the ring, in samples.
    pub fn room(&self) -> usize {
        self.producer.slots()
    }

    /// Samples written but not yet played.
    pub fn buffered(&self) -> usize {
        self.producer.buffer().capacity() - self.producer.slots()
    }

    /// Frames the renderer wanted from this stream while its ring was dry, since it
    /// started playing.
    pub fn starved_frames(&self) -> u64 {
        self.shared.starved_frames.load(Ordering::Relaxed)
    }

    /// True once the source was stopped or removed.
    pub fn is_closed(&self) -> bool {
        self.shared.stopped.load(Ordering::Relaxed) || self.producer.is_abandoned()
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.shared.finish();
    }
}

struct Inner {
    config: EngineConfig,
    limits: DecodeLimits,
    commands: Mutex<rtrb::Producer<Command>>,
    feeder: Mutex<mpsc::Sender<FeederMsg>>,
    stats: Arc<Stats>,
    live: Arc<AtomicUsize>,
    next_id: AtomicU64,
    shutdown: Arc<AtomicBool>,
    reference: Mutex<Option<rtrb::Consumer<f32>>>,
    avc_gain: Arc<std::sync::atomic::AtomicU32>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }
}

/// Drives the feeder and housekeeper by hand, for deterministic offline rendering.
pub struct OfflineDriver {
    feeder: Feeder,
    housekeeper: Housekeeper,
}

impl OfflineDriver {
    /// Fills every file source's ring once.
    pub fn pump(&mut self) {
        self.feeder.step(Duration::ZERO);
    }

    /// Returns what the render thread reported since the last call.
    pub fn events(&mut self) -> Vec<EngineEvent> {
        let mut out = Vec::new();
        self.housekeeper.run_once(&mut |e| out.push(e));
        out
    }
}

/// The main-thread handle of the audio engine; clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Builds an engine whose feeder and housekeeper run on their own threads. The
    /// renderer goes to a device; what the renderer reports arrives on the returned
    /// [`EngineEvents`] (bounded: when its reader falls `EVENT_QUEUE` events behind, the
    /// newest are dropped and counted with the render side's dropped events), so no code of the
    /// caller ever runs on an engine thread.
    pub fn start(
        config: EngineConfig,
        limits: DecodeLimits,
    ) -> Result<(Engine, Renderer, EngineEvents), EngineError> {
        let (engine, renderer, driver) = Self::build(config, limits)?;
        let OfflineDriver {
            feeder,
            mut housekeeper,
        } = driver;
        let period = Duration::from_micros(
            engine.inner.config.period_frames as u64 * 1_000_000 / u64::from(crate::SAMPLE_RATE),
        );
        std::thread::Builder::new()
            .name("netamp-feeder".into())
            .spawn(move || feeder.run(period))
            .map_err(|e| EngineError::Device(format!("cannot spawn feeder: {e}")))?;
        let shutdown = engine.inner.shutdown.clone();
        let stats = engine.inner.stats.clone();
        let (mut tx, rx) = futures_channel::mpsc::channel(EVENT_QUEUE);
        std::thread::Builder::new()
            .name("netamp-housekeeper".into())
            .spawn(move || {
                while !shutdown.load(Ordering::Relaxed) {
                    housekeeper.run_once(&mut |ev| {
                        if tx.try_send(ev).is_err() {
                            stats.dropped_events.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
            .map_err(|e| EngineError::Device(format!("cannot spawn housekeeper: {e}")))?;
        Ok((engine, renderer, EngineEvents(rx)))
    }

    /// Builds an engine with no threads: the caller renders and pumps block by block.
    pub fn offline(
        config: EngineConfig,
        limits: DecodeLimits,
    ) -> Result<(Engine, Renderer, OfflineDriver), EngineError> {
        Self::build(config, limits)
    }

    fn build(
        config: EngineConfig,
        limits: DecodeLimits,
    ) -> Result<(Engine, Renderer, OfflineDriver), EngineError> {
        config.validate()?;
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(config.max_sources * 4 + 64);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(config.max_sources * 8 + 256);
        let (gb_tx, gb_rx) = rtrb::RingBuffer::new(config.max_sources * 2 + 16);
        let (feed_tx, feed_rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let live = Arc::new(AtomicUsize::new(0));
        let (ref_tx, ref_rx) = rtrb::RingBuffer::new(crate::SAMPLE_RATE as usize);
        let avc_gain = Arc::new(std::sync::atomic::AtomicU32::new(1f32.to_bits()));
        let renderer = Renderer::new(
            &config,
            cmd_rx,
            ev_tx,
            gb_tx,
            stats.clone(),
            ref_tx,
            avc_gain.clone(),
        );
        let driver = OfflineDriver {
            feeder: Feeder::new(feed_rx),
            housekeeper: Housekeeper::new(ev_rx, gb_rx, stats.clone(), live.clone()),
        };
        let inner = Inner {
            config,
            limits,
            commands: Mutex::new(cmd_tx),
            feeder: Mutex::new(feed_tx),
            stats,
            live,
            next_id: AtomicU64::new(1),
            shutdown: Arc::new(AtomicBool::new(false)),
            reference: Mutex::new(Some(ref_rx)),
            avc_gain,
        };
        Ok((
            Engine {
                inner: Arc::new(inner),
            },
            renderer,
            driver,
        ))
    }

    /// The output as played (after gain, mute and limiter), for the echo canceller. The
    /// first caller gets it; later calls get `None`.
    pub fn take_render_reference(&self) -> Option<rtrb::Consumer<f32>> {
        self.inner
            .reference
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The handle through which automatic volume control sets the output's extra gain.
    pub fn avc_handle(&self) -> AvcHandle {
        AvcHandle(self.inner.avc_gain.clone())
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The decode limits applied to files.
    pub fn limits(&self) -> DecodeLimits {
        self.inner.limits
    }

    /// The live counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Where the output device is at `now`, in frames since it started; smooth between
    /// render calls (see [`Stats::device_position`]).
    pub fn device_position(&self, now: Instant) -> f64 {
        self.inner.stats.device_position(now, crate::SAMPLE_RATE)
    }

    /// The shared counters (device drivers count xruns here).
    pub fn stats_handle(&self) -> Arc<Stats> {
        self.inner.stats.clone()
    }

    fn reserve(&self) -> Result<SourceId, EngineError> {
        let max = self.inner.config.max_sources;
        self.inner
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| EngineError::TooManySources(max))?;
        Ok(SourceId(self.inner.next_id.fetch_add(1, Ordering::Relaxed)))
    }

    fn unreserve(&self) {
        let _ = self
            .inner
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    fn send(&self, cmd: Command) -> Result<(), EngineError> {
        let mut tx = self
            .inner
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        tx.push(cmd)
            .map_err(|_| EngineError::Limit("engine command queue is full".into()))
    }

    fn slot(
        &self,
        id: SourceId,
        consumer: rtrb::Consumer<f32>,
        shared: Arc<SourceShared>,
        gain: f32,
        priority: u8,
    ) -> Box<Slot> {
        let ramp = self.inner.config.ramp_samples();
        Box::new(Slot {
            id,
            consumer,
            shared,
            priority: priority.min(netamp_dsp::mixer::MAX_PRIORITY),
            volume: GainRamp::new(gain.max(0.0), ramp),
            duck: GainRamp::new(1.0, ramp),
            state: SlotState::Pending,
            starved: false,
            last: 0.0,
        })
    }

    /// Starts playing a file: opens it here, decodes the first 100 ms here (so the first
    /// block has audio), then hands it to the feeder thread and the mixer.
    pub fn play_file(&self, path: &Path, opts: PlayOptions) -> Result<SourceId, EngineError> {
        let reader = decode::open(path, self.inner.limits)?;
        let id = self.reserve()?;
        let result = (|| {
            let (producer, consumer) = rtrb::RingBuffer::new(self.inner.config.ring_samples());
            let shared = Arc::new(SourceShared::default());
            let mut source = FileSource::new(id, reader, producer, shared.clone(), opts.repeat)?;
            while source.buffered() < PREFILL && !source.is_done() {
                source.pump_some()?;
            }
            self.send(Command::Add(self.slot(
                id,
                consumer,
                shared,
                opts.gain,
                opts.priority,
            )))?;
            let tx = self.inner.feeder.lock().unwrap_or_else(|p| p.into_inner());
            tx.send(FeederMsg::Add(source))
                .map_err(|_| EngineError::Device("feeder is gone".into()))
        })();
        if result.is_err() {
            self.unreserve();
        }
        result.map(|()| id)
    }

    /// Adds a source the caller feeds through the returned writer.
    pub fn add_stream(&self, opts: StreamOptions) -> Result<StreamWriter, EngineError> {
        let id = self.reserve()?;
        let cap = (crate::SAMPLE_RATE / 1000 * opts.capacity_ms.max(20)) as usize;
        let (producer, consumer) = rtrb::RingBuffer::new(cap);
        let shared = Arc::new(SourceShared::default());
        if let Err(e) = self.send(Command::Add(self.slot(
            id,
            consumer,
            shared.clone(),
            opts.gain,
            opts.priority,
        ))) {
            self.unreserve();
            return Err(e);
        }
        Ok(StreamWriter {
            id,
            producer,
            shared,
        })
    }

    /// Fades a source out (one ramp) and removes it.
    pub fn stop(&self, id: SourceId) -> Result<(), EngineError> {
        self.send(Command::Stop(id))
    }

    /// Changes a source's gain (ramped).
    pub fn set_gain(&self, id: SourceId, gain: f32) -> Result<(), EngineError> {
        self.send(Command::SetGain(id, gain))
    }

    /// Sets the output gain, linear (ramped).
    pub fn set_output_gain(&self, gain: f32) -> Result<(), EngineError> {
        self.send(Command::SetOutputGain(gain))
    }

    /// Mutes or unmutes the output (ramped).
    pub fn set_mute(&self, mute: bool) -> Result<(), EngineError> {
        self.send(Command::SetMute(mute))
    }
}
