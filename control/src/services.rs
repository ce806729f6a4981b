//! The daemon's services, built once at start by `main`: each a narrow handle with its
//! own module and tests. The HTTP router hands each handler only the ones it uses; the
//! HTTP layer's own state (counters, the transmit slot, websocket tokens) is not here
//! but in [`crate::http::HttpState`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::audio::AudioService;
use crate::auth::Authenticator;
use crate::clips::ClipLibrary;
use crate::events::EventBus;
use crate::identity::Identity;
use crate::io_service::IoService;
use crate::player::ClipPlayer;
use crate::recorder::Recorder;
use crate::sip_service::CallService;

/// Every service of the running daemon.
pub struct Services {
    /// Device identity (name, serial, version, realm).
    pub identity: Arc<Identity>,
    /// Accounts and credential checks.
    pub auth: Arc<Authenticator>,
    /// Stored clips.
    pub clips: Arc<ClipLibrary>,
    /// Clip playback.
    pub player: Arc<ClipPlayer>,
    /// The audio engine, capture chain and their settings.
    pub audio: Arc<AudioService>,
    /// SIP calls, accounts and call handling.
    pub calls: Arc<CallService>,
    /// I/O ports.
    pub io: Arc<IoService>,
    /// The event bus.
    pub bus: Arc<EventBus>,
    /// Continuous recording of the input.
    pub recorder: Arc<Recorder>,
    /// Rules, their actions and the engine that runs them.
    pub rules: Arc<crate::rules::service::RulesService>,
    /// When the daemon started.
    pub started: Instant,
    /// A random id of this start (`systemready.cgi`'s `bootid`).
    pub boot_id: String,
    /// The configuration file with its secrets masked, for the server report.
    pub config_report: String,
    /// Restart and factory defaults.
    pub maintenance: Arc<crate::maintenance::Maintenance>,
    /// The HTTPS certificate (`None`: HTTPS off).
    pub tls: Option<Arc<crate::tls::TlsState>>,
    /// The certificate store.
    pub certs: Arc<crate::certstore::CertStore>,
    /// Remote syslog servers.
    pub syslog: Arc<crate::syslog::RemoteSyslog>,
    /// Where the RTSP event stream listens (`None`: off).
    pub rtsp_addr: Option<SocketAddr>,
}
