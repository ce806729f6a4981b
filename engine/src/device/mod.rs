//! Output devices: something that calls [`Renderer::render`] once per period.
//!
//! `wav:` and `null` are paced by a timer on their own thread; `cpal:`/`alsa:`/`default`
//! are driven by the sound card's callback. See `ARCHITECTURE.md` §2 for the spec strings.

#[cfg(target_os = "linux")]
pub(crate) mod alsa_quiet;
mod cpal_out;
mod paced;
pub mod rt_priority;
mod wav;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::{EngineError, Renderer};

pub use wav::WavWriter;

/// Whether a cpal device is the one a spec names: by its id on its host (the ALSA PCM
/// name, e.g. `default` or `hw:CARD=PCH,DEV=0`) or by its human-readable name.
pub(crate) fn cpal_named(device: &cpal::Device, name: &str) -> bool {
    use cpal::traits::DeviceTrait;
    device.id().is_ok_and(|id| id.id() == name)
        || device.description().is_ok_and(|d| d.name() == name)
}

/// The name a cpal device is reported under: its id on its host, else its description.
pub(crate) fn cpal_name(device: &cpal::Device) -> String {
    use cpal::traits::DeviceTrait;
    match device.id() {
        Ok(id) => id.id().to_string(),
        Err(_) => device
            .description()
            .map_or_else(|_| "unknown".into(), |d| d.name().to_string()),
    }
}

/// Where output audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The system's default sound card; `null` if none opens.
    Default,
    /// A cpal device by name.
    Cpal(String),
    /// An ALSA PCM by name (through cpal's ALSA host).
    Alsa(String),
    /// A 48 kHz mono 16-bit WAV file, paced at real time.
    Wav(PathBuf),
    /// Paced at real time, discarded.
    Null,
}

impl std::str::FromStr for OutputSpec {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, EngineError> {
        Ok(match s.split_once(':') {
            None if s == "default" => Self::Default,
            None if s == "null" => Self::Null,
            Some(("cpal", name)) if !name.is_empty() => Self::Cpal(name.into()),
            Some(("alsa", pcm)) if !pcm.is_empty() => Self::Alsa(pcm.into()),
            Some(("wav", path)) if !path.is_empty() => Self::Wav(path.into()),
            _ => return Err(EngineError::BadSpec(s.into())),
        })
    }
}

impl std::fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Cpal(n) => write!(f, "cpal:{n}"),
            Self::Alsa(n) => write!(f, "alsa:{n}"),
            Self::Wav(p) => write!(f, "wav:{}", p.display()),
            Self::Null => f.write_str("null"),
        }
    }
}

/// Where microphone audio comes from (the capture chain lands with the streaming issue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// The system's default input; `none` if none opens.
    Default,
    /// A cpal device by name.
    Cpal(String),
    /// An ALSA PCM by name.
    Alsa(String),
    /// A WAV file read as the microphone; `loop_` repeats it.
    Wav {
        /// The file.
        path: PathBuf,
        /// Repeat at the end.
        loop_: bool,
    },
    /// Silence.
    None,
}

impl InputSpec {
    /// True for a sound card (which may hear a loudspeaker); false for a file or silence.
    pub fn is_sound_card(&self) -> bool {
        matches!(self, Self::Default | Self::Cpal(_) | Self::Alsa(_))
    }
}

impl std::str::FromStr for InputSpec {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, EngineError> {
        Ok(match s.split_once(':') {
            None if s == "default" => Self::Default,
            None if s == "none" => Self::None,
            Some(("cpal", name)) if !name.is_empty() => Self::Cpal(name.into()),
            Some(("alsa", pcm)) if !pcm.is_empty() => Self::Alsa(pcm.into()),
            Some(("wav", rest)) if !rest.is_empty() => match rest.strip_suffix("?loop") {
                Some(path) => Self::Wav {
                    path: path.into(),
                    loop_: true,
                },
                None => Self::Wav {
                    path: rest.into(),
                    loop_: false,
                },
            },
            _ => return Err(EngineError::BadSpec(s.into())),
        })
    }
}

impl std::fmt::Display for InputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Cpal(n) => write!(f, "cpal:{n}"),
            Self::Alsa(n) => write!(f, "alsa:{n}"),
            Self::Wav { path, loop_ } => {
                write!(
                    f,
                    "wav:{}{}",
                    path.display(),
                    if *loop_ { "?loop" } else { "" }
                )
            }
            Self::None => f.write_str("none"),
        }
    }
}

/// A running output device; dropping it stops the device and finalises any file.
pub struct OutputDevice {
    name: String,
    card: bool,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OutputDevice {
    /// What actually opened (e.g. `null` when `default` fell back).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when a sound card opened (so a loudspeaker may be heard by a microphone);
    /// false for `null`, `wav:` and the fallback to `null`.
    pub fn is_sound_card(&self) -> bool {
        self.card
    }

    /// Stops the device and waits for its thread (a WAV file gets its final header).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for OutputDevice {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Opens `spec` and starts rendering into it.
pub fn open_output(spec: &OutputSpec, renderer: Renderer) -> Result<OutputDevice, EngineError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (name, thread) = match spec {
        OutputSpec::Null => (
            "null".to_string(),
            paced::spawn(renderer, None, stop.clone())?,
        ),
        OutputSpec::Wav(path) => {
            let writer = WavWriter::create(path)?;
            (
                spec.to_string(),
                paced::spawn(renderer, Some(writer), stop.clone())?,
            )
        }
        OutputSpec::Cpal(_) | OutputSpec::Alsa(_) => {
            let (name, t) = cpal_out::spawn(spec, renderer, stop.clone()).map_err(|(e, _)| e)?;
            (name, t)
        }
        OutputSpec::Default => match cpal_out::spawn(spec, renderer, stop.clone()) {
            Ok((name, t)) => (name, t),
            Err((e, Some(renderer))) => {
                tracing::warn!(
                    "no sound card could be opened ({e}); falling back to the null output"
                );
                (
                    "null".to_string(),
                    paced::spawn(*renderer, None, stop.clone())?,
                )
            }
            Err((e, None)) => return Err(e),
        },
    };
    let card = !(name == "null" || matches!(spec, OutputSpec::Wav(_) | OutputSpec::Null));
    Ok(OutputDevice {
        name,
        card,
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("null".parse::<OutputSpec>().unwrap(), OutputSpec::Null);
        assert_eq!(
            "wav:/tmp/x.wav".parse::<OutputSpec>().unwrap(),
            OutputSpec::Wav("/tmp/x.wav".into())
        );
        assert_eq!(
            "alsa:hw:0,0".parse::<OutputSpec>().unwrap(),
            OutputSpec::Alsa("hw:0,0".into())
        );
        assert!("wav:".parse::<OutputSpec>().is_err());
        assert!("speaker".parse::<OutputSpec>().is_err());
        assert_eq!(
            "wav:/a.wav?loop".parse::<InputSpec>().unwrap(),
            InputSpec::Wav {
                path: "/a.wav".into(),
                loop_: true
            }
        );
        assert_eq!("none".parse::<InputSpec>().unwrap(), InputSpec::None);
    }
}
