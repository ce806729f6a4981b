//! netamp's SIP side. So far the media receive path: RTP parsing, an adaptive jitter
//! buffer (a state machine with time passed in), G.711 decoding with concealment, and a
//! receiver that turns a UDP socket's RTP into an engine stream. The user agent
//! (rsipstack), SDP, RTP out, RTCP, Opus/G.722/L16 and DTMF land with the rest of the SIP
//! issue; see the README's "Not yet".

mod error;
pub mod jitter;
pub mod media;
pub mod rtp;
pub mod rtp_in;
pub mod sdp;

pub use error::SipError;
