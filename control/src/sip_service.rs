//! SIP in the daemon: the user agent built from `[sip]`, and its events on the bus.
//!
//! Topics (reference/vapix.md §7.2): `tnsaxis:Call/State` (stateful, source
//! `Source=NetworkSpeaker`, data `CallState` of the busiest call: Active over Ringing over
//! Calling over Idle), `tnsaxis:Call/StateChange` (each transition, with `CallId`,
//! `RemoteURI`, `Reason`), and `tnsaxis:Call/DTMF` (source `DTMFEventId`: `digit` for each
//! digit, `sequence_<n>` for configured sequence n; data `CallId`, `Digit` or `Sequence`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use netamp_sip::dtmf::{is_digit, Sequence};
use netamp_sip::jitter::JitterConfig;
use netamp_sip::sdp::{AudioCodec, Direction};
use netamp_sip::{CallState, SipEvent, SipUa, UaConfig};
use tokio::sync::mpsc;

use crate::audio::AudioService;
use crate::config::{SipAccountConfig, SipConfig};
use crate::error::ControlError;
use crate::events::{Event, EventBus};
use crate::sip_settings::{CallSettings, SettingsStore};

/// Stateful call-state topic.
pub const TOPIC_STATE: &str = "tnsaxis:Call/State";
/// One event per call transition.
pub const TOPIC_STATE_CHANGE: &str = "tnsaxis:Call/StateChange";
/// DTMF digits and sequences.
pub const TOPIC_DTMF: &str = "tnsaxis:Call/DTMF";
/// The `Source` of call events (what Axis speakers report).
const SOURCE: &str = "NetworkSpeaker";
/// Capture buffered per call uplink, ms.
const TAP_MS: usize = 500;

/// The user agent's settings from `[sip]`, checked.
pub fn ua_config(c: &SipConfig, settings: CallSettings) -> Result<UaConfig, ControlError> {
    let bad = |m: String| ControlError::Config(format!("[sip] {m}"));
    let codecs = c
        .codecs
        .iter()
        .map(|n| match n.to_ascii_uppercase().as_str() {
            "PCMU" => Ok(AudioCodec::Pcmu),
            "PCMA" => Ok(AudioCodec::Pcma),
            "OPUS" => Ok(AudioCodec::Opus),
            "L16" => Ok(AudioCodec::L16),
            "G722" => Ok(AudioCodec::G722),
            _ => Err(bad(format!("codecs: unknown codec {n:?}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if codecs.is_empty() {
        return Err(bad("codecs: at least one is needed".into()));
    }
    let direction = match c.direction.as_str() {
        "sendrecv" => Direction::SendRecv,
        "sendonly" => Direction::SendOnly,
        "recvonly" => Direction::RecvOnly,
        d => {
            return Err(bad(format!(
                "direction {d:?} (sendrecv, sendonly, recvonly)"
            )))
        }
    };
    if c.jitter_min_ms < 5 || c.jitter_min_ms > c.jitter_max_ms || c.jitter_max_ms > 1000 {
        return Err(bad(
            "jitter_min_ms/jitter_max_ms: 5 ≤ min ≤ max ≤ 1000".into()
        ));
    }
    if c.rtp_latch_s > 30 {
        return Err(bad("rtp_latch_s: at most 30".into()));
    }
    if !(1..=300).contains(&c.invite_timeout_s) {
        return Err(bad("invite_timeout_s: 1…300".into()));
    }
    CallSettings::from_config(c).check().map_err(bad)?;
    let sequences = c
        .dtmf
        .iter()
        .map(|d| {
            if d.sequence.is_empty() || !d.sequence.chars().all(is_digit) {
                Err(bad(format!(
                    "dtmf sequence {:?}: 0-9, A-D, *, #",
                    d.sequence
                )))
            } else {
                Ok(Sequence {
                    digits: d.sequence.clone(),
                    description: d.description.clone(),
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let public_ip = if c.public_ip.is_empty() {
        None
    } else {
        Some(
            c.public_ip
                .parse()
                .map_err(|e| bad(format!("public_ip: {e}")))?,
        )
    };
    Ok(UaConfig {
        listen: c.listen,
        public_ip,
        rtp_ports: (c.rtp_port_start, c.rtp_port_count),
        codecs,
        direction,
        ptime: 20,
        jitter: JitterConfig {
            min_delay: Duration::from_millis(c.jitter_min_ms),
            max_delay: Duration::from_millis(c.jitter_max_ms),
            ..JitterConfig::default()
        },
        latch_window: Duration::from_secs(c.rtp_latch_s),
        invite_timeout: Duration::from_secs(c.invite_timeout_s),
        policy: settings.policy(c),
        sequences,
        user_agent: format!("netamp/{}", env!("CARGO_PKG_VERSION")),
        tls: None,
        media_encryption: c
            .media_encryption
            .parse()
            .map_err(|e| bad(format!("{e}")))?,
        max_datagram_bytes: c.max_datagram_bytes,
        tls_client: None,
        verify_server: c.verify_server_certificate,
    })
}

/// Accounts added through `/vapix/call` (`SetSIPAccount`), kept in `sip_accounts.json`
/// beside those of `[sip]` (which the API cannot change).
pub struct AccountStore {
    path: std::path::PathBuf,
    accounts: std::sync::Mutex<Vec<SipAccountConfig>>,
}

impl AccountStore {
    /// Loads the stored accounts of `data_dir`.
    pub fn load(data_dir: &std::path::Path) -> Result<Self, ControlError> {
        let path = data_dir.join("sip_accounts.json");
        let accounts = crate::store::load_json(&path)?.unwrap_or_default();
        Ok(Self {
            path,
            accounts: std::sync::Mutex::new(accounts),
        })
    }

    /// The stored accounts.
    pub fn list(&self) -> Vec<SipAccountConfig> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SipAccountConfig>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces an account after checking it together with `config`'s; saved
    /// before it counts.
    pub fn set(
        &self,
        config: &SipConfig,
        account: SipAccountConfig,
    ) -> Result<netamp_sip::register::AccountConfig, ControlError> {
        if config.accounts.iter().any(|a| a.id == account.id) {
            return Err(ControlError::Config(format!(
                "{} is defined in netamp.toml",
                account.id
            )));
        }
        let mut list = self.lock();
        let mut next = list.clone();
        if account.default {
            for a in next.iter_mut() {
                a.default = false;
            }
        }
        next.retain(|a| a.id != account.id);
        next.push(account.clone());
        let all: Vec<SipAccountConfig> = config
            .accounts
            .iter()
            .cloned()
            .chain(next.clone())
            .collect();
        let checked = check_accounts(&all, config)?;
        crate::store::save_json(&self.path, &next)?;
        *list = next;
        checked
            .into_iter()
            .find(|a| a.id == account.id)
            .ok_or_else(|| ControlError::Config("account vanished".into()))
    }

    /// Removes a stored account; false when there is none.
    pub fn remove(&self, id: &str) -> Result<bool, ControlError> {
        let mut list = self.lock();
        let next: Vec<SipAccountConfig> = list.iter().filter(|a| a.id != id).cloned().collect();
        if next.len() == list.len() {
            return Ok(false);
        }
        crate::store::save_json(&self.path, &next)?;
        *list = next;
        Ok(true)
    }
}

/// Checks a set of accounts; one default at most, ids unique.
fn check_accounts(
    accounts: &[SipAccountConfig],
    sip: &SipConfig,
) -> Result<Vec<netamp_sip::register::AccountConfig>, ControlError> {
    let bad = |m: String| ControlError::Config(format!("[[sip.accounts]] {m}"));
    if accounts.iter().filter(|a| a.default).count() > 1 {
        return Err(bad("only one account may be the default".into()));
    }
    let mut seen = std::collections::HashSet::new();
    accounts
        .iter()
        .map(|a| {
            if a.id.is_empty() || a.id == P2P_ACCOUNT || !seen.insert(a.id.clone()) {
                return Err(bad(format!("id {:?} is empty, reserved or repeated", a.id)));
            }
            if a.user.is_empty() || a.registrar.is_empty() {
                return Err(bad(format!("{}: user and registrar are required", a.id)));
            }
            if !["udp", "tcp", "tls"].contains(&a.transport.to_ascii_lowercase().as_str()) {
                return Err(bad(format!("{}: transport udp, tcp or tls", a.id)));
            }
            if a.expires == 0 || a.timeout_s == 0 || a.timeout_s > 60 {
                return Err(bad(format!("{}: expires ≥ 1, timeout_s 1..=60", a.id)));
            }
            let outbound_proxy = if a.outbound_proxy.is_empty() {
                None
            } else {
                Some(
                    a.outbound_proxy
                        .parse()
                        .map_err(|e| bad(format!("{}: outbound_proxy: {e}", a.id)))?,
                )
            };
            let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
            Ok(netamp_sip::register::AccountConfig {
                id: a.id.clone(),
                user: a.user.clone(),
                password: a.password.clone(),
                auth_user: opt(&a.auth_user),
                registrar: a.with_transport(&a.registrar),
                secondary: opt(&a.secondary_registrar).map(|s| a.with_transport(&s)),
                outbound_proxy,
                expires: a.expires,
                timeout: Duration::from_secs(a.timeout_s),
                auto_answer: a.answers_at_once(sip),
                verify_server: a.verify_server_certificate,
            })
        })
        .collect()
}

/// The id of the peer-to-peer account.
pub const P2P_ACCOUNT: &str = "sip_account_0";

/// The calls service: the user agent (absent when `[sip] enabled = false`), the accounts
/// added through the API, and call handling as `SetSIPConfiguration` left it.
pub struct CallService {
    ua: Option<SipUa>,
    /// `[sip]` as the operator started it.
    pub config: SipConfig,
    /// Accounts added through `/vapix/call`.
    pub accounts: AccountStore,
    /// Call handling as `SetSIPConfiguration` left it.
    pub settings: SettingsStore,
}

/// What the calls service publishes through: the bus, and the capture chain (each
/// call's uplink).
pub struct CallDeps {
    /// The event bus.
    pub bus: Arc<EventBus>,
    /// The audio engine and capture chain.
    pub audio: Arc<AudioService>,
    /// SIP over TLS: where and with which certificate (`None`: no TLS).
    pub tls: Option<netamp_sip::ua::TlsListen>,
    /// CA certificates trusted when netamp calls or registers over TLS.
    pub certs: Arc<crate::certstore::CertStore>,
}

impl CallService {
    /// A calls service without a user agent (`[sip] enabled = false`, and tests).
    pub fn disabled(config: SipConfig, accounts: AccountStore, settings: SettingsStore) -> Self {
        Self {
            ua: None,
            config,
            accounts,
            settings,
        }
    }

    /// Starts the user agent and the task that publishes its events.
    pub async fn start(
        config: SipConfig,
        accounts: AccountStore,
        settings: SettingsStore,
        deps: CallDeps,
    ) -> Result<Arc<Self>, ControlError> {
        // What `SetSIPConfiguration` saved wins over `[sip]`.
        let mut ua_conf = ua_config(&config, settings.get())?;
        ua_conf.tls = deps.tls.clone();
        let certs = deps.certs.clone();
        ua_conf.tls_client = Some(netamp_sip::ua::TlsClient(Arc::new(move |verify| {
            crate::tls::client_config(verify.then(|| certs.trusted_roots())).map(Arc::new)
        })));
        let all: Vec<SipAccountConfig> = config
            .accounts
            .iter()
            .cloned()
            .chain(accounts.list())
            .collect();
        let checked = check_accounts(&all, &config)?;
        let listen = ua_conf.listen;
        let weak: Weak<AudioService> = Arc::downgrade(&deps.audio);
        let taps: netamp_sip::TapFactory =
            Arc::new(move || weak.upgrade().map(|a| a.capture.subscribe(TAP_MS)));
        let (tx, rx) = mpsc::unbounded_channel();
        let ua = SipUa::start(ua_conf, deps.audio.engine.clone(), taps, tx)
            .await
            .map_err(|e| match e {
                netamp_sip::SipError::Io(io) => ControlError::Listen(listen, io),
                other => ControlError::Config(format!("[sip] {other}")),
            })?;
        deps.bus.publish(Event::new(
            TOPIC_STATE,
            &[("Source", SOURCE)],
            &[("CallState", "Idle")],
            true,
        ));
        for a in checked {
            ua.add_account(a);
        }
        let service = Arc::new(Self {
            ua: Some(ua),
            config,
            accounts,
            settings,
        });
        tokio::spawn(publish(Arc::downgrade(&service), Arc::new(deps), rx));
        Ok(service)
    }

    /// The user agent, when SIP is on.
    pub fn ua(&self) -> Option<&SipUa> {
        self.ua.as_ref()
    }

    fn require_ua(&self) -> Result<&SipUa, String> {
        self.ua
            .as_ref()
            .ok_or_else(|| "SIP is disabled".to_string())
    }

    /// Calls `to`: through registered `account` (its registrar or proxy, its
    /// credentials), or straight to `to` without one or with the peer-to-peer account.
    /// Returns the call id.
    pub async fn place(&self, to: &str, account: Option<&str>) -> Result<String, String> {
        let ua = self.require_ua()?;
        let placed = match account {
            Some(acc) if acc != P2P_ACCOUNT => ua.call_via(to, acc).await,
            _ => ua.call(to).await,
        };
        placed.map_err(|e| e.to_string())
    }

    /// Answers every ringing incoming call; returns how many there were.
    pub fn answer_ringing(&self) -> Result<usize, String> {
        let ua = self.require_ua()?;
        let ringing: Vec<String> = ua
            .calls()
            .into_iter()
            .filter(|c| c.incoming && c.state == CallState::Ringing)
            .map(|c| c.id)
            .collect();
        for id in &ringing {
            ua.answer(id).map_err(|e| e.to_string())?;
        }
        Ok(ringing.len())
    }

    /// Ends call `id` if it still goes on.
    pub async fn end(&self, id: &str) {
        if let Some(ua) = &self.ua {
            let _ = ua.hangup(id).await;
        }
    }

    /// Ends every call; returns how many there were.
    pub async fn end_all(&self) -> Result<usize, String> {
        let ua = self.require_ua()?;
        let calls = ua.calls();
        for c in &calls {
            // A call that ended meanwhile is not an error.
            let _ = ua.hangup(&c.id).await;
        }
        Ok(calls.len())
    }
}

async fn publish(
    calls: Weak<CallService>,
    deps: Arc<CallDeps>,
    mut rx: mpsc::UnboundedReceiver<SipEvent>,
) {
    while let Some(ev) = rx.recv().await {
        let Some(calls) = calls.upgrade() else { return };
        let bus = &deps.bus;
        match ev {
            SipEvent::Call(info) => {
                let reason = match (info.state, info.incoming) {
                    (CallState::Calling, _) => "Initiated",
                    (CallState::Ringing, _) => "Initiated",
                    (CallState::Active, true) => "AcceptedByDevice",
                    (CallState::Active, false) => "AcceptedByRemote",
                    (CallState::Terminated, _) => info
                        .ending
                        .map_or("Terminated", netamp_sip::ua::Ending::as_reason),
                };
                bus.publish(Event::new(
                    TOPIC_STATE_CHANGE,
                    &[("Source", SOURCE)],
                    &[
                        ("CallId", &info.id),
                        ("CallState", info.state.as_str()),
                        ("Reason", reason),
                        ("RemoteURI", &info.remote_uri),
                    ],
                    false,
                ));
                let state = calls
                    .ua()
                    .map(|ua| busiest(&ua.calls()))
                    .unwrap_or(CallState::Terminated);
                bus.publish(Event::new(
                    TOPIC_STATE,
                    &[("Source", SOURCE)],
                    &[("CallState", state.as_str())],
                    true,
                ));
            }
            SipEvent::Dtmf {
                call,
                digit,
                method,
            } => {
                let digit = digit.to_string();
                let method = match method {
                    netamp_sip::DtmfMethod::Rtp => "RTP",
                    netamp_sip::DtmfMethod::Info => "INFO",
                };
                bus.publish(Event::new(
                    TOPIC_DTMF,
                    &[("DTMFEventId", "digit")],
                    &[("CallId", &call), ("Digit", &digit), ("Method", method)],
                    false,
                ));
            }
            SipEvent::Sequence { call, sequence } => {
                let n = calls
                    .config
                    .dtmf
                    .iter()
                    .position(|d| d.sequence == sequence.digits)
                    .unwrap_or(0);
                bus.publish(Event::new(
                    TOPIC_DTMF,
                    &[("DTMFEventId", &format!("sequence_{n}"))],
                    &[
                        ("CallId", &call),
                        ("Sequence", &sequence.digits),
                        ("Description", &sequence.description),
                    ],
                    false,
                ));
            }
        }
    }
}

/// The state `tnsaxis:Call/State` shows for a set of calls.
pub fn busiest(calls: &[netamp_sip::CallInfo]) -> CallState {
    let rank = |s: CallState| match s {
        CallState::Active => 3,
        CallState::Ringing => 2,
        CallState::Calling => 1,
        CallState::Terminated => 0,
    };
    calls
        .iter()
        .map(|c| c.state)
        .max_by_key(|s| rank(*s))
        .unwrap_or(CallState::Terminated)
}
