//! Everything a request handler may reach, built once at start.

use std::sync::Arc;
use std::time::Instant;

use netamp_engine::Engine;

use crate::auth::Authenticator;
use crate::clips::ClipLibrary;
use crate::config::Config;
use crate::events::EventBus;
use crate::http::HttpStats;
use crate::identity::Identity;
use crate::io_service::IoService;
use crate::player::ClipPlayer;

/// The daemon's services.
pub struct App {
    /// Operator configuration.
    pub config: Config,
    /// Device identity.
    pub identity: Identity,
    /// Credentials.
    pub auth: Authenticator,
    /// Stored clips.
    pub clips: ClipLibrary,
    /// Clip playback.
    pub player: ClipPlayer,
    /// The event bus.
    pub bus: Arc<EventBus>,
    /// I/O ports.
    pub io: Arc<IoService>,
    /// The audio engine.
    pub engine: Engine,
    /// What the output device actually is (`null` after a fallback).
    pub output_device: String,
    /// What the input actually is (`none` after a fallback).
    pub input_device: String,
    /// Whether the echo canceller is fed what the speaker plays (only with a sound card
    /// at both ends: otherwise there is no echo path).
    pub echo_reference: bool,
    /// The capture chain (microphone → listeners, meter).
    pub capture: netamp_engine::capture::Capture,
    /// Gains, mutes and the sound-level threshold.
    pub audio_settings: crate::audio_settings::AudioSettings,
    /// Continuous recording of the input.
    pub recorder: crate::recorder::Recorder,
    /// receive.cgi listeners connected now.
    pub listeners: std::sync::atomic::AtomicUsize,
    /// When the daemon started.
    pub started: Instant,
    /// Where the RTSP event stream listens, once it does.
    pub rtsp_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// The one transmit.cgi sender.
    pub transmit: crate::http::transmit::TransmitSlot,
    /// Websocket session tokens.
    pub ws_sessions: crate::http::ws::WsSessions,
    /// HTTP counters.
    pub http_stats: Arc<HttpStats>,
    /// SIP accounts added through `/vapix/call`.
    pub sip_accounts: crate::sip_service::AccountStore,
    /// Call handling as `SetSIPConfiguration` left it.
    pub sip_settings: crate::sip_settings::SettingsStore,
    /// The SIP user agent, once started (never when `[sip] enabled = false`).
    pub sip: std::sync::OnceLock<netamp_sip::SipUa>,
}
