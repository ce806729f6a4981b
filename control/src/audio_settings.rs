//! The audio settings operators change through APIs (state, in `audio.json`): input and
//! output gain and mute, and the sound-level alarm threshold. `param.cgi`
//! (`AudioSource.A0.*`) and `audiodevicecontrol.cgi` are views of this one model.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use netamp_engine::capture::Capture;
use netamp_engine::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::store;

/// Input gain range, dB.
pub const INPUT_GAIN_DB: (i32, i32) = (-60, 40);
/// Output gain range, dB (0 = full scale).
pub const OUTPUT_GAIN_DB: (i32, i32) = (-60, 0);

/// The settings themselves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `AudioSource.A0.AlarmLevel`: 0–100 (0 = −90 dBFS, 100 = 0 dBFS).
    pub alarm_level: u8,
    /// Input gain, dB.
    pub input_gain_db: i32,
    /// Input muted.
    pub input_mute: bool,
    /// Output gain, dB.
    pub output_gain_db: i32,
    /// Output muted.
    pub output_mute: bool,
    /// Capture AGC (`audiomixer.cgi` automaticGainControl); `None` = as netamp.toml says.
    pub agc: Option<bool>,
    /// Capture noise suppression (`audiomixer.cgi` voiceEnhancer); `None` = as netamp.toml.
    pub noise_suppression: Option<bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alarm_level: 50,
            input_gain_db: 0,
            input_mute: false,
            output_gain_db: 0,
            output_mute: false,
            agc: None,
            noise_suppression: None,
        }
    }
}

impl Settings {
    /// True when every value is in its range.
    pub fn is_valid(&self) -> bool {
        self.alarm_level <= 100
            && (INPUT_GAIN_DB.0..=INPUT_GAIN_DB.1).contains(&self.input_gain_db)
            && (OUTPUT_GAIN_DB.0..=OUTPUT_GAIN_DB.1).contains(&self.output_gain_db)
    }
}

/// The stored settings, applied to the engine and the capture chain on every change.
pub struct AudioSettings {
    path: PathBuf,
    current: Mutex<Settings>,
}

impl AudioSettings {
    /// Loads `audio.json` from `data_dir` (defaults when absent).
    pub fn load(data_dir: &Path) -> Result<Self, ControlError> {
        let path = data_dir.join("audio.json");
        let current: Settings = store::load_json_checked(&path, |s: &Settings| {
            if s.is_valid() {
                Ok(())
            } else {
                Err("audio settings out of range".into())
            }
        })?
        .unwrap_or_default();
        Ok(Self {
            path,
            current: Mutex::new(current),
        })
    }

    /// The settings now.
    pub fn get(&self) -> Settings {
        *self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Validates, stores and applies `next`; nothing changes when it is invalid.
    pub fn set(&self, next: Settings, engine: &Engine, capture: &Capture) -> Result<(), String> {
        if !next.is_valid() {
            return Err("value out of range".into());
        }
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        store::save_json(&self.path, &next).map_err(|e| e.to_string())?;
        *cur = next;
        drop(cur);
        apply(next, engine, capture);
        Ok(())
    }

    /// Applies the stored settings (at start).
    pub fn apply(&self, engine: &Engine, capture: &Capture) {
        apply(self.get(), engine, capture);
    }
}

fn apply(s: Settings, engine: &Engine, capture: &Capture) {
    let mut stages = capture.stages();
    if let Some(agc) = s.agc {
        stages.agc = agc;
    }
    if let Some(ns) = s.noise_suppression {
        stages.noise_suppression = ns;
    }
    capture.set_stages(stages);
    capture.set_gain_db(s.input_gain_db as f32);
    capture.set_mute(s.input_mute);
    let gain = netamp_dsp::from_db(s.output_gain_db as f32);
    if let Err(e) = engine
        .set_output_gain(gain)
        .and_then(|()| engine.set_mute(s.output_mute))
    {
        tracing::warn!("output gain not applied: {e}");
    }
}
