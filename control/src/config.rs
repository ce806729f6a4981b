//! `netamp.toml`: the operator's configuration, read at start, never written by the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ControlError;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the daemon keeps its state.
    pub data_dir: Option<PathBuf>,
    /// HTTP server.
    pub http: HttpConfig,
    /// SIP (used from the SIP issue on).
    pub sip: SipConfig,
    /// Audio devices and the engine.
    pub audio: AudioConfig,
    /// Media clips.
    pub clips: ClipsConfig,
    /// Identity shown to clients.
    pub device: DeviceConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// I/O ports.
    pub io: IoConfig,
    /// RTSP event stream.
    pub rtsp: RtspConfig,
    /// Continuous recording of the input.
    pub recording: crate::recorder::RecordingConfig,
    /// Rules and their notifications.
    pub rules: RulesConfig,
}

/// Rules settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// How long one notification may take to deliver, connection included (1–300 s).
    pub notification_timeout_s: u64,
    /// The IANA time zone schedules' local times are in (`Europe/Berlin`); empty: the
    /// system's.
    pub time_zone: String,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            notification_timeout_s: 10,
            time_zone: String::new(),
        }
    }
}

/// RTSP settings (the metadata event stream Home Assistant's `axis` library reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtspConfig {
    /// Listen address. `auto`: port 554 (where clients look), or [`RTSP_FALLBACK`] when
    /// 554 cannot be had (it needs privileges, or another server has it); an address: that
    /// one or netamp does not start; empty: RTSP off.
    pub listen: String,
}

/// Where `auto` HTTPS goes when port 443 cannot be bound.
pub const HTTPS_FALLBACK: &str = "0.0.0.0:8443";

/// Where `auto` RTSP goes when port 554 cannot be bound.
pub const RTSP_FALLBACK: &str = "0.0.0.0:8554";

impl Default for RtspConfig {
    fn default() -> Self {
        Self {
            listen: "auto".into(),
        }
    }
}

/// I/O settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoConfig {
    /// List `io-port-management` in API discovery (clients then prefer it to port.cgi).
    pub port_management: bool,
    /// Idle keep-alive of `port.cgi?monitor=` streams, seconds.
    pub monitor_keepalive_seconds: u64,
    /// How mapped ports reach the hardware: `gpiocdev` (any Linux GPIO chip) or `rppal`
    /// (Raspberry Pi; needs the `rppal` cargo feature).
    pub gpio: String,
    /// Ports wired to GPIO lines; the others are simulated.
    pub lines: Vec<netamp_io::gpio::LineSpec>,
    /// End-of-line wiring of supervised inputs (default parallel-first).
    pub supervised: Vec<SupervisedSpec>,
}

/// `[[io.supervised]] port = 2, wiring = "serial-first", ohms = 2200`.
#[derive(Debug, Clone, Deserialize)]
pub struct SupervisedSpec {
    /// Port (0-based); must be a supervised input.
    pub port: usize,
    /// The wiring.
    #[serde(flatten)]
    pub wiring: netamp_io::supervised::Wiring,
}

impl Default for IoConfig {
    fn default() -> Self {
        Self {
            port_management: true,
            monitor_keepalive_seconds: 15,
            gpio: "gpiocdev".into(),
            lines: Vec::new(),
            supervised: Vec::new(),
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// HTTPS listen address: `auto` (port 443, or [`HTTPS_FALLBACK`] when 443 cannot be
    /// had; neither: a warning and no HTTPS), an address (that one or netamp does not
    /// start), or empty (off).
    pub https_listen: String,
    /// "Allow access through": `both`, `https` (plain HTTP answers 301 to HTTPS but for
    /// `http_open_paths`) or `http` (no HTTPS listener).
    pub access: String,
    /// Paths plain HTTP still serves in `https` access: what cameras' HTTP recipients call.
    pub http_open_paths: Vec<String>,
    /// Largest request body outside clip uploads, bytes.
    pub max_body_bytes: usize,
    /// Kernel send buffer of each HTTP connection, KiB. Bounded so a receive.cgi listener
    /// that stops reading is noticed in seconds (its own capture frames are dropped)
    /// instead of the kernel queueing megabytes of stale audio for it.
    pub send_buffer_kib: usize,
    /// Connections open at once (per listener); more are closed at once.
    pub max_connections: usize,
    /// Connections open at once from one client address; more are closed at once.
    pub max_connections_per_client: usize,
    /// Largest request head (request line and headers), bytes; longer ones get 431.
    pub max_header_bytes: usize,
    /// Longest wait for a request's headers (from connecting, or from the last response
    /// on a keep-alive connection) and longest pause inside a request body, s.
    pub idle_timeout_s: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".parse().expect("valid literal"),
            https_listen: "auto".into(),
            access: "both".into(),
            http_open_paths: [
                "/axis-cgi/playclip.cgi",
                "/axis-cgi/stopclip.cgi",
                "/axis-cgi/mediaclip.cgi",
                "/axis-cgi/io/port.cgi",
                "/axis-cgi/virtualinput/activate.cgi",
                "/axis-cgi/virtualinput/deactivate.cgi",
            ]
            .map(String::from)
            .to_vec(),
            max_body_bytes: 64 * 1024,
            send_buffer_kib: 64,
            max_connections: 256,
            max_connections_per_client: 64,
            max_header_bytes: 16 * 1024,
            idle_timeout_s: 15,
        }
    }
}

/// SIP settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Listen address for UDP and TCP (`""`… is not allowed; set `enabled = false`).
    pub listen: SocketAddr,
    /// SIP over TLS listen address, with the HTTPS certificate (`""`: no TLS).
    pub tls_listen: String,
    /// Media encryption: `optional` (SRTP on TLS calls that offer it), `required` (every
    /// call TLS with SRTP) or `off`.
    pub media_encryption: String,
    /// Largest SIP datagram taken, bytes (1024…8192); longer ones get 513.
    pub max_datagram_bytes: usize,
    /// Whether the certificate of a peer netamp calls or registers with over TLS is
    /// verified (against the system's CAs and the certificate store's).
    pub verify_server_certificate: bool,
    /// Whether SIP runs at all.
    pub enabled: bool,
    /// Address for Contact and SDP when `listen` is unspecified (found when empty).
    pub public_ip: String,
    /// First RTP port.
    pub rtp_port_start: u16,
    /// How many RTP ports may be used (two per call: RTP and RTCP).
    pub rtp_port_count: u16,
    /// Codecs in order of preference: `opus`, `G722`, `PCMU`, `PCMA`, `L16`.
    pub codecs: Vec<String>,
    /// `sendrecv`, `sendonly` (speaker off, microphone only) or `recvonly`.
    pub direction: String,
    /// Smallest jitter-buffer delay, ms.
    pub jitter_min_ms: u64,
    /// Largest jitter-buffer delay, ms.
    pub jitter_max_ms: u64,
    /// How long into a call a caller's RTP may come from an address its SDP did not name
    /// (symmetric RTP behind NAT), s; after it only that address and the SDP's count
    /// (at most 30; 0: only the SDP's address ever).
    pub rtp_latch_s: u64,
    /// How long an outgoing call waits for any response to its INVITE before it fails, s.
    pub invite_timeout_s: u64,
    /// Calls at once; more get 486 Busy Here.
    pub max_calls: usize,
    /// Take incoming calls at all (480 otherwise).
    pub allow_incoming: bool,
    /// Answer incoming calls at once; otherwise they ring until answered or timed out.
    pub auto_answer: bool,
    /// How long an unanswered incoming call rings, s (at most 600).
    pub ring_timeout_s: u64,
    /// End calls after this many minutes (at most 60; 0 = never).
    pub end_calls_after_min: u64,
    /// Sets up the pre-configured rules at start: with a clip id, "Pre-announcement
    /// tone" (play it while a call rings) and "answer after the tone" are enabled with
    /// that clip, and calls ring instead of being answered at once (-1: the rules are
    /// left as they are).
    pub pre_announcement_clip: i64,
    /// DTMF sequences reported as events.
    pub dtmf: Vec<DtmfSequenceConfig>,
    /// Registered accounts (the peer-to-peer account always exists besides them).
    pub accounts: Vec<SipAccountConfig>,
}

/// One registered SIP account.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SipAccountConfig {
    /// Id (`sip_account_1`…; `sip_account_0` is the peer-to-peer account).
    pub id: String,
    /// User part of the address of record.
    pub user: String,
    /// Digest password.
    #[serde(default)]
    pub password: String,
    /// Digest user name when it differs from `user`.
    #[serde(default)]
    pub auth_user: String,
    /// Registrar, `host[:port]` or a SIP URI.
    pub registrar: String,
    /// Secondary registrar, used while the primary fails.
    #[serde(default)]
    pub secondary_registrar: String,
    /// Outbound proxy `ip:port`.
    #[serde(default)]
    pub outbound_proxy: String,
    /// Requested registration time, s (refreshed at three quarters of what is granted).
    #[serde(default = "default_expires")]
    pub expires: u32,
    /// Seconds one REGISTER may take before the registrar counts as down.
    #[serde(default = "default_register_timeout")]
    pub timeout_s: u64,
    /// The default account (at most one; the peer-to-peer account otherwise).
    #[serde(default)]
    pub default: bool,
    /// Whether calls to this account are answered at once; unset: as `[sip]`
    /// `auto_answer` (and `SetSIPConfiguration`) say.
    #[serde(default)]
    pub auto_answer: Option<bool>,
    /// `udp`, `tcp` or `tls`: how the registrar is reached (a registrar URI with its own
    /// `;transport=` or `sips:` says so itself).
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Whether a TLS registrar's certificate is verified; unset: as `[sip]`
    /// `verify_server_certificate` says.
    #[serde(default)]
    pub verify_server_certificate: Option<bool>,
}

fn default_transport() -> String {
    "udp".into()
}

impl SipAccountConfig {
    /// `registrar` (or another server of the account) with the account's transport: a
    /// `;transport=` parameter added unless the text names one (or is `sips:`).
    pub fn with_transport(&self, server: &str) -> String {
        let t = self.transport.to_ascii_lowercase();
        let lower = server.to_ascii_lowercase();
        if server.is_empty()
            || t == "udp"
            || lower.starts_with("sips:")
            || lower.contains(";transport=")
        {
            return server.to_string();
        }
        let uri = if lower.starts_with("sip:") {
            server.to_string()
        } else {
            format!("sip:{server}")
        };
        format!("{uri};transport={t}")
    }

    /// Whether the user agent answers this account's calls itself (`None`: as the call
    /// settings say). Never with `[sip] pre_announcement_clip` set: the pre-configured
    /// rules answer after the tone.
    pub fn answers_at_once(&self, sip: &SipConfig) -> Option<bool> {
        if sip.pre_announcement_clip >= 0 {
            return Some(false);
        }
        self.auto_answer
    }
}

fn default_expires() -> u32 {
    3600
}

fn default_register_timeout() -> u64 {
    5
}

/// One DTMF sequence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtmfSequenceConfig {
    /// Digits (0-9, A-D, *, #).
    pub sequence: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:5060".parse().expect("valid literal"),
            tls_listen: "0.0.0.0:5061".into(),
            media_encryption: "optional".into(),
            max_datagram_bytes: netamp_sip::ua::MAX_DATAGRAM,
            verify_server_certificate: true,
            enabled: true,
            public_ip: String::new(),
            rtp_port_start: 4000,
            rtp_port_count: 1000,
            codecs: ["opus", "G722", "PCMU", "PCMA", "L16"]
                .map(String::from)
                .to_vec(),
            direction: "sendrecv".into(),
            jitter_min_ms: 20,
            jitter_max_ms: 200,
            rtp_latch_s: 5,
            invite_timeout_s: 32,
            max_calls: 1,
            allow_incoming: true,
            auto_answer: true,
            ring_timeout_s: 60,
            end_calls_after_min: 0,
            pre_announcement_clip: -1,
            dtmf: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

/// Audio devices and engine settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Output device spec (`default`, `null`, `wav:<path>`, `cpal:<name>`, `alsa:<pcm>`).
    pub output: String,
    /// Input device spec (`default`, `none`, `wav:<path>[?loop]`, `cpal:<name>`, `alsa:<pcm>`).
    pub input: String,
    /// Frames per render block, 48–4800.
    pub period_frames: usize,
    /// Gain of ducked (lower-priority) sources, 0 = mute.
    pub duck_gain: f32,
    /// Most sources at once.
    pub max_sources: usize,
    /// `Audio.ReceiverTimeout`: a transmit.cgi stream with no bytes for this long ends, ms.
    pub receiver_timeout_ms: u64,
    /// Silence a transmit.cgi stream starts with, ms: the cushion against arrival jitter.
    pub transmit_buffer_min_ms: u64,
    /// Largest cushion a transmit.cgi stream grows to after underruns, ms.
    pub transmit_buffer_max_ms: u64,
    /// `Audio.MaxListeners`: receive.cgi clients at once.
    pub max_listeners: usize,
    /// Capture chain: cancel the speaker's echo from the microphone.
    pub echo_cancel: bool,
    /// Capture chain: noise suppression.
    pub noise_suppression: bool,
    /// Capture chain: automatic gain control.
    pub agc: bool,
    /// Rough speaker-to-microphone delay of the hardware, ms (a hint; AEC3 measures).
    pub echo_delay_ms: i32,
    /// Automatic volume control: the output follows the room's noise.
    pub avc: bool,
    /// AVC: noise level (dBFS at the microphone) below which no boost is applied.
    pub avc_threshold_dbfs: f32,
    /// AVC: dB of gain per dB of noise above the threshold.
    pub avc_slope: f32,
    /// AVC: largest boost, dB.
    pub avc_max_boost_db: f32,
    /// AVC: fastest gain change, dB per second.
    pub avc_slew_db_per_s: f32,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            output: "default".into(),
            input: "default".into(),
            period_frames: 240,
            duck_gain: 0.0,
            max_sources: 128,
            receiver_timeout_ms: 1000,
            transmit_buffer_min_ms: 20,
            transmit_buffer_max_ms: 500,
            max_listeners: 10,
            echo_cancel: true,
            noise_suppression: false,
            agc: false,
            echo_delay_ms: 40,
            avc: false,
            avc_threshold_dbfs: -60.0,
            avc_slope: 0.5,
            avc_max_boost_db: 12.0,
            avc_slew_db_per_s: 3.0,
        }
    }
}

/// Media clip settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipsConfig {
    /// Most clips stored (`MediaClip.MaxGroups`).
    pub max_groups: u32,
    /// Largest upload, megabytes (`MediaClip.MaxUploadSize`).
    pub max_upload_mb: u32,
    /// Let clips mix instead of a new play stopping the clip that plays.
    pub mix: bool,
    /// Mixer priority of clips, 0–9.
    pub priority: u8,
    /// Highest accepted `volume` (linear percent); louder requests are capped.
    pub max_volume: u32,
    /// Uploads received at once; another gets 503 until one ends.
    pub max_concurrent_uploads: u32,
}

impl Default for ClipsConfig {
    fn default() -> Self {
        Self {
            max_groups: 100,
            max_upload_mb: 50,
            mix: false,
            priority: 5,
            max_volume: 1000,
            max_concurrent_uploads: crate::clips::DEFAULT_MAX_UPLOADS,
        }
    }
}

/// Identity settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// MAC address used for the realm and serial number; the host's when unset.
    pub mac: Option<String>,
    /// Friendly name.
    pub name: Option<String>,
    /// Announce the device on the LAN (mDNS/DNS-SD).
    pub mdns: bool,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            mac: None,
            name: None,
            mdns: true,
        }
    }
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Brute-force blocking on or off.
    pub blocking: bool,
    /// How long a blocked address (or page) stays blocked, seconds.
    pub block_seconds: u64,
    /// Failed logins on one page (CGI) within a second an address may make; more blocks
    /// that page for it.
    pub max_failures_per_s_page: u32,
    /// Failed logins on the whole device within a second an address may make; more
    /// blocks the device for it.
    pub max_failures_per_s_device: u32,
    /// How long a Digest nonce stays fresh, seconds.
    pub nonce_lifetime_seconds: u64,
    /// "Allow anonymous viewing": what a viewer may do, anyone may, without credentials.
    pub anonymous_viewing: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            blocking: true,
            block_seconds: 60,
            max_failures_per_s_page: 10,
            max_failures_per_s_device: 20,
            nonce_lifetime_seconds: 300,
            anonymous_viewing: false,
        }
    }
}

impl Config {
    /// Checks what parsing cannot: ranges, device specs, addresses, the time zone.
    pub fn validate(&self) -> Result<(), ControlError> {
        let bad = |m: String| Err(ControlError::Config(m));
        let h = &self.http;
        // Each connection holds a file descriptor: more than the process may open makes
        // no sense (and tokio's semaphore refuses absurd counts with a panic).
        if !(1..=65_536).contains(&h.max_connections) || !(1..=3600).contains(&h.idle_timeout_s) {
            return bad("[http] max_connections 1…65536 and idle_timeout_s 1…3600".into());
        }
        if !(1..=64).contains(&self.clips.max_concurrent_uploads) {
            return bad("[clips] max_concurrent_uploads 1…64".into());
        }
        // Above max_connections it is max_connections.
        if !(1..=65_536).contains(&h.max_connections_per_client) {
            return bad("[http] max_connections_per_client 1…65536".into());
        }
        if !(1024..=1 << 20).contains(&h.max_header_bytes) {
            return bad("[http] max_header_bytes 1024…1048576".into());
        }
        let timeout_s = self.rules.notification_timeout_s;
        if !(1..=300).contains(&timeout_s) {
            return bad(format!(
                "[rules] notification_timeout_s must be 1 to 300, not {timeout_s}"
            ));
        }
        self.time_zone()?;
        self.audio
            .output
            .parse::<netamp_engine::device::OutputSpec>()?;
        self.audio
            .input
            .parse::<netamp_engine::device::InputSpec>()?;
        let s = &self.sip;
        if !s.tls_listen.is_empty() && s.tls_listen.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "[sip] tls_listen {:?}: an address (\"\": no TLS)",
                s.tls_listen
            ));
        }
        // The manuals: SIP and RTP ports lie in 1024–65535 (0 lets the system pick one).
        let user_port = |p: u16| p == 0 || p >= 1024;
        let tls_port = s.tls_listen.parse::<SocketAddr>().map_or(0, |a| a.port());
        if !user_port(s.listen.port()) || !user_port(tls_port) {
            return bad("[sip] listen and tls_listen ports must be 1024 to 65535".into());
        }
        let rtp_end = u32::from(s.rtp_port_start) + u32::from(s.rtp_port_count);
        if s.rtp_port_start < 1024 || s.rtp_port_count < 2 || rtp_end > 65_536 {
            return bad(format!(
                "[sip] RTP ports must lie in 1024 to 65535: rtp_port_start {} with rtp_port_count {} (2 at least)",
                s.rtp_port_start, s.rtp_port_count
            ));
        }
        if !(1024..=netamp_sip::ua::MAX_DATAGRAM).contains(&s.max_datagram_bytes) {
            return bad(format!(
                "[sip] max_datagram_bytes must be 1024 to {}",
                netamp_sip::ua::MAX_DATAGRAM
            ));
        }
        s.media_encryption
            .parse::<netamp_sip::srtp::MediaEncryption>()
            .map_err(|e| ControlError::Config(format!("[sip] {e}")))?;
        match (h.access.as_str(), h.https_listen.as_str()) {
            ("both" | "http", _) => {}
            ("https", "") => return bad("[http] access = \"https\" needs https_listen".into()),
            ("https", _) => {}
            (other, _) => {
                return bad(format!(
                    "[http] access {other:?}: \"both\", \"https\" or \"http\""
                ))
            }
        }
        if !matches!(h.https_listen.as_str(), "" | "auto")
            && h.https_listen.parse::<SocketAddr>().is_err()
        {
            return bad(format!(
                "[http] https_listen {:?}: not an address",
                h.https_listen
            ));
        }
        if !matches!(self.rtsp.listen.as_str(), "" | "auto")
            && self.rtsp.listen.parse::<SocketAddr>().is_err()
        {
            return bad(format!(
                "[rtsp] listen {:?}: not an address",
                self.rtsp.listen
            ));
        }
        if let Some(m) = &self.device.mac {
            if crate::identity::normalize_mac(m).is_none() {
                return bad(format!("[device] mac: invalid MAC address {m:?}"));
            }
        }
        Ok(())
    }

    /// The zone schedules' local times are in.
    pub fn time_zone(&self) -> Result<rrule::Tz, ControlError> {
        Ok(match self.rules.time_zone.trim() {
            "" => rrule::Tz::LOCAL,
            name => rrule::Tz::Tz(name.parse::<chrono_tz::Tz>().map_err(|_| {
                ControlError::Config(format!("[rules] time_zone: unknown time zone {name:?}"))
            })?),
        })
    }

    /// Reads a config file; a missing file at the default path means defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ControlError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ControlError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ControlError::Config(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_and_rtp_ports_lie_in_1024_to_65535_as_the_manuals_say() {
        let check = |sip: &str| {
            let c: Config = toml::from_str(&format!("[sip]\n{sip}")).expect("toml");
            c.validate()
        };
        assert!(check("").is_ok());
        assert!(
            check("listen = \"0.0.0.0:0\"").is_ok(),
            "0: the system picks"
        );
        assert!(
            check("listen = \"0.0.0.0:5060\"\nrtp_port_start = 1024\nrtp_port_count = 64512")
                .is_ok()
        );
        for bad in [
            "listen = \"0.0.0.0:506\"",
            "tls_listen = \"0.0.0.0:443\"",
            "rtp_port_start = 1000",
            "rtp_port_start = 65000\nrtp_port_count = 1000",
            "rtp_port_count = 1",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_account_answers_its_own_way_or_as_sip_says() {
        let account = |auto: Option<bool>| -> SipAccountConfig {
            let text = format!(
                "id = \"sip_account_1\"\nuser = \"alice\"\nregistrar = \"pbx\"\n{}",
                auto.map_or(String::new(), |a| format!("auto_answer = {a}\n")),
            );
            toml::from_str(&text).expect("account")
        };
        let plain = SipConfig::default();
        let chimed = SipConfig {
            pre_announcement_clip: 3,
            ..SipConfig::default()
        };
        // Nothing of its own: the live call settings decide (None).
        assert_eq!(account(None).answers_at_once(&plain), None);
        assert_eq!(account(Some(false)).answers_at_once(&plain), Some(false));
        // With `[sip]`'s chime every call rings: the pre-configured rules answer.
        assert_eq!(account(None).answers_at_once(&chimed), Some(false));
        assert_eq!(account(Some(true)).answers_at_once(&chimed), Some(false));
        // The per-account chime went with the built-in pre-announcement: refused.
        assert!(toml::from_str::<SipAccountConfig>(
            "id = \"a\"\nuser = \"u\"\nregistrar = \"r\"\npre_announcement_clip = 1\n"
        )
        .is_err());
    }
}
