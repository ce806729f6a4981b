//! Sound level detection: the microphone's level on the 0–100 scale of
//! `AudioSource.A0.AlarmLevel` (0 = −90 dBFS, 100 = 0 dBFS), published as the stateful
//! event `tns1:AudioSource/tnsaxis:TriggerLevel` (`channel=1`, `triggered` 1/0).
//!
//! Hysteresis keeps a level that hovers at the threshold from chattering: the trigger
//! sets at the threshold and clears only [`HYSTERESIS`] points below it.

use std::sync::Arc;
use std::time::Duration;

use crate::audio::AudioService;
use crate::events::Event;
use crate::events::EventBus;

/// Points below the threshold the level must fall to clear the trigger.
pub const HYSTERESIS: f32 = 5.0;
/// How often the level is checked (the meter averages 100 ms).
const PERIOD: Duration = Duration::from_millis(100);
/// The event topic.
pub const TOPIC: &str = "tns1:AudioSource/tnsaxis:TriggerLevel";

/// A dBFS level on the 0–100 scale.
pub fn level_percent(dbfs: f32) -> f32 {
    ((dbfs + 90.0) / 90.0 * 100.0).clamp(0.0, 100.0)
}

/// The trigger's state machine.
#[derive(Debug, Default)]
pub struct LevelTrigger {
    triggered: bool,
}

impl LevelTrigger {
    /// Feeds one level; returns the new state when it changes.
    pub fn update(&mut self, level: f32, alarm: u8) -> Option<bool> {
        let alarm = f32::from(alarm);
        let next = if self.triggered {
            level > alarm - HYSTERESIS
        } else {
            level >= alarm
        };
        (next != self.triggered).then(|| {
            self.triggered = next;
            next
        })
    }
}

fn event(triggered: bool) -> Event {
    Event::new(
        TOPIC,
        &[("channel", "1")],
        &[("triggered", if triggered { "1" } else { "0" })],
        true,
    )
}

/// Watches the level for as long as the daemon runs.
pub async fn run(audio: Arc<AudioService>, bus: Arc<EventBus>) {
    let mut trigger = LevelTrigger::default();
    bus.publish(event(false));
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let level = level_percent(audio.capture.level_dbfs());
        if let Some(t) = trigger.update(level, audio.settings().alarm_level) {
            bus.publish(event(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_ends() {
        assert_eq!(level_percent(-90.0), 0.0);
        assert_eq!(level_percent(0.0), 100.0);
        assert!((level_percent(-45.0) - 50.0).abs() < 1e-4);
        assert_eq!(level_percent(-120.0), 0.0);
    }

    #[test]
    fn hysteresis_stops_chatter() {
        let mut t = LevelTrigger::default();
        assert_eq!(t.update(49.9, 50), None);
        assert_eq!(t.update(50.0, 50), Some(true));
        // Hovering within 5 points of the threshold changes nothing.
        for l in [49.0, 51.0, 45.5, 50.0, 46.0] {
            assert_eq!(t.update(l, 50), None, "{l}");
        }
        assert_eq!(t.update(45.0, 50), Some(false));
        assert_eq!(t.update(49.0, 50), None);
    }
}
