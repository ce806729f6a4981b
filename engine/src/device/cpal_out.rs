//! Sound cards through cpal (ALSA on Linux).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use super::OutputSpec;
use crate::{EngineError, Renderer, SAMPLE_RATE};

type Shared = Arc<Mutex<Option<Renderer>>>;

/// A failed open, with the renderer handed back when the callback never took it.
pub(super) type OpenFailure = (EngineError, Option<Box<Renderer>>);

fn find_device(spec: &OutputSpec) -> Result<(cpal::Device, cpal::HostId), EngineError> {
    #[cfg(target_os = "linux")]
    super::alsa_quiet::silence_on_this_thread();
    let dev_err = |e: &dyn std::fmt::Display| EngineError::Device(e.to_string());
    let host = match spec {
        OutputSpec::Alsa(_) => cpal::host_from_id(cpal::HostId::Alsa).map_err(|e| dev_err(&e))?,
        _ => cpal::default_host(),
    };
    let device = match spec {
        OutputSpec::Cpal(name) | OutputSpec::Alsa(name) => host
            .output_devices()
            .map_err(|e| dev_err(&e))?
            .find(|d| super::cpal_named(d, name))
            .ok_or_else(|| EngineError::Device(format!("no output device named {name:?}"))),
        _ => host
            .default_output_device()
            .ok_or_else(|| EngineError::Device("no default output device".into())),
    }?;
    Ok((device, host.id()))
}

/// Render blocks per callback asked of a sound server (PulseAudio, or PipeWire through
/// its PulseAudio protocol): left to itself it asks for 2 s at a time, which drains every
/// source's ring in one callback.
const SERVER_BLOCKS: usize = 4;

fn pick_config(
    device: &cpal::Device,
    host: cpal::HostId,
    period: usize,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat), EngineError> {
    let configs = device
        .supported_output_configs()
        .map_err(|e| EngineError::Device(e.to_string()))?;
    let rate: cpal::SampleRate = SAMPLE_RATE;
    let mut best: Option<cpal::SupportedStreamConfigRange> = None;
    for c in configs {
        if c.min_sample_rate() > rate || c.max_sample_rate() < rate {
            continue;
        }
        let score = |c: &cpal::SupportedStreamConfigRange| {
            (c.sample_format() == cpal::SampleFormat::F32) as u32 * 2 + (c.channels() <= 2) as u32
        };
        if best.as_ref().is_none_or(|b| score(&c) > score(b)) {
            best = Some(c);
        }
    }
    let best = best.ok_or_else(|| EngineError::Device("device cannot play 48 kHz".into()))?;
    let format = best.sample_format();
    let mut config = best.with_sample_rate(rate).config();
    if host != cpal::HostId::Alsa {
        if let cpal::SupportedBufferSize::Range { min, max } = *best.buffer_size() {
            let frames = u32::try_from(period * SERVER_BLOCKS).unwrap_or(u32::MAX);
            config.buffer_size = cpal::BufferSize::Fixed(frames.clamp(min, max.max(min)));
        }
    }
    Ok((config, format))
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    shared: Shared,
    stats: Arc<crate::stats::Stats>,
    period: usize,
) -> Result<cpal::Stream, EngineError>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut renderer: Option<Renderer> = None;
    let mut block = vec![0.0f32; period];
    let mut pos = period;
    let err_stats = stats.clone();
    device
        .build_output_stream(
            *config,
            move |data: &mut [T], _info: &cpal::OutputCallbackInfo| {
                if renderer.is_none() {
                    // Taken once on the first callback; no lock after that.
                    if let Ok(mut g) = shared.try_lock() {
                        renderer = g.take();
                    }
                    if let Some(r) = &renderer {
                        // Once, with the renderer: this is the thread that renders.
                        r.stats()
                            .set_rt_priority(super::rt_priority::promote_current_thread());
                    }
                }
                let Some(r) = renderer.as_mut() else {
                    data.iter_mut().for_each(|s| *s = T::EQUILIBRIUM);
                    return;
                };
                for frame in data.chunks_mut(channels) {
                    if pos >= period {
                        r.render(&mut block, Instant::now());
                        pos = 0;
                    }
                    let v = T::from_sample(block[pos]);
                    pos += 1;
                    frame.iter_mut().for_each(|s| *s = v);
                }
            },
            // cpal may call this from its audio thread: count, never log.
            move |_err| err_stats.count_xrun(),
            None,
        )
        .map_err(|e| EngineError::Device(e.to_string()))
}

fn open(
    spec: &OutputSpec,
    shared: Shared,
    stats: Arc<crate::stats::Stats>,
    period: usize,
) -> Result<(String, cpal::Stream), EngineError> {
    let (device, host) = find_device(spec)?;
    let name = super::cpal_name(&device);
    let (config, format) = pick_config(&device, host, period)?;
    let stream = match format {
        cpal::SampleFormat::F32 => build::<f32>(&device, &config, shared, stats, period),
        cpal::SampleFormat::I16 => build::<i16>(&device, &config, shared, stats, period),
        cpal::SampleFormat::I32 => build::<i32>(&device, &config, shared, stats, period),
        cpal::SampleFormat::U16 => build::<u16>(&device, &config, shared, stats, period),
        other => Err(EngineError::Device(format!(
            "sample format {other:?} not supported"
        ))),
    }?;
    stream
        .play()
        .map_err(|e| EngineError::Device(e.to_string()))?;
    Ok((format!("cpal:{name}"), stream))
}

/// Opens a sound card on its own thread (cpal streams must stay on the thread that made
/// them). On failure the renderer is handed back so the caller can fall back.
pub(super) fn spawn(
    spec: &OutputSpec,
    renderer: Renderer,
    stop: Arc<AtomicBool>,
) -> Result<(String, JoinHandle<()>), OpenFailure> {
    let period = renderer.period();
    let stats = renderer.stats().clone();
    let shared: Shared = Arc::new(Mutex::new(Some(renderer)));
    let (tx, rx) = mpsc::channel();
    let spec_owned = spec.clone();
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("netamp-cpal".into())
        .spawn(
            move || match open(&spec_owned, thread_shared, stats, period) {
                Ok((name, stream)) => {
                    let _ = tx.send(Ok(name));
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    drop(stream);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            },
        );
    // None only if a callback already took the renderer (a stream that opened too late).
    let take_back = |e: EngineError| {
        Err((
            e,
            shared.lock().ok().and_then(|mut g| g.take()).map(Box::new),
        ))
    };
    let thread = match thread {
        Ok(t) => t,
        Err(e) => return take_back(EngineError::Device(e.to_string())),
    };
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(name)) => Ok((name, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            take_back(e)
        }
        Err(_) => take_back(EngineError::Device(
            "sound card did not open within 5 s".into(),
        )),
    }
}
