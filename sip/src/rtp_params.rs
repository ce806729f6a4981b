//! What an incoming RTP stream is (the negotiated payload types, the peer) and what its
//! receiver counted: shared by the receiver, the playout and RTCP, owned by none of them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::jitter::JitterConfig;
use crate::latch::DEFAULT_WINDOW;
use crate::sdp::AudioCodec;

/// What the receiver decodes: the negotiated payload types.
#[derive(Debug, Clone)]
pub struct RtpInParams {
    /// The audio codec.
    pub codec: AudioCodec,
    /// Its payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, when negotiated.
    pub telephone_event: Option<u8>,
    /// Jitter-buffer limits (clock rate and frame size are set from the codec).
    pub jitter: JitterConfig,
    /// Where the SDP says the peer sends from (and takes RTP).
    pub remote: SocketAddr,
    /// How long after the start another source may still be latched ([`Latch`]).
    pub latch_window: Duration,
}

impl RtpInParams {
    /// PCMU on payload type 0 with telephone-event on 101 (what a plain peer sends).
    pub fn pcmu() -> Self {
        Self {
            codec: AudioCodec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            jitter: JitterConfig::default(),
            remote: SocketAddr::from(([0, 0, 0, 0], 0)),
            latch_window: DEFAULT_WINDOW,
        }
    }
}

/// Counters of one receiver.
#[derive(Debug, Default)]
pub struct RtpInStats {
    /// Datagrams received.
    pub datagrams: AtomicU64,
    /// Datagrams that were not RTP.
    pub malformed: AtomicU64,
    /// RTP with a payload type netamp does not decode, from the peer.
    pub unknown_payload: AtomicU64,
    /// RTP from a source the latch refused (another address during the call).
    pub spoofed: AtomicU64,
    /// Frames concealed.
    pub concealed: AtomicU64,
    /// Jitter-buffer target delay now, µs.
    pub target_delay_us: AtomicU64,
    /// The sender's clock drift the playout cancels, ppm (0 until measured).
    pub drift_ppm: AtomicI64,
    /// Audio packets received (for RTCP).
    pub received: AtomicU64,
    /// SSRC of the audio.
    pub ssrc: AtomicU64,
    /// First extended sequence number.
    pub base_seq: AtomicU64,
    /// Highest extended sequence number.
    pub max_seq: AtomicU64,
    /// Interarrival jitter (RFC 3550 A.8), RTP timestamp units.
    pub jitter: AtomicU64,
}

impl RtpInStats {
    /// For a reception report: (ssrc, packets expected, received, extended highest
    /// sequence number, jitter).
    pub fn reception(&self) -> (u32, u64, u64, u32, u32) {
        let received = self.received.load(Ordering::Relaxed);
        let max = self.max_seq.load(Ordering::Relaxed);
        let base = self.base_seq.load(Ordering::Relaxed);
        let expected = if received == 0 { 0 } else { max - base + 1 };
        (
            self.ssrc.load(Ordering::Relaxed) as u32,
            expected,
            received,
            max as u32,
            self.jitter.load(Ordering::Relaxed) as u32,
        )
    }
}
