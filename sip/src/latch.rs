//! Which source address a call's RTP (or RTCP) is taken from and answered to: the
//! symmetric-RTP latch, with the rule that keeps a stranger on the network from taking
//! the call over.
//!
//! The rule:
//! - Only packets of a negotiated payload type are shown to the latch (the receiver drops
//!   any other payload type from an address that is not the latched one as spoofed).
//! - Packets from the address the SDP named are always accepted, and move the latch back
//!   to it.
//! - Packets from the latched address are accepted whatever their SSRC (a PBX that
//!   switches its media source keeps its address and changes its SSRC).
//! - Packets from any other address move the latch only during the first `window` of the
//!   call (symmetric RTP behind NAT: the caller's first packets come from a port its SDP
//!   did not name), and then only while no SSRC is established yet or with the
//!   established SSRC (a NAT rebinding in the first seconds keeps the SSRC).
//! - Anything else is spoofed: counted, dropped, neither played nor followed.
//!
//! A peer behind NAT whose port changes after the window loses its audio until it
//! re-INVITEs; that is the price of not letting one spoofed packet redirect the
//! microphone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long after the call starts a new address may still be latched.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5);

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take the packet; `moved` when the latch now points at its source.
    Accept {
        /// The latched address changed with this packet.
        moved: bool,
    },
    /// Drop and count it: it comes from an address that may not take the call.
    Spoofed,
}

/// The latch of one stream (a state machine; time is passed in).
#[derive(Debug, Clone)]
pub struct Latch {
    sdp: SocketAddr,
    current: SocketAddr,
    ssrc: Option<u32>,
    until: Instant,
}

impl Latch {
    /// A latch pointing at `sdp` (where the SDP says the peer is), open to a new address
    /// until `window` after `now`.
    pub fn new(sdp: SocketAddr, window: Duration, now: Instant) -> Self {
        Self {
            sdp,
            current: sdp,
            ssrc: None,
            until: now + window,
        }
    }

    /// Where packets go now.
    pub fn current(&self) -> SocketAddr {
        self.current
    }

    /// Sets the SSRC a new address must carry while none is established yet (RTCP takes
    /// the one of the peer's RTP).
    pub fn expect_ssrc(&mut self, ssrc: u32) {
        self.ssrc.get_or_insert(ssrc);
    }

    /// Whether `from` is the latched address (to take other traffic, such as an unknown
    /// payload type, as the peer's rather than a stranger's).
    pub fn is_current(&self, from: SocketAddr) -> bool {
        from == self.current || from == self.sdp
    }

    /// One packet of a negotiated payload type with SSRC `ssrc` from `from` at `now`.
    pub fn packet(&mut self, from: SocketAddr, ssrc: u32, now: Instant) -> Verdict {
        let trusted = from == self.current || from == self.sdp;
        let early = now < self.until && self.ssrc.is_none_or(|s| s == ssrc);
        if !trusted && !early {
            return Verdict::Spoofed;
        }
        self.ssrc = Some(ssrc);
        let moved = from != self.current;
        self.current = from;
        Verdict::Accept { moved }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_sdp_address_is_taken_at_once_and_keeps_the_latch() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr(4000), DEFAULT_WINDOW, t0);
        assert_eq!(
            l.packet(addr(4000), 7, t0),
            Verdict::Accept { moved: false }
        );
        assert_eq!(l.current(), addr(4000));
        // A stranger with a new SSRC, inside the window: refused, the stream is established.
        assert_eq!(l.packet(addr(5000), 8, t0), Verdict::Spoofed);
        assert_eq!(l.current(), addr(4000));
    }

    #[test]
    fn a_natted_caller_is_latched_in_the_first_seconds_and_then_held() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr(4000), DEFAULT_WINDOW, t0);
        // The first packets come from the NAT's port, not the SDP's.
        let t = t0 + Duration::from_millis(300);
        assert_eq!(l.packet(addr(6000), 7, t), Verdict::Accept { moved: true });
        assert_eq!(l.packet(addr(6000), 7, t), Verdict::Accept { moved: false });
        // A NAT rebinding inside the window with the same SSRC follows.
        let t = t0 + Duration::from_secs(2);
        assert_eq!(l.packet(addr(6002), 7, t), Verdict::Accept { moved: true });
        // After the window nobody else takes it, not even with the right SSRC...
        let t = t0 + DEFAULT_WINDOW + Duration::from_millis(1);
        assert_eq!(l.packet(addr(7000), 7, t), Verdict::Spoofed);
        assert_eq!(l.current(), addr(6002));
        // ...but the SDP's address may always come back.
        assert_eq!(l.packet(addr(4000), 7, t), Verdict::Accept { moved: true });
    }

    #[test]
    fn the_latched_peer_may_change_its_ssrc() {
        let t0 = Instant::now();
        let mut l = Latch::new(addr(4000), DEFAULT_WINDOW, t0);
        l.packet(addr(4000), 7, t0);
        let late = t0 + Duration::from_secs(60);
        assert_eq!(
            l.packet(addr(4000), 9, late),
            Verdict::Accept { moved: false }
        );
        assert_eq!(l.packet(addr(5000), 9, late), Verdict::Spoofed);
    }
}
