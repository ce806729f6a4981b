//! The playout half of a call's receive path, a state machine with time passed in: audio
//! packets go into the jitter buffer; each poll decodes the frames due, resamples them to
//! 48 kHz and writes them to an engine stream (priority 8, ducks clips and live HTTP
//! audio).
//!
//! Two things keep that stream from running dry or piling up:
//!
//! - **Cushion.** The stream starts behind [`LEAD_IN`] of silence so the renderer's 5 ms
//!   blocks never catch up with a frame being written. When the ring runs dry anyway (the
//!   jitter buffer moved its delay up, the thread was late, a slow sender), the cushion
//!   is rebuilt with silence before the next frame instead of playing every frame from an
//!   empty ring, which would click at every packet.
//! - **Clock drift** (ARCHITECTURE.md §2). The jitter buffer plays at the sender's pace;
//!   the device plays at its own. [`DriftEstimator`] measures the difference from the
//!   packets' timestamps against the device's position as they arrive, and once it is
//!   trusted the live
//!   resampler's ratio is set to cancel it (a feed-forward correction: the ring's level
//!   moves by milliseconds with thread scheduling, too much to steer by).

use netamp_engine::resample::StreamResampler;
use netamp_engine::{Engine, StreamOptions, StreamWriter, SAMPLE_RATE};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::drift::DriftEstimator;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Packet, Pop};
use crate::media::{pcm_rate, Decoder};
use crate::rtp::RtpHeader;
use crate::rtp_in::{RtpInParams, RtpInStats};
use crate::sdp::AudioCodec;
use crate::SipError;

/// Priority of a call's audio (ARCHITECTURE.md §2).
pub const CALL_PRIORITY: u8 = 8;
/// The stream's cushion, 48 kHz samples (10 ms): silence ahead of the first frame, and
/// what is rebuilt after the ring ran dry.
pub const LEAD_IN: usize = 480;
/// The longest frame (Opus's 120 ms) at 48 kHz.
const MAX_FRAME: usize = 5760;
/// The most silence one refill adds (half a render block).
const REFILL_STEP: usize = 120;
/// How often the resampler's ratio is re-read from the estimate (device frames).
const DRIFT_EVERY: u64 = SAMPLE_RATE as u64;
/// A new estimate closer than this to the one in force is not applied.
const DRIFT_STEP: f64 = 5e-6;

/// Decoder and resampler, made at the first packet; the engine stream, opened at the
/// first decoded audio (so the stream never waits, empty, for the jitter buffer).
struct Output {
    decoder: Decoder,
    resampler: StreamResampler,
    writer: Option<StreamWriter>,
    pcm: Vec<f32>,
}

/// The playout state of one call leg.
pub struct CallPlayout {
    engine: Engine,
    codec: AudioCodec,
    clock: u32,
    pcm_per_unit: f64,
    jb: JitterBuffer,
    out: Option<Output>,
    drift: DriftEstimator,
    /// The drift the resampler is set to cancel.
    applied: f64,
    /// Device frame at which the estimate is next read.
    next_drift_check: u64,
    /// Jitter-buffer resyncs seen (each starts the drift estimate over).
    resyncs: u64,
    /// The stream's starved frames at the last write.
    starved: u64,
    last_jb: JitterStats,
    /// The previous poll (how long this thread was away).
    last_poll: Option<Instant>,
    zeros: Vec<f32>,
}

impl CallPlayout {
    /// Playout for the negotiated codec into a new stream of `engine`.
    pub fn new(engine: Engine, params: &RtpInParams) -> Result<Self, SipError> {
        // Fail here, not at the first packet, when the codec cannot be decoded.
        Decoder::new(params.codec)?;
        let clock = params.codec.clock_rate();
        let config = JitterConfig {
            clock_rate: clock,
            frame_units: clock / 50,
            ..params.jitter
        };
        Ok(Self {
            engine,
            codec: params.codec,
            clock,
            pcm_per_unit: f64::from(pcm_rate(params.codec)) / f64::from(clock),
            jb: JitterBuffer::new(config),
            out: None,
            drift: DriftEstimator::new(),
            applied: 0.0,
            next_drift_check: 0,
            resyncs: 0,
            starved: 0,
            last_jb: JitterStats::default(),
            last_poll: None,
            zeros: vec![0.0; LEAD_IN + MAX_FRAME],
        })
    }

    /// An audio packet (of the negotiated payload type) that arrived at `now`.
    pub fn push(&mut self, h: &RtpHeader, payload: &[u8], now: Instant) {
        if self.out.is_none() {
            match self.start_output() {
                Ok(o) => self.out = Some(o),
                Err(e) => {
                    tracing::warn!("call audio: {e}");
                    return;
                }
            }
        }
        self.jb.push(
            Packet {
                seq: h.seq,
                timestamp: h.timestamp,
                ssrc: h.ssrc,
                payload: payload.to_vec(),
            },
            now,
        );
        let resyncs = self.jb.stats().resyncs;
        if resyncs != self.resyncs {
            // A new source or timeline: its clock is measured afresh.
            self.resyncs = resyncs;
            self.drift.reset();
        }
        // The sender's clock (the newest timestamp) against the device's, at arrival.
        let device = self.engine.device_position(now) / f64::from(SAMPLE_RATE);
        let media = self.jb.newest_timestamp() as f64 / f64::from(self.clock);
        self.drift.observe(device, media);
    }

    fn start_output(&self) -> Result<Output, SipError> {
        Ok(Output {
            decoder: Decoder::new(self.codec)?,
            resampler: StreamResampler::live(pcm_rate(self.codec))?,
            writer: None,
            pcm: Vec::with_capacity(MAX_FRAME * 2),
        })
    }

    /// Plays what is due at `now`; updates `stats`.
    pub fn poll(&mut self, now: Instant, stats: &RtpInStats) {
        let away = self
            .last_poll
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.last_poll = Some(now);
        self.play(now, away);
        let s = self.jb.stats();
        if s != self.last_jb {
            stats.concealed.store(s.lost, Ordering::Relaxed);
            self.last_jb = s;
        }
        stats
            .target_delay_us
            .store(self.jb.target_delay().as_micros() as u64, Ordering::Relaxed);
        stats
            .drift_ppm
            .store((self.applied * 1e6).round() as i64, Ordering::Relaxed);
    }

    /// The stream's ring now, 48 kHz samples (0 before it opened).
    pub fn buffered(&self) -> usize {
        self.out
            .as_ref()
            .and_then(|o| o.writer.as_ref())
            .map_or(0, StreamWriter::buffered)
    }

    /// The drift the resampler cancels now (relative; +0.001 = the sender 1,000 ppm fast).
    pub fn drift(&self) -> f64 {
        self.applied
    }

    fn play(&mut self, now: Instant, away: Duration) {
        let Some(o) = self.out.as_mut() else { return };
        o.pcm.clear();
        // Frames are as long as the sender makes them (the buffer learns it).
        let frame_pcm = (f64::from(self.jb.frame_units()) * self.pcm_per_unit) as usize;
        while let Some(pop) = self.jb.pop(now) {
            match pop {
                Pop::Frame(f) => o.decoder.decode(&f.payload, frame_pcm, &mut o.pcm),
                Pop::Lost { .. } => o.decoder.conceal(frame_pcm, &mut o.pcm),
            }
        }
        if o.pcm.is_empty() {
            return;
        }
        o.resampler.push(&o.pcm);
        if o.writer.is_none() {
            match open_stream(&self.engine) {
                Ok(w) => o.writer = Some(w),
                Err(e) => tracing::warn!("call audio: {e}"),
            }
        }
        let Some(w) = o.writer.as_mut() else { return };
        let device = self.engine.stats().frames_rendered;
        if device >= self.next_drift_check {
            self.next_drift_check = device + DRIFT_EVERY;
            if let Some(d) = self.drift.drift() {
                if (d - self.applied).abs() > DRIFT_STEP {
                    self.applied = d;
                    o.resampler.set_drift(1.0 / (1.0 + d));
                }
            }
        }
        let ready = o.resampler.ready();
        let starved = w.starved_frames();
        if starved != self.starved {
            self.starved = starved;
            // The ring ran dry. If this thread was away, the frames it writes now are the
            // ones it owed and the cushion comes back with them; otherwise the audio is
            // behind the device (a slow sender, a longer jitter delay) and the cushion is
            // rebuilt with silence, half a block at a time so no dip grows by more than that.
            let frame48 = frame_pcm * SAMPLE_RATE as usize / pcm_rate(self.codec) as usize;
            let want = LEAD_IN + frame48.min(MAX_FRAME);
            let owed = (away.as_secs_f64() * f64::from(SAMPLE_RATE)) as usize;
            let have = w.buffered() + ready.len() + owed;
            let refill = want.saturating_sub(have).min(REFILL_STEP);
            w.write(&self.zeros[..refill]);
        }
        // The ring holds a second; a call that falls that far behind loses the rest.
        let len = ready.len();
        w.write(ready);
        o.resampler.consume(len);
    }
}

fn open_stream(engine: &Engine) -> Result<StreamWriter, SipError> {
    let mut writer = engine.add_stream(StreamOptions {
        gain: 1.0,
        priority: CALL_PRIORITY,
        capacity_ms: 1000,
    })?;
    writer.write(&[0.0; LEAD_IN]);
    Ok(writer)
}
