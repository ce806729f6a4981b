//! The one live-playout core: how audio that arrives over a network, on its sender's
//! clock, is written to its engine ring so that the ring neither runs dry nor piles up
//! delay. `transmit.cgi` bodies and SIP calls both use it.
//!
//! A state machine with time passed in: the caller decodes, resamples and writes; before
//! each write it tells the core what the ring looks like ([`Ring`]) and what it is about
//! to write ([`Due`]), and the core answers how much filler goes in front of that audio
//! and how much of its oldest part is dropped ([`Plan`]). Readings of the sender's clock
//! against the device's go in with [`LivePlayout::sender_clock`]; the resampling ratio
//! that cancels the difference comes out of [`LivePlayout::ratio`].
//!
//! **Cushion.** The stream starts behind a cushion of filler, so the renderer's blocks
//! never catch up with the audio being written; a stream without timestamps that
//! arrives in bursts (ffmpeg `-re` writes 128–256 ms at a time) is paced coarsely, so an
//! eighth of a first write longer than one 20 ms frame is added. When the ring has run dry anyway (the renderer
//! counted starved frames since the last write), the audio about to be written is put
//! where its schedule says it belongs:
//!
//! - *Behind* it (a later delay, a slow sender, or a stream with no timestamps whose
//!   bytes came late): the whole cushion is rebuilt in front of it at once.
//! - *Ahead* of it (a timed stream whose writer woke late, so its frames were due while
//!   the device played silence): as much of the oldest audio as the device played
//!   silence instead of is dropped. Kept, every late wake-up would add to the delay for
//!   good. A stream without timestamps has no schedule to be ahead of and never loses
//!   audio.
//!
//! The second dry spell within [`GROW_WITHIN`] that the cushion exists to absorb grows
//! it by what that spell lacked, up to the configured maximum; once is not a pattern
//! worth paying delay for the rest of the stream. What the cushion absorbs is lateness
//! nothing else absorbs: for a timed stream (behind a jitter buffer that follows the
//! network) the writer's own lateness beyond its polling slack, for an untimed stream
//! (bytes written as they arrive) the whole dry spell.
//!
//! **Clock drift** (ARCHITECTURE.md §2). The sender's clock and the device's differ by
//! up to a few hundred ppm. [`DriftEstimator`] measures the difference from the sender's
//! media clock against the device's position as data arrives; once it is trusted, the
//! ratio is set to cancel it. A feed-forward correction, not feedback on the ring's
//! level: the level moves by milliseconds with thread scheduling and network jitter, too
//! much to steer by without a deadband that costs minutes before it acts. A sender that
//! had to wait for room runs ahead of real time ([`LivePlayout::held_back`]): its
//! arrivals are our pace, not its clock, and say nothing about drift.

use super::drift::DriftEstimator;
use crate::SAMPLE_RATE;

/// Two dry spells the cushion should have absorbed this close (device frames, 30 s)
/// grow it.
pub const GROW_WITHIN: u64 = 30 * SAMPLE_RATE as u64;
/// How often the ratio is re-read from the estimate (device frames).
const DRIFT_EVERY: u64 = SAMPLE_RATE as u64;
/// A new estimate closer than this to the one in force is not applied.
const DRIFT_STEP: f64 = 5e-6;
/// One 20 ms frame at 48 kHz: a first write longer than this is a burst.
const FRAME: usize = SAMPLE_RATE as usize / 50;

/// A stream's cushion settings, 48 kHz frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayoutConfig {
    /// The cushion at the start.
    pub cushion: usize,
    /// The most it grows to.
    pub max_cushion: usize,
    /// How late the writer may come without that counting as lateness (its polling
    /// interval); only timed streams use it.
    pub poll_slack: usize,
}

/// The stream's ring at a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    /// Frames written and not yet played.
    pub buffered: usize,
    /// Frames the renderer wanted while the ring was dry, since it started (the
    /// writer's `starved_frames`).
    pub starved: u64,
    /// Frames the device has rendered (its clock).
    pub device: u64,
}

/// What the caller is about to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// 48 kHz frames of audio about to go into the ring.
    pub frames: usize,
    /// For a stream with timestamps (behind a jitter buffer): how many frames ago the
    /// first of them was due. `None` for bytes written as they arrive.
    pub late: Option<usize>,
}

/// What to do with a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plan {
    /// Frames of filler to write in front of the audio: the whole cushion at the first
    /// write, the rebuild after a dry spell. Silence, or the codec's concealment.
    pub fill: usize,
    /// Frames of the oldest audio to drop (timed streams only).
    pub discard: usize,
    /// The dry spell the device just played, frames (0 when the ring did not run dry).
    pub dry: usize,
    /// True at the stream's first write.
    pub first: bool,
}

/// The playout core of one stream.
#[derive(Debug)]
pub struct LivePlayout {
    config: PlayoutConfig,
    cushion: usize,
    started: bool,
    starved: u64,
    dry_spells: u64,
    /// Device frame of the last dry spell the cushion should have absorbed.
    last_absorbed: Option<u64>,
    drift: DriftEstimator,
    /// The drift the ratio cancels now.
    applied: f64,
    /// The drift the last ratio handed out cancels.
    reported: f64,
    next_drift_check: u64,
}

impl LivePlayout {
    /// A stream that has written nothing yet.
    pub fn new(config: PlayoutConfig) -> Self {
        let config = PlayoutConfig {
            cushion: config.cushion.max(1),
            max_cushion: config.max_cushion.max(config.cushion.max(1)),
            ..config
        };
        Self {
            config,
            cushion: config.cushion,
            started: false,
            starved: 0,
            dry_spells: 0,
            last_absorbed: None,
            drift: DriftEstimator::new(),
            applied: 0.0,
            reported: 0.0,
            next_drift_check: 0,
        }
    }

    /// The plan for writing `due` into `ring`.
    pub fn plan(&mut self, ring: Ring, due: Due) -> Plan {
        if !self.started {
            self.started = true;
            self.starved = ring.starved;
            // A jitter buffer evens out a timed stream's bursts; bytes that arrive in
            // bursts are written in them.
            let burst = match due.late {
                Some(_) => 0,
                None => due.frames.saturating_sub(FRAME) / 8,
            };
            self.cushion = (self.cushion + burst).min(self.config.max_cushion);
            return Plan {
                fill: self.cushion.saturating_sub(ring.buffered),
                first: true,
                ..Plan::default()
            };
        }
        if ring.starved == self.starved {
            return Plan::default();
        }
        // The ring ran dry: the device played `dry` frames that were in no schedule.
        let dry = ring.starved.saturating_sub(self.starved) as usize;
        self.starved = ring.starved;
        self.dry_spells += 1;
        let late = due.late.unwrap_or(0);
        let absorb = match due.late {
            Some(late) => dry.min(late.saturating_sub(self.config.poll_slack)),
            None => dry,
        };
        if absorb > 0 {
            if self
                .last_absorbed
                .is_some_and(|at| ring.device.saturating_sub(at) < GROW_WITHIN)
            {
                self.cushion = (self.cushion + absorb).min(self.config.max_cushion);
            }
            self.last_absorbed = Some(ring.device);
        }
        // On schedule the ring would now hold the cushion and the audio due, less what
        // the device played since the first of it was due.
        let level = ring.buffered + due.frames;
        let scheduled = (self.cushion + due.frames).saturating_sub(late);
        let mut plan = Plan {
            dry,
            ..Plan::default()
        };
        if level > scheduled {
            plan.discard = (level - scheduled).min(dry);
        } else {
            plan.fill = scheduled - level;
        }
        plan
    }

    /// A reading of the sender's clock: at `device` seconds of the device's clock the
    /// sender's media had reached `media` seconds of its own.
    pub fn sender_clock(&mut self, device: f64, media: f64) {
        self.drift.observe(device, media);
    }

    /// The sender's timeline restarted (a new source, a timestamp jump): its clock is
    /// measured afresh. The ratio in force stays until a new estimate is trusted.
    pub fn restart_clock(&mut self) {
        self.drift.reset();
    }

    /// The writer had to wait for room: the sender runs ahead of real time and its
    /// arrivals follow our pace. The readings so far are forgotten and no drift is
    /// cancelled until the sender's own pace shows again.
    pub fn held_back(&mut self) {
        self.drift.reset();
        self.applied = 0.0;
    }

    /// The resampler's ratio (output per input, relative to nominal) when it should
    /// change, read at most once a device second.
    pub fn ratio(&mut self, device: u64) -> Option<f64> {
        if device >= self.next_drift_check {
            self.next_drift_check = device + DRIFT_EVERY;
            if let Some(d) = self.drift.drift() {
                if (d - self.applied).abs() > DRIFT_STEP {
                    self.applied = d;
                }
            }
        }
        // `held_back` may have set the drift back to none since the last call.
        (self.applied != self.reported).then(|| {
            self.reported = self.applied;
            1.0 / (1.0 + self.applied)
        })
    }

    /// The drift the ratio cancels now (relative; +0.001: the sender runs 1,000 ppm
    /// fast).
    pub fn drift(&self) -> f64 {
        self.applied
    }

    /// The cushion now, frames.
    pub fn cushion(&self) -> usize {
        self.cushion
    }

    /// Dry spells since the start.
    pub fn dry_spells(&self) -> u64 {
        self.dry_spells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: PlayoutConfig = PlayoutConfig {
        cushion: 960,
        max_cushion: 2400,
        poll_slack: 120,
    };

    fn ring(buffered: usize, starved: u64, device: u64) -> Ring {
        Ring {
            buffered,
            starved,
            device,
        }
    }

    fn untimed(frames: usize) -> Due {
        Due { frames, late: None }
    }

    #[test]
    fn the_first_write_starts_behind_the_cushion_and_an_eighth_of_a_burst() {
        let mut p = LivePlayout::new(CONFIG);
        let plan = p.plan(ring(0, 0, 0), untimed(FRAME));
        assert_eq!((plan.first, plan.fill), (true, 960));
        assert_eq!(p.plan(ring(960, 0, 0), untimed(FRAME)), Plan::default());

        let mut p = LivePlayout::new(CONFIG);
        let plan = p.plan(ring(0, 0, 0), untimed(FRAME + 8 * 240));
        assert_eq!(plan.fill, 1200, "a 60 ms first burst adds 5 ms");

        let mut p = LivePlayout::new(CONFIG);
        let plan = p.plan(
            ring(0, 0, 0),
            Due {
                frames: 3 * FRAME,
                late: Some(0),
            },
        );
        assert_eq!(plan.fill, 960, "a jitter buffer evens out a timed stream");
    }

    #[test]
    fn an_untimed_stream_gets_its_cushion_back_and_grows_the_second_time() {
        let mut p = LivePlayout::new(CONFIG);
        p.plan(ring(0, 0, 0), untimed(FRAME));
        // Dry for 480 frames: the cushion is rebuilt in front of the late bytes.
        let plan = p.plan(ring(0, 480, 48_000), untimed(FRAME));
        assert_eq!((plan.fill, plan.discard, plan.dry), (960, 0, 480));
        assert_eq!(p.cushion(), 960, "once is not a pattern");
        // Again within 30 s: the cushion grows by what that spell lacked.
        let plan = p.plan(ring(0, 480 + 720, 96_000), untimed(FRAME));
        assert_eq!((plan.fill, p.cushion()), (1680, 1680));
        // And stops at the limit.
        let plan = p.plan(ring(0, 1200 + 4800, 144_000), untimed(FRAME));
        assert_eq!((plan.fill, p.cushion()), (2400, 2400));
        // An untimed stream never loses audio, however much it brings.
        let plan = p.plan(ring(0, 6000 + 10, 200_000), untimed(48_000));
        assert_eq!((plan.fill, plan.discard), (2400, 0));
        assert_eq!(p.dry_spells(), 4);
    }

    #[test]
    fn a_second_dry_spell_long_after_the_first_does_not_grow_it() {
        let mut p = LivePlayout::new(CONFIG);
        p.plan(ring(0, 0, 0), untimed(FRAME));
        p.plan(ring(0, 480, 48_000), untimed(FRAME));
        p.plan(ring(0, 960, 48_000 + GROW_WITHIN), untimed(FRAME));
        assert_eq!(p.cushion(), 960);
    }

    #[test]
    fn a_timed_stream_written_late_drops_what_the_device_played_silence_for() {
        let mut p = LivePlayout::new(CONFIG);
        p.plan(
            ring(0, 0, 0),
            Due {
                frames: FRAME,
                late: Some(0),
            },
        );
        // The writer woke 60 ms late: three frames due, the first 60 ms ago; the ring
        // was dry for 1,920 frames of that.
        let plan = p.plan(
            ring(0, 1920, 48_000),
            Due {
                frames: 3 * FRAME,
                late: Some(2880),
            },
        );
        // On schedule the ring would hold 960 + 2880 − 2880 = 960: 1,920 frames are
        // dropped, exactly the silence played.
        assert_eq!((plan.fill, plan.discard), (0, 1920));
        // Lateness within the polling slack is not the writer's doing.
        let mut p = LivePlayout::new(CONFIG);
        p.plan(
            ring(0, 0, 0),
            Due {
                frames: FRAME,
                late: Some(0),
            },
        );
        for (starved, device) in [(100, 48_000), (200, 96_000)] {
            let plan = p.plan(
                ring(0, starved, device),
                Due {
                    frames: FRAME,
                    late: Some(100),
                },
            );
            assert_eq!(plan.fill, 860, "rebuilt to schedule");
        }
        assert_eq!(p.cushion(), 960);
    }

    #[test]
    fn a_timed_stream_behind_its_schedule_is_rebuilt_in_front() {
        let mut p = LivePlayout::new(CONFIG);
        p.plan(
            ring(0, 0, 0),
            Due {
                frames: FRAME,
                late: Some(0),
            },
        );
        let plan = p.plan(
            ring(0, 2400, 48_000),
            Due {
                frames: FRAME,
                late: Some(0),
            },
        );
        assert_eq!((plan.fill, plan.discard, plan.dry), (960, 0, 2400));
    }

    /// Readings every 20 ms for `secs` from a sender `ppm` off.
    fn feed(p: &mut LivePlayout, secs: f64, ppm: f64) {
        for i in 0..(secs / 0.02) as usize {
            let device = i as f64 * 0.02;
            p.sender_clock(device, device * (1.0 + ppm / 1e6) + 0.04);
        }
    }

    #[test]
    fn the_ratio_cancels_a_trusted_drift_and_a_held_back_sender_goes_back_to_nominal() {
        let mut p = LivePlayout::new(CONFIG);
        assert_eq!(p.ratio(0), None, "nothing measured: nothing changes");
        feed(&mut p, 10.0, 1000.0);
        let r = p.ratio(48_000).expect("a new ratio");
        assert!((r - 1.0 / 1.001).abs() < 2e-5, "{r}");
        assert!((p.drift() - 0.001).abs() < 2e-5);
        assert_eq!(
            p.ratio(60_000),
            None,
            "read once a second, and only on change"
        );
        assert_eq!(
            p.ratio(96_001),
            None,
            "the same estimate is not handed out again"
        );
        p.held_back();
        assert_eq!(p.ratio(96_002), Some(1.0));
        assert_eq!(p.drift(), 0.0);
        assert_eq!(p.ratio(200_000), None, "its readings were forgotten");
    }

    #[test]
    fn a_restarted_clock_keeps_the_ratio_until_a_new_estimate() {
        let mut p = LivePlayout::new(CONFIG);
        feed(&mut p, 10.0, -500.0);
        assert!(p.ratio(0).is_some());
        p.restart_clock();
        assert_eq!(p.ratio(100_000), None);
        assert!((p.drift() + 0.0005).abs() < 2e-5);
    }
}
