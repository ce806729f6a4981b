//! Session timers (RFC 4028) when the peer asks for them: netamp accepts the interval,
//! leaves refreshing to the caller (`refresher=uac`), and ends a call whose refreshes stop.

use std::time::{Duration, Instant};

/// The smallest interval netamp accepts (RFC 4028's recommended Min-SE).
pub const MIN_SE: u32 = 90;

/// The interval of a `Session-Expires` value (`1800;refresher=uac`), if it has one.
pub fn requested(value: &str) -> Option<u32> {
    value.split(';').next()?.trim().parse().ok()
}

/// What netamp answers to a requested interval: the `Session-Expires` value of its 2xx,
/// or `Err(MIN_SE)` for a 422 when the interval is too small.
pub fn answer(interval: u32) -> Result<String, u32> {
    if interval < MIN_SE {
        Err(MIN_SE)
    } else {
        Ok(format!("{interval};refresher=uac"))
    }
}

/// The non-refresher's watch over one session (time passed in).
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    interval: Duration,
    last: Instant,
}

impl Watch {
    /// A session of `interval` seconds refreshed (or started) at `now`.
    pub fn new(interval: u32, now: Instant) -> Self {
        Self {
            interval: Duration::from_secs(u64::from(interval)),
            last: now,
        }
    }

    /// The interval, s.
    pub fn interval_secs(&self) -> u64 {
        self.interval.as_secs()
    }

    /// The peer refreshed the session.
    pub fn refreshed(&mut self, now: Instant) {
        self.last = now;
    }

    /// When the session runs out unless refreshed: the interval less a third of it (at
    /// most 32 s), as RFC 4028 §10 has the non-refresher send its BYE.
    pub fn deadline(&self) -> Instant {
        self.last + self.interval - (self.interval / 3).min(Duration::from_secs(32))
    }

    /// True once the session has run out at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_accepted_or_refused_and_watched() {
        assert_eq!(requested("1800;refresher=uac"), Some(1800));
        assert_eq!(requested(" 90 "), Some(90));
        assert_eq!(requested("soon"), None);
        assert_eq!(answer(1800).as_deref(), Ok("1800;refresher=uac"));
        assert_eq!(answer(30), Err(90));
        let t = Instant::now();
        let mut w = Watch::new(90, t);
        assert!(!w.expired(t + Duration::from_secs(59)));
        assert!(w.expired(t + Duration::from_secs(60)));
        w.refreshed(t + Duration::from_secs(50));
        assert!(!w.expired(t + Duration::from_secs(100)));
        // Long intervals keep a 32 s margin.
        let w = Watch::new(1800, t);
        assert_eq!(w.deadline(), t + Duration::from_secs(1768));
    }
}
