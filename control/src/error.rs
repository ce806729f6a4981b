//! The control plane's one error type.

/// Errors of the daemon outside a single request.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The configuration is unusable.
    #[error("config: {0}")]
    Config(String),
    /// Stored state could not be read or written.
    #[error("state {path}: {source}")]
    State {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Stored state is not valid.
    #[error("state {0} is corrupt: {1}")]
    CorruptState(std::path::PathBuf, String),
    /// The audio engine failed.
    #[error(transparent)]
    Engine(#[from] netamp_engine::EngineError),
    /// Another netamp process uses this state directory.
    #[error("another netamp is running with the state directory {0}")]
    Busy(std::path::PathBuf),
    /// A network listener could not be opened.
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}
