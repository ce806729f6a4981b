//! The adaptive jitter buffer: a state machine with time passed in.
//!
//! Packets go in with their arrival time ([`JitterBuffer::push`]); the playout side asks
//! for whatever is due at `now` ([`JitterBuffer::pop`]) and gets frames in sequence, or
//! a [`Pop::Lost`] for a frame that did not arrive in time (the decoder conceals it).
//!
//! Timing: each packet's *transit* is its arrival time minus its RTP timestamp in
//! seconds. The fastest transit in the recent window is the path's base delay; how much
//! later than that a packet arrives is its jitter. A frame plays at
//! `timestamp + base + target`, where the target delay is the 95th percentile of the
//! recent jitter plus a small margin, clamped to `[min_delay, max_delay]`. So the delay
//! follows the measured jitter instead of a fixed 100–200 ms.
//!
//! The packet time is learnt from the timestamps: once two consecutive packets in a row
//! advance by the same number of units, that is the frame length (a 30 ms sender plays
//! at 30 ms, not at the configured 20). Single odd steps (silence suppression) are not
//! taken for a new packet time.
//!
//! Reordered packets are slotted by sequence number, duplicates and packets whose slot
//! has already played are dropped and counted, a new SSRC or a timestamp jump of more
//! than [`RESYNC`] starts over, and sequence numbers and timestamps wrap.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A jump in timestamp (or sequence) beyond this restarts the buffer.
pub const RESYNC: Duration = Duration::from_secs(2);
/// Packets whose jitter the target delay is computed from.
const WINDOW: usize = 200;
/// Added to the jitter percentile: scheduling of the playout side itself.
const MARGIN: Duration = Duration::from_millis(5);

/// Settings.
#[derive(Debug, Clone, Copy)]
pub struct JitterConfig {
    /// RTP clock rate of the payload (8000 for G.711, 48000 for Opus…).
    pub clock_rate: u32,
    /// RTP timestamp units per packet until the stream shows its own (160 for 20 ms of
    /// G.711).
    pub frame_units: u32,
    /// Smallest target delay.
    pub min_delay: Duration,
    /// Largest target delay.
    pub max_delay: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            frame_units: 160,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        }
    }
}

/// One RTP packet's media.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored for playout.
    Stored,
    /// Already have it.
    Duplicate,
    /// Its slot has already played.
    Late,
    /// Too far ahead of playout to hold; dropped.
    TooEarly,
    /// A new source or a jump: the buffer started over with this packet.
    Resynced,
}

/// What plays next.
#[derive(Debug, Clone, PartialEq)]
pub enum Pop {
    /// The frame that is due.
    Frame(Packet),
    /// The frame with this timestamp is due and missing: conceal it.
    Lost {
        /// Its RTP timestamp.
        timestamp: u32,
    },
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed.
    pub received: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets that came after their slot played.
    pub late: u64,
    /// Packets too far ahead.
    pub too_early: u64,
    /// Frames concealed.
    pub lost: u64,
    /// Restarts (new SSRC, jumps).
    pub resyncs: u64,
}

/// The buffer.
#[derive(Debug)]
pub struct JitterBuffer {
    config: JitterConfig,
    /// Packets by extended sequence number.
    slots: BTreeMap<u64, Packet>,
    ssrc: Option<u32>,
    /// Extended sequence number of the next frame to play.
    next_seq: u64,
    /// Extended timestamp of the next frame to play.
    next_ts: u64,
    last_ext_seq: u64,
    last_ext_ts: u64,
    /// When extended timestamp 0 would have arrived with no delay at all: `base`.
    epoch: Option<Instant>,
    /// Recent (arrival − timestamp time) values, seconds since `epoch`.
    transits: std::collections::VecDeque<f64>,
    target: Duration,
    started: bool,
    stats: JitterStats,
    /// Timestamp units per packet, as the stream shows them.
    frame_units: u32,
    /// A different step seen once, waiting for a second sighting.
    candidate_units: Option<u32>,
}

fn unwrap16(last: u64, v: u16) -> u64 {
    let base = last & !0xFFFF;
    let candidates = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000];
    candidates
        .into_iter()
        .map(|b| b.wrapping_add(u64::from(v)))
        .min_by_key(|c| c.abs_diff(last))
        .unwrap_or(u64::from(v))
}

fn unwrap32(last: u64, v: u32) -> u64 {
    let base = last & !0xFFFF_FFFF;
    let candidates = [base.wrapping_sub(0x1_0000_0000), base, base + 0x1_0000_0000];
    candidates
        .into_iter()
        .map(|b| b.wrapping_add(u64::from(v)))
        .min_by_key(|c| c.abs_diff(last))
        .unwrap_or(u64::from(v))
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            slots: BTreeMap::new(),
            ssrc: None,
            next_seq: 0,
            next_ts: 0,
            last_ext_seq: 0,
            last_ext_ts: 0,
            epoch: None,
            transits: std::collections::VecDeque::with_capacity(WINDOW),
            target: config.min_delay,
            started: false,
            stats: JitterStats::default(),
            frame_units: config.frame_units.max(1),
            candidate_units: None,
        }
    }

    /// The delay frames are played with now, beyond the path's base delay.
    pub fn target_delay(&self) -> Duration {
        self.target
    }

    /// Counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The extended RTP timestamp of the newest packet (highest sequence number) so far.
    /// It advances with the sender's clock (across silence too, as its timestamps do) and
    /// starts anywhere after a resync.
    pub fn newest_timestamp(&self) -> u64 {
        self.last_ext_ts
    }

    /// Timestamp units per packet: the configured value until the stream shows its own.
    pub fn frame_units(&self) -> u32 {
        self.frame_units
    }

    /// A step of `units` between consecutive sequence numbers.
    fn learn_frame(&mut self, units: u64) {
        let clock = u64::from(self.config.clock_rate);
        // 2.5 ms (Opus's shortest frame) to 120 ms (its longest); beyond that the step is
        // a silence-suppression gap, not a frame.
        if !(clock / 400..=clock * 120 / 1000).contains(&units) {
            return;
        }
        let units = units as u32;
        if units == self.frame_units {
            self.candidate_units = None;
        } else if self.candidate_units == Some(units) {
            self.frame_units = units;
            self.candidate_units = None;
        } else {
            self.candidate_units = Some(units);
        }
    }

    fn units_to_secs(&self, units: f64) -> f64 {
        units / f64::from(self.config.clock_rate)
    }

    fn reset(&mut self, p: &Packet, now: Instant) {
        // Sequence and timestamp numbering start a new era well away from zero so the
        // unwrapping never underflows.
        const ERA: u64 = 1 << 40;
        self.slots.clear();
        self.ssrc = Some(p.ssrc);
        self.last_ext_seq = ERA + u64::from(p.seq);
        self.last_ext_ts = ERA + u64::from(p.timestamp);
        self.next_seq = self.last_ext_seq;
        self.next_ts = self.last_ext_ts;
        let ts_secs = self.units_to_secs(self.last_ext_ts as f64);
        self.epoch = Some(now - Duration::from_secs_f64(ts_secs.min(1e9)));
        // Measure from scratch, but keep the delay learnt so far as the starting target.
        self.transits.clear();
        self.started = false;
    }

    /// Adds a packet that arrived at `now`.
    pub fn push(&mut self, p: Packet, now: Instant) -> Pushed {
        self.stats.received += 1;
        let mut result = Pushed::Stored;
        if self.ssrc != Some(p.ssrc) {
            if self.ssrc.is_some() {
                self.stats.resyncs += 1;
                result = Pushed::Resynced;
            }
            self.reset(&p, now);
        }
        let seq = unwrap16(self.last_ext_seq, p.seq);
        let ts = unwrap32(self.last_ext_ts, p.timestamp);
        let jump = self.units_to_secs(ts.abs_diff(self.last_ext_ts) as f64);
        let seq_jump = seq.abs_diff(self.last_ext_seq) * u64::from(self.frame_units);
        if jump > RESYNC.as_secs_f64() || self.units_to_secs(seq_jump as f64) > RESYNC.as_secs_f64()
        {
            self.stats.resyncs += 1;
            self.reset(&p, now);
            let ts = unwrap32(self.last_ext_ts, p.timestamp);
            self.observe(ts, now);
            return self.store(p, Pushed::Resynced);
        }
        if seq == self.last_ext_seq + 1 && ts > self.last_ext_ts {
            self.learn_frame(ts - self.last_ext_ts);
        }
        if seq > self.last_ext_seq {
            self.last_ext_seq = seq;
            self.last_ext_ts = ts;
        }
        // Every packet, late ones most of all, is evidence of the path's jitter.
        self.observe(ts, now);
        if self.started && seq < self.next_seq {
            self.stats.late += 1;
            return Pushed::Late;
        }
        if self.slots.contains_key(&seq) {
            self.stats.duplicates += 1;
            return Pushed::Duplicate;
        }
        self.store(p, result)
    }

    fn store(&mut self, p: Packet, result: Pushed) -> Pushed {
        let seq = unwrap16(self.last_ext_seq, p.seq);
        let ts = unwrap32(self.last_ext_ts, p.timestamp);
        let max_ahead = (self.config.max_delay.as_secs_f64() * 2.0 + 1.0)
            * f64::from(self.config.clock_rate)
            / f64::from(self.frame_units);
        if self.started && seq > self.next_seq + max_ahead as u64 {
            self.stats.too_early += 1;
            return Pushed::TooEarly;
        }
        if !self.started && seq < self.next_seq {
            // Reordered before playout began: start from the earliest packet.
            self.next_seq = seq;
            self.next_ts = ts;
        }
        self.slots.insert(seq, p);
        result
    }

    /// Records a packet's transit (arrival against timestamp time) and re-derives the
    /// target delay.
    fn observe(&mut self, ts: u64, now: Instant) {
        let Some(epoch) = self.epoch else { return };
        let transit =
            now.saturating_duration_since(epoch).as_secs_f64() - self.units_to_secs(ts as f64);
        if self.transits.len() == WINDOW {
            self.transits.pop_front();
        }
        self.transits.push_back(transit);
        self.update_target();
    }

    fn update_target(&mut self) {
        let base = self.transits.iter().copied().fold(f64::INFINITY, f64::min);
        let mut extra: Vec<f64> = self.transits.iter().map(|t| t - base).collect();
        extra.sort_by(f64::total_cmp);
        let p95 = extra
            .get(((extra.len() as f64 - 1.0) * 0.95).round() as usize)
            .copied()
            .unwrap_or(0.0);
        let want = Duration::from_secs_f64(p95.max(0.0)) + MARGIN;
        self.target = want.clamp(self.config.min_delay, self.config.max_delay);
    }

    /// When the frame with extended timestamp `ts` plays.
    fn playout_at(&self, ts: u64) -> Option<Instant> {
        let epoch = self.epoch?;
        let base = self.transits.iter().copied().fold(f64::INFINITY, f64::min);
        let base = if base.is_finite() { base } else { 0.0 };
        let at = self.units_to_secs(ts as f64) + base + self.target.as_secs_f64();
        Some(epoch + Duration::from_secs_f64(at.max(0.0)))
    }

    /// When the next frame is due (`None` before the first packet).
    pub fn next_due(&self) -> Option<Instant> {
        // A frame that is here plays at its own timestamp; the packet time only times a
        // missing one (so the first frames of a 30 ms sender, before the packet time is
        // learnt, are not played early and then waited for).
        let ts = match self.slots.get(&self.next_seq) {
            Some(p) => unwrap32(self.next_ts, p.timestamp),
            None => self.next_ts,
        };
        self.playout_at(ts)
    }

    /// The frame due at `now`, if one is; call until it returns `None`.
    pub fn pop(&mut self, now: Instant) -> Option<Pop> {
        let due = self.next_due()?;
        if now < due {
            return None;
        }
        if !self.started {
            if self.slots.is_empty() {
                return None;
            }
            self.started = true;
        }
        let seq = self.next_seq;
        let ts = self.next_ts;
        self.next_seq += 1;
        let frame = self.slots.remove(&seq);
        let units = u64::from(self.frame_units);
        // The next frame is timed from this one's own timestamp when there is one.
        self.next_ts = match &frame {
            Some(p) => unwrap32(ts, p.timestamp) + units,
            None => ts + units,
        };
        match frame {
            Some(p) => Some(Pop::Frame(p)),
            None if self.slots.is_empty() && self.last_ext_seq < seq => {
                // Nothing more has arrived: the sender paused or stopped. Wait rather
                // than conceal forever; the next packet picks up from its own slot.
                self.next_seq = seq;
                self.next_ts = ts;
                self.started = false;
                None
            }
            None => {
                self.stats.lost += 1;
                Some(Pop::Lost {
                    timestamp: (ts & 0xFFFF_FFFF) as u32,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16, ts: u32) -> Packet {
        Packet {
            seq,
            timestamp: ts,
            ssrc: 7,
            payload: vec![seq as u8],
        }
    }

    /// Sends `n` 20 ms packets from `first`, each delayed by `delay(i)` ms, and plays
    /// out every 5 ms; returns what played (seq or None for a concealed frame) and the
    /// buffer.
    fn simulate(
        n: u16,
        first: u16,
        delay: impl Fn(u16) -> f64,
        drop: impl Fn(u16) -> bool,
        dup: impl Fn(u16) -> bool,
    ) -> (Vec<Option<u16>>, JitterBuffer, Vec<f64>) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut arrivals: Vec<(Instant, Packet)> = Vec::new();
        for i in 0..n {
            if drop(i) {
                continue;
            }
            let seq = first.wrapping_add(i);
            let sent = Duration::from_millis(20 * u64::from(i));
            let at = t0 + sent + Duration::from_secs_f64(delay(i) / 1000.0);
            let p = pkt(seq, u32::from(i) * 160 + 1000);
            arrivals.push((at, p.clone()));
            if dup(i) {
                arrivals.push((at + Duration::from_millis(3), p));
            }
        }
        arrivals.sort_by_key(|(t, _)| *t);
        let mut played = Vec::new();
        let mut added = Vec::new();
        let mut k = 0;
        let end = t0 + Duration::from_millis(20 * u64::from(n) + 400);
        let mut now = t0;
        let mut sent_of = std::collections::HashMap::new();
        while now < end {
            while k < arrivals.len() && arrivals[k].0 <= now {
                let (_, p) = arrivals[k].clone();
                sent_of.insert(p.seq, arrivals[k].0);
                jb.push(p, arrivals[k].0);
                k += 1;
            }
            while let Some(pop) = jb.pop(now) {
                match pop {
                    Pop::Frame(p) => {
                        let i = p.seq.wrapping_sub(first);
                        let sent = t0 + Duration::from_millis(20 * u64::from(i));
                        added.push((now - sent).as_secs_f64() * 1000.0);
                        played.push(Some(p.seq));
                    }
                    Pop::Lost { .. } => played.push(None),
                }
            }
            now += Duration::from_millis(5);
        }
        (played, jb, added)
    }

    #[test]
    fn in_order_plays_everything_once_at_the_minimum_delay() {
        let (played, jb, added) = simulate(100, 0, |_| 10.0, |_| false, |_| false);
        assert_eq!(played, (0..100).map(Some).collect::<Vec<_>>());
        assert_eq!(jb.target_delay(), Duration::from_millis(20));
        let mean = added.iter().sum::<f64>() / added.len() as f64;
        // 10 ms of path, 20 ms of buffer, up to 5 ms of polling.
        assert!((30.0..36.0).contains(&mean), "{mean}");
    }

    /// Plays 30 ms packets (240 units) sent every `ms_of(i)` ms, popping every 2 ms;
    /// returns the pop times in ms and what played.
    fn play_30ms(
        n: u32,
        sent_ms: impl Fn(u32) -> u64,
        units: impl Fn(u32) -> u32,
    ) -> (Vec<u64>, Vec<Option<u16>>, JitterBuffer) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut times = Vec::new();
        let mut played = Vec::new();
        let mut next = 0;
        for ms in (0..sent_ms(n - 1) + 300).step_by(2) {
            let now = t0 + Duration::from_millis(ms);
            while next < n && sent_ms(next) + 3 <= ms {
                jb.push(pkt(next as u16, 1000 + units(next)), now);
                next += 1;
            }
            while let Some(pop) = jb.pop(now) {
                times.push(ms);
                played.push(match pop {
                    Pop::Frame(p) => Some(p.seq),
                    Pop::Lost { .. } => None,
                });
            }
        }
        (times, played, jb)
    }

    #[test]
    fn a_30_ms_sender_plays_at_30_ms() {
        let (times, played, jb) = play_30ms(60, |i| 30 * u64::from(i), |i| 240 * i);
        assert_eq!(jb.frame_units(), 240);
        assert_eq!(played, (0..60).map(Some).collect::<Vec<_>>());
        // After the two packets it takes to learn, frames come 30 ms apart (±2 ms of
        // polling), not in 20 ms bursts with pauses.
        let steps: Vec<u64> = times.windows(2).skip(3).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().all(|s| (28..=32).contains(s)), "{steps:?}");
    }

    #[test]
    fn a_single_silence_gap_does_not_change_the_packet_time() {
        // 20 ms packets with one 100 ms silence-suppression jump in the timestamps.
        let ts = |i: u32| if i < 20 { 160 * i } else { 160 * i + 800 };
        let sent = |i: u32| {
            if i < 20 {
                20 * u64::from(i)
            } else {
                20 * u64::from(i) + 100
            }
        };
        let (_, played, jb) = play_30ms(40, sent, ts);
        assert_eq!(jb.frame_units(), 160);
        assert_eq!(
            played.iter().filter(|p| p.is_none()).count(),
            0,
            "{played:?}"
        );
        assert_eq!(played.len(), 40);
    }

    #[test]
    fn reordering_and_duplicates_play_in_order_once() {
        // Odd packets 30 ms late (after the next even one), every fifth duplicated.
        let (played, jb, _) = simulate(
            100,
            0,
            |i| if i % 2 == 1 { 30.0 } else { 5.0 },
            |_| false,
            |i| i % 5 == 0,
        );
        assert_eq!(played, (0..100).map(Some).collect::<Vec<_>>());
        assert_eq!(jb.stats().duplicates, 20);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn loss_is_concealed_exactly_where_it_happened() {
        let (played, jb, _) =
            simulate(50, 0, |_| 5.0, |i| i == 10 || i == 11 || i == 30, |_| false);
        let want: Vec<Option<u16>> = (0..50)
            .map(|i| (![10, 11, 30].contains(&i)).then_some(i))
            .collect();
        assert_eq!(played, want);
        assert_eq!(jb.stats().lost, 3);
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let (played, _, _) = simulate(60, 65_510, |_| 5.0, |_| false, |_| false);
        let want: Vec<Option<u16>> = (0..60u16)
            .map(|i| Some(65_510u16.wrapping_add(i)))
            .collect();
        assert_eq!(played, want);
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let t0 = Instant::now();
        jb.push(pkt(1, u32::MAX - 159), t0);
        assert_eq!(
            jb.push(pkt(2, 0), t0 + Duration::from_millis(20)),
            Pushed::Stored
        );
    }

    #[test]
    fn late_packets_are_dropped_and_counted() {
        // Packet 20 arrives 300 ms late, after its slot (target stays small).
        let (played, jb, _) = simulate(
            60,
            0,
            |i| if i == 20 { 300.0 } else { 2.0 },
            |_| false,
            |_| false,
        );
        assert_eq!(played[20], None);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn a_new_ssrc_or_a_jump_starts_over() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.push(pkt(1, 160), t0), Pushed::Stored);
        let mut other = pkt(500, 90_000);
        other.ssrc = 8;
        assert_eq!(
            jb.push(other, t0 + Duration::from_millis(20)),
            Pushed::Resynced
        );
        assert_eq!(jb.push(pkt(501, 90_160 + 8000 * 10), t0), Pushed::Resynced);
        assert_eq!(jb.stats().resyncs, 2);
    }

    #[test]
    fn target_follows_jitter_between_min_and_max() {
        // Uniform pseudo-random delays of 0–J ms.
        let rnd = |i: u16| ((u32::from(i).wrapping_mul(2_654_435_761)) >> 16) as f64 / 65_536.0;
        for (j, lo, hi) in [
            (0.0, 20, 20),
            (20.0, 20, 30),
            (50.0, 45, 60),
            (400.0, 200, 200),
        ] {
            let (played, jb, _) = simulate(300, 0, |i| rnd(i) * j, |_| false, |_| false);
            let t = jb.target_delay().as_millis() as u64;
            assert!((lo..=hi).contains(&t), "jitter {j} ms: target {t} ms");
            if j <= 50.0 {
                let lost = played.iter().filter(|p| p.is_none()).count();
                assert!(lost <= 6, "jitter {j} ms: {lost} concealed of 300");
            }
        }
    }
}
