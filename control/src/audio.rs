//! The audio service: the engine, the capture chain, what their devices turned out to be,
//! and the operator's run-time audio settings applied to both.

use netamp_engine::capture::Capture;
use netamp_engine::Engine;

use crate::audio_settings::{AudioSettings, Settings};
use crate::config::AudioConfig;

/// The audio side of the device, as handlers and tasks reach it.
pub struct AudioService {
    /// The audio engine (sources, output gain, stats).
    pub engine: Engine,
    /// The capture chain (microphone → listeners, meter).
    pub capture: Capture,
    /// `[audio]` as the operator started it.
    pub config: AudioConfig,
    settings: AudioSettings,
    output_device: String,
    echo_reference: bool,
}

impl AudioService {
    /// Wraps a running engine and capture chain and applies the stored settings to them.
    pub fn new(
        engine: Engine,
        capture: Capture,
        config: AudioConfig,
        settings: AudioSettings,
        output_device: String,
        echo_reference: bool,
    ) -> Self {
        settings.apply(&engine, &capture);
        Self {
            engine,
            capture,
            config,
            settings,
            output_device,
            echo_reference,
        }
    }

    /// The settings now.
    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// Validates, stores and applies `next`; nothing changes when it is invalid or
    /// cannot be stored.
    pub fn set_settings(&self, next: Settings) -> Result<(), String> {
        self.settings.set(next, &self.engine, &self.capture)
    }

    /// What the output device actually is (`null` after a fallback).
    pub fn output_device(&self) -> &str {
        &self.output_device
    }

    /// What the input actually is (`none` after a fallback).
    pub fn input_device(&self) -> &str {
        self.capture.name()
    }

    /// Whether the echo canceller is fed what the speaker plays (only with a sound card
    /// at both ends: otherwise there is no echo path).
    pub fn echo_reference(&self) -> bool {
        self.echo_reference
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use netamp_engine::capture::CaptureOptions;
    use netamp_engine::decode::DecodeLimits;
    use netamp_engine::device::InputSpec;
    use netamp_engine::EngineConfig;

    /// An audio service on an offline engine and a silent input, in `dir`.
    pub fn service(dir: &std::path::Path) -> AudioService {
        let (engine, _renderer, _driver) =
            Engine::offline(EngineConfig::default(), DecodeLimits::default()).expect("engine");
        let capture = Capture::start(
            &InputSpec::None,
            CaptureOptions {
                stages: Default::default(),
                reference: None,
                echo_delay_ms: 0,
                avc: None,
            },
        )
        .expect("capture");
        AudioService::new(
            engine,
            capture,
            AudioConfig::default(),
            AudioSettings::load(dir).expect("settings"),
            "null".into(),
            false,
        )
    }

    #[test]
    fn a_rejected_setting_changes_nothing_and_a_good_one_is_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let a = service(dir.path());
        let before = a.settings();
        let bad = Settings {
            output_gain_db: 12,
            ..before
        };
        assert!(a.set_settings(bad).is_err());
        assert_eq!(a.settings(), before);
        let good = Settings {
            input_gain_db: 6,
            input_mute: true,
            ..before
        };
        a.set_settings(good).expect("set");
        assert_eq!(a.settings(), good);
        // Kept: a second service over the same directory starts with it.
        drop(a);
        assert_eq!(service(dir.path()).settings(), good);
    }
}
