//! Plays clips on the engine, tracks what plays, publishes the Playing state and measures
//! trigger latency (request received → first sample rendered).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use netamp_engine::{Engine, EngineError, EngineEvent, PlayOptions, SourceId};

use crate::events::{Event, EventBus, TOPIC_CLIP_CURRENTLY_PLAYING, TOPIC_CLIP_PLAYING};
use crate::latency::{LatencySummary, LatencyWindow};

/// The one output, as the MediaClip events name it.
const OUTPUT: [(&str, &str); 2] = [("audiodeviceid", "0"), ("audiooutputid", "0")];

struct Active {
    clip: u32,
    file: String,
    received: Instant,
    started: bool,
    /// Told when the source leaves the mixer.
    waiters: Vec<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Default)]
struct State {
    active: HashMap<SourceId, Active>,
    latencies: LatencyWindow,
    plays: u64,
}

/// The clip player.
pub struct ClipPlayer {
    engine: Engine,
    bus: Arc<EventBus>,
    state: Mutex<State>,
    mix: bool,
    priority: u8,
}

impl ClipPlayer {
    /// A player on `engine`; with `mix` false a new play stops the clip that plays.
    pub fn new(engine: Engine, bus: Arc<EventBus>, mix: bool, priority: u8) -> Self {
        Self {
            engine,
            bus,
            state: Mutex::new(State::default()),
            mix,
            priority,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a clip (blocking: opens and prefills the decoder). `received` is when the
    /// request arrived, for the latency figure.
    pub fn play(
        &self,
        clip: u32,
        file: &str,
        path: &Path,
        gain: f32,
        repeat: i32,
        received: Instant,
    ) -> Result<SourceId, EngineError> {
        // Held across the start so the engine's Started event cannot overtake the record.
        let mut state = self.state();
        if !self.mix {
            for id in state.active.keys() {
                let _ = self.engine.stop(*id);
            }
        }
        let id = self.engine.play_file(
            path,
            PlayOptions {
                gain,
                priority: self.priority,
                repeat,
            },
        )?;
        state.active.insert(
            id,
            Active {
                clip,
                file: file.to_string(),
                received,
                started: false,
                waiters: Vec::new(),
            },
        );
        state.plays += 1;
        Ok(id)
    }

    /// Stops every clip; returns how many were playing.
    pub fn stop_all(&self) -> usize {
        let state = self.state();
        for id in state.active.keys() {
            let _ = self.engine.stop(*id);
        }
        state.active.len()
    }

    /// Stops the plays of one clip.
    pub fn stop_clip(&self, clip: u32) {
        let state = self.state();
        for (id, a) in &state.active {
            if a.clip == clip {
                let _ = self.engine.stop(*id);
            }
        }
    }

    /// Clips playing now.
    pub fn playing(&self) -> Vec<u32> {
        let set: BTreeSet<u32> = self
            .state()
            .active
            .values()
            .filter(|a| a.started)
            .map(|a| a.clip)
            .collect();
        set.into_iter().collect()
    }

    /// Plays requested since start.
    pub fn plays(&self) -> u64 {
        self.state().plays
    }

    /// Handles an engine event (from the control task that drains the engine's events).
    pub fn on_engine_event(&self, ev: EngineEvent) {
        let mut state = self.state();
        match ev {
            EngineEvent::Started { id, at, .. } => {
                let Some(a) = state.active.get_mut(&id) else {
                    return;
                };
                a.started = true;
                let file = a.file.clone();
                let us = at.saturating_duration_since(a.received).as_micros() as u64;
                state.latencies.record(us);
                self.bus.publish(Event::new(
                    TOPIC_CLIP_PLAYING,
                    &OUTPUT,
                    &[("Playing", "1")],
                    true,
                ));
                self.bus.publish(Event::new(
                    TOPIC_CLIP_CURRENTLY_PLAYING,
                    &OUTPUT,
                    &[("FileName", &file)],
                    false,
                ));
            }
            EngineEvent::Ended { id, .. } => {
                let Some(ended) = state.active.remove(&id) else {
                    return;
                };
                for w in ended.waiters {
                    let _ = w.send(());
                }
                if !state.active.values().any(|o| o.started) {
                    self.bus.publish(Event::new(
                        TOPIC_CLIP_PLAYING,
                        &OUTPUT,
                        &[("Playing", "0")],
                        true,
                    ));
                }
            }
            EngineEvent::Underrun { id } => {
                if let Some(a) = state.active.get(&id) {
                    tracing::warn!(clip = a.clip, source = %id, after_ms = a.received.elapsed().as_millis() as u64, started = a.started, "clip source underran");
                }
            }
        }
    }

    /// Resolves when source `id` has left the mixer (at once when it already has).
    pub fn when_ended(&self, id: SourceId) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match self.state().active.get_mut(&id) {
            Some(a) => a.waiters.push(tx),
            None => {
                let _ = tx.send(());
            }
        }
        rx
    }

    /// Trigger-latency percentiles.
    pub fn latency(&self) -> LatencySummary {
        self.state().latencies.summary()
    }
}
