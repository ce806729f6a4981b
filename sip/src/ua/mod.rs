//! The user agent: rsipstack's endpoint and dialog layer behind netamp's own small API.
//!
//! Nothing of rsipstack leaves this module: the daemon sees [`UaConfig`], [`SipUa`],
//! [`CallInfo`] and [`SipEvent`]. One task reads new transactions, one follows dialog
//! states; each call owns an RTP socket from the configured range, a receiver into the
//! engine and a sender from the capture chain, started when the call is answered.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netamp_engine::capture::CaptureTap;
use netamp_engine::Engine;
use rsipstack::dialog::dialog::{DialogState, DialogStateSender, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::Transaction;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::TransportLayer;
use rsipstack::EndpointBuilder;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::call_core::{Action, ByeReason, CallCore, CallLimits, Input};
use crate::dtmf::{self, Digit, Sequence, SequenceMatcher};
use crate::guard::{GuardStats, GuardedUdp};
use crate::jitter::JitterConfig;
use crate::register::{AccountConfig, Outcome, RegStatus, Schedule};
use crate::rtcp::{RtcpSession, RtcpSources};
use crate::rtp_in::{PeerLatch, RtpInParams, RtpReceiver};
use crate::rtp_out::{RtpOutParams, RtpSender};
use crate::sdp::{self, AudioCodec, Direction, Negotiated};
use crate::SipError;

mod accounts;
mod core_driver;
mod dialogs;
mod incoming;
mod media;
mod outgoing;
mod tls;

use dialogs::report_digit;
use incoming::capability_headers;

/// Methods netamp answers (the `Allow` header).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";
/// Digits further apart than this start a new DTMF sequence.
const SEQUENCE_GAP: Duration = Duration::from_secs(5);

/// How the user agent behaves.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// UDP and TCP listen address (port 0 picks one for both).
    pub listen: SocketAddr,
    /// Address put in Contact and SDP when `listen` is unspecified (found if `None`).
    pub public_ip: Option<IpAddr>,
    /// First RTP port and how many may be used.
    pub rtp_ports: (u16, u16),
    /// Codecs in order of preference.
    pub codecs: Vec<AudioCodec>,
    /// Directions netamp allows.
    pub direction: Direction,
    /// Packet time offered, ms.
    pub ptime: u32,
    /// Jitter-buffer limits.
    pub jitter: JitterConfig,
    /// How long into a call RTP from an address other than the SDP's may still be
    /// latched ([`crate::latch`]).
    pub latch_window: Duration,
    /// How long an outgoing INVITE may wait for any response (RFC 3261 Timer B) before
    /// the call fails; over TCP the stack itself has no such limit.
    pub invite_timeout: Duration,
    /// How calls are taken; [`SipUa::set_policy`] changes it while running.
    pub policy: CallPolicy,
    /// DTMF sequences reported when typed.
    pub sequences: Vec<Sequence>,
    /// The `User-Agent`/`Server` value.
    pub user_agent: String,
    /// SIP over TLS: where to listen and the certificate chain and key (PEM); `None`: no
    /// TLS.
    pub tls: Option<TlsListen>,
    /// Whether calls use SRTP ([`crate::srtp::decide`]).
    pub media_encryption: crate::srtp::MediaEncryption,
    /// Largest SIP datagram taken, bytes: longer ones get 513 (at most the stack's own
    /// 8 KiB buffer; TCP and TLS messages stop at rsipstack's 64 KiB).
    pub max_datagram_bytes: usize,
    /// TLS client configurations for calls and registrations over TLS (argument: whether
    /// the server's certificate is verified); `None`: rsipstack's own dialling.
    pub tls_client: Option<TlsClient>,
    /// Whether the certificate of a TLS peer netamp calls or registers with is verified.
    pub verify_server: bool,
}

/// Makes the TLS client configuration of one outgoing connection: verifying the server
/// (`true`) or not.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct TlsClient(
    pub Arc<dyn Fn(bool) -> Result<Arc<rustls::ClientConfig>, String> + Send + Sync>,
);

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

/// The server configuration for the next TLS handshake (the certificate in use then).
pub type ServerConfigSource = Arc<dyn Fn() -> Arc<rustls::ServerConfig> + Send + Sync>;

/// The TLS listener of the user agent.
#[derive(Clone)]
pub struct TlsListen {
    /// Address (port 0: one is picked).
    pub addr: SocketAddr,
    /// What each handshake presents.
    pub config: ServerConfigSource,
}

impl std::fmt::Debug for TlsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsListen({})", self.addr)
    }
}

/// Binds UDP on `listen` where TCP can listen on the same port too: rsipstack binds its
/// TCP listener later, in a task that can only log a failure, so a port already taken
/// for TCP would leave SIP over TCP silently off. With port 0 another pair of ports is
/// tried (another process may hold the TCP port the system gave UDP); with a fixed one
/// the start fails.
async fn bind_udp_and_tcp(listen: SocketAddr) -> Result<tokio::net::UdpSocket, SipError> {
    for _ in 0..16 {
        let udp = tokio::net::UdpSocket::bind(listen).await?;
        let port = udp.local_addr()?.port();
        match std::net::TcpListener::bind(SocketAddr::new(listen.ip(), port)) {
            // The probe closes at once; it never accepted, so nothing lingers.
            Ok(_probe) => return Ok(udp),
            Err(e) if listen.port() != 0 => return Err(SipError::Io(e)),
            Err(_) => continue,
        }
    }
    Err(SipError::Io(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no port free for both SIP over UDP and over TCP",
    )))
}

/// The longest datagram the stack reads (rsipstack's UDP buffer).
pub const MAX_DATAGRAM: usize = 8192;

impl Default for UaConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            public_ip: None,
            rtp_ports: (4000, 1000),
            codecs: vec![
                AudioCodec::Opus,
                AudioCodec::G722,
                AudioCodec::Pcmu,
                AudioCodec::Pcma,
                AudioCodec::L16,
            ],
            direction: Direction::SendRecv,
            ptime: 20,
            jitter: JitterConfig::default(),
            latch_window: crate::latch::DEFAULT_WINDOW,
            invite_timeout: Duration::from_secs(32),
            policy: CallPolicy::default(),
            sequences: Vec::new(),
            user_agent: "netamp".into(),
            tls: None,
            media_encryption: crate::srtp::MediaEncryption::default(),
            max_datagram_bytes: MAX_DATAGRAM,
            tls_client: None,
            verify_server: true,
        }
    }
}

/// How calls are taken: the settings that may change while calls run (each call keeps
/// the limits it started with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Calls at once; more get 486.
    pub max_calls: usize,
    /// Whether incoming calls are taken at all (480 otherwise).
    pub allow_incoming: bool,
    /// Answer at once; otherwise ring until [`SipUa::answer`] or the ring timeout.
    pub auto_answer: bool,
    /// How long an unanswered call rings before 480.
    pub ring_timeout: Duration,
    /// Calls are ended (BYE) after this long; `None` = never.
    pub max_duration: Option<Duration>,
    /// Whether calls that reach no registered account (the peer-to-peer account's) are
    /// taken; 404 otherwise.
    pub peer_to_peer: bool,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            max_calls: 1,
            allow_incoming: true,
            auto_answer: true,
            ring_timeout: Duration::from_secs(60),
            max_duration: None,
            peer_to_peer: true,
        }
    }
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Outgoing, not answered yet.
    Calling,
    /// Incoming, not answered yet.
    Ringing,
    /// Talking.
    Active,
    /// Ended.
    Terminated,
}

impl CallState {
    /// The VAPIX name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Calling => "Calling",
            CallState::Ringing => "Ringing",
            CallState::Active => "Active",
            CallState::Terminated => "Idle",
        }
    }
}

/// How a call ended (the `Reason` of VAPIX's `tnsaxis:Call/StateChange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Hung up by either side, or cancelled.
    Hangup,
    /// The callee did not answer (408, 480, 487).
    NoAnswer,
    /// The callee was busy (486, 600).
    Busy,
    /// The callee refused (403, 603).
    Denied,
    /// The call could not be made (no response, unreachable, any other error).
    Failed,
}

impl Ending {
    /// The VAPIX `Reason` text.
    pub fn as_reason(self) -> &'static str {
        match self {
            Ending::Hangup => "Terminated",
            Ending::NoAnswer => "NoAnswer",
            Ending::Busy => "Busy",
            Ending::Denied => "Denied",
            Ending::Failed => "Failed",
        }
    }

    /// The ending a final non-2xx response to our INVITE means.
    pub fn of_status(code: u16) -> Self {
        match code {
            408 | 480 | 487 => Ending::NoAnswer,
            486 | 600 => Ending::Busy,
            403 | 603 => Ending::Denied,
            _ => Ending::Failed,
        }
    }
}

/// One call as the rest of netamp sees it.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// netamp's id of the call (the SIP Call-ID).
    pub id: String,
    /// State now.
    pub state: CallState,
    /// True when the peer called netamp.
    pub incoming: bool,
    /// The peer's URI (From of an incoming call).
    pub remote_uri: String,
    /// The registered account an incoming call reached (its Request-URI user is the
    /// account's user) or an outgoing one went through; `None`: the peer-to-peer account.
    pub account: Option<String>,
    /// The peer's address (signalling).
    pub remote_addr: String,
    /// SIP transport (`UDP`, `TCP`).
    pub transport: String,
    /// Negotiated codec, once known.
    pub codec: Option<AudioCodec>,
    /// The media is SRTP.
    pub srtp: bool,
    /// Unix ms the call began.
    pub started_ms: u64,
    /// Why it ended, in words.
    pub reason: Option<String>,
    /// How it ended, once it has.
    pub ending: Option<Ending>,
    /// RTCP reports sent and received so far.
    pub rtcp: (u64, u64),
    /// RTP and RTCP packets dropped as spoofed (from another address during the call).
    pub spoofed: (u64, u64),
    /// The receiving side, once media runs.
    pub receive: Option<ReceiveInfo>,
}

/// How a call's incoming audio is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveInfo {
    /// Jitter-buffer target delay now, ms.
    pub target_delay_ms: u64,
    /// Frames concealed (lost or late).
    pub concealed: u64,
    /// The caller's clock drift the playout cancels, ppm (0 until measured or when none).
    pub drift_ppm: i64,
}

/// How a digit arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfMethod {
    /// RFC 4733 telephone-event.
    Rtp,
    /// SIP INFO.
    Info,
}

/// What the user agent reports.
#[derive(Debug, Clone)]
pub enum SipEvent {
    /// A call changed state.
    Call(CallInfo),
    /// A DTMF digit.
    Dtmf {
        /// The call.
        call: String,
        /// The digit.
        digit: Digit,
        /// How it came.
        method: DtmfMethod,
    },
    /// A configured sequence was typed.
    Sequence {
        /// The call.
        call: String,
        /// The sequence.
        sequence: Sequence,
    },
}

/// Gives each call its own capture tap (`None`: send silence).
pub type TapFactory = Arc<dyn Fn() -> Option<CaptureTap> + Send + Sync>;

/// Counters of the user agent.
#[derive(Debug, Default)]
pub struct UaStats {
    /// Calls answered.
    pub answered: AtomicU64,
    /// Calls refused (486, 480, 488, 503).
    pub refused: AtomicU64,
    /// Calls ended.
    pub ended: AtomicU64,
}

/// The running user agent; dropping it stops SIP and ends every call's media.
pub struct SipUa {
    inner: Arc<Inner>,
}

struct Inner {
    config: UaConfig,
    endpoint: Arc<rsipstack::transaction::endpoint::EndpointInner>,
    dialogs: Arc<DialogLayer>,
    states: DialogStateSender,
    cancel: CancellationToken,
    local: SocketAddr,
    media_ip: IpAddr,
    engine: Engine,
    taps: TapFactory,
    events: mpsc::UnboundedSender<SipEvent>,
    calls: Mutex<HashMap<String, Call>>,
    next_port: Mutex<u16>,
    guard: Arc<GuardStats>,
    /// Where SIP over TLS listens, when it does.
    tls: Option<SocketAddr>,
    stats: UaStats,
    accounts: Mutex<HashMap<String, Account>>,
    policy: Mutex<CallPolicy>,
}

/// A registered account: its settings, where it stands, and the handle that stops it.
struct Account {
    config: AccountConfig,
    status: RegStatus,
    cancel: CancellationToken,
}

/// One call's state behind the lock.
struct Call {
    info: CallInfo,
    dialog: InviteDialog,
    answer: String,
    negotiated: Negotiated,
    socket: Option<UdpSocket>,
    rtcp: UdpSocket,
    media: Option<Media>,
    matcher: Arc<Mutex<SequenceMatcher>>,
    /// What the call does in time: ring timeout, pre-announcement, limits.
    core: CallCore,
    /// Wakes the call's timer task when an input moved the core's next deadline.
    wake: Arc<tokio::sync::Notify>,
    /// A provisional response (100, 18x) came for our INVITE.
    provisional: bool,
}

impl Call {
    /// `Session-Expires` and `Require: timer` for our 2xx, when the caller asked.
    fn session_headers(&self) -> Vec<Header> {
        self.core
            .limits()
            .session_interval
            .map(|s| {
                vec![
                    Header::SessionExpires(format!("{s};refresher=uac").into()),
                    Header::Require("timer".into()),
                ]
            })
            .unwrap_or_default()
    }
}

/// A call's media: one thread, the receiver's, which runs the sender and RTCP as its
/// tasks. `rx` is first so it drops first: its thread (with the tasks) is joined before
/// the other handles go.
struct Media {
    rx: RtpReceiver,
    tx: Option<RtpSender>,
    rtcp: Option<RtcpSession>,
}

impl SipUa {
    /// Binds UDP and TCP and starts serving.
    pub async fn start(
        config: UaConfig,
        engine: Engine,
        taps: TapFactory,
        events: mpsc::UnboundedSender<SipEvent>,
    ) -> Result<Self, SipError> {
        let cancel = CancellationToken::new();
        let udp = bind_udp_and_tcp(config.listen).await?;
        let local = udp.local_addr()?;
        let guard = Arc::new(GuardStats::default());
        let transport = TransportLayer::new(cancel.clone());
        let udp = UdpConnection::from_socket(
            Arc::new(GuardedUdp::new(
                udp,
                guard.clone(),
                config.max_datagram_bytes,
            )),
            None,
            Some(cancel.child_token()),
        )
        .await
        .map_err(stack)?;
        transport.add_transport(udp.into());
        let tcp = TcpListenerConnection::new(local, None)
            .await
            .map_err(stack)?;
        transport.add_transport(tcp.into());
        // rustls has two crypto providers built in here (rsipstack's ring and netamp's
        // aws-lc-rs): the process default is named for whatever TLS rsipstack does on its
        // own (without one, its first TLS dial panics).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let tls = match &config.tls {
            Some(t) => {
                let listener = tokio::net::TcpListener::bind(t.addr).await?;
                let addr = listener.local_addr()?;
                tokio::spawn(tls::serve(
                    listener,
                    t.config.clone(),
                    tls::handle(&transport),
                    cancel.clone(),
                ));
                Some(addr)
            }
            None => None,
        };
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(&config.user_agent)
            .build();
        let incoming = endpoint.incoming_transactions().map_err(stack)?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let (states, state_rx) = dialogs.new_dialog_state_channel();
        let media_ip = match (local.ip(), config.public_ip) {
            (_, Some(ip)) => ip,
            (ip, None) if !ip.is_unspecified() => ip,
            _ => outward_ip(),
        };
        let inner = Arc::new(Inner {
            next_port: Mutex::new(config.rtp_ports.0),
            policy: Mutex::new(config.policy),
            config,
            endpoint: endpoint.inner.clone(),
            dialogs,
            states,
            cancel: cancel.clone(),
            local,
            media_ip,
            engine,
            taps,
            events,
            calls: Mutex::new(HashMap::new()),
            guard,
            tls,
            stats: UaStats::default(),
            accounts: Mutex::new(HashMap::new()),
        });
        let serve = endpoint.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = serve.serve().await {
                tracing::warn!("SIP endpoint stopped: {e}");
            }
        });
        tokio::spawn(inner.clone().serve_transactions(incoming));
        tokio::spawn(inner.clone().follow_dialogs(state_rx));
        // `Endpoint` is only a handle on `endpoint.inner`, which the tasks above hold;
        // stopping is `cancel`, in `SipUa`'s `Drop`.
        drop(endpoint);
        Ok(Self { inner })
    }

    /// Where SIP listens (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Where SIP over TLS listens, when it does.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.inner.tls
    }

    /// The calls now.
    pub fn calls(&self) -> Vec<CallInfo> {
        self.inner
            .calls
            .lock()
            .map(|c| {
                c.values()
                    .map(|c| {
                        let mut info = c.info.clone();
                        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
                        if let Some(m) = c.media.as_ref() {
                            info.spoofed.0 = n(&m.rx.stats().spoofed);
                        }
                        if let Some(r) = c.media.as_ref().and_then(|m| m.rtcp.as_ref()) {
                            info.rtcp = (n(&r.stats().sent), n(&r.stats().received));
                            info.spoofed.1 = n(&r.stats().spoofed);
                        }
                        // Figures once the caller's audio has come.
                        let heard = c.media.as_ref().filter(|m| n(&m.rx.stats().received) > 0);
                        if let Some(m) = heard {
                            let s = m.rx.stats();
                            info.receive = Some(ReceiveInfo {
                                target_delay_ms: n(&s.target_delay_us) / 1000,
                                concealed: n(&s.concealed),
                                drift_ppm: s.drift_ppm.load(Ordering::Relaxed),
                            });
                        }
                        info
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Answers a ringing call.
    pub fn answer(&self, id: &str) -> Result<(), SipError> {
        self.inner.answer(id)
    }

    /// Calls a SIP address (`sip:user@host[:port][;transport=tcp]`); returns the call id
    /// at once while the INVITE goes on.
    pub async fn call(&self, to: &str) -> Result<String, SipError> {
        self.inner.call(to, None).await
    }

    /// Calls `to` through registered account `account`: From is the account's address,
    /// the INVITE goes to its outbound proxy or registrar and answers digest challenges
    /// with its credentials. A bare user or number in `to` is taken at the registrar's
    /// domain.
    pub async fn call_via(&self, to: &str, account: &str) -> Result<String, SipError> {
        let config = self
            .inner
            .lock_accounts()
            .get(account)
            .map(|a| (a.config.clone(), a.status.clone()))
            .ok_or_else(|| SipError::NoSuchAccount(account.into()))?;
        self.inner.call(to, Some(config)).await
    }

    /// Ends a call (BYE, or 480 while it rings).
    pub async fn hangup(&self, id: &str) -> Result<(), SipError> {
        self.inner.hangup(id).await
    }

    /// Starts registering `account` (replacing one with the same id).
    pub fn add_account(&self, account: AccountConfig) {
        let cancel = self.inner.cancel.child_token();
        let old = self.inner.lock_accounts().insert(
            account.id.clone(),
            Account {
                config: account.clone(),
                status: RegStatus::Registering,
                cancel: cancel.clone(),
            },
        );
        if let Some(old) = old {
            old.cancel.cancel();
        }
        tokio::spawn(self.inner.clone().register_loop(account, cancel));
    }

    /// Stops registering an account (it unregisters); false when there was none.
    pub fn remove_account(&self, id: &str) -> bool {
        match self.inner.lock_accounts().remove(id) {
            Some(a) => {
                a.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Changes how calls are taken from the next call on.
    pub fn set_policy(&self, policy: CallPolicy) {
        *self.inner.policy.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// Registration state of every registered account.
    pub fn accounts(&self) -> Vec<(String, RegStatus)> {
        let mut v: Vec<_> = self
            .inner
            .lock_accounts()
            .iter()
            .map(|(k, a)| (k.clone(), a.status.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Counters: the guard in front of UDP, and calls.
    pub fn guard_stats(&self) -> &GuardStats {
        &self.inner.guard
    }

    /// Call counters.
    pub fn stats(&self) -> &UaStats {
        &self.inner.stats
    }
}

impl Drop for SipUa {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
        if let Ok(mut calls) = self.inner.calls.lock() {
            calls.clear();
        }
    }
}

/// The `Session-Expires` interval a request asks for, if any.
fn session_expires(req: &rsipstack::sip::Request) -> Option<u32> {
    req.headers.iter().find_map(|h| match h {
        Header::SessionExpires(v) => crate::session_timer::requested(v.value()),
        Header::Other(n, v) if n.eq_ignore_ascii_case("x") => crate::session_timer::requested(v),
        _ => None,
    })
}

/// rsipstack's error, as ours.
fn stack(e: rsipstack::Error) -> SipError {
    SipError::Stack(e.to_string())
}

/// The address this host would use towards the network (no packet is sent: a UDP
/// `connect` only picks a route). Loopback when there is no route.
fn outward_ip() -> IpAddr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Inner {
    fn lock_calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Call>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn policy(&self) -> CallPolicy {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }
}
