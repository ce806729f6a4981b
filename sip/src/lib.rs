//! netamp's SIP side: the user agent (rsipstack behind netamp's own API), SDP, RTP in
//! through an adaptive jitter buffer, RTP out from the capture chain, and DTMF.

#![forbid(unsafe_code)]

pub mod call_core;
pub mod dtmf;
mod error;
pub mod guard;
pub mod jitter;
pub mod latch;
pub mod media;
pub mod media_task;
pub mod playout;
pub mod register;
pub mod rtcp;
pub mod rtp;
pub mod rtp_in;
pub mod rtp_out;
pub mod rtp_params;
pub mod sdp;
pub mod session_timer;
pub mod srtp;
pub mod ua;

pub use error::SipError;
pub use ua::{
    CallInfo, CallPolicy, CallState, DtmfMethod, ReceiveInfo, SipEvent, SipUa, TapFactory, UaConfig,
};
