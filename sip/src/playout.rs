//! The playout half of a call's receive path, a state machine with time passed in: audio
//! packets go into the jitter buffer; each poll decodes the frames due, resamples them to
//! 48 kHz and writes them to an engine stream (priority 8, ducks clips and live HTTP
//! audio).
//!
//! Two things keep that stream from running dry or piling up:
//!
//! - **Cushion.** The stream starts behind [`LEAD_IN`] of silence so the renderer's 5 ms
//!   blocks never catch up with a frame being written. When the ring runs dry anyway,
//!   the frames due are compared with where the schedule puts them:
//!   - *Behind* it (the jitter buffer moved its delay up, a slow sender): the whole
//!     cushion is rebuilt in front of the next frame at once, with the codec's
//!     concealment after a short dry spell (so the rebuild is not a second gap) and
//!     silence after a long one.
//!   - *Ahead* of it (this thread woke late and writes frames that were due while the
//!     device played silence): as much of the oldest audio as the device played
//!     silence instead of is dropped. Kept, every late wake-up would add to the call's
//!     delay for good.
//!
//!   When this thread's own lateness runs the ring dry a second time within
//!   [`GROW_WITHIN`], the cushion grows by what that dry spell lacked, up to
//!   [`MAX_CUSHION`]: this machine wakes the thread that late, and will again. Once is
//!   not enough to pay delay for the rest of the call.
//! - **Clock drift** (ARCHITECTURE.md §2). The jitter buffer plays at the sender's pace;
//!   the device plays at its own. [`DriftEstimator`] measures the difference from the
//!   packets' timestamps against the device's position as they arrive, and once it is
//!   trusted the live resampler's ratio is set to cancel it (a feed-forward correction:
//!   the ring's level moves by milliseconds with thread scheduling, too much to steer
//!   by).

use netamp_engine::resample::StreamResampler;
use netamp_engine::{Engine, StreamOptions, StreamWriter, SAMPLE_RATE};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::drift::DriftEstimator;
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Packet, Pop};
use crate::media::{pcm_rate, Decoder};
use crate::rtp::RtpHeader;
use crate::rtp_params::{RtpInParams, RtpInStats};
use crate::sdp::AudioCodec;
use crate::SipError;

/// Priority of a call's audio (ARCHITECTURE.md §2).
pub const CALL_PRIORITY: u8 = 8;
/// The stream's cushion, 48 kHz samples (10 ms): silence ahead of the first frame, and
/// what is rebuilt after the ring ran dry.
pub const LEAD_IN: usize = 480;
/// How late (48 kHz frames) the receive thread may poll without that counting as
/// lateness: it polls every 2 ms.
const POLL_SLACK: usize = 120;
/// Two dry spells of this thread's own making this close (device frames, 30 s) grow
/// the cushion.
pub const GROW_WITHIN: u64 = 30 * SAMPLE_RATE as u64;
/// The most the cushion grows to on a machine that wakes the receive thread late.
pub const MAX_CUSHION: usize = 1440;
/// The longest frame (Opus's 120 ms) at 48 kHz.
const MAX_FRAME: usize = 5760;
/// A dry spell longer than this (48 kHz frames) is refilled with silence: concealment
/// would repeat audio that is too old by then.
const CONCEAL_DRY: u64 = 4800;
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
    /// The cushion now: [`LEAD_IN`], grown after this thread came late.
    cushion: usize,
    /// Device frame of the last dry spell this thread's lateness caused.
    last_own_dry: Option<u64>,
    /// The previous poll (how long this thread was away).
    last_poll: Option<Instant>,
    /// Frames due at this poll (kept to reuse its allocation).
    pops: Vec<Pop>,
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
            cushion: LEAD_IN,
            last_own_dry: None,
            last_poll: None,
            pops: Vec::with_capacity(16),
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
        self.play(now);
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

    fn play(&mut self, now: Instant) {
        let away = self.last_poll.map_or(0, |t| frames_between(t, now));
        self.last_poll = Some(now);
        let Some(o) = self.out.as_mut() else { return };
        // This thread's lateness: how long ago the first frame played now was due, but
        // no longer than the thread was away (a packet that came late was not ours to
        // play earlier).
        let late = self
            .jb
            .next_due()
            .map_or(0, |due| frames_between(due, now))
            .min(away);
        self.pops.clear();
        while let Some(pop) = self.jb.pop(now) {
            self.pops.push(pop);
        }
        if self.pops.is_empty() {
            return;
        }
        o.pcm.clear();
        // Frames are as long as the sender makes them (the buffer learns it).
        let frame_pcm = (f64::from(self.jb.frame_units()) * self.pcm_per_unit) as usize;
        let frame48 = frame_pcm * SAMPLE_RATE as usize / pcm_rate(self.codec) as usize;
        let mut discard = 0;
        let dry = o
            .writer
            .as_ref()
            .map(|w| (w.starved_frames(), w.buffered()))
            .filter(|(starved, _)| *starved != self.starved);
        if let Some((starved, buffered)) = dry {
            // The ring ran dry: the device played `silence` frames that were in no
            // schedule.
            let silence = (starved - self.starved) as usize;
            self.starved = starved;
            let level = buffered + o.resampler.ready().len() + self.pops.len() * frame48;
            // As much of the silence as this thread was late beyond its polling slack is
            // its own doing; the second time in a while, the cushion grows by it.
            let own = silence.min(late.saturating_sub(POLL_SLACK));
            if own > 0 {
                let device = self.engine.stats().frames_rendered;
                if self
                    .last_own_dry
                    .is_some_and(|at| device.saturating_sub(at) < GROW_WITHIN)
                {
                    self.cushion += own.min(MAX_CUSHION.saturating_sub(self.cushion));
                }
                self.last_own_dry = Some(device);
            }
            // On schedule, the ring would now hold the cushion and the frames due, less
            // what the device played since the first of them was due.
            let scheduled = (self.cushion + self.pops.len() * frame48).saturating_sub(late);
            let mut fill = 0;
            if level > scheduled {
                // The frames written now were due while the ring was dry: as much of the
                // oldest as the device played silence instead of is dropped, which puts
                // the audio back on its schedule. Kept, every late wake-up would add to
                // the call's delay for good.
                discard = (level - scheduled).min(silence);
            } else if level < scheduled {
                // The audio is behind its schedule (a longer jitter delay, a slow sender)
                // or the cushion just grew: it is rebuilt in front of the audio.
                fill = fill_len(scheduled - level, self.codec);
                if silence as u64 <= CONCEAL_DRY {
                    o.decoder.conceal(fill, &mut o.pcm);
                } else {
                    o.pcm.resize(fill, 0.0);
                }
            }
            tracing::debug!(silence, late, level, fill, discard, "call audio ran dry");
        }
        for pop in self.pops.drain(..) {
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
        o.resampler.consume(discard);
        let ready = o.resampler.ready();
        // The ring holds a second; a call that falls that far behind loses the rest.
        let len = ready.len();
        w.write(ready);
        o.resampler.consume(len);
    }
}

/// 48 kHz frames from `from` to `to` (0 if `to` is earlier).
fn frames_between(from: Instant, to: Instant) -> usize {
    (to.saturating_duration_since(from).as_secs_f64() * f64::from(SAMPLE_RATE)) as usize
}

/// Samples at the codec's PCM rate that cover `short` 48 kHz frames, in whole 2.5 ms
/// steps (the unit Opus conceals in).
fn fill_len(short: usize, codec: AudioCodec) -> usize {
    let step = pcm_rate(codec) as usize / 400;
    short.div_ceil(SAMPLE_RATE as usize / 400) * step
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
