//! Real-time scheduling for the sound card's callback thread: SCHED_FIFO at
//! [`PRIORITY`] when the process may have it (root, CAP_SYS_NICE, or an RLIMIT_RTPRIO at
//! least that high, as the package's unit sets with `LimitRTPRIO`), the normal scheduler
//! otherwise. The thread asks once, on its first callback; the answer is kept in
//! [`crate::stats::Stats`] for control to report (the thread itself never logs).
//!
//! The paced devices (`null`, `wav:`) stay on the normal scheduler: nothing hears their
//! deadlines, and a SCHED_FIFO thread that fell behind would catch up at the expense of
//! every other thread of a small machine.

use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy, ThreadPriority,
    ThreadPriorityValue, ThreadSchedulePolicy,
};

/// The SCHED_FIFO priority asked for (1–99 scale; the package's LimitRTPRIO is 95).
pub const PRIORITY: u8 = 80;

/// What the render thread got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtPriority {
    /// Not asked (a paced device, or no callback yet).
    #[default]
    NotAsked,
    /// SCHED_FIFO at [`PRIORITY`].
    Realtime,
    /// Refused by the system: the normal scheduler.
    Refused,
}

impl RtPriority {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            Self::NotAsked => 0,
            Self::Realtime => 1,
            Self::Refused => 2,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Realtime,
            2 => Self::Refused,
            _ => Self::NotAsked,
        }
    }
}

/// Asks for SCHED_FIFO for the calling thread: one system call, no allocation, no log.
pub fn promote_current_thread() -> RtPriority {
    let Ok(value) = ThreadPriorityValue::try_from(PRIORITY) else {
        return RtPriority::Refused;
    };
    match set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    ) {
        Ok(()) => RtPriority::Realtime,
        Err(_) => RtPriority::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_what_the_thread_then_runs_with() {
        // Root (CI) gets SCHED_FIFO, a plain user without RLIMIT_RTPRIO does not: either
        // way the reported answer must match the thread's policy afterwards.
        let (got, policy) = std::thread::spawn(|| {
            let got = promote_current_thread();
            (got, thread_priority::thread_schedule_policy())
        })
        .join()
        .expect("thread");
        let fifo = matches!(
            policy,
            Ok(ThreadSchedulePolicy::Realtime(
                RealtimeThreadSchedulePolicy::Fifo
            ))
        );
        assert_eq!(got == RtPriority::Realtime, fifo, "{got:?} {policy:?}");
        assert_ne!(got, RtPriority::NotAsked);
        for v in [
            RtPriority::NotAsked,
            RtPriority::Realtime,
            RtPriority::Refused,
        ] {
            assert_eq!(RtPriority::from_u8(v.to_u8()), v);
        }
    }
}
