//! The rule engine: a state machine with time passed in. Events go in
//! ([`RuleEngine::handle`]); what to start and stop comes out ([`RuleEngine::poll`]). A
//! thin task feeds it from the event bus and carries its outputs out; tests drive it
//! with a fake clock.
//!
//! Semantics, as the device manuals describe them:
//!
//! - All conditions must hold. A condition on a stateful topic holds when one of the
//!   topic's current states matches its content filter (inverted: when none does).
//! - Without a trigger a rule is active while its conditions hold.
//! - With a trigger it becomes active when the trigger fires and the other conditions
//!   hold, and stays active while they hold. A trigger on a stateful topic fires when its
//!   condition starts to hold (the input closes; inverted: the clip stops playing) and the
//!   rule also ends when it stops holding; a trigger on a stateless topic (DTMF, a pulse,
//!   a manual trigger, a call state change) fires on a matching event.
//! - A source item of `-1` matches any port.
//! - "Wait between actions": a rule that fired does not fire again for that long.
//! - Activation starts the rule's action, deactivation stops it: a fixed action ignores
//!   the stop, an unlimited one (the loud ringer) runs until it.
//! - Rules take effect at once: a rule added, changed or enabled while its conditions
//!   hold starts at once; one removed or disabled while active stops.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::model::{Condition, Rule};
use crate::event_filter::{ContentFilter, TopicFilter, TopicPath};
use crate::events::Event;

/// What the engine asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Rule `rule` became active: run action configuration `action`.
    Start {
        /// The rule.
        rule: u32,
        /// Its action configuration.
        action: u32,
    },
    /// Rule `rule` is no longer active: stop what `Start` began (unlimited actions).
    Stop {
        /// The rule.
        rule: u32,
        /// Its action configuration.
        action: u32,
    },
}

/// A rule's state, for the status API and its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleStatus {
    /// The rule.
    pub id: u32,
    /// Active now.
    pub active: bool,
    /// Times it fired since start.
    pub fired: u64,
    /// When it last fired.
    pub last_fired: Option<Instant>,
}

/// A condition with its filters parsed, and how many current states of its topic it
/// sees and how many of those match: kept up to date event by event (only the event's
/// own source entry changes), so a condition never scans the state table again.
#[derive(Debug, Clone)]
struct Compiled {
    topic: TopicFilter,
    content: Option<ContentFilter>,
    /// The state item that must be true besides the filter: the declared boolean state
    /// of the condition's topic when the filter does not name it.
    implied: Option<&'static str>,
    invert: bool,
    states: usize,
    matching: usize,
}

impl Compiled {
    fn new(c: &Condition) -> Result<Self, String> {
        let content = c.content.as_deref().map(ContentFilter::parse).transpose()?;
        let implied = crate::event_catalog::boolean_state_item(&c.topic)
            .filter(|item| !content.as_ref().is_some_and(|f| f.mentions(item)));
        Ok(Self {
            topic: TopicFilter::parse(&c.topic)?,
            content,
            implied,
            invert: c.invert,
            states: 0,
            matching: 0,
        })
    }

    /// Counts the current states it sees (a new condition).
    fn count(&mut self, states: &States) {
        self.states = 0;
        self.matching = 0;
        for (path, evs) in states.topics.values() {
            if self.topic.matches_path(path) {
                self.states += evs.len();
                self.matching += evs.iter().filter(|e| self.matches_event(e)).count();
            }
        }
    }

    /// A stateful event of the condition's topic replaced `old` (`None`: a new source).
    /// The caller found the condition through its topic's index, so the topic matches.
    fn apply(&mut self, old: Option<&Event>, new: &Event) {
        match old {
            // Saturating: a count off by a bug must not panic on an event from the network.
            Some(o) if self.matches_event(o) => self.matching = self.matching.saturating_sub(1),
            Some(_) => {}
            None => self.states += 1,
        }
        if self.matches_event(new) {
            self.matching += 1;
        }
    }

    fn matches_event(&self, ev: &Event) -> bool {
        self.content
            .as_ref()
            .is_none_or(|f| f.matches_any_source(ev))
            && self.implied.is_none_or(|item| {
                matches!(ev.data.get(item).map(String::as_str), Some("1" | "true"))
            })
    }

    /// Whether any current state belongs to the condition's topic (a stateless topic
    /// never has one).
    fn has_state(&self) -> bool {
        self.states > 0
    }

    /// Whether the condition holds over the current states.
    fn holds(&self) -> bool {
        (self.matching > 0) != self.invert
    }
}

/// Checks a rule's filters; the error says which one is wrong.
pub fn validate(rule: &Rule) -> Result<(), String> {
    for c in rule.trigger.iter().chain(&rule.conditions) {
        Compiled::new(c).map_err(|e| format!("condition on {:?}: {e}", c.topic))?;
    }
    Ok(())
}

/// One rule as the engine runs it.
struct Running {
    rule: Rule,
    trigger: Option<Compiled>,
    conditions: Vec<Compiled>,
    /// Whether a stateful trigger's condition held after the last event.
    trigger_held: bool,
    active: bool,
    fired: u64,
    last_fired: Option<Instant>,
}

/// The current state of every stateful topic, by topic then source.
#[derive(Default)]
struct States {
    topics: HashMap<String, (TopicPath, Vec<Event>)>,
}

impl States {
    /// Stores `ev` as its source's state; returns the state it replaced.
    fn update(&mut self, ev: &Event, path: &TopicPath) -> Option<Event> {
        let evs = match self.topics.get_mut(&ev.topic) {
            Some((_, evs)) => evs,
            None => {
                let (_, evs) = self
                    .topics
                    .entry(ev.topic.clone())
                    .or_insert_with(|| (path.clone(), Vec::new()));
                evs
            }
        };
        match evs.iter_mut().find(|e| e.source == ev.source) {
            Some(e) => Some(std::mem::replace(e, ev.clone())),
            None => {
                evs.push(ev.clone());
                None
            }
        }
    }
}

/// The engine.
#[derive(Default)]
pub struct RuleEngine {
    rules: BTreeMap<u32, Running>,
    states: States,
    out: VecDeque<Output>,
    /// The rules each event topic concerns, found at its first event since the rules
    /// last changed.
    by_topic: HashMap<String, std::sync::Arc<TopicRules>>,
    /// Each topic's parsed path (topics are few; an event need not split its own).
    paths: HashMap<String, std::sync::Arc<TopicPath>>,
    /// Scratch lists reused from event to event (no allocation per event).
    touched: Vec<(u32, usize)>,
    ids: Vec<u32>,
}

/// The conditions an event topic concerns, as (rule, condition slot: the trigger first,
/// then the conditions): those pinning a source item of the topic (`port` = 7) under that
/// item's value, the others under `any`. An event of port 3 cannot change a condition
/// pinned to port 7 (its old and new state are both port 3's), so it touches only the
/// conditions of its own port and the unpinned ones, and only their rules are evaluated.
struct TopicRules {
    /// The topic's source item names when the index was made.
    keys: Vec<String>,
    any: Vec<(u32, usize)>,
    /// By item name, then value (looked up by `&str`, without building a key).
    pinned: HashMap<String, HashMap<String, Vec<(u32, usize)>>>,
}

impl TopicRules {
    fn new(rules: &BTreeMap<u32, Running>, ev: &Event, path: &TopicPath) -> Self {
        let keys: Vec<String> = ev.source.keys().cloned().collect();
        let mut any = Vec::new();
        let mut pinned: HashMap<String, HashMap<String, Vec<(u32, usize)>>> = HashMap::new();
        for (&id, r) in rules {
            for (slot, c) in r.trigger.iter().chain(&r.conditions).enumerate() {
                if !c.topic.matches_path(path) {
                    continue;
                }
                let pin = keys.iter().find_map(|k| {
                    let v = c.content.as_ref()?.pinned(k)?;
                    Some((k.clone(), v.to_string()))
                });
                match pin {
                    Some((k, v)) => pinned
                        .entry(k)
                        .or_default()
                        .entry(v)
                        .or_default()
                        .push((id, slot)),
                    None => any.push((id, slot)),
                }
            }
        }
        Self { keys, any, pinned }
    }

    /// The conditions an event with these source items concerns.
    fn for_event(&self, ev: &Event, out: &mut Vec<(u32, usize)>) {
        out.extend_from_slice(&self.any);
        for (k, v) in &ev.source {
            if let Some(list) = self.pinned.get(k.as_str()).and_then(|m| m.get(v.as_str())) {
                out.extend_from_slice(list);
            }
        }
    }
}

impl RuleEngine {
    /// An engine with no rules and no state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the rule set at `now`. A rule whose definition did not change keeps its
    /// state; one removed, disabled or changed while active is stopped; every rule
    /// without a trigger whose conditions hold now starts. Rules whose filters do not
    /// parse are left out (the service validates before it stores).
    pub fn set_rules(&mut self, rules: &BTreeMap<u32, Rule>, now: Instant) {
        let mut old = std::mem::take(&mut self.rules);
        for (&id, rule) in rules {
            if old.get(&id).is_some_and(|r| &r.rule == rule) {
                if let Some(r) = old.remove(&id) {
                    self.rules.insert(id, r);
                }
                continue;
            }
            let Ok(mut trigger) = rule.trigger.as_ref().map(Compiled::new).transpose() else {
                continue;
            };
            let Ok(mut conditions) = rule
                .conditions
                .iter()
                .map(Compiled::new)
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            for c in trigger.iter_mut().chain(conditions.iter_mut()) {
                c.count(&self.states);
            }
            let trigger_held = trigger.as_ref().is_some_and(|t| t.has_state() && t.holds());
            self.rules.insert(
                id,
                Running {
                    rule: rule.clone(),
                    trigger,
                    conditions,
                    trigger_held,
                    active: false,
                    fired: 0,
                    last_fired: None,
                },
            );
        }
        // What is left was removed or replaced.
        for (id, r) in old {
            if r.active {
                self.out.push_back(Output::Stop {
                    rule: id,
                    action: r.rule.action,
                });
            }
            // A replaced rule starts afresh below, but keeps its wait.
            if let (Some(new), Some(at)) = (self.rules.get_mut(&id), r.last_fired) {
                new.last_fired = Some(at);
                new.fired = r.fired;
            }
        }
        self.by_topic.clear();
        let ids: Vec<u32> = self.rules.keys().copied().collect();
        for id in ids {
            self.evaluate(id, None, now);
        }
    }

    /// An event from the bus at `now`.
    pub fn handle(&mut self, ev: &Event, now: Instant) {
        let path = match self.paths.get(ev.topic.as_str()) {
            Some(p) => p.clone(),
            None => {
                let p = std::sync::Arc::new(TopicPath::new(&ev.topic));
                // Bounded: a bus with endlessly new topics would be a bug elsewhere, but
                // the cache must not grow with it.
                if self.paths.len() < 1024 {
                    self.paths.insert(ev.topic.clone(), p.clone());
                }
                p
            }
        };
        let replaced = ev.stateful.then(|| self.states.update(ev, &path));
        let index = match self.by_topic.get(&ev.topic) {
            Some(i) if i.keys.iter().eq(ev.source.keys()) => i.clone(),
            _ => {
                let i = std::sync::Arc::new(TopicRules::new(&self.rules, ev, &path));
                self.by_topic.insert(ev.topic.clone(), i.clone());
                i
            }
        };
        let mut touched = std::mem::take(&mut self.touched);
        let mut ids = std::mem::take(&mut self.ids);
        touched.clear();
        ids.clear();
        index.for_event(ev, &mut touched);
        for &(id, slot) in &touched {
            if let (Some(old), Some(r)) = (&replaced, self.rules.get_mut(&id)) {
                if let Some(c) = r
                    .trigger
                    .iter_mut()
                    .chain(r.conditions.iter_mut())
                    .nth(slot)
                {
                    c.apply(old.as_ref(), ev);
                }
            }
            ids.push(id);
        }
        // A rule with two conditions touched is evaluated once.
        ids.sort_unstable();
        ids.dedup();
        for &id in &ids {
            self.evaluate(id, Some((ev, &path)), now);
        }
        self.touched = touched;
        self.ids = ids;
    }

    /// The next thing to start or stop.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// How many times rule `id` has fired since it was set (0 for an unknown id).
    pub fn fired(&self, id: u32) -> u64 {
        self.rules.get(&id).map_or(0, |r| r.fired)
    }

    /// Every rule's state.
    pub fn status(&self) -> Vec<RuleStatus> {
        self.rules
            .iter()
            .map(|(&id, r)| RuleStatus {
                id,
                active: r.active,
                fired: r.fired,
                last_fired: r.last_fired,
            })
            .collect()
    }

    fn evaluate(&mut self, id: u32, ev: Option<(&Event, &TopicPath)>, now: Instant) {
        let Some(r) = self.rules.get_mut(&id) else {
            return;
        };
        let conditions = r.conditions.iter().all(Compiled::holds);
        // Whether the trigger fired now, and whether the rule may stay active.
        let (fired, sustained) = match &r.trigger {
            None => (conditions, conditions),
            Some(t) => match ev {
                Some((e, path)) if !e.stateful && t.topic.matches_path(path) => {
                    // A stateless trigger: a matching event (inverted: any other event
                    // of the topic).
                    (t.matches_event(e) != t.invert, true)
                }
                _ if t.has_state() => {
                    let held = t.holds();
                    let rose = held && !r.trigger_held;
                    r.trigger_held = held;
                    (rose, held)
                }
                // A stateless trigger (or a stateful one with no state yet) while
                // another topic changed: it has not fired, and does not end the rule.
                _ => (false, true),
            },
        };
        let enabled = r.rule.enabled;
        if r.active {
            if !(enabled && conditions && sustained) {
                r.active = false;
                self.out.push_back(Output::Stop {
                    rule: id,
                    action: r.rule.action,
                });
            }
            return;
        }
        if !(enabled && fired && conditions) {
            return;
        }
        let wait = Duration::from_secs(u64::from(r.rule.wait_s));
        if r.last_fired.is_some_and(|at| now < at + wait) {
            return;
        }
        r.last_fired = Some(now);
        r.fired += 1;
        self.out.push_back(Output::Start {
            rule: id,
            action: r.rule.action,
        });
        // A stateless trigger with nothing to hold it is a moment, not a state.
        let momentary = r.trigger.is_some() && r.conditions.is_empty() && !r.trigger_held;
        if momentary {
            self.out.push_back(Output::Stop {
                rule: id,
                action: r.rule.action,
            });
        } else {
            r.active = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: &str = "tns1:Device/tnsaxis:IO/Port";
    const CALL: &str = "tnsaxis:Call/State";
    const PLAYING: &str = "tnsaxis:MediaClip/tnsaxis:Playing";
    const DTMF: &str = "tnsaxis:Call/DTMF";

    fn port_filter(port: &str, state: &str) -> Option<String> {
        Some(format!(
            r#"boolean(//SimpleItem[@Name="port" and @Value="{port}"]) and boolean(//SimpleItem[@Name="state" and @Value="{state}"])"#
        ))
    }

    fn cond(topic: &str, content: Option<String>, invert: bool) -> Condition {
        Condition {
            topic: topic.into(),
            content,
            invert,
        }
    }

    fn port(n: &str, state: &str) -> Event {
        Event::new(PORT, &[("port", n)], &[("state", state)], true)
    }

    fn rule(trigger: Option<Condition>, conditions: Vec<Condition>, wait_s: u32) -> Rule {
        Rule {
            name: "r".into(),
            enabled: true,
            trigger,
            conditions,
            wait_s,
            action: 9,
            preset: None,
        }
    }

    fn engine(rules: &[(u32, Rule)], now: Instant) -> RuleEngine {
        let mut e = RuleEngine::new();
        e.set_rules(&rules.iter().cloned().collect(), now);
        e
    }

    fn drain(e: &mut RuleEngine) -> Vec<Output> {
        std::iter::from_fn(|| e.poll()).collect()
    }

    const START: Output = Output::Start { rule: 1, action: 9 };
    const STOP: Output = Output::Stop { rule: 1, action: 9 };

    #[test]
    fn a_trigger_fires_once_per_closing_and_the_wait_swallows_repeats() {
        let t0 = Instant::now();
        let r = rule(Some(cond(PORT, port_filter("7", "1"), false)), vec![], 10);
        let mut e = engine(&[(1, r)], t0);
        e.handle(&port("7", "0"), t0);
        assert!(drain(&mut e).is_empty());
        let mut starts = 0;
        for i in 0..5 {
            let at = t0 + Duration::from_secs(1 + 2 * i);
            e.handle(&port("7", "1"), at);
            e.handle(&port("7", "0"), at + Duration::from_millis(500));
            starts += drain(&mut e).iter().filter(|o| **o == START).count();
        }
        assert_eq!(starts, 1, "five flips inside a 10 s wait: one action");
        e.handle(&port("7", "1"), t0 + Duration::from_secs(12));
        assert_eq!(drain(&mut e), [START], "after the wait it fires again");
        // Another port is not this rule's.
        e.handle(&port("3", "1"), t0 + Duration::from_secs(30));
        assert_eq!(drain(&mut e), []);
    }

    #[test]
    fn a_filter_naming_only_the_port_means_the_port_is_active() {
        // VAPIX scripts' form: `port = 0` on the stateful input topic fires when input 0
        // becomes active, not on every change.
        let t0 = Instant::now();
        let only_port = Some(r#"boolean(//SimpleItem[@Name="port" and @Value="0"])"#.into());
        let mut e = engine(
            &[(1, rule(Some(cond(PORT, only_port, false)), vec![], 0))],
            t0,
        );
        e.handle(&port("0", "0"), t0);
        assert!(drain(&mut e).is_empty(), "inactive: nothing");
        e.handle(&port("0", "1"), t0);
        assert_eq!(drain(&mut e), [START]);
        e.handle(&port("0", "0"), t0);
        assert_eq!(drain(&mut e), [STOP]);
    }

    #[test]
    fn a_while_rule_follows_its_condition_and_an_inverted_one_the_opposite() {
        let t0 = Instant::now();
        let plain = rule(None, vec![cond(PORT, port_filter("7", "1"), false)], 0);
        let inverted = rule(None, vec![cond(PORT, port_filter("7", "1"), true)], 0);
        let mut e = engine(&[(1, plain), (2, inverted)], t0);
        // No state yet: the inverted condition holds at once.
        assert_eq!(drain(&mut e), [Output::Start { rule: 2, action: 9 }]);
        e.handle(&port("7", "1"), t0);
        assert_eq!(drain(&mut e), [START, Output::Stop { rule: 2, action: 9 }]);
        e.handle(&port("7", "0"), t0);
        assert_eq!(drain(&mut e), [STOP, Output::Start { rule: 2, action: 9 }]);
        assert!(!e.status()[0].active && e.status()[1].active);
    }

    #[test]
    fn any_port_matches_every_input() {
        let t0 = Instant::now();
        let r = rule(Some(cond(PORT, port_filter("-1", "1"), false)), vec![], 0);
        let mut e = engine(&[(1, r)], t0);
        e.handle(&port("4", "1"), t0);
        e.handle(&port("4", "0"), t0);
        e.handle(&port("6", "1"), t0);
        let starts = drain(&mut e).iter().filter(|o| **o == START).count();
        assert_eq!(starts, 2);
    }

    #[test]
    fn an_unlimited_action_runs_while_the_call_rings() {
        // The loud ringer: Call/State Ringing as trigger, unlimited clip.
        let t0 = Instant::now();
        let ringing =
            Some(r#"boolean(//SimpleItem[@Name="CallState" and @Value="Ringing"])"#.to_string());
        let mut e = engine(
            &[(1, rule(Some(cond(CALL, ringing, false)), vec![], 0))],
            t0,
        );
        let call = |s: &str| Event::new(CALL, &[("Source", "netamp")], &[("CallState", s)], true);
        e.handle(&call("Idle"), t0);
        e.handle(&call("Ringing"), t0);
        assert_eq!(drain(&mut e), [START]);
        assert!(e.status()[0].active);
        e.handle(&call("Idle"), t0);
        assert_eq!(
            drain(&mut e),
            [STOP],
            "the caller hung up: the ringer stops"
        );
    }

    #[test]
    fn answer_after_the_chime_an_inverted_trigger_with_a_condition() {
        // C8210 manual: "Audio clip playing" inverted, as trigger, and Call/State Ringing
        // → answer call.
        let t0 = Instant::now();
        let playing = Some(r#"boolean(//SimpleItem[@Name="Playing" and @Value="1"])"#.to_string());
        let ringing =
            Some(r#"boolean(//SimpleItem[@Name="CallState" and @Value="Ringing"])"#.to_string());
        let r = rule(
            Some(cond(PLAYING, playing, true)),
            vec![cond(CALL, ringing, false)],
            0,
        );
        let mut e = engine(&[(1, r)], t0);
        let clip = |p: &str| {
            Event::new(
                PLAYING,
                &[("audiodeviceid", "0"), ("audiooutputid", "0")],
                &[("Playing", p)],
                true,
            )
        };
        let call = |s: &str| Event::new(CALL, &[("Source", "netamp")], &[("CallState", s)], true);
        e.handle(&clip("0"), t0);
        e.handle(&call("Ringing"), t0);
        assert_eq!(drain(&mut e), [], "no clip has stopped yet");
        e.handle(&clip("1"), t0);
        e.handle(&clip("0"), t0);
        assert_eq!(
            drain(&mut e),
            [START],
            "the chime ended while ringing: answer"
        );
        e.handle(&call("Active"), t0);
        assert_eq!(drain(&mut e), [STOP]);
    }

    #[test]
    fn a_stateless_trigger_is_a_moment() {
        let t0 = Instant::now();
        let one = Some(r#"boolean(//SimpleItem[@Name="Digit" and @Value="1"])"#.to_string());
        let mut e = engine(&[(1, rule(Some(cond(DTMF, one, false)), vec![], 0))], t0);
        let digit = |d: &str| Event::new(DTMF, &[("DTMFEventId", "digit")], &[("Digit", d)], false);
        e.handle(&digit("2"), t0);
        assert_eq!(drain(&mut e), []);
        e.handle(&digit("1"), t0);
        assert_eq!(drain(&mut e), [START, STOP]);
        e.handle(&digit("1"), t0);
        assert_eq!(drain(&mut e), [START, STOP]);
        assert_eq!(e.status()[0].fired, 2);
    }

    #[test]
    fn rules_take_effect_at_once_and_stop_when_removed_or_disabled() {
        let t0 = Instant::now();
        let mut e = RuleEngine::new();
        e.handle(&port("7", "1"), t0);
        let r = rule(None, vec![cond(PORT, port_filter("7", "1"), false)], 0);
        let mut set: BTreeMap<u32, Rule> = [(1, r.clone())].into();
        e.set_rules(&set, t0);
        assert_eq!(drain(&mut e), [START], "added while its condition holds");
        e.set_rules(&set, t0);
        assert_eq!(drain(&mut e), [], "unchanged: nothing happens");
        set.get_mut(&1).expect("rule").enabled = false;
        e.set_rules(&set, t0);
        assert_eq!(drain(&mut e), [STOP]);
        set.get_mut(&1).expect("rule").enabled = true;
        e.set_rules(&set, t0);
        assert_eq!(drain(&mut e), [START]);
        e.set_rules(&BTreeMap::new(), t0);
        assert_eq!(drain(&mut e), [STOP]);
        assert!(e.status().is_empty());
    }

    #[test]
    fn a_condition_on_another_port_is_followed_through_the_port_index() {
        // Trigger on port 1 while port 2 is closed; port 2's changes reach the rule even
        // though events of port 1 do not touch its condition.
        let t0 = Instant::now();
        let r = rule(
            Some(cond(PORT, port_filter("1", "1"), false)),
            vec![cond(PORT, port_filter("2", "1"), false)],
            0,
        );
        let mut e = engine(&[(1, r)], t0);
        for p in ["1", "2", "3"] {
            e.handle(&port(p, "0"), t0);
        }
        e.handle(&port("1", "1"), t0);
        assert_eq!(drain(&mut e), [], "port 2 is open");
        e.handle(&port("1", "0"), t0);
        e.handle(&port("2", "1"), t0);
        e.handle(&port("3", "1"), t0);
        e.handle(&port("1", "1"), t0);
        assert_eq!(drain(&mut e), [START]);
        e.handle(&port("3", "0"), t0);
        assert_eq!(drain(&mut e), [], "port 3 is neither");
        e.handle(&port("2", "0"), t0);
        assert_eq!(drain(&mut e), [STOP], "port 2 opened: the rule ends");
    }

    #[test]
    fn bad_filters_are_refused_by_validation() {
        let mut r = rule(None, vec![cond("", None, false)], 0);
        assert!(validate(&r).is_err());
        r.conditions = vec![cond(PORT, Some("port=1".into()), false)];
        assert!(validate(&r).is_err());
        r.conditions = vec![cond(PORT, port_filter("1", "1"), false)];
        assert!(validate(&r).is_ok());
    }
}
