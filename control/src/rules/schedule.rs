//! Schedules and pulses: iCalendar recurrences (`DTSTART`, optional `DTEND`, `RRULE`, as
//! event1 `AddScheduledEvent` takes them) turned into events, as a state machine with
//! the time passed in.
//!
//! A schedule with `DTEND` is an *interval*: it is "in schedule" from each occurrence's
//! start to its end, published as the stateful `tns1:UserAlarm/tnsaxis:Recurring/Interval`
//! (source `id`, data `active` 1/0). Without `DTEND` it is a *pulse*: each occurrence
//! publishes the stateless `tns1:UserAlarm/tnsaxis:Recurring/Pulse` (source `id`). (Topic
//! names after Axis's scheduled events [inferred].) Times without a zone are local time
//! of the configured zone (`[rules] time_zone`, else the system's), DST included: the
//! recurrence is expanded by the `rrule` crate in that zone.
//!
//! Frequent recurrences starting long ago (a pulse every 2 s since 1970) are rebased
//! first: the start moves forward by whole periods to just before now, so expanding
//! never walks decades of occurrences (only recurrences without `COUNT`, whose
//! occurrences that shift does not change).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use rrule::{Frequency, RRule, RRuleSet, Tz, Unvalidated};
use serde::{Deserialize, Serialize};

/// The stateful topic of an interval schedule.
pub const TOPIC_INTERVAL: &str = "tns1:UserAlarm/tnsaxis:Recurring/Interval";
/// The stateless topic of a pulse.
pub const TOPIC_PULSE: &str = "tns1:UserAlarm/tnsaxis:Recurring/Pulse";
/// The most schedules kept.
pub const MAX_SCHEDULES: usize = 64;
/// The longest one occurrence of an interval may last (a season, a holiday).
pub const MAX_LENGTH_DAYS: i64 = 366;
/// The most occurrences looked at to find the next transition.
const MAX_STEPS: usize = 10_000;

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Shown to the operator.
    pub name: String,
    /// `DTSTART:…` / `DTEND:…` / `RRULE:…` lines (`BEGIN:VEVENT` wrappers allowed).
    pub ical: String,
}

/// A transition the scheduler reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A pulse schedule's occurrence.
    Pulse(u32),
    /// An interval schedule became active (`true`) or inactive.
    Interval(u32, bool),
}

/// A schedule read and ready to expand.
#[derive(Debug, Clone)]
pub struct Recurrence {
    start: NaiveDateTime,
    zone: Tz,
    rule: Option<RRule<Unvalidated>>,
    length: Option<Duration>,
}

fn parse_time(v: &str) -> Result<(NaiveDateTime, bool), String> {
    let (v, utc) = match v.strip_suffix('Z') {
        Some(v) => (v, true),
        None => (v, false),
    };
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
        .map(|t| (t, utc))
        .map_err(|_| format!("{v:?} is not a date-time like 20260301T080000"))
}

fn period(rule: &RRule<Unvalidated>) -> Option<Duration> {
    let n = i64::from(rule.get_interval().max(1));
    Some(match rule.get_freq() {
        Frequency::Secondly => Duration::seconds(n),
        Frequency::Minutely => Duration::minutes(n),
        Frequency::Hourly => Duration::hours(n),
        Frequency::Daily => Duration::days(n),
        Frequency::Weekly => Duration::weeks(n),
        _ => return None,
    })
}

impl Recurrence {
    /// Reads `ical` with local times in `zone`.
    pub fn parse(ical: &str, zone: Tz) -> Result<Self, String> {
        let (mut start, mut end, mut rule) = (None, None, None);
        let mut zone = zone;
        for line in ical.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| format!("{line:?} is not NAME:value"))?;
            let (name, params) = key.split_once(';').unwrap_or((key, ""));
            match name.to_ascii_uppercase().as_str() {
                "BEGIN" | "END" | "UID" | "SUMMARY" | "DTSTAMP" => {}
                "DTSTART" => {
                    if let Some(id) = params.strip_prefix("TZID=") {
                        let tz: chrono_tz::Tz = id
                            .parse()
                            .map_err(|_| format!("unknown time zone {id:?}"))?;
                        zone = Tz::Tz(tz);
                    }
                    let (t, utc) = parse_time(value)?;
                    if utc {
                        zone = Tz::UTC;
                    }
                    start = Some(t);
                }
                "DTEND" => end = Some(parse_time(value)?.0),
                "RRULE" => {
                    if rule.is_some() {
                        return Err("one RRULE only".into());
                    }
                    rule = Some(
                        value
                            .parse::<RRule<Unvalidated>>()
                            .map_err(|e| format!("RRULE: {e}"))?,
                    );
                }
                other => return Err(format!("{other} is not supported (DTSTART, DTEND, RRULE)")),
            }
        }
        let start = start.ok_or("DTSTART is needed")?;
        let length = match end {
            Some(e) if e <= start => return Err("DTEND must come after DTSTART".into()),
            Some(e) if e - start > Duration::days(MAX_LENGTH_DAYS) => {
                return Err(format!(
                    "an occurrence may last at most {MAX_LENGTH_DAYS} days (DTEND - DTSTART)"
                ))
            }
            Some(e) => Some(e - start),
            None => None,
        };
        let r = Self {
            start,
            zone,
            rule,
            length,
        };
        // Expanded once here so a rule the crate refuses is refused when it is added.
        r.set(Utc::now())?;
        Ok(r)
    }

    /// Whether it is a pulse (no `DTEND`).
    pub fn is_pulse(&self) -> bool {
        self.length.is_none()
    }

    fn local(&self, t: NaiveDateTime) -> Result<DateTime<Tz>, String> {
        self.zone
            .from_local_datetime(&t)
            .earliest()
            .ok_or_else(|| format!("{t} does not exist in {}", self.zone.name()))
    }

    /// The occurrences as a set, its start rebased to just before `now` (less the
    /// interval's length) where whole periods allow.
    fn set(&self, now: DateTime<Utc>) -> Result<RRuleSet, String> {
        let Some(rule) = &self.rule else {
            return Ok(RRuleSet::new(self.local(self.start)?).rdate(self.local(self.start)?));
        };
        let mut start = self.start;
        if let (Some(p), None) = (period(rule), rule.get_count()) {
            // Checked: a start at the edge of the calendar must not overflow.
            let target = now
                .with_timezone(&self.zone)
                .naive_local()
                .checked_sub_signed(self.length.unwrap_or_else(Duration::zero) + p)
                .ok_or("the schedule lies outside the calendar")?;
            let behind = (target - start).num_seconds();
            let step = p.num_seconds();
            if behind > step && step > 0 {
                start += Duration::seconds(behind / step * step);
            }
        }
        rule.clone()
            .build(self.local(start)?)
            .map_err(|e| format!("RRULE: {e}"))
    }

    /// The first occurrence start after `t`, and the latest end of the occurrences
    /// going on at `t`.
    fn around(&self, t: DateTime<Utc>) -> Result<Around, String> {
        let set = self.set(t)?;
        let len = self.length.unwrap_or_else(Duration::zero);
        let mut until = None;
        for o in set.into_iter().take(MAX_STEPS) {
            let o = o.with_timezone(&Utc);
            if o > t {
                return Ok((Some(o), until));
            }
            let Some(end) = o.checked_add_signed(len) else {
                continue;
            };
            if end > t && until.is_none_or(|u| end > u) {
                until = Some(end);
            }
        }
        Ok((None, until))
    }
}

/// (the next occurrence's start, the end of the one going on).
type Around = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

struct Entry {
    rec: Recurrence,
    active: bool,
    next: Option<DateTime<Utc>>,
}

/// The schedules' state machine: [`set`](Self::set) them, sleep until
/// [`poll_timeout`](Self::poll_timeout), then [`handle_timeout`](Self::handle_timeout).
#[derive(Default)]
pub struct Scheduler {
    entries: BTreeMap<u32, Entry>,
}

impl Scheduler {
    /// A scheduler with nothing in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a changed set at `now`: the state of each new interval, and of each whose
    /// state changed (a new interval that is in schedule now starts at once; a removed
    /// active one ends).
    pub fn set(
        &mut self,
        schedules: &BTreeMap<u32, Recurrence>,
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        for (id, e) in &self.entries {
            if e.active && !schedules.contains_key(id) {
                out.push(Transition::Interval(*id, false));
            }
        }
        let old = std::mem::take(&mut self.entries);
        for (id, rec) in schedules {
            let was = old.get(id).is_some_and(|e| e.active);
            let mut e = Entry {
                rec: rec.clone(),
                active: false,
                next: None,
            };
            Self::plan(*id, &mut e, now);
            let new = !old.contains_key(id) && !e.rec.is_pulse();
            if e.active != was || new {
                out.push(Transition::Interval(*id, e.active));
            }
            self.entries.insert(*id, e);
        }
        out
    }

    /// Works out `e`'s state at `now` and its next transition (a pulse's next one is
    /// after `now`).
    fn plan(id: u32, e: &mut Entry, now: DateTime<Utc>) {
        match e.rec.around(now) {
            Ok((next_start, until)) => {
                if e.rec.is_pulse() {
                    e.next = next_start;
                } else {
                    e.active = until.is_some();
                    e.next = until.or(next_start);
                }
            }
            Err(err) => {
                tracing::warn!("schedule {id}: {err}");
                e.next = None;
            }
        }
    }

    /// The earliest transition due.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.entries.values().filter_map(|e| e.next).min()
    }

    /// Every transition due at `now`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        let mut out = Vec::new();
        for (id, e) in &mut self.entries {
            if e.next.is_none_or(|n| n > now) {
                continue;
            }
            if e.rec.is_pulse() {
                out.push(Transition::Pulse(*id));
                Self::plan(*id, e, now);
            } else {
                let was = e.active;
                Self::plan(*id, e, now);
                if e.active != was {
                    out.push(Transition::Interval(*id, e.active));
                }
            }
        }
        out
    }

    /// Whether interval `id` is in schedule.
    pub fn active(&self, id: u32) -> bool {
        self.entries.get(&id).is_some_and(|e| e.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn berlin() -> Tz {
        Tz::Tz(chrono_tz::Europe::Berlin)
    }

    /// Runs the scheduler from `from` to `to` the way the task does, collecting
    /// (time, transition).
    fn run(s: &mut Scheduler, to: DateTime<Utc>) -> Vec<(String, Transition)> {
        let mut out = Vec::new();
        while let Some(t) = s.poll_timeout().filter(|t| *t <= to) {
            for tr in s.handle_timeout(t) {
                out.push((t.to_rfc3339(), tr));
            }
        }
        out
    }

    #[test]
    fn a_daily_interval_keeps_local_time_across_the_dst_change() {
        // 08:00–09:00 Berlin time every day; DST starts on 2026-03-29 (UTC+1 → UTC+2).
        let rec = Recurrence::parse(
            "BEGIN:VEVENT\nDTSTART:20260101T080000\nDTEND:20260101T090000\nRRULE:FREQ=DAILY\nEND:VEVENT",
            berlin(),
        )
        .expect("parse");
        let mut s = Scheduler::new();
        let start = utc("2026-03-28T06:30:00Z");
        assert_eq!(
            s.set(&BTreeMap::from([(1, rec)]), start),
            [Transition::Interval(1, false)],
            "a new interval's state is told"
        );
        let seen = run(&mut s, utc("2026-03-29T12:00:00Z"));
        assert_eq!(
            seen,
            [
                (
                    "2026-03-28T07:00:00+00:00".into(),
                    Transition::Interval(1, true)
                ),
                (
                    "2026-03-28T08:00:00+00:00".into(),
                    Transition::Interval(1, false)
                ),
                // Summer time: 08:00 local is 06:00 UTC.
                (
                    "2026-03-29T06:00:00+00:00".into(),
                    Transition::Interval(1, true)
                ),
                (
                    "2026-03-29T07:00:00+00:00".into(),
                    Transition::Interval(1, false)
                ),
            ]
        );
        // Back to winter time on 2026-10-25: 08:00 local is 07:00 UTC again.
        let rec = Recurrence::parse(
            "DTSTART;TZID=Europe/Berlin:20260101T080000\nDTEND:20260101T090000\nRRULE:FREQ=DAILY",
            Tz::UTC,
        )
        .expect("parse");
        let mut s = Scheduler::new();
        s.set(&BTreeMap::from([(2, rec)]), utc("2026-10-25T00:00:00Z"));
        assert_eq!(s.poll_timeout(), Some(utc("2026-10-25T07:00:00Z")));
    }

    #[test]
    fn an_interval_in_progress_is_active_at_once_and_its_removal_ends_it() {
        let rec = Recurrence::parse(
            "DTSTART:20260101T080000Z\nDTEND:20260101T170000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            Tz::LOCAL,
        )
        .expect("parse");
        let mut s = Scheduler::new();
        // Monday 2026-12-07, 12:00 UTC: in schedule.
        let now = utc("2026-12-07T12:00:00Z");
        assert_eq!(
            s.set(&BTreeMap::from([(3, rec)]), now),
            [Transition::Interval(3, true)]
        );
        assert_eq!(s.poll_timeout(), Some(utc("2026-12-07T17:00:00Z")));
        // Friday evening to Monday morning: out of schedule over the weekend.
        let seen = run(&mut s, utc("2026-12-14T09:00:00Z"));
        assert_eq!(seen.len(), 10, "{seen:?}");
        assert_eq!(
            seen[8],
            (
                "2026-12-11T17:00:00+00:00".into(),
                Transition::Interval(3, false)
            )
        );
        assert_eq!(
            seen[9],
            (
                "2026-12-14T08:00:00+00:00".into(),
                Transition::Interval(3, true)
            )
        );
        assert_eq!(
            s.set(&BTreeMap::new(), now),
            [Transition::Interval(3, false)]
        );
    }

    #[test]
    fn a_pulse_every_2_s_since_1970_fires_every_2_s_now() {
        let rec = Recurrence::parse(
            "DTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY;INTERVAL=2",
            Tz::LOCAL,
        )
        .expect("parse");
        let mut s = Scheduler::new();
        let now = utc("2026-12-07T12:00:01Z");
        assert!(s.set(&BTreeMap::from([(4, rec)]), now).is_empty());
        let seen = run(&mut s, utc("2026-12-07T12:00:07Z"));
        let times: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            times,
            [
                "2026-12-07T12:00:02+00:00",
                "2026-12-07T12:00:04+00:00",
                "2026-12-07T12:00:06+00:00"
            ]
        );
        assert!(seen.iter().all(|(_, t)| *t == Transition::Pulse(4)));
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        for bad in [
            "",
            "RRULE:FREQ=DAILY",
            "DTSTART:2026-01-01 08:00",
            "DTSTART:20260101T080000\nDTEND:20260101T070000",
            "DTSTART:20260101T080000\nRRULE:FREQ=SOMETIMES",
            "DTSTART;TZID=Mars/Olympus:20260101T080000",
            "DTSTART:20260101T080000\nEXRULE:FREQ=DAILY",
            // Spans that would overflow date arithmetic, or that no schedule needs.
            "DTSTART:00010101T000000\nDTEND:2620001231T000000\nRRULE:FREQ=DAILY",
            "DTSTART:20260101T080000\nDTEND:20280101T080000\nRRULE:FREQ=YEARLY",
        ] {
            assert!(Recurrence::parse(bad, Tz::UTC).is_err(), "{bad:?}");
        }
    }
}
