//! The driver between rsipstack and each call's [`CallCore`]: inputs go in under the
//! calls lock, the actions come out and are carried out here, and one tokio task per
//! call sleeps until the core's next deadline (no OS thread, no spawned sleep per timer).

use super::*;

impl Inner {
    /// Feeds `input` to the core of call `key` now and carries out what it asks.
    pub(super) fn input(&self, key: &str, input: Input) -> Result<(), SipError> {
        {
            let mut calls = self.lock_calls();
            let call = calls
                .get_mut(key)
                .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
            call.core.handle(input, Instant::now());
            call.wake.notify_one();
        }
        self.run_actions(key);
        Ok(())
    }

    /// Carries out every action the core of `key` has queued, one lock at a time (an
    /// action may take the lock itself).
    pub(super) fn run_actions(&self, key: &str) {
        loop {
            let next = {
                let mut calls = self.lock_calls();
                calls
                    .get_mut(key)
                    .and_then(|c| c.core.poll().map(|a| (a, c.dialog.clone(), c.info.clone())))
            };
            let Some((action, dialog, info)) = next else {
                return;
            };
            self.execute(key, action, dialog, info);
        }
    }

    fn execute(&self, key: &str, action: Action, dialog: InviteDialog, info: CallInfo) {
        match action {
            Action::SendRinging => {
                if let Err(e) = dialog.ringing(None, None) {
                    tracing::warn!("180 Ringing: {e}");
                }
                let _ = self.events.send(SipEvent::Call(info));
            }
            Action::Answer => {
                if let Err(e) = self.answer_key(key) {
                    tracing::warn!("answering: {e}");
                }
            }
            Action::RejectUnanswered => {
                let _ = dialog.reject(
                    Some(StatusCode::TemporarilyUnavailable),
                    Some("not answered".into()),
                );
            }
            Action::Bye(why) => {
                match why {
                    ByeReason::TimeLimit => tracing::info!("call reached its time limit"),
                    ByeReason::SessionExpired => {
                        tracing::info!("session timer ran out: ending the call")
                    }
                }
                tokio::spawn(async move {
                    let _ = dialog.bye().await;
                });
            }
            // The dialog's own end removes the call ([`Inner::end`]).
            Action::Release => {}
        }
    }

    /// The call's timer task: sleeps until the core's next deadline (or until an input
    /// moves it), fires it, carries out the actions; ends with the call.
    pub(super) async fn drive_timers(self: Arc<Self>, key: String, wake: Arc<tokio::sync::Notify>) {
        loop {
            let deadline = match self.lock_calls().get(&key) {
                Some(c) => c.core.poll_timeout(),
                None => return,
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = wake.notified() => continue,
                    }
                }
                None => {
                    wake.notified().await;
                    continue;
                }
            }
            match self.lock_calls().get_mut(&key) {
                Some(c) => c.core.handle_timeout(Instant::now()),
                None => return,
            }
            self.run_actions(&key);
        }
    }

    /// Starts a new call's timer task and carries out the core's first actions.
    pub(super) fn start_core(self: &Arc<Self>, key: &str) {
        let wake = match self.lock_calls().get(key) {
            Some(c) => c.wake.clone(),
            None => return,
        };
        tokio::spawn(self.clone().drive_timers(key.to_string(), wake));
        self.run_actions(key);
    }
}
