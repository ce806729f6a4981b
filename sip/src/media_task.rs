//! Media work of a call that runs on the call's receive thread between packets (the RTP
//! sender, RTCP), so a call costs one OS thread, not one per job.

use std::time::Instant;

/// A unit of per-call media work, stepped with the time passed in.
pub trait MediaTask: Send {
    /// Does what is due at `now`; returns when it next needs to run.
    fn step(&mut self, now: Instant) -> Instant;
}
