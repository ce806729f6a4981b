//! The capture chain: input device → input gain/mute → level meter → fan-out.
//!
//! A capture thread produces 10 ms frames of 48 kHz mono. Paced sources (`wav:`, `none`)
//! are timed by the thread itself; a sound card (cpal) pushes into a ring from its own
//! callback and the thread takes whole frames from it. Every frame goes to each tap's
//! SPSC ring; a tap whose ring is full loses that frame (counted), so a slow listener
//! never stalls the capture or the other listeners.
//!
//! Each frame goes through the [`CaptureProcessor`] (echo canceller fed with what the
//! renderer played, noise suppression, AGC; each switchable), then input gain/mute, the
//! level meter and the fan-out.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netamp_dsp::avc::{Avc, AvcConfig};
use netamp_dsp::echo::{CaptureProcessor, Stages};

use crate::decode::{self, DecodeLimits, SampleReader};
use crate::device::InputSpec;
use crate::resample::StreamResampler;
use crate::{EngineError, SAMPLE_RATE};

/// Samples per capture frame (10 ms).
pub const FRAME: usize = 480;
/// Frames averaged by the level meter (100 ms).
const METER_FRAMES: usize = 10;

/// What the capture thread shares with its handle.
struct Shared {
    /// Requested stages (bit 0 echo cancel, 1 noise suppression, 2 AGC).
    stages: std::sync::atomic::AtomicU8,
    level_db: AtomicU32,
    gain: AtomicU32,
    muted: AtomicBool,
    frames: AtomicU64,
    lost: AtomicU64,
    /// Errors the sound card's stream reported (counted on its callback, never logged).
    device_errors: Arc<AtomicU64>,
    started_unix_ns: AtomicU64,
    stop: AtomicBool,
}

/// How the capture chain runs.
#[derive(Default)]
pub struct CaptureOptions {
    /// Processing stages.
    pub stages: Stages,
    /// The renderer's output ([`crate::Engine::take_render_reference`]) for the echo
    /// canceller; without it echo cancellation has nothing to cancel.
    pub reference: Option<rtrb::Consumer<f32>>,
    /// Rough speaker-to-microphone delay, ms (the canceller finds the exact one).
    pub echo_delay_ms: i32,
    /// Automatic volume control: its settings and the output it drives.
    pub avc: Option<(AvcConfig, crate::AvcHandle)>,
}

/// The reading end of one capture subscriber.
pub struct CaptureTap {
    consumer: rtrb::Consumer<f32>,
}

impl CaptureTap {
    /// Appends every captured sample waiting in the ring to `out`; returns how many.
    pub fn read(&mut self, out: &mut Vec<f32>) -> usize {
        let n = self.consumer.slots();
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            out.extend_from_slice(a);
            out.extend_from_slice(b);
            chunk.commit_all();
        }
        n
    }
}

/// A running capture chain; dropping it stops the thread.
pub struct Capture {
    name: String,
    shared: Arc<Shared>,
    subscribe: mpsc::Sender<rtrb::Producer<f32>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Opens the input `spec` and starts the capture thread. `default` falls back to
    /// silence when no input device opens.
    pub fn start(spec: &InputSpec, options: CaptureOptions) -> Result<Self, EngineError> {
        let shared = Arc::new(Shared {
            stages: std::sync::atomic::AtomicU8::new(stage_bits(options.stages)),
            level_db: AtomicU32::new((-90f32).to_bits()),
            gain: AtomicU32::new(1f32.to_bits()),
            muted: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            device_errors: Arc::new(AtomicU64::new(0)),
            started_unix_ns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let (opened_tx, opened_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let spec = spec.clone();
        // The source is opened on the capture thread: a cpal stream must stay on the
        // thread that made it.
        let thread = std::thread::Builder::new()
            .name("netamp-capture".into())
            .spawn(move || {
                let source = match Source::open(&spec, &thread_shared.device_errors) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let name = match &source {
                    Source::Silence => "none".to_string(),
                    _ => spec.to_string(),
                };
                let _ = opened_tx.send(Ok(name));
                run(source, thread_shared, rx, options);
            })
            .map_err(|e| EngineError::Device(format!("cannot spawn capture thread: {e}")))?;
        let name = opened_rx
            .recv()
            .map_err(|_| EngineError::Device("capture thread ended".into()))??;
        Ok(Self {
            name,
            shared,
            subscribe: tx,
            thread: Some(thread),
        })
    }

    /// What is captured (`none` when the default device fell back to silence).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new subscriber whose ring holds `capacity_ms` of audio.
    pub fn subscribe(&self, capacity_ms: usize) -> CaptureTap {
        let (producer, consumer) =
            rtrb::RingBuffer::new((capacity_ms * SAMPLE_RATE as usize / 1000).max(FRAME));
        // The thread only goes away with `self`; a send cannot fail before then.
        let _ = self.subscribe.send(producer);
        CaptureTap { consumer }
    }

    /// Level of the last 100 ms after gain and mute, RMS in dBFS (−90 floor).
    pub fn level_dbfs(&self) -> f32 {
        f32::from_bits(self.shared.level_db.load(Ordering::Relaxed))
    }

    /// Sets the input gain in dB.
    pub fn set_gain_db(&self, db: f32) {
        let g = netamp_dsp::from_db(db.clamp(-60.0, 40.0));
        self.shared.gain.store(g.to_bits(), Ordering::Relaxed);
    }

    /// Switches processing stages; the capture thread rebuilds its processor at the next
    /// frame (the echo canceller then converges again).
    pub fn set_stages(&self, stages: Stages) {
        self.shared
            .stages
            .store(stage_bits(stages), Ordering::Relaxed);
    }

    /// The stages running (or about to).
    pub fn stages(&self) -> Stages {
        bits_stage(self.shared.stages.load(Ordering::Relaxed))
    }

    /// Mutes or unmutes the input.
    pub fn set_mute(&self, muted: bool) {
        self.shared.muted.store(muted, Ordering::Relaxed);
    }

    /// Frames captured so far.
    pub fn frames(&self) -> u64 {
        self.shared.frames.load(Ordering::Relaxed)
    }

    /// Errors the input sound card's stream reported (overruns, a device that went away).
    pub fn device_errors(&self) -> u64 {
        self.shared.device_errors.load(Ordering::Relaxed)
    }

    /// Frames a full subscriber ring did not take.
    pub fn lost_frames(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Wall-clock time of the first captured sample, ns since the Unix epoch.
    pub fn started_unix_ns(&self) -> u64 {
        self.shared.started_unix_ns.load(Ordering::Relaxed)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn stage_bits(s: Stages) -> u8 {
    u8::from(s.echo_cancel) | u8::from(s.noise_suppression) << 1 | u8::from(s.agc) << 2
}

fn bits_stage(b: u8) -> Stages {
    Stages {
        echo_cancel: b & 1 != 0,
        noise_suppression: b & 2 != 0,
        agc: b & 4 != 0,
    }
}

/// Where frames come from.
enum Source {
    Silence,
    File {
        path: PathBuf,
        reader: Box<dyn SampleReader>,
        resampler: StreamResampler,
        loop_: bool,
        pending: Vec<f32>,
        ended: bool,
    },
    Device(cpal_in::DeviceInput),
}

impl Source {
    fn open(spec: &InputSpec, errors: &Arc<AtomicU64>) -> Result<Self, EngineError> {
        Ok(match spec {
            InputSpec::None => Source::Silence,
            InputSpec::Wav { path, loop_ } => Source::file(path, *loop_)?,
            InputSpec::Default => match cpal_in::open(spec, errors.clone()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("no input device ({e}); capturing silence");
                    Source::Silence
                }
            },
            InputSpec::Cpal(_) | InputSpec::Alsa(_) => cpal_in::open(spec, errors.clone())?,
        })
    }

    fn file(path: &Path, loop_: bool) -> Result<Self, EngineError> {
        let reader = decode::open(path, DecodeLimits::default())?;
        let resampler = StreamResampler::new(reader.sample_rate())?;
        Ok(Self::File {
            path: path.to_owned(),
            reader,
            resampler,
            loop_,
            pending: Vec::new(),
            ended: false,
        })
    }

    /// Fills `frame` with the next 10 ms; false if a device has nothing yet.
    fn next(&mut self, frame: &mut [f32]) -> bool {
        match self {
            Source::Silence => {
                frame.fill(0.0);
                true
            }
            Source::File {
                path,
                reader,
                resampler,
                loop_,
                pending,
                ended,
            } => {
                while resampler.ready().len() < frame.len() && !*ended {
                    pending.clear();
                    match reader.read(pending, 4096) {
                        Ok(0) | Err(_) if *loop_ => {
                            if reader.rewind().is_err() {
                                tracing::warn!("cannot rewind {}", path.display());
                                *ended = true;
                            }
                        }
                        Ok(0) | Err(_) => {
                            resampler.finish();
                            *ended = true;
                        }
                        Ok(_) => resampler.push(pending),
                    }
                }
                let ready = resampler.ready();
                let n = ready.len().min(frame.len());
                frame[..n].copy_from_slice(&ready[..n]);
                frame[n..].fill(0.0);
                resampler.consume(n);
                true
            }
            Source::Device(d) => d.read(frame),
        }
    }

    fn paced(&self) -> bool {
        !matches!(self, Source::Device(_))
    }
}

fn run(
    mut source: Source,
    shared: Arc<Shared>,
    subscribe: mpsc::Receiver<rtrb::Producer<f32>>,
    mut options: CaptureOptions,
) {
    let mut processor = CaptureProcessor::new(options.stages);
    let mut avc = options.avc.take().map(|(c, h)| (Avc::new(c), h));
    let mut played: Vec<f32> = Vec::with_capacity(FRAME * 8);
    let mut taps: Vec<rtrb::Producer<f32>> = Vec::new();
    let mut frame = vec![0f32; FRAME];
    let mut meter = [0f64; METER_FRAMES];
    let start = Instant::now();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    shared.started_unix_ns.store(unix, Ordering::Relaxed);
    let mut n: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        if source.paced() {
            let due = start + Duration::from_millis(10 * n);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        if !source.next(&mut frame) {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let wanted = bits_stage(shared.stages.load(Ordering::Relaxed));
        if wanted != processor.stages() {
            processor = CaptureProcessor::new(wanted);
        }
        if !processor.is_bypass() {
            // Everything played since the last frame goes to the canceller first.
            if let Some(r) = options.reference.as_mut() {
                if let Ok(chunk) = r.read_chunk(r.slots()) {
                    let (a, b) = chunk.as_slices();
                    played.extend_from_slice(a);
                    played.extend_from_slice(b);
                    chunk.commit_all();
                }
            }
            let whole = played.len() / FRAME * FRAME;
            for f in played[..whole].chunks_exact(FRAME) {
                processor.render(f);
            }
            played.drain(..whole);
            processor.set_delay_ms(options.echo_delay_ms);
            processor.capture(&mut frame);
        }
        // The room's noise, with the device's own sound already cancelled.
        if let Some((avc, handle)) = avc.as_mut() {
            let ms = netamp_dsp::meter::measure(&frame).rms;
            handle.set_gain_db(avc.update(netamp_dsp::to_db(ms), 0.01));
        }
        let gain = if shared.muted.load(Ordering::Relaxed) {
            0.0
        } else {
            f32::from_bits(shared.gain.load(Ordering::Relaxed))
        };
        if gain != 1.0 {
            for s in frame.iter_mut() {
                *s *= gain;
            }
        }
        let level = netamp_dsp::meter::measure(&frame);
        meter[(n as usize) % METER_FRAMES] = f64::from(level.rms).powi(2);
        let ms = meter.iter().sum::<f64>() / METER_FRAMES as f64;
        let db = (10.0 * ms.max(1e-12).log10()).max(-90.0) as f32;
        shared.level_db.store(db.to_bits(), Ordering::Relaxed);

        while let Ok(p) = subscribe.try_recv() {
            taps.push(p);
        }
        taps.retain(|p| !p.is_abandoned());
        for tap in &mut taps {
            if tap.slots() >= FRAME {
                let _ = tap.push_partial_slice(&frame);
            } else {
                shared.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        n += 1;
        shared.frames.store(n, Ordering::Relaxed);
    }
}

/// Sound-card input through cpal.
mod cpal_in {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

    use super::Source;
    use crate::device::InputSpec;
    use crate::resample::StreamResampler;
    use crate::EngineError;

    fn dev_err(e: &dyn std::fmt::Display) -> EngineError {
        EngineError::Device(e.to_string())
    }

    /// A running cpal input stream and the ring its callback fills (mono, device rate).
    pub struct DeviceInput {
        _stream: cpal::Stream,
        ring: rtrb::Consumer<f32>,
        resampler: StreamResampler,
        scratch: Vec<f32>,
    }

    impl DeviceInput {
        pub fn read(&mut self, frame: &mut [f32]) -> bool {
            while self.resampler.ready().len() < frame.len() {
                let n = self.ring.slots();
                if n == 0 {
                    return false;
                }
                self.scratch.clear();
                if let Ok(chunk) = self.ring.read_chunk(n) {
                    let (a, b) = chunk.as_slices();
                    self.scratch.extend_from_slice(a);
                    self.scratch.extend_from_slice(b);
                    chunk.commit_all();
                }
                self.resampler.push(&self.scratch);
            }
            frame.copy_from_slice(&self.resampler.ready()[..frame.len()]);
            self.resampler.consume(frame.len());
            true
        }
    }

    ///
    /// Stream errors are counted in `errors`: the callback runs on the audio thread, which
    /// may not log.
    pub fn open(
        spec: &InputSpec,
        errors: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Source, EngineError> {
        #[cfg(target_os = "linux")]
        crate::device::alsa_quiet::silence_on_this_thread();
        let device = match spec {
            InputSpec::Alsa(name) | InputSpec::Cpal(name) => {
                let host = if matches!(spec, InputSpec::Alsa(_)) {
                    cpal::host_from_id(cpal::HostId::Alsa).map_err(|e| dev_err(&e))?
                } else {
                    cpal::default_host()
                };
                host.input_devices()
                    .map_err(|e| dev_err(&e))?
                    .find(|d| crate::device::cpal_named(d, name))
                    .ok_or_else(|| EngineError::Device(format!("no input device {name:?}")))?
            }
            _ => cpal::default_host()
                .default_input_device()
                .ok_or_else(|| EngineError::Device("no default input device".into()))?,
        };
        let config = device.default_input_config().map_err(|e| dev_err(&e))?;
        let channels = usize::from(config.channels()).max(1);
        let rate = config.sample_rate();
        let (mut producer, ring) = rtrb::RingBuffer::new(rate as usize);
        let err_fn = {
            let errors = errors.clone();
            move |_: cpal::Error| {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let stream = match config.sample_format() {
            cpal::SampleFormat::F32 => device.build_input_stream(
                config.config(),
                move |data: &[f32], _: &cpal::InputCallbackInfo| {
                    for f in data.chunks_exact(channels) {
                        let _ = producer.push(f.iter().sum::<f32>() / channels as f32);
                    }
                },
                err_fn.clone(),
                None,
            ),
            cpal::SampleFormat::I16 => device.build_input_stream(
                config.config(),
                move |data: &[i16], _: &cpal::InputCallbackInfo| {
                    for f in data.chunks_exact(channels) {
                        let sum: f32 = f.iter().map(|&s| netamp_dsp::sample::i16_to_f32(s)).sum();
                        let _ = producer.push(sum / channels as f32);
                    }
                },
                err_fn,
                None,
            ),
            other => {
                return Err(EngineError::Device(format!(
                    "input sample format {other:?}"
                )))
            }
        }
        .map_err(|e| dev_err(&e))?;
        stream.play().map_err(|e| dev_err(&e))?;
        Ok(Source::Device(DeviceInput {
            _stream: stream,
            ring,
            resampler: StreamResampler::new(rate)?,
            scratch: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_fans_out_and_a_full_tap_loses_frames_alone() {
        let c = Capture::start(&InputSpec::None, CaptureOptions::default()).unwrap();
        let mut fast = c.subscribe(1000);
        let _slow = c.subscribe(20);
        let mut got = Vec::new();
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(10));
            fast.read(&mut got);
        }
        assert!(got.len() >= FRAME * 10, "{}", got.len());
        assert!(c.lost_frames() > 0, "the slow tap loses frames");
        assert!(c.level_dbfs() <= -89.9);
    }
}
