//! The event bus: typed events in the VAPIX shape (topic, source, key, data).
//!
//! Stateful topics keep their current value per source, so a new subscriber starts with
//! the present state and then sees changes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

/// The MediaClip playing-state topic (stateful; data `Playing`).
pub const TOPIC_CLIP_PLAYING: &str = "tnsaxis:MediaClip/tnsaxis:Playing";
/// Fires at each clip start (stateless; data `FileName`).
pub const TOPIC_CLIP_CURRENTLY_PLAYING: &str = "tnsaxis:MediaClip/tnsaxis:CurrentlyPlaying";

/// One event; every value is a string, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `tns1:`/`tnsaxis:` topic path.
    pub topic: String,
    /// Which instance (e.g. `clip` = `3`).
    pub source: BTreeMap<String, String>,
    /// Extra key items.
    pub key: BTreeMap<String, String>,
    /// The payload (e.g. `playing` = `1`).
    pub data: BTreeMap<String, String>,
    /// True when the topic has a current state.
    pub stateful: bool,
    /// Unix milliseconds.
    pub timestamp_ms: u64,
    /// When it was made (monotonic): what a rule's clip measures its latency from.
    pub at: Instant,
}

impl Event {
    /// An event from source and data pairs.
    pub fn new(
        topic: &str,
        source: &[(&str, &str)],
        data: &[(&str, &str)],
        stateful: bool,
    ) -> Self {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Self {
            topic: topic.into(),
            source: map(source),
            key: BTreeMap::new(),
            data: map(data),
            stateful,
            timestamp_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            at: Instant::now(),
        }
    }
}

type StateKey = (String, BTreeMap<String, String>);

/// Publishes events to every subscriber and remembers stateful ones.
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    state: Mutex<BTreeMap<StateKey, Event>>,
    recent: Mutex<VecDeque<Event>>,
}

/// Events kept for `/api/v1/events/recent` (stateless ones leave no other trace).
pub const RECENT: usize = 256;

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus whose slow subscribers lose events after 1024 are queued.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            state: Mutex::new(BTreeMap::new()),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }

    /// Publishes an event; a stateful event that repeats the current state is dropped.
    pub fn publish(&self, ev: Event) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if ev.stateful {
            let key = (ev.topic.clone(), ev.source.clone());
            if state.get(&key).is_some_and(|cur| cur.data == ev.data) {
                return;
            }
            state.insert(key, ev.clone());
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(ev.clone());
        }
        // Sent under the lock so a subscriber never sees a change before its snapshot.
        let _ = self.tx.send(ev);
    }

    /// The last [`RECENT`] events published, oldest first.
    pub fn recent(&self) -> Vec<Event> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().cloned().collect()
    }

    /// The current state of every stateful topic, and a receiver for what follows.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.values().cloned().collect(), self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_subscriber_gets_current_state_then_changes() {
        let bus = EventBus::new();
        bus.publish(Event::new(
            TOPIC_CLIP_PLAYING,
            &[("clip", "3")],
            &[("playing", "1")],
            true,
        ));
        let (snapshot, mut rx) = bus.subscribe();
        assert_eq!(snapshot.len(), 1);
        assert_eq!(snapshot[0].data["playing"], "1");
        // A repeat of the same state is not an event.
        bus.publish(Event::new(
            TOPIC_CLIP_PLAYING,
            &[("clip", "3")],
            &[("playing", "1")],
            true,
        ));
        bus.publish(Event::new(
            TOPIC_CLIP_PLAYING,
            &[("clip", "3")],
            &[("playing", "0")],
            true,
        ));
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.data["playing"], "0");
        assert!(rx.try_recv().is_err());
    }
}
