//! The playout half of a call's receive path, a state machine with time passed in: audio
//! packets go into the jitter buffer; each poll decodes the frames due, resamples them to
//! 48 kHz and writes them to an engine stream (priority 8, ducks clips and live HTTP
//! audio).
//!
//! The ring's cushion, the rebuild after it ran dry, dropping audio written late and the
//! clock-drift correction are the engine's live-playout core
//! ([`netamp_engine::live::playout`]), shared with `transmit.cgi`. This side knows the
//! schedule: how late the frames due now are (the jitter buffer's due time against
//! this thread's wake-up), and feeds the core the packets' timestamps against the
//! device's position as the sender's clock.

use netamp_engine::live::playout::{Due, LivePlayout, PlayoutConfig, Ring};
use netamp_engine::resample::StreamResampler;
use netamp_engine::{Engine, StreamOptions, StreamWriter, SAMPLE_RATE};
use std::sync::atomic::Ordering;
use std::time::Instant;

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
/// The most the cushion grows to on a machine that wakes the receive thread late.
pub const MAX_CUSHION: usize = 1440;
/// The longest frame (Opus's 120 ms) at 48 kHz.
const MAX_FRAME: usize = 5760;
/// A dry spell longer than this (48 kHz frames) is refilled with silence: concealment
/// would repeat audio that is too old by then.
const CONCEAL_DRY: u64 = 4800;

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
    /// Cushion, dry spells and drift.
    core: LivePlayout,
    /// Jitter-buffer resyncs seen (each starts the drift estimate over).
    resyncs: u64,
    last_jb: JitterStats,
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
            core: LivePlayout::new(PlayoutConfig {
                cushion: LEAD_IN,
                max_cushion: MAX_CUSHION,
                poll_slack: POLL_SLACK,
            }),
            resyncs: 0,
            last_jb: JitterStats::default(),
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
            self.core.restart_clock();
        }
        // The sender's clock (the newest timestamp) against the device's, at arrival.
        let device = self.engine.device_position(now) / f64::from(SAMPLE_RATE);
        let media = self.jb.newest_timestamp() as f64 / f64::from(self.clock);
        self.core.sender_clock(device, media);
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
            .store((self.core.drift() * 1e6).round() as i64, Ordering::Relaxed);
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
        self.core.drift()
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
        let device = self.engine.stats().frames_rendered;
        let plan = self.core.plan(
            Ring {
                buffered: o.writer.as_ref().map_or(0, StreamWriter::buffered),
                starved: o.writer.as_ref().map_or(0, StreamWriter::starved_frames),
                device,
            },
            Due {
                frames: o.resampler.ready().len() + self.pops.len() * frame48,
                late: Some(late),
            },
        );
        // The first write's cushion goes straight into the ring when it opens (below);
        // a rebuild goes in front of the frames, concealed after a short dry spell (so
        // it is not a second gap) and silent after a long one.
        if !plan.first && plan.fill > 0 {
            let fill = fill_len(plan.fill, self.codec);
            if plan.dry as u64 <= CONCEAL_DRY {
                o.decoder.conceal(fill, &mut o.pcm);
            } else {
                o.pcm.resize(fill, 0.0);
            }
        }
        if plan.dry > 0 {
            tracing::debug!(
                dry = plan.dry,
                late,
                fill = plan.fill,
                discard = plan.discard,
                "call audio ran dry"
            );
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
            match open_stream(&self.engine, plan.fill) {
                Ok(w) => o.writer = Some(w),
                Err(e) => tracing::warn!("call audio: {e}"),
            }
        }
        let Some(w) = o.writer.as_mut() else { return };
        if let Some(ratio) = self.core.ratio(device) {
            o.resampler.set_drift(ratio);
        }
        o.resampler.consume(plan.discard);
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

/// The call's stream, opened behind `cushion` frames of silence.
fn open_stream(engine: &Engine, cushion: usize) -> Result<StreamWriter, SipError> {
    let mut writer = engine.add_stream(StreamOptions {
        gain: 1.0,
        priority: CALL_PRIORITY,
        capacity_ms: 1000,
    })?;
    writer.write(&[0.0; MAX_CUSHION][..cushion.min(MAX_CUSHION)]);
    Ok(writer)
}
