//! The pre-configured rules a fresh or factory-defaulted device has, disabled, as the
//! C8210 manual lists them:
//!
//! - "Pre-announcement tone: play tone on incoming call": `tnsaxis:Call/State` becoming
//!   `Ringing` triggers a fixed clip;
//! - "Pre-announcement tone: answer call after incoming call-tone": the clip's
//!   `tnsaxis:MediaClip/tnsaxis:Playing` state as an *inverted* trigger (it fires when
//!   the tone stops) while the call still rings → answer the call (the manual's
//!   two-rule example);
//! - "Loud ringer": while a call rings, an unlimited clip plays (stopped when the call
//!   is answered or the caller gives up).
//!
//! This is netamp's only pre-announcement: `[sip] pre_announcement_clip` sets these
//! rules up at start (the clip in both clip actions, the first two rules enabled).
//! The clip actions name clip 0 (the first uploaded) until someone changes them.

use std::collections::BTreeMap;

use super::action::{ANSWER_CALL, PLAY_FIXED, PLAY_UNLIMITED};
use super::model::{Condition, Rule};
use super::store::{ActionConfig, RuleSet};
use crate::events::TOPIC_CLIP_PLAYING;
use crate::sip_service::TOPIC_STATE;

/// The tone rule's preset key.
pub const TONE: &str = "pre-announcement-tone";
/// The answer-after-the-tone rule's preset key.
pub const ANSWER: &str = "pre-announcement-answer";
/// The loud ringer's preset key.
pub const RINGER: &str = "loud-ringer";

fn ringing() -> Condition {
    Condition {
        topic: TOPIC_STATE.into(),
        content: Some(r#"boolean(//SimpleItem[@Name="CallState" and @Value="Ringing"])"#.into()),
        invert: false,
    }
}

fn clip_action(name: &str, template: &str, clip: u32) -> ActionConfig {
    ActionConfig {
        name: name.into(),
        template: template.into(),
        parameters: BTreeMap::from([("clip".to_string(), clip.to_string())]),
    }
}

/// The three rules and their actions (ids 1–3 in a fresh set), disabled.
pub fn defaults() -> RuleSet {
    let mut set = RuleSet::default();
    add_missing(&mut set);
    set
}

fn rule(preset: &str, name: &str, action: u32) -> Rule {
    let mut r = Rule {
        name: name.into(),
        enabled: false,
        trigger: None,
        conditions: vec![],
        wait_s: 0,
        action,
        preset: Some(preset.into()),
    };
    match preset {
        TONE => r.trigger = Some(ringing()),
        ANSWER => {
            r.trigger = Some(Condition {
                topic: TOPIC_CLIP_PLAYING.into(),
                content: Some(r#"boolean(//SimpleItem[@Name="Playing" and @Value="1"])"#.into()),
                invert: true,
            });
            r.conditions = vec![ringing()];
        }
        _ => r.conditions = vec![ringing()],
    }
    r
}

fn next_id<T>(map: &BTreeMap<u32, T>) -> u32 {
    (1..).find(|i| !map.contains_key(i)).unwrap_or(u32::MAX)
}

/// Adds whichever of the three rules `set` lacks (with a fresh action each).
fn add_missing(set: &mut RuleSet) {
    let presets = [
        (
            TONE,
            "Pre-announcement tone: play tone on incoming call",
            clip_action("Pre-announcement tone", PLAY_FIXED, 0),
        ),
        (
            ANSWER,
            "Pre-announcement tone: answer call after incoming call-tone",
            ActionConfig {
                name: "Answer call".into(),
                template: ANSWER_CALL.into(),
                parameters: BTreeMap::new(),
            },
        ),
        (
            RINGER,
            "Loud ringer",
            clip_action("Loud ringer", PLAY_UNLIMITED, 0),
        ),
    ];
    for (key, name, action) in presets {
        if set.rules.values().any(|r| r.preset.as_deref() == Some(key)) {
            continue;
        }
        let a = next_id(&set.actions);
        set.actions.insert(a, action);
        let id = next_id(&set.rules);
        set.rules.insert(id, rule(key, name, a));
    }
}

/// `[sip] pre_announcement_clip`: the tone and answer rules enabled, the tone playing
/// `clip` (recreated first if someone removed them).
pub fn set_pre_announcement(set: &mut RuleSet, clip: u32) {
    add_missing(set);
    for r in set.rules.values_mut() {
        match r.preset.as_deref() {
            Some(TONE) => {
                r.enabled = true;
                if let Some(a) = set.actions.get_mut(&r.action) {
                    *a = clip_action(&a.name, PLAY_FIXED, clip);
                }
            }
            Some(ANSWER) => r.enabled = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presets_are_valid_disabled_and_the_config_key_enables_two() {
        let mut set = defaults();
        assert_eq!(set.check(), Ok(()));
        assert_eq!(set.rules.len(), 3);
        assert!(set.rules.values().all(|r| !r.enabled));
        set.rules.retain(|_, r| r.preset.as_deref() != Some(TONE));
        set_pre_announcement(&mut set, 4);
        assert_eq!(set.check(), Ok(()));
        let enabled: Vec<_> = set
            .rules
            .values()
            .filter(|r| r.enabled)
            .filter_map(|r| r.preset.clone())
            .collect();
        assert_eq!(enabled.len(), 2, "{enabled:?}");
        let tone = set
            .rules
            .values()
            .find(|r| r.preset.as_deref() == Some(TONE))
            .expect("recreated");
        assert_eq!(set.actions[&tone.action].parameters["clip"], "4");
    }
}
