//! The rules service: the stored rule set, the engine fed from the event bus by one
//! task, and the actions it starts and stops. An action runs on a task of its own (a
//! clip opens its file on a blocking thread), so a slow or failing action never holds
//! the engine or another rule; a failure is logged and published as
//! `tns1:Device/tnsaxis:SystemMessage/tnsaxis:ActionFailed`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;

use netamp_engine::SourceId;
use tokio::sync::broadcast::error::RecvError;

use super::action::Action;
use super::engine::{Output, RuleEngine, RuleStatus};
use super::schedule::{Recurrence, Scheduler, Transition, TOPIC_INTERVAL, TOPIC_PULSE};
use super::store::{RuleError, RuleSet, RuleStore, Stored};
use crate::audio::AudioService;
use crate::clips::ClipLibrary;
use crate::events::{Event, EventBus};
use crate::io_service::IoService;
use crate::player::ClipPlayer;
use crate::recipients::{Notification, Notifier, NotifyError, RecipientConfig};
use crate::sip_service::CallService;

/// netamp's own stateful event of each rule's state: source `RuleID`, data `Active`
/// (`1`/`0`) and `Fired` (times since start).
pub const TOPIC_RULE_STATE: &str = "netamp:Rule/netamp:State";
/// Published when an action could not run (stateless).
pub const TOPIC_ACTION_FAILED: &str = "tns1:Device/tnsaxis:SystemMessage/tnsaxis:ActionFailed";

/// What actions run on.
pub struct RuleDeps {
    /// The event bus (the engine's input, and where failures are told).
    pub bus: Arc<EventBus>,
    /// Stored clips.
    pub clips: Arc<ClipLibrary>,
    /// Clip playback.
    pub player: Arc<ClipPlayer>,
    /// The engine (to stop an unlimited clip's own source).
    pub audio: Arc<AudioService>,
    /// I/O ports.
    pub io: Arc<IoService>,
    /// Delivers notifications to recipients.
    pub notifier: Arc<Notifier>,
    /// SIP calls (answer, make, end).
    pub calls: Arc<CallService>,
    /// The zone schedules' local times are in.
    pub zone: rrule::Tz,
}

/// What an active unlimited action left running, to undo at its rule's end.
enum Running {
    /// A clip source, once it started.
    Clip(Option<SourceId>),
    /// An output to set back with this `port.cgi` action.
    Output(String),
    /// A virtual input to deactivate.
    Virtual(usize),
}

/// The rules service.
pub struct RulesService {
    store: RuleStore,
    engine: Mutex<RuleEngine>,
    deps: RuleDeps,
    /// The set the engine runs, for looking up an output's action.
    current: Mutex<Arc<RuleSet>>,
    /// What each active unlimited action left running (shared with the task that
    /// starts a clip).
    running: Arc<Mutex<HashMap<u32, Running>>>,
    /// The schedules' state machine, and what wakes its task when they change.
    scheduler: Mutex<Scheduler>,
    schedule_changed: Arc<tokio::sync::Notify>,
}

impl RulesService {
    /// The service over `store`; [`start`](Self::start) feeds it.
    pub fn new(store: RuleStore, deps: RuleDeps) -> Arc<Self> {
        let set = Arc::new(store.snapshot());
        Arc::new(Self {
            store,
            engine: Mutex::new(RuleEngine::new()),
            deps,
            current: Mutex::new(set),
            running: Arc::new(Mutex::new(HashMap::new())),
            scheduler: Mutex::new(Scheduler::new()),
            schedule_changed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Starts the task that feeds the engine from the bus: the current state of every
    /// stateful topic first, then each event as it comes.
    pub fn start(self: &Arc<Self>) {
        let (snapshot, mut rx) = self.deps.bus.subscribe();
        let now = Instant::now();
        {
            let mut engine = self.lock_engine();
            for ev in &snapshot {
                engine.handle(ev, now);
            }
            engine.set_rules(&self.current().rules, now);
        }
        self.drain();
        self.reschedule(&self.current());
        self.start_scheduler();
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("rules: {n} events were lost (the bus ran ahead)");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let Some(this) = weak.upgrade() else { return };
                this.lock_engine().handle(&ev, Instant::now());
                this.drain_at(ev.at);
            }
        });
    }

    /// The task that publishes schedule transitions when they are due (waking at least
    /// every minute, so a changed wall clock is noticed).
    fn start_scheduler(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let changed = self.schedule_changed.clone();
        tokio::spawn(async move {
            loop {
                let due = match weak.upgrade() {
                    Some(this) => this.lock_scheduler().poll_timeout(),
                    None => return,
                };
                let wait = due
                    .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                    .unwrap_or(Duration::from_secs(60))
                    .min(Duration::from_secs(60));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = changed.notified() => continue,
                }
                let Some(this) = weak.upgrade() else { return };
                let due = this.lock_scheduler().handle_timeout(Utc::now());
                this.publish_transitions(&due);
            }
        });
    }

    fn lock_scheduler(&self) -> std::sync::MutexGuard<'_, Scheduler> {
        self.scheduler.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the scheduler `set`'s schedules and publishes what changed.
    fn reschedule(&self, set: &RuleSet) {
        let compiled: BTreeMap<u32, Recurrence> = set
            .schedules
            .iter()
            .filter_map(|(id, s)| match Recurrence::parse(&s.ical, self.deps.zone) {
                Ok(r) => Some((*id, r)),
                Err(e) => {
                    tracing::warn!("schedule {id}: {e}");
                    None
                }
            })
            .collect();
        let changed = self.lock_scheduler().set(&compiled, Utc::now());
        self.publish_transitions(&changed);
        self.schedule_changed.notify_one();
    }

    fn publish_transitions(&self, transitions: &[Transition]) {
        for t in transitions {
            let ev = match *t {
                Transition::Pulse(id) => {
                    Event::new(TOPIC_PULSE, &[("id", &id.to_string())], &[], false)
                }
                Transition::Interval(id, on) => Event::new(
                    TOPIC_INTERVAL,
                    &[("id", &id.to_string())],
                    &[("active", if on { "1" } else { "0" })],
                    true,
                ),
            };
            self.deps.bus.publish(ev);
        }
    }

    /// Whether interval schedule `id` is in schedule now.
    pub fn in_schedule(&self, id: u32) -> bool {
        self.lock_scheduler().active(id)
    }

    fn lock_engine(&self) -> std::sync::MutexGuard<'_, RuleEngine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Arc<RuleSet> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The stored set and every rule's state.
    pub fn list(&self) -> (Arc<RuleSet>, Vec<RuleStatus>) {
        (self.current(), self.lock_engine().status())
    }

    /// A changed set takes effect at once.
    fn apply(&self, set: RuleSet) {
        let set = Arc::new(set);
        let old = std::mem::replace(
            &mut *self.current.lock().unwrap_or_else(|p| p.into_inner()),
            set.clone(),
        );
        if old.schedules != set.schedules {
            self.reschedule(&set);
        }
        self.lock_engine().set_rules(&set.rules, Instant::now());
        self.drain();
    }

    /// Sends a test message to recipient `r` (stored or not yet); the answer is the
    /// peer's. A stored recipient's masked secrets are filled in from `stored`.
    pub async fn test_recipient(
        &self,
        mut r: RecipientConfig,
        stored: Option<u32>,
    ) -> Result<String, NotifyError> {
        if let Some(old) = stored.and_then(|id| self.current().recipients.get(&id).cloned()) {
            r.keep_secrets_from(&old);
        }
        let kind = r.kind().map_err(NotifyError::Parameters)?;
        let n = Notification::parse(kind, &r.parameters)?.as_test();
        if let Notification::Call { to, account } = &n {
            // A test call: placed, and ended after 15 s if nobody ended it first.
            let id = self
                .deps
                .calls
                .place(to, account.as_deref())
                .await
                .map_err(NotifyError::Delivery)?;
            let calls = self.deps.calls.clone();
            let call = id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(15)).await;
                calls.end(&call).await;
            });
            return Ok(format!("calling {to} (call {id})"));
        }
        self.deps.notifier.send(&n).await
    }

    /// Adds a rule, action configuration, recipient or schedule; returns its id.
    pub fn add<T: Stored>(&self, item: T) -> Result<u32, RuleError> {
        let (id, set) = self.store.add(item)?;
        self.apply(set);
        Ok(id)
    }

    /// Replaces one (a recipient's masked secret keeps its stored value).
    pub fn replace<T: Stored>(&self, id: u32, item: T) -> Result<(), RuleError> {
        let set = self.store.replace(id, item)?;
        self.apply(set);
        Ok(())
    }

    /// Removes one that nothing uses.
    pub fn remove<T: Stored>(&self, id: u32) -> Result<(), RuleError> {
        let set = self.store.remove::<T>(id)?;
        self.apply(set);
        Ok(())
    }

    /// Enables or disables rule `id` (it takes effect at once).
    pub fn set_enabled(&self, id: u32, enabled: bool) -> Result<(), RuleError> {
        let set = self.store.set_enabled(id, enabled)?;
        self.apply(set);
        Ok(())
    }

    /// A manual trigger: virtual input `port` (1-based) on or off, back off after
    /// `duration_s`. Returns whether it changed.
    pub fn manual_trigger(
        &self,
        port: usize,
        active: bool,
        duration_s: Option<u64>,
    ) -> Result<bool, String> {
        self.deps
            .io
            .set_virtual(port, active, duration_s)
            .map_err(|e| e.to_string())
    }

    /// Carries out what the engine asked for after a change of the rules.
    fn drain(&self) {
        self.drain_at(Instant::now());
    }

    /// Carries out what the engine asked for after an event made at `cause` (a clip's
    /// trigger latency runs from it).
    fn drain_at(&self, cause: Instant) {
        let outputs: Vec<Output> = {
            let mut engine = self.lock_engine();
            std::iter::from_fn(|| engine.poll()).collect()
        };
        if outputs.is_empty() {
            return;
        }
        let set = self.current();
        for out in outputs {
            let (rule, action, start) = match out {
                Output::Start { rule, action } => (rule, action, true),
                Output::Stop { rule, action } => (rule, action, false),
            };
            self.publish_state(rule, start);
            let parsed = set.actions.get(&action).map(Action::parse);
            match parsed {
                Some(Ok(a)) if start => self.start_action(rule, action, a, cause),
                Some(Ok(_)) => self.stop_action(rule),
                Some(Err(e)) => self.failed(rule, action, &e),
                // Removed with its rule: what it started still ends.
                None if !start => self.stop_action(rule),
                None => self.failed(rule, action, "no such action configuration"),
            }
        }
    }

    fn publish_state(&self, rule: u32, active: bool) {
        let fired = self.lock_engine().fired(rule);
        self.deps.bus.publish(Event::new(
            TOPIC_RULE_STATE,
            &[("RuleID", &rule.to_string())],
            &[
                ("Active", if active { "1" } else { "0" }),
                ("Fired", &fired.to_string()),
            ],
            true,
        ));
    }

    fn failed(&self, rule: u32, action: u32, why: &str) {
        fail(&self.deps.bus, rule, action, why);
    }

    fn start_action(&self, rule: u32, action: u32, a: Action, cause: Instant) {
        match a {
            Action::StopClip => {
                self.deps.player.stop_all();
            }
            Action::Toggle {
                port,
                high,
                duration_ms,
                unlimited,
            } => {
                let s = Action::toggle_start(port, high, duration_ms);
                match self.deps.io.action(&s, Instant::now()) {
                    Ok(()) if unlimited => {
                        self.lock_running()
                            .insert(rule, Running::Output(Action::toggle_end(port, high)));
                    }
                    Ok(()) => {}
                    Err(e) => self.failed(rule, action, &e.to_string()),
                }
            }
            Action::AnswerCall => match self.deps.calls.answer_ringing() {
                Ok(0) => self.failed(rule, action, "no call is ringing"),
                Ok(_) => {}
                Err(e) => self.failed(rule, action, &e),
            },
            Action::EndCall => {
                let calls = self.deps.calls.clone();
                let bus = self.deps.bus.clone();
                tokio::spawn(async move {
                    if let Err(e) = calls.end_all().await {
                        fail(&bus, rule, action, &e);
                    }
                });
            }
            Action::VirtualInput {
                port,
                duration_s,
                unlimited,
            } => match self.deps.io.set_virtual(port, true, duration_s) {
                Ok(_) if unlimited => {
                    self.lock_running().insert(rule, Running::Virtual(port));
                }
                Ok(_) => {}
                Err(e) => self.failed(rule, action, &e.to_string()),
            },
            Action::Notify {
                kind,
                recipient,
                parameters,
            } => {
                let n = match self.current().notification(kind, recipient, &parameters) {
                    Ok(n) => n,
                    Err(e) => return self.failed(rule, action, &e.to_string()),
                };
                if let Notification::Call { to, account } = n {
                    let calls = self.deps.calls.clone();
                    let bus = self.deps.bus.clone();
                    tokio::spawn(async move {
                        if let Err(e) = calls.place(&to, account.as_deref()).await {
                            fail(&bus, rule, action, &e);
                        }
                    });
                    return;
                }
                let notifier = self.deps.notifier.clone();
                let bus = self.deps.bus.clone();
                tokio::spawn(async move {
                    match notifier.send(&n).await {
                        Ok(answer) => tracing::debug!("rule {rule}: notified: {answer}"),
                        Err(e) => fail(&bus, rule, action, &e.to_string()),
                    }
                });
            }
            Action::PlayClip {
                location,
                clip,
                volume,
                repeat,
                unlimited,
            } => {
                let found = match (clip, &location) {
                    (Some(id), _) => Ok(self.deps.clips.get(id)),
                    (None, Some(l)) => self.deps.clips.find_location(l).map_err(|e| e.to_string()),
                    (None, None) => Ok(None),
                };
                let c = match found {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        let what = location.unwrap_or_else(|| format!("clip {clip:?}"));
                        return self.failed(rule, action, &format!("no clip {what}"));
                    }
                    Err(e) => return self.failed(rule, action, &e),
                };
                if unlimited {
                    self.lock_running().insert(rule, Running::Clip(None));
                }
                let path = self.deps.clips.path(&c);
                let player = self.deps.player.clone();
                let bus = self.deps.bus.clone();
                let engine = self.deps.audio.engine.clone();
                let gain = volume as f32 / 100.0;
                let running = self.running.clone();
                tokio::spawn(async move {
                    let started = tokio::task::spawn_blocking(move || {
                        player.play(c.id, &c.file, &path, gain, repeat, cause)
                    })
                    .await;
                    let id = match started {
                        Ok(Ok(id)) => id,
                        Ok(Err(e)) => return fail(&bus, rule, action, &e.to_string()),
                        Err(e) => return fail(&bus, rule, action, &e.to_string()),
                    };
                    if !unlimited {
                        return;
                    }
                    // The rule may have ended while the clip was starting.
                    let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
                    match r.get_mut(&rule) {
                        Some(Running::Clip(slot)) => *slot = Some(id),
                        _ => {
                            let _ = engine.stop(id);
                        }
                    }
                });
            }
        }
    }

    fn stop_action(&self, rule: u32) {
        match self.lock_running().remove(&rule) {
            Some(Running::Clip(Some(id))) => {
                let _ = self.deps.audio.engine.stop(id);
            }
            Some(Running::Virtual(port)) => {
                if let Err(e) = self.deps.io.set_virtual(port, false, None) {
                    tracing::warn!("rule {rule}: could not deactivate virtual input {port}: {e}");
                }
            }
            Some(Running::Output(s)) => {
                if let Err(e) = self.deps.io.action(&s, Instant::now()) {
                    tracing::warn!("rule {rule}: could not set the output back: {e}");
                }
            }
            // Still starting: the task sees the entry gone and stops it.
            Some(Running::Clip(None)) | None => {}
        }
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn fail(bus: &EventBus, rule: u32, action: u32, why: &str) {
    tracing::warn!("rule {rule}: action {action} failed: {why}");
    bus.publish(Event::new(
        TOPIC_ACTION_FAILED,
        &[("RuleID", &rule.to_string())],
        &[("ActionID", &action.to_string()), ("Reason", why)],
        false,
    ));
}
