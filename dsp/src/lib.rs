//! Pure sample processing for netamp.
//!
//! Everything here works on `f32` mono blocks, knows nothing of threads, sockets, files or
//! clocks, and never allocates inside `process`: the real-time render thread calls it.

#![forbid(unsafe_code)]

pub mod avc;
pub mod echo;
pub mod g711;
pub mod g726;
pub mod impedance;
pub mod limiter;
pub mod meter;
pub mod mixer;
pub mod ramp;
pub mod sample;
pub mod speaker_model;
pub mod sweep;

/// The sample rate of every internal signal.
pub const SAMPLE_RATE: u32 = 48_000;

/// Converts a linear amplitude factor to decibels.
pub fn to_db(gain: f32) -> f32 {
    20.0 * gain.max(1e-12).log10()
}

/// Converts decibels to a linear amplitude factor.
pub fn from_db(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}
