//! The real-time half: mixes every source into one block per device period.
//!
//! Nothing here allocates, locks, blocks or logs. Sources arrive as boxes built on the main
//! thread, leave through the garbage ring, and everything the outside world learns goes out
//! through the event ring and atomic counters.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use netamp_dsp::limiter::Limiter;
use netamp_dsp::mixer::{duck_target, top_priority};
use netamp_dsp::ramp::GainRamp;

use crate::command::{Command, RtEvent};
use crate::source::{Slot, SlotState};
use crate::stats::Stats;
use crate::EngineConfig;

/// Samples over which a starved source fades its last value to zero (1 ms).
const STARVE_FADE: usize = 48;

/// The render thread's engine: call [`Renderer::render`] once per device period.
pub struct Renderer {
    commands: rtrb::Consumer<Command>,
    events: rtrb::Producer<RtEvent>,
    garbage: rtrb::Producer<Box<Slot>>,
    slots: Vec<Option<Box<Slot>>>,
    /// Slots whose box could not be handed to the garbage ring yet.
    pending_garbage: usize,
    mix: Vec<f32>,
    scratch: Vec<f32>,
    output_gain: GainRamp,
    mute: GainRamp,
    muted: bool,
    user_gain: f32,
    limiter: Limiter,
    duck_gain: f32,
    ramp_len: u32,
    period: usize,
    frames: u64,
    stats: Arc<Stats>,
    /// What the speaker plays, for the echo canceller (dropped when the capture side
    /// does not keep up: wait-free either way).
    reference: rtrb::Producer<f32>,
    /// Automatic volume control's gain (linear, f32 bits), set by the capture side.
    avc_gain: Arc<std::sync::atomic::AtomicU32>,
    avc: GainRamp,
}

impl Renderer {
    pub(crate) fn new(
        config: &EngineConfig,
        commands: rtrb::Consumer<Command>,
        events: rtrb::Producer<RtEvent>,
        garbage: rtrb::Producer<Box<Slot>>,
        stats: Arc<Stats>,
        reference: rtrb::Producer<f32>,
        avc_gain: Arc<std::sync::atomic::AtomicU32>,
    ) -> Self {
        let ramp = config.ramp_samples();
        let mut slots = Vec::with_capacity(config.max_sources);
        slots.resize_with(config.max_sources, || None);
        Self {
            commands,
            events,
            garbage,
            slots,
            pending_garbage: 0,
            mix: vec![0.0; config.period_frames],
            scratch: vec![0.0; config.period_frames],
            output_gain: GainRamp::new(1.0, ramp),
            mute: GainRamp::new(1.0, ramp),
            muted: false,
            user_gain: 1.0,
            limiter: Limiter::output_default(),
            duck_gain: config.duck_gain,
            ramp_len: ramp,
            period: config.period_frames,
            frames: 0,
            stats,
            reference,
            avc_gain,
            avc: GainRamp::new(1.0, ramp),
        }
    }

    /// Frames per block; `render` takes output slices of exactly this length.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The counters this renderer publishes (device drivers count xruns here).
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Renders one block into `out` (mono, 48 kHz). `now` is when the block goes out.
    ///
    /// `out` longer than one period is rendered in several blocks; a shorter one renders a
    /// partial block.
    pub fn render(&mut self, out: &mut [f32], now: Instant) {
        let first = self.frames;
        for chunk in out.chunks_mut(self.period) {
            self.render_block(chunk, now);
        }
        self.stats.set_clock(first, now);
    }

    fn render_block(&mut self, out: &mut [f32], now: Instant) {
        let t0 = Instant::now();
        if self.frames == 0 {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64);
            self.stats.started_unix_ns.store(unix.unwrap_or(0), Relaxed);
        }
        self.drain_commands();
        self.flush_garbage();

        let n = out.len();
        self.mix[..n].fill(0.0);

        let top = top_priority(
            self.slots
                .iter()
                .flatten()
                .filter(|s| s.state == SlotState::Playing)
                .map(|s| s.priority),
        );
        let mut active = 0usize;
        for index in 0..self.slots.len() {
            let Some(slot) = self.slots[index].as_deref_mut() else {
                continue;
            };
            if slot.state == SlotState::Ended {
                continue;
            }
            if let Some(top) = top {
                slot.duck
                    .set_target(duck_target(slot.priority, top, self.duck_gain));
            }
            let outcome = mix_slot(slot, &mut self.scratch[..n], &mut self.mix[..n]);
            match outcome {
                SlotOutcome::Continue { started } => {
                    active += 1;
                    if started {
                        push_event(
                            &mut self.events,
                            &self.stats,
                            RtEvent::Started {
                                id: slot.id,
                                at: now,
                                frame: self.frames,
                            },
                        );
                    }
                }
                SlotOutcome::Starved => {
                    active += 1;
                    self.stats.underruns.fetch_add(1, Relaxed);
                    push_event(
                        &mut self.events,
                        &self.stats,
                        RtEvent::Underrun { id: slot.id },
                    );
                }
                SlotOutcome::Done { stopped } => {
                    let frame = self.frames + n as u64;
                    let id = slot.id;
                    // The box first: whoever sees the event finds the place already free.
                    self.release(index);
                    push_event(
                        &mut self.events,
                        &self.stats,
                        RtEvent::Ended { id, stopped, frame },
                    );
                }
            }
        }

        let mix = &mut self.mix[..n];
        self.output_gain.process(mix);
        self.mute.process(mix);
        let avc = f32::from_bits(self.avc_gain.load(Relaxed));
        if avc != self.avc.target() {
            self.avc.set_target(avc);
        }
        self.avc.process(mix);
        let before = self.limiter.engaged_samples();
        self.limiter.process(mix);
        out.copy_from_slice(mix);
        if self.reference.slots() >= n {
            let _ = self.reference.push_partial_slice(mix);
        }

        self.frames += n as u64;
        self.stats
            .limiter_engaged
            .fetch_add(self.limiter.engaged_samples() - before, Relaxed);
        self.stats.frames_rendered.store(self.frames, Relaxed);
        self.stats.blocks.fetch_add(1, Relaxed);
        self.stats.active_sources.store(active, Relaxed);
        let spent = t0.elapsed().as_nanos() as u64;
        self.stats.render_ns_total.fetch_add(spent, Relaxed);
        self.stats.render_ns_max.fetch_max(spent, Relaxed);
    }

    fn drain_commands(&mut self) {
        while let Ok(cmd) = self.commands.pop() {
            match cmd {
                Command::Add(mut slot) => {
                    slot.volume = GainRamp::new(slot.volume.target(), self.ramp_len);
                    slot.duck = GainRamp::new(1.0, self.ramp_len);
                    if let Some(free) = self.slots.iter_mut().find(|s| s.is_none()) {
                        *free = Some(slot);
                    } else {
                        // The main thread counts live sources before adding, so this only
                        // happens if that count is wrong. Refuse the source without freeing
                        // memory here: hand it to the garbage ring, or leak it if even that
                        // is full (a bounded leak beats a deallocation on this thread).
                        let id = slot.id;
                        if let Err(rtrb::PushError::Full(slot)) = self.garbage.push(slot) {
                            std::mem::forget(slot);
                        }
                        let ev = RtEvent::Ended {
                            id,
                            stopped: true,
                            frame: self.frames,
                        };
                        push_event(&mut self.events, &self.stats, ev);
                    }
                }
                Command::Stop(id) => {
                    let live = self.slots.iter_mut().flatten();
                    if let Some(slot) = live
                        .filter(|s| s.state != SlotState::Ended)
                        .find(|s| s.id == id)
                    {
                        slot.state = SlotState::Stopping;
                        slot.shared.stopped.store(true, Relaxed);
                        slot.volume.set_target(0.0);
                    }
                }
                Command::SetGain(id, gain) => {
                    if let Some(slot) = self.slots.iter_mut().flatten().find(|s| s.id == id) {
                        if slot.state != SlotState::Stopping {
                            slot.volume.set_target(gain);
                        }
                    }
                }
                Command::SetOutputGain(g) => {
                    self.user_gain = g.max(0.0);
                    self.output_gain.set_target(self.user_gain);
                }
                Command::SetMute(m) => {
                    self.muted = m;
                    self.mute.set_target(if m { 0.0 } else { 1.0 });
                }
            }
        }
    }

    /// Moves a finished slot's box to the garbage ring; if the ring is full the slot stays
    /// as [`SlotState::Ended`] (counted in `pending_garbage`) and is retried next block.
    /// The main thread frees the source's place when it drops the box, so the count of
    /// live sources never depends on an event getting through.
    fn release(&mut self, index: usize) {
        if let Some(slot) = self.slots[index].take() {
            if let Err(rtrb::PushError::Full(slot)) = self.garbage.push(slot) {
                self.slots[index] = Some(slot);
                if let Some(s) = self.slots[index].as_deref_mut() {
                    s.state = SlotState::Ended;
                    s.volume.set_now(0.0);
                }
                self.pending_garbage += 1;
            }
        }
    }

    fn flush_garbage(&mut self) {
        if self.pending_garbage == 0 {
            return;
        }
        self.pending_garbage = 0;
        for index in 0..self.slots.len() {
            let dead =
                matches!(self.slots[index].as_deref(), Some(s) if s.state == SlotState::Ended);
            if dead {
                self.release(index);
            }
        }
    }
}

enum SlotOutcome {
    Continue { started: bool },
    Starved,
    Done { stopped: bool },
}

/// Reads one block of a source, applies its gains and adds it to `mix`.
fn mix_slot(slot: &mut Slot, scratch: &mut [f32], mix: &mut [f32]) -> SlotOutcome {
    let n = mix.len();
    let finished = slot.shared.is_finished();
    let (got, _) = {
        let (a, b) = slot.consumer.pop_partial_slice(scratch);
        (a.len(), b.len())
    };
    let mut started = false;
    if slot.state == SlotState::Pending {
        if got == 0 {
            return if finished {
                SlotOutcome::Done { stopped: false }
            } else {
                SlotOutcome::Continue { started: false }
            };
        }
        slot.state = SlotState::Playing;
        started = true;
    }

    let short = got < n;
    if short && finished && slot.consumer.is_empty() {
        // The source ended: its last sample is where it ends.
        scratch[got..].fill(0.0);
    } else if short {
        slot.shared
            .starved_frames
            .fetch_add((n - got) as u64, Relaxed);
        // Starved mid-stream: fade the last value out instead of stepping to zero.
        let mut last = if got > 0 { scratch[got - 1] } else { slot.last };
        for (i, s) in scratch[got..].iter_mut().enumerate() {
            last = if i < STARVE_FADE {
                last * (1.0 - (i + 1) as f32 / STARVE_FADE as f32)
            } else {
                0.0
            };
            *s = last;
        }
    }
    if got > 0 {
        slot.last = scratch[got - 1];
    }

    for (m, s) in mix.iter_mut().zip(scratch.iter()) {
        *m += *s * slot.volume.next_gain() * slot.duck.next_gain();
    }

    if slot.state == SlotState::Stopping && slot.volume.settled() {
        return SlotOutcome::Done { stopped: true };
    }
    if short {
        if finished && slot.consumer.is_empty() {
            return SlotOutcome::Done { stopped: false };
        }
        if !slot.starved {
            slot.starved = true;
            return SlotOutcome::Starved;
        }
    } else {
        slot.starved = false;
    }
    SlotOutcome::Continue { started }
}

fn push_event(events: &mut rtrb::Producer<RtEvent>, stats: &Stats, ev: RtEvent) {
    if events.push(ev).is_err() {
        stats.dropped_events.fetch_add(1, Relaxed);
    }
}
