//! A live body on its way to the speaker (`transmit.cgi`): bytes as they arrive, with no
//! timestamps, through [`LiveDecoder`] and the playout core.
//!
//! The sender's clock is the count of frames it has sent, at its own rate, read each
//! time bytes arrive against the device's position; the core turns those readings into
//! the live resampler's ratio. The caller owns the engine stream and the waiting for
//! room (an async task in control); this type decides everything else, so the same
//! path runs in simulated time in the tests.

use super::playout::{Due, LivePlayout, Plan, PlayoutConfig, Ring};
use super::{LiveDecoder, LiveFormat};
use crate::EngineError;

/// One sender's stream.
pub struct ArrivingStream {
    decoder: LiveDecoder,
    playout: LivePlayout,
    samples: Vec<f32>,
}

impl ArrivingStream {
    /// A stream declared as `declared` (a header in the body overrides it), with the
    /// cushion `config` (its `poll_slack` is not used: nothing here is scheduled).
    pub fn new(declared: LiveFormat, config: PlayoutConfig) -> Self {
        Self {
            decoder: LiveDecoder::new(declared),
            playout: LivePlayout::new(config),
            samples: Vec::new(),
        }
    }

    /// Decodes `bytes` that arrived when the device was at `device` (its position in
    /// frames, [`crate::Engine::device_position`]), or the end of the body with `None`.
    /// Returns the 48 kHz samples they completed; [`plan`](Self::plan) says what goes
    /// in front of them.
    pub fn decode(&mut self, bytes: Option<&[u8]>, device: f64) -> Result<&[f32], EngineError> {
        self.samples.clear();
        match bytes {
            Some(b) => {
                self.decoder.push(b, &mut self.samples)?;
                if self.decoder.format().is_some() {
                    self.playout.sender_clock(
                        device / f64::from(crate::SAMPLE_RATE),
                        self.decoder.media_secs(),
                    );
                }
                if let Some(ratio) = self.playout.ratio(device as u64) {
                    self.decoder.set_drift(ratio);
                }
            }
            None => self.decoder.finish(&mut self.samples)?,
        }
        Ok(&self.samples)
    }

    /// The samples the last [`decode`](Self::decode) completed.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// What to write in front of the samples just decoded, given the stream's `ring`.
    pub fn plan(&mut self, ring: Ring) -> Plan {
        self.playout.plan(
            ring,
            Due {
                frames: self.samples.len(),
                late: None,
            },
        )
    }

    /// The writer had to wait for room: the sender is faster than real time.
    pub fn held_back(&mut self) {
        self.playout.held_back();
        self.decoder.set_drift(1.0);
    }

    /// The format in use, once the start of the body was seen.
    pub fn format(&self) -> Option<LiveFormat> {
        self.decoder.format()
    }

    /// The playout core (cushion, dry spells, drift).
    pub fn playout(&self) -> &LivePlayout {
        &self.playout
    }
}
