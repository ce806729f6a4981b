//! netamp's real-time audio graph.
//!
//! The engine is split the way Firewheel splits its nodes: [`Engine`] is the main-thread
//! half (cheap to clone, may allocate and lock), [`Renderer`] the real-time half that a
//! device thread calls once per period. They talk only through wait-free SPSC rings: a
//! command ring in, an event ring out, a garbage ring for objects the render thread lets go
//! of, and one sample ring per source. See `ARCHITECTURE.md` §2.

// One module may use `unsafe`: `device::alsa_quiet` (ALSA's error handler, see there).
#![deny(unsafe_code)]

pub mod capture;
mod command;
pub mod config;
pub mod decode;
pub mod device;
mod error;
mod event;
mod feeder;
mod handle;
mod housekeeper;
pub mod live;
mod render;
pub mod resample;
mod source;
pub mod stats;

pub use config::EngineConfig;
pub use error::EngineError;
pub use event::{EndReason, EngineEvent, EngineEvents, EVENT_QUEUE};
pub use handle::{AvcHandle, Engine, PlayOptions, StreamOptions, StreamWriter};
pub use render::Renderer;
pub use source::SourceId;
pub use stats::StatsSnapshot;

/// The sample rate of every internal signal and of every output device.
pub const SAMPLE_RATE: u32 = netamp_dsp::SAMPLE_RATE;
pub use handle::OfflineDriver;
