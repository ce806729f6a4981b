//! The SIP layer's one error type.

/// What can go wrong receiving or sending media and signalling.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    /// A packet or message that does not parse.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Something netamp does not support (a payload type, a codec).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A configured or built-in limit was exceeded (hostile or oversized input).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A socket failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The SIP stack failed.
    #[error("SIP stack: {0}")]
    Stack(String),
    /// A connection to a peer could not be made (TLS: the handshake or the peer's
    /// certificate failed).
    #[error("connection: {0}")]
    Transport(String),
    /// No call with this id.
    #[error("no call {0}")]
    NoSuchCall(String),
    /// No registered account with this id.
    #[error("no SIP account {0}")]
    NoSuchAccount(String),
    /// The audio engine refused.
    #[error(transparent)]
    Engine(#[from] netamp_engine::EngineError),
}
