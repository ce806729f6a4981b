//! The stored rule set: action configurations and the rules that run them, in one state
//! file (`rules.json`) so a rule and the action it names are written together. Every
//! change is checked first, then written atomically; a change that cannot be written
//! leaves the old set, on disk and in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::action::Action;
use super::engine::validate;
use super::model::{Rule, MAX_RULES};
use super::schedule::{Recurrence, Schedule, MAX_SCHEDULES};
use crate::recipients::{Kind, Notification, RecipientConfig, MAX_RECIPIENTS};
use crate::store;

/// The most action configurations kept (each rule has one; a few spare).
pub const MAX_ACTIONS: usize = 2 * MAX_RULES;

/// An action configuration: a VAPIX action template and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionConfig {
    /// Shown to the operator.
    pub name: String,
    /// The template token, e.g. `com.axis.action.fixed.play.audioclip`.
    pub template: String,
    /// Its parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// Everything `rules.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// Action configurations by id.
    #[serde(default)]
    pub actions: BTreeMap<u32, ActionConfig>,
    /// Rules by id.
    #[serde(default)]
    pub rules: BTreeMap<u32, Rule>,
    /// Recipients by id (secrets included: the file is mode 0600).
    #[serde(default)]
    pub recipients: BTreeMap<u32, RecipientConfig>,
    /// Schedules and pulses by id.
    #[serde(default)]
    pub schedules: BTreeMap<u32, Schedule>,
}

impl RuleSet {
    /// Whether the set is consistent: within its limits, every rule's filters parse and
    /// its action exists.
    pub fn check(&self) -> Result<(), RuleError> {
        if self.rules.len() > MAX_RULES {
            return Err(RuleError::TooManyRules);
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(RuleError::TooManyActions);
        }
        if self.schedules.len() > MAX_SCHEDULES {
            return Err(RuleError::TooManySchedules);
        }
        for (id, s) in &self.schedules {
            // The zone changes what the times mean, not whether they parse.
            Recurrence::parse(&s.ical, rrule::Tz::UTC)
                .map_err(|e| RuleError::BadSchedule(*id, e))?;
        }
        if self.recipients.len() > MAX_RECIPIENTS {
            return Err(RuleError::TooManyRecipients);
        }
        for (id, r) in &self.recipients {
            let kind = r.kind().map_err(|e| RuleError::BadRecipient(*id, e))?;
            Notification::parse(kind, &r.parameters)
                .map_err(|e| RuleError::BadRecipient(*id, e.to_string()))?;
        }
        for (id, a) in &self.actions {
            if let Action::Notify {
                kind,
                recipient: Some(_),
                parameters,
            } = Action::parse(a).map_err(|e| RuleError::BadAction(*id, e))?
            {
                self.notification(kind, a_recipient(a), &parameters)
                    .map_err(|e| match e {
                        RuleError::NoSuchRecipient(_) => e,
                        other => RuleError::BadAction(*id, other.to_string()),
                    })?;
            }
        }
        for rule in self.rules.values() {
            validate(rule).map_err(RuleError::BadFilter)?;
            if !self.actions.contains_key(&rule.action) {
                return Err(RuleError::NoSuchAction(rule.action));
            }
        }
        Ok(())
    }
}

fn a_recipient(a: &ActionConfig) -> Option<u32> {
    a.parameters
        .get("recipient")
        .and_then(|v| v.trim().parse().ok())
}

impl RuleSet {
    /// The notification an action of `kind` sends through `recipient` (its parameters
    /// overlaid with the action's own), or with the action's parameters alone.
    pub fn notification(
        &self,
        kind: Kind,
        recipient: Option<u32>,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Notification, RuleError> {
        let mut merged = BTreeMap::new();
        if let Some(id) = recipient {
            let r = self
                .recipients
                .get(&id)
                .ok_or(RuleError::NoSuchRecipient(id))?;
            let rk = r.kind().map_err(|e| RuleError::BadRecipient(id, e))?;
            if rk != kind {
                return Err(RuleError::BadRecipient(
                    id,
                    format!("a {rk:?} recipient cannot take a {kind:?} notification"),
                ));
            }
            merged.extend(r.parameters.clone());
        }
        merged.extend(
            parameters
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Notification::parse(kind, &merged).map_err(|e| RuleError::Notification(e.to_string()))
    }
}

/// Why a change to the rule set was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// The 257th rule.
    #[error("at most {MAX_RULES} rules")]
    TooManyRules,
    /// Too many action configurations.
    #[error("at most {MAX_ACTIONS} action configurations")]
    TooManyActions,
    /// A condition's filter does not parse.
    #[error("{0}")]
    BadFilter(String),
    /// An action configuration netamp cannot run.
    #[error("action configuration {0}: {1}")]
    BadAction(u32, String),
    /// No action configuration has this id.
    #[error("no action configuration {0}")]
    NoSuchAction(u32),
    /// No rule has this id.
    #[error("no rule {0}")]
    NoSuchRule(u32),
    /// The action configuration is used by a rule.
    #[error("action configuration {0} is used by rule {1}")]
    InUse(u32, u32),
    /// Too many schedules.
    #[error("at most {MAX_SCHEDULES} schedules")]
    TooManySchedules,
    /// A schedule that does not parse.
    #[error("schedule {0}: {1}")]
    BadSchedule(u32, String),
    /// No schedule has this id.
    #[error("no schedule {0}")]
    NoSuchSchedule(u32),
    /// Too many recipients.
    #[error("at most {MAX_RECIPIENTS} recipients")]
    TooManyRecipients,
    /// A recipient netamp cannot deliver to.
    #[error("recipient {0}: {1}")]
    BadRecipient(u32, String),
    /// No recipient has this id.
    #[error("no recipient {0}")]
    NoSuchRecipient(u32),
    /// The recipient is used by an action configuration.
    #[error("recipient {0} is used by action configuration {1}")]
    RecipientInUse(u32, u32),
    /// A notification's merged parameters are wrong.
    #[error("{0}")]
    Notification(String),
    /// A name or template is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The state file could not be written.
    #[error("{0}")]
    Store(String),
}

/// What the rule set keeps by id: rules, action configurations, recipients, schedules.
pub trait Stored: Sized {
    /// Its map in the set.
    fn map(set: &mut RuleSet) -> &mut BTreeMap<u32, Self>;
    /// The refusal for an id that is not there.
    fn missing(id: u32) -> RuleError;
    /// What it must have before it is stored (a name, a template).
    fn required(&self) -> Result<(), RuleError>;
    /// Why `id` may not be removed now (something uses it).
    fn in_use(_set: &RuleSet, _id: u32) -> Option<RuleError> {
        None
    }
    /// Takes what a replacement keeps from the stored `old` (a masked secret).
    fn replacing(&mut self, _old: &Self) {}
}

fn named(name: &str, what: &'static str) -> Result<(), RuleError> {
    if name.trim().is_empty() {
        return Err(RuleError::Empty(what));
    }
    Ok(())
}

impl Stored for Rule {
    fn map(set: &mut RuleSet) -> &mut BTreeMap<u32, Self> {
        &mut set.rules
    }
    fn missing(id: u32) -> RuleError {
        RuleError::NoSuchRule(id)
    }
    fn required(&self) -> Result<(), RuleError> {
        named(&self.name, "the rule name")
    }
}

impl Stored for ActionConfig {
    fn map(set: &mut RuleSet) -> &mut BTreeMap<u32, Self> {
        &mut set.actions
    }
    fn missing(id: u32) -> RuleError {
        RuleError::NoSuchAction(id)
    }
    fn required(&self) -> Result<(), RuleError> {
        named(&self.template, "the template")
    }
    fn in_use(set: &RuleSet, id: u32) -> Option<RuleError> {
        let (rule, _) = set.rules.iter().find(|(_, r)| r.action == id)?;
        Some(RuleError::InUse(id, *rule))
    }
}

impl Stored for RecipientConfig {
    fn map(set: &mut RuleSet) -> &mut BTreeMap<u32, Self> {
        &mut set.recipients
    }
    fn missing(id: u32) -> RuleError {
        RuleError::NoSuchRecipient(id)
    }
    fn required(&self) -> Result<(), RuleError> {
        named(&self.name, "the recipient name")
    }
    fn in_use(set: &RuleSet, id: u32) -> Option<RuleError> {
        let (a, _) = set
            .actions
            .iter()
            .find(|(_, a)| a_recipient(a) == Some(id))?;
        Some(RuleError::RecipientInUse(id, *a))
    }
    fn replacing(&mut self, old: &Self) {
        self.keep_secrets_from(old);
    }
}

impl Stored for Schedule {
    fn map(set: &mut RuleSet) -> &mut BTreeMap<u32, Self> {
        &mut set.schedules
    }
    fn missing(id: u32) -> RuleError {
        RuleError::NoSuchSchedule(id)
    }
    fn required(&self) -> Result<(), RuleError> {
        named(&self.name, "the schedule name")
    }
}

/// The rule set and its file.
pub struct RuleStore {
    path: PathBuf,
    set: Mutex<RuleSet>,
}

impl RuleStore {
    /// Loads `rules.json` from `dir` (a damaged file falls back as every state file
    /// does; a set that breaks its own limits counts as damaged).
    pub fn load(dir: &Path) -> Result<Self, RuleError> {
        let path = dir.join("rules.json");
        let set =
            store::load_json_checked(&path, |s: &RuleSet| s.check().map_err(|e| e.to_string()))
                .map_err(|e| RuleError::Store(e.to_string()))?
                .unwrap_or_else(super::preset::defaults);
        Ok(Self {
            path,
            set: Mutex::new(set),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RuleSet> {
        self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The whole set now.
    pub fn snapshot(&self) -> RuleSet {
        self.lock().clone()
    }

    /// Applies `change` to a copy, checks and writes it; only then is it the set. The
    /// lock is held to the rename, so changes are stored in the order they were
    /// acknowledged.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut RuleSet) -> Result<T, RuleError>,
    ) -> Result<(T, RuleSet), RuleError> {
        let mut set = self.lock();
        let mut next = set.clone();
        let out = change(&mut next)?;
        next.check()?;
        store::save_json(&self.path, &next).map_err(|e| RuleError::Store(e.to_string()))?;
        *set = next.clone();
        Ok((out, next))
    }

    /// Adds `item` under the lowest free id of its kind; returns the id and the new set.
    pub fn add<T: Stored>(&self, item: T) -> Result<(u32, RuleSet), RuleError> {
        item.required()?;
        self.change(|s| {
            let map = T::map(s);
            let id = next_id(map);
            map.insert(id, item);
            Ok(id)
        })
    }

    /// Replaces the `T` with id `id` (a changed or enabled rule takes effect at once).
    pub fn replace<T: Stored>(&self, id: u32, mut item: T) -> Result<RuleSet, RuleError> {
        self.change(|s| match T::map(s).get_mut(&id) {
            Some(old) => {
                item.replacing(old);
                *old = item;
                Ok(())
            }
            None => Err(T::missing(id)),
        })
        .map(|(_, s)| s)
    }

    /// Removes the `T` with id `id`, unless something still uses it.
    pub fn remove<T: Stored>(&self, id: u32) -> Result<RuleSet, RuleError> {
        self.change(|s| {
            if let Some(e) = T::in_use(s, id) {
                return Err(e);
            }
            T::map(s)
                .remove(&id)
                .map(|_| ())
                .ok_or_else(|| T::missing(id))
        })
        .map(|(_, s)| s)
    }

    /// Sets the pre-configured pre-announcement rules up to play `clip`
    /// (`[sip] pre_announcement_clip`).
    pub fn set_pre_announcement(&self, clip: u32) -> Result<RuleSet, RuleError> {
        self.change(|s| {
            super::preset::set_pre_announcement(s, clip);
            Ok(())
        })
        .map(|(_, s)| s)
    }

    /// Enables or disables rule `id` (one change under the store's lock: a concurrent
    /// edit of the same rule is not lost).
    pub fn set_enabled(&self, id: u32, enabled: bool) -> Result<RuleSet, RuleError> {
        self.change(|s| match s.rules.get_mut(&id) {
            Some(r) => {
                r.enabled = enabled;
                Ok(())
            }
            None => Err(RuleError::NoSuchRule(id)),
        })
        .map(|(_, s)| s)
    }
}

/// The lowest free id from 1 (VAPIX ids start at 1).
fn next_id<T>(map: &BTreeMap<u32, T>) -> u32 {
    (1..).find(|i| !map.contains_key(i)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::model::Condition;

    fn play() -> ActionConfig {
        ActionConfig {
            name: "chime".into(),
            template: "com.axis.action.fixed.play.audioclip".into(),
            parameters: [("location".to_string(), "chime.mp3".to_string())].into(),
        }
    }

    fn rule(action: u32) -> Rule {
        Rule {
            name: "input 8 closes".into(),
            enabled: true,
            trigger: Some(Condition {
                topic: "tns1:Device/tnsaxis:IO/Port".into(),
                content: Some(r#"boolean(//SimpleItem[@Name="port" and @Value="7"])"#.into()),
                invert: false,
            }),
            conditions: vec![],
            wait_s: 0,
            action,
            preset: None,
        }
    }

    #[test]
    fn rules_need_their_action_and_survive_a_reload() {
        let dir = tempfile::tempdir().expect("dir");
        let store = RuleStore::load(dir.path()).expect("load");
        // A fresh device has the pre-configured rules.
        let fresh = store.snapshot();
        assert_eq!(fresh, super::super::preset::defaults());
        assert_eq!(store.add(rule(9)), Err(RuleError::NoSuchAction(9)));
        let (a, _) = store.add(play()).expect("action");
        let (r, set) = store.add(rule(a)).expect("rule");
        assert_eq!((a, r, set.rules.len()), (4, 4, 4));
        assert_eq!(store.remove::<ActionConfig>(a), Err(RuleError::InUse(4, 4)));
        let mut bad = rule(a);
        bad.conditions.push(Condition {
            topic: "tns1:Device/tnsaxis:IO/Port".into(),
            content: Some("port=1".into()),
            invert: false,
        });
        assert!(matches!(store.add(bad), Err(RuleError::BadFilter(_))));
        assert_eq!(
            store.snapshot().rules.len(),
            4,
            "a refused rule changes nothing"
        );
        let again = RuleStore::load(dir.path()).expect("reload");
        assert_eq!(again.snapshot(), store.snapshot());
        store.remove::<Rule>(r).expect("remove");
        store.remove::<ActionConfig>(a).expect("remove action");
        assert_eq!(store.snapshot(), fresh);
    }

    #[test]
    fn the_257th_rule_is_refused_and_a_failed_write_keeps_the_old_set() {
        let dir = tempfile::tempdir().expect("dir");
        let store = RuleStore::load(dir.path()).expect("load");
        let (a, _) = store.add(play()).expect("action");
        // Built directly: 256 writes of a growing file would only slow the test.
        {
            let mut set = store.lock();
            set.rules.clear();
            for i in 1..=MAX_RULES as u32 {
                set.rules.insert(i, rule(a));
            }
        }
        assert_eq!(store.add(rule(a)), Err(RuleError::TooManyRules));
        store.remove::<Rule>(256).expect("room for one");
        // The state directory gone: the write fails, and the rule set stays as it was.
        let before = store.snapshot();
        drop(dir);
        assert!(matches!(store.add(rule(a)), Err(RuleError::Store(_))));
        assert_eq!(store.snapshot(), before);
    }
}
