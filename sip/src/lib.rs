//! netamp's SIP side: so far the RTP jitter buffer (a state machine with time passed
//! in). The user agent (rsipstack), SDP, RTP sockets, codecs and DTMF land with the SIP
//! issue; see the README's "Not yet".

pub mod jitter;
