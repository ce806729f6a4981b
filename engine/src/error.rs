//! The engine's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine: decoding, devices, limits.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The data is not in a format netamp decodes.
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// The data claims a supported format but cannot be decoded.
    #[error("corrupt audio: {0}")]
    Corrupt(String),
    /// The data ends before its header says it should.
    #[error("truncated audio: {0}")]
    Truncated(String),
    /// The data holds no audio frames.
    #[error("no audio in file")]
    Empty,
    /// A configured or built-in limit was exceeded (hostile or oversized input).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// An audio device could not be opened or failed.
    #[error("audio device: {0}")]
    Device(String),
    /// A device spec string could not be parsed.
    #[error("bad device spec {0:?}: expected default, null, none, wav:<path>, cpal:<name> or alsa:<pcm>")]
    BadSpec(String),
    /// The engine has no room for another source right now.
    #[error("too many active sources (limit {0})")]
    TooManySources(usize),
}
