//! One call's behaviour in time, as a state machine with `now` passed in (the
//! quinn-proto / str0m shape): the driver feeds it what happened with
//! [`CallCore::handle`], wakes it at [`CallCore::poll_timeout`] with
//! [`CallCore::handle_timeout`], and carries out what [`CallCore::poll`] returns. Nothing
//! in here sleeps, spawns or touches a socket, so every call behaviour (ring timeout,
//! maximum duration, session expiry) is tested in simulated time. What plays while a
//! call rings (a pre-announcement, a loud ringer) and when it is answered then are
//! rules of the daemon's, which answer through [`Input::Answer`].
//!
//! The timer table holds one deadline per [`Timer`]; leaving a phase clears the timers
//! that belong to it, so a call that ends early leaves nothing armed behind it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::session_timer::Watch;

/// What a call starts with (each call keeps the limits it started with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// How long an unanswered incoming call rings before it is refused.
    pub ring_timeout: Duration,
    /// The call is ended (BYE) this long after it was answered; `None`: never.
    pub max_duration: Option<Duration>,
    /// The session-timer interval the caller asked for (RFC 4028), seconds.
    pub session_interval: Option<u32>,
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Outgoing, not answered yet.
    Calling,
    /// Incoming, ringing.
    Ringing,
    /// Answered (200 sent or received), not confirmed yet.
    Answered,
    /// Confirmed: media flows, the limits run.
    Active,
    /// Over; nothing more will happen.
    Ended,
}

/// What happened to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Someone (an operator, a rule, the API) answers the ringing call.
    Answer,
    /// The far end answered our call (2xx).
    RemoteAnswered,
    /// The dialog is confirmed (the ACK of our 2xx, or our ACK of theirs).
    Confirmed,
    /// The caller refreshed its session (re-INVITE or UPDATE with a session timer).
    SessionRefreshed,
    /// The dialog ended (BYE, CANCEL, a failure): only cleanup remains.
    Ended,
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send 180 Ringing.
    SendRinging,
    /// Answer: send the 200 with the SDP answer and start media.
    Answer,
    /// Refuse the ringing call with 480 (nobody answered).
    RejectUnanswered,
    /// End the confirmed call with a BYE.
    Bye(ByeReason),
    /// The call is over: free what it holds.
    Release,
}

/// Why netamp sends a BYE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByeReason {
    /// The call reached its maximum duration.
    TimeLimit,
    /// The caller stopped refreshing its session timer.
    SessionExpired,
}

/// The timers of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Ringing too long.
    Ring,
    /// Answered too long.
    MaxDuration,
    /// The caller's session timer ran out.
    Session,
}

const TIMERS: usize = 3;

impl Timer {
    fn index(self) -> usize {
        match self {
            Timer::Ring => 0,
            Timer::MaxDuration => 1,
            Timer::Session => 2,
        }
    }

    const ALL: [Timer; TIMERS] = [Timer::Ring, Timer::MaxDuration, Timer::Session];
}

/// One call's state machine.
#[derive(Debug)]
pub struct CallCore {
    limits: CallLimits,
    phase: Phase,
    timers: [Option<Instant>; TIMERS],
    actions: VecDeque<Action>,
    session: Option<Watch>,
}

impl CallCore {
    /// An incoming call at `now`: answered at once when `auto_answer`, otherwise
    /// ringing with the ring timer armed.
    pub fn incoming(limits: CallLimits, auto_answer: bool, now: Instant) -> Self {
        let mut core = Self::new(limits, Phase::Ringing);
        if auto_answer {
            core.answer();
        } else {
            core.actions.push_back(Action::SendRinging);
            core.arm(Timer::Ring, now + limits.ring_timeout);
        }
        core
    }

    /// An outgoing call (the INVITE's own timeout is its transaction's).
    pub fn outgoing(limits: CallLimits) -> Self {
        Self::new(limits, Phase::Calling)
    }

    fn new(limits: CallLimits, phase: Phase) -> Self {
        Self {
            limits,
            phase,
            timers: [None; TIMERS],
            actions: VecDeque::new(),
            session: None,
        }
    }

    /// Where the call is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The limits the call started with.
    pub fn limits(&self) -> &CallLimits {
        &self.limits
    }

    /// The session timer netamp watches, once the call is confirmed with one.
    pub fn session(&self) -> Option<&Watch> {
        self.session.as_ref()
    }

    /// When a timer is armed for.
    pub fn timer(&self, t: Timer) -> Option<Instant> {
        self.timers[t.index()]
    }

    /// Feeds what happened at `now`.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match (input, self.phase) {
            (_, Phase::Ended) => {}
            (Input::Ended, _) => self.end(),
            (Input::Answer, Phase::Ringing) => self.answer(),
            (Input::RemoteAnswered, Phase::Calling) => self.phase = Phase::Answered,
            (Input::Confirmed, Phase::Answered) => {
                self.phase = Phase::Active;
                if let Some(limit) = self.limits.max_duration {
                    self.arm(Timer::MaxDuration, now + limit);
                }
                if let Some(interval) = self.limits.session_interval {
                    let w = Watch::new(interval, now);
                    self.arm(Timer::Session, w.deadline());
                    self.session = Some(w);
                }
            }
            (Input::SessionRefreshed, Phase::Active) => {
                if let Some(w) = self.session.as_mut() {
                    w.refreshed(now);
                    let deadline = w.deadline();
                    self.arm(Timer::Session, deadline);
                }
            }
            // Anything else (an answer to a call that already is, a refresh before the
            // ACK) changes nothing.
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in Timer::ALL {
            if self.timers[t.index()].is_some_and(|d| d <= now) {
                self.timers[t.index()] = None;
                self.fire(t, now);
            }
        }
    }

    /// The earliest armed timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn fire(&mut self, t: Timer, now: Instant) {
        match (t, self.phase) {
            (Timer::Ring, Phase::Ringing) => {
                self.actions.push_back(Action::RejectUnanswered);
                self.end();
            }
            (Timer::MaxDuration, Phase::Active) => self.bye(ByeReason::TimeLimit),
            (Timer::Session, Phase::Active) => match self.session {
                Some(w) if w.expired(now) => self.bye(ByeReason::SessionExpired),
                Some(w) => self.arm(Timer::Session, w.deadline()),
                None => {}
            },
            _ => {}
        }
    }

    fn answer(&mut self) {
        self.clear(Timer::Ring);
        self.phase = Phase::Answered;
        self.actions.push_back(Action::Answer);
    }

    fn bye(&mut self, why: ByeReason) {
        self.actions.push_back(Action::Bye(why));
        self.end();
    }

    fn end(&mut self) {
        self.timers = [None; TIMERS];
        self.phase = Phase::Ended;
        self.actions.push_back(Action::Release);
    }

    fn arm(&mut self, t: Timer, at: Instant) {
        self.timers[t.index()] = Some(at);
    }

    fn clear(&mut self, t: Timer) {
        self.timers[t.index()] = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn limits() -> CallLimits {
        CallLimits {
            ring_timeout: 30 * S,
            max_duration: None,
            session_interval: None,
        }
    }

    fn drain(c: &mut CallCore) -> Vec<Action> {
        std::iter::from_fn(|| c.poll()).collect()
    }

    /// Runs the core's timers up to `until`, the way the driver does, collecting actions.
    fn run_until(c: &mut CallCore, until: Instant) -> Vec<Action> {
        let mut out = drain(c);
        while let Some(t) = c.poll_timeout().filter(|t| *t <= until) {
            c.handle_timeout(t);
            out.extend(drain(c));
        }
        out
    }

    #[test]
    fn auto_answer_answers_at_once_with_nothing_armed() {
        let t0 = Instant::now();
        let mut c = CallCore::incoming(limits(), true, t0);
        assert_eq!(drain(&mut c), [Action::Answer]);
        assert_eq!(c.poll_timeout(), None);
        c.handle(Input::Confirmed, t0);
        assert_eq!(c.phase(), Phase::Active);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn an_unanswered_call_rings_until_the_ring_timeout_then_480() {
        let t0 = Instant::now();
        let mut c = CallCore::incoming(limits(), false, t0);
        assert_eq!(drain(&mut c), [Action::SendRinging]);
        assert_eq!(c.poll_timeout(), Some(t0 + 30 * S));
        assert!(run_until(&mut c, t0 + 29 * S).is_empty());
        assert_eq!(
            run_until(&mut c, t0 + 30 * S),
            [Action::RejectUnanswered, Action::Release]
        );
        assert_eq!(c.phase(), Phase::Ended);
        assert_eq!(c.poll_timeout(), None);
        // A late answer changes nothing.
        c.handle(Input::Answer, t0 + 31 * S);
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn answering_while_ringing_cancels_the_ring_timer() {
        let t0 = Instant::now();
        let mut c = CallCore::incoming(limits(), false, t0);
        drain(&mut c);
        c.handle(Input::Answer, t0 + 5 * S);
        assert_eq!(drain(&mut c), [Action::Answer]);
        assert_eq!(c.timer(Timer::Ring), None);
        assert!(run_until(&mut c, t0 + 3600 * S).is_empty());
    }

    #[test]
    fn the_time_limit_runs_from_confirmation_and_goes_with_an_early_end() {
        let t0 = Instant::now();
        let l = CallLimits {
            max_duration: Some(600 * S),
            ..limits()
        };
        let mut c = CallCore::incoming(l, true, t0);
        drain(&mut c);
        c.handle(Input::Confirmed, t0 + S);
        assert_eq!(c.poll_timeout(), Some(t0 + 601 * S));
        assert_eq!(
            run_until(&mut c, t0 + 601 * S),
            [Action::Bye(ByeReason::TimeLimit), Action::Release]
        );
        // Ended after 10 s: the limit is not left armed to hang up a later call.
        let mut c = CallCore::incoming(l, true, t0);
        drain(&mut c);
        c.handle(Input::Confirmed, t0);
        c.handle(Input::Ended, t0 + 10 * S);
        assert_eq!(drain(&mut c), [Action::Release]);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn session_refreshes_keep_the_call_and_missing_ones_end_it() {
        let t0 = Instant::now();
        let l = CallLimits {
            session_interval: Some(90),
            ..limits()
        };
        let mut c = CallCore::incoming(l, true, t0);
        drain(&mut c);
        c.handle(Input::Confirmed, t0);
        // 90 s interval: the BYE is due 60 s after the last refresh.
        assert_eq!(c.poll_timeout(), Some(t0 + 60 * S));
        c.handle(Input::SessionRefreshed, t0 + 45 * S);
        assert!(run_until(&mut c, t0 + 104 * S).is_empty());
        assert_eq!(c.poll_timeout(), Some(t0 + 105 * S));
        assert_eq!(
            run_until(&mut c, t0 + 105 * S),
            [Action::Bye(ByeReason::SessionExpired), Action::Release]
        );
    }

    #[test]
    fn an_outgoing_call_runs_its_limit_once_the_far_end_answers() {
        let t0 = Instant::now();
        let l = CallLimits {
            max_duration: Some(60 * S),
            ..limits()
        };
        let mut c = CallCore::outgoing(l);
        assert_eq!(c.phase(), Phase::Calling);
        assert_eq!(c.poll_timeout(), None);
        c.handle(Input::Confirmed, t0);
        assert_eq!(c.phase(), Phase::Calling, "confirmed before answered");
        c.handle(Input::RemoteAnswered, t0 + 2 * S);
        c.handle(Input::Confirmed, t0 + 2 * S);
        assert_eq!(c.phase(), Phase::Active);
        assert_eq!(
            run_until(&mut c, t0 + 62 * S),
            [Action::Bye(ByeReason::TimeLimit), Action::Release]
        );
    }
}
