//! Registered accounts: REGISTER with digest auth, refresh, a secondary registrar with
//! failback.
//!
//! [`Schedule`] is the state machine (time passed in): which registrar to try and when.
//! After a success it refreshes at three quarters of the granted time; a registrar that
//! fails (error, rejection or no answer) hands over to the other one at once; once both
//! have failed it backs off (1, 2, 4 … 60 s). While registered on the secondary, every
//! refresh tries the primary first (failback). A thin tokio task in the user agent runs
//! it with rsipstack's `Registration` (which answers the 401/407 challenges).

use std::time::{Duration, Instant};

/// One registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// Account id (`sip_account_1`…).
    pub id: String,
    /// User part of the address of record.
    pub user: String,
    /// Digest password.
    pub password: String,
    /// Digest user name when it differs from `user`.
    pub auth_user: Option<String>,
    /// Registrar (`sip:pbx.example.com[:port][;transport=tcp]` or `host[:port]`).
    pub registrar: String,
    /// Secondary registrar, used while the primary fails.
    pub secondary: Option<String>,
    /// Outbound proxy every REGISTER goes through.
    pub outbound_proxy: Option<std::net::SocketAddr>,
    /// Requested registration time, s.
    pub expires: u32,
    /// How long one REGISTER may take before the registrar counts as failed.
    pub timeout: Duration,
    /// Whether calls to this account (Request-URI user = `user`) are answered at once;
    /// `None` follows [`crate::CallPolicy::auto_answer`].
    pub auto_answer: Option<bool>,
    /// Whether a TLS registrar's certificate is verified; `None`: as
    /// [`crate::ua::UaConfig::verify_server`].
    pub verify_server: Option<bool>,
}

/// Registration state of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegStatus {
    /// Trying for the first time.
    Registering,
    /// Registered on `server` for `expires` seconds.
    Registered {
        /// The registrar that accepted.
        server: String,
        /// Granted seconds.
        expires: u32,
        /// The address in the registered Contact (`host:port`): where the registrar saw
        /// the REGISTER come from (its Via `received`/`rport`, RFC 3581), which is what
        /// rsipstack registers, so calls reach netamp through a NAT.
        contact: String,
    },
    /// The last attempt failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The outcome of one REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx with the granted expiry.
    Ok(u32),
    /// Anything else.
    Failed,
}

/// When to register next, and where (0 = primary, 1 = secondary).
#[derive(Debug, Clone)]
pub struct Schedule {
    servers: usize,
    current: usize,
    failed_in_row: u32,
}

impl Schedule {
    /// A schedule for one registrar, or two with a secondary.
    pub fn new(has_secondary: bool) -> Self {
        Self {
            servers: if has_secondary { 2 } else { 1 },
            current: 0,
            failed_in_row: 0,
        }
    }

    /// The registrar to use now.
    pub fn server(&self) -> usize {
        self.current
    }

    /// Records the outcome of a REGISTER sent to [`server`](Self::server) at `now`;
    /// returns when to send the next one (to the new [`server`](Self::server)).
    pub fn on_outcome(&mut self, outcome: Outcome, now: Instant) -> Instant {
        match outcome {
            Outcome::Ok(granted) => {
                self.failed_in_row = 0;
                let refresh = Duration::from_secs(u64::from(granted.max(4)) * 3 / 4);
                // Registered on the secondary: the next refresh tries the primary.
                self.current = 0;
                now + refresh
            }
            Outcome::Failed => {
                self.failed_in_row += 1;
                self.current = (self.current + 1) % self.servers;
                if self.failed_in_row < self.servers as u32 {
                    // The other registrar right away.
                    now
                } else {
                    let exp = (self.failed_in_row - self.servers as u32).min(6);
                    now + Duration::from_secs((1u64 << exp).min(60))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_at_three_quarters_and_fail_over_then_back() {
        let t = Instant::now();
        let mut s = Schedule::new(true);
        assert_eq!(s.server(), 0);
        assert_eq!(
            s.on_outcome(Outcome::Ok(60), t),
            t + Duration::from_secs(45)
        );
        assert_eq!(s.server(), 0);
        // The primary dies: the secondary at once.
        assert_eq!(s.on_outcome(Outcome::Failed, t), t);
        assert_eq!(s.server(), 1);
        // Registered there; the refresh goes to the primary first (failback)…
        assert_eq!(s.on_outcome(Outcome::Ok(8), t), t + Duration::from_secs(6));
        assert_eq!(s.server(), 0);
        // …which still fails: straight back to the secondary.
        assert_eq!(s.on_outcome(Outcome::Failed, t), t);
        assert_eq!(s.server(), 1);
        // Both down: back off 1, 2, 4 … 60 s, alternating.
        assert_eq!(s.on_outcome(Outcome::Failed, t), t + Duration::from_secs(1));
        assert_eq!(s.server(), 0);
        assert_eq!(s.on_outcome(Outcome::Failed, t), t + Duration::from_secs(2));
        for _ in 0..10 {
            s.on_outcome(Outcome::Failed, t);
        }
        assert_eq!(
            s.on_outcome(Outcome::Failed, t),
            t + Duration::from_secs(60)
        );
        // The primary is back.
        let next = s.on_outcome(Outcome::Ok(3600), t);
        assert_eq!(next, t + Duration::from_secs(2700));
    }

    #[test]
    fn one_registrar_backs_off_on_failure() {
        let t = Instant::now();
        let mut s = Schedule::new(false);
        assert_eq!(s.on_outcome(Outcome::Failed, t), t + Duration::from_secs(1));
        assert_eq!(s.on_outcome(Outcome::Failed, t), t + Duration::from_secs(2));
        assert_eq!(s.server(), 0);
        // A tiny grant is refreshed no faster than every 3 s.
        assert_eq!(s.on_outcome(Outcome::Ok(1), t), t + Duration::from_secs(3));
    }
}
