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

use crate::dtmf::{self, Digit, Sequence, SequenceMatcher};
use crate::guard::{GuardStats, GuardedUdp};
use crate::jitter::JitterConfig;
use crate::register::{AccountConfig, Outcome, RegStatus, Schedule};
use crate::rtcp::{RtcpSession, RtcpSources};
use crate::rtp_in::{PeerLatch, RtpInParams, RtpReceiver};
use crate::rtp_out::{RtpOutParams, RtpSender};
use crate::sdp::{self, AudioCodec, Direction, Negotiated};
use crate::SipError;

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
    /// DTMF sequences reported when typed.
    pub sequences: Vec<Sequence>,
    /// The `User-Agent`/`Server` value.
    pub user_agent: String,
}

impl Default for UaConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            public_ip: None,
            rtp_ports: (4000, 1000),
            codecs: vec![
                AudioCodec::Opus,
                AudioCodec::Pcmu,
                AudioCodec::Pcma,
                AudioCodec::L16,
            ],
            direction: Direction::SendRecv,
            ptime: 20,
            jitter: JitterConfig::default(),
            max_calls: 1,
            allow_incoming: true,
            auto_answer: true,
            ring_timeout: Duration::from_secs(60),
            max_duration: None,
            sequences: Vec::new(),
            user_agent: "netamp".into(),
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
    /// The peer's address (signalling).
    pub remote_addr: String,
    /// SIP transport (`UDP`, `TCP`).
    pub transport: String,
    /// Negotiated codec, once known.
    pub codec: Option<AudioCodec>,
    /// Unix ms the call began.
    pub started_ms: u64,
    /// Why it ended.
    pub reason: Option<String>,
    /// RTCP reports sent and received so far.
    pub rtcp: (u64, u64),
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
    stats: UaStats,
    accounts: Mutex<HashMap<String, (RegStatus, CancellationToken)>>,
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
}

struct Media {
    _rx: RtpReceiver,
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
        let udp = tokio::net::UdpSocket::bind(config.listen).await?;
        let local = udp.local_addr()?;
        let guard = Arc::new(GuardStats::default());
        let transport = TransportLayer::new(cancel.clone());
        let udp = UdpConnection::from_socket(
            Arc::new(GuardedUdp::new(udp, guard.clone())),
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
        // The endpoint object owns nothing the inner half does not; keep it from
        // cancelling on drop by leaking nothing: `cancel` stops everything in Drop.
        drop(endpoint);
        Ok(Self { inner })
    }

    /// Where SIP listens (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
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
                        if let Some(r) = c.media.as_ref().and_then(|m| m.rtcp.as_ref()) {
                            let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
                            info.rtcp = (n(&r.stats().sent), n(&r.stats().received));
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
        self.inner.call(to).await
    }

    /// Ends a call (BYE, or 480 while it rings).
    pub async fn hangup(&self, id: &str) -> Result<(), SipError> {
        self.inner.hangup(id).await
    }

    /// Starts registering `account` (replacing one with the same id).
    pub fn add_account(&self, account: AccountConfig) {
        let cancel = self.inner.cancel.child_token();
        let old = self
            .inner
            .lock_accounts()
            .insert(account.id.clone(), (RegStatus::Registering, cancel.clone()));
        if let Some((_, c)) = old {
            c.cancel();
        }
        tokio::spawn(self.inner.clone().register_loop(account, cancel));
    }

    /// Stops registering an account (it unregisters); false when there was none.
    pub fn remove_account(&self, id: &str) -> bool {
        match self.inner.lock_accounts().remove(id) {
            Some((_, c)) => {
                c.cancel();
                true
            }
            None => false,
        }
    }

    /// Registration state of every registered account.
    pub fn accounts(&self) -> Vec<(String, RegStatus)> {
        let mut v: Vec<_> = self
            .inner
            .lock_accounts()
            .iter()
            .map(|(k, (s, _))| (k.clone(), s.clone()))
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
    async fn serve_transactions(
        self: Arc<Self>,
        mut incoming: rsipstack::transaction::TransactionReceiver,
    ) {
        while let Some(tx) = incoming.recv().await {
            let me = self.clone();
            tokio::spawn(async move {
                let method = tx.original.method;
                if let Err(e) = me.on_transaction(tx).await {
                    tracing::debug!("SIP {method}: {e}");
                }
            });
        }
    }

    async fn on_transaction(self: Arc<Self>, mut tx: Transaction) -> Result<(), SipError> {
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        if in_dialog {
            return match self.dialogs.match_dialog(&tx) {
                Some(rsipstack::dialog::dialog::Dialog::Invite(mut d)) => {
                    d.handle(&mut tx).await.map_err(stack)
                }
                _ if tx.original.method == Method::Ack => Ok(()),
                _ => tx
                    .reply(StatusCode::CallTransactionDoesNotExist)
                    .await
                    .map_err(stack),
            };
        }
        match tx.original.method {
            Method::Invite => self.on_invite(tx).await,
            Method::Options => tx
                .reply_with(StatusCode::OK, capability_headers(), None)
                .await
                .map_err(stack),
            Method::Ack => Ok(()),
            Method::Bye | Method::Cancel | Method::Info => tx
                .reply(StatusCode::CallTransactionDoesNotExist)
                .await
                .map_err(stack),
            _ => tx
                .reply_with(
                    StatusCode::MethodNotAllowed,
                    vec![Header::Allow(ALLOW.into())],
                    None,
                )
                .await
                .map_err(stack),
        }
    }

    async fn on_invite(self: Arc<Self>, mut tx: Transaction) -> Result<(), SipError> {
        let refuse = |code| {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            code
        };
        if !self.config.allow_incoming {
            return tx
                .reply(refuse(StatusCode::TemporarilyUnavailable))
                .await
                .map_err(stack);
        }
        let offer = std::str::from_utf8(tx.original.body())
            .map_err(|_| SipError::Malformed("SDP is not text".into()))
            .and_then(sdp::parse_offer);
        let offer = match offer {
            Ok(o) => o,
            Err(e) => {
                tracing::info!("INVITE refused: {e}");
                return tx
                    .reply_with(
                        refuse(StatusCode::NotAcceptableHere),
                        vec![Header::Warning(format!("399 netamp \"{e}\"").into())],
                        None,
                    )
                    .await
                    .map_err(stack);
            }
        };
        let (socket, rtcp) = match self.bind_rtp() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("no RTP port: {e}");
                return tx
                    .reply(refuse(StatusCode::ServiceUnavailable))
                    .await
                    .map_err(stack);
            }
        };
        let port = socket.local_addr()?.port();
        let session = now_ms();
        let local = sdp::Local {
            addr: self.media_ip,
            port,
            codecs: self.config.codecs.clone(),
            direction: self.config.direction,
            ptime: self.config.ptime,
            session: (session, session),
        };
        let (negotiated, answer) = match sdp::answer(&offer, &local) {
            Ok(a) => a,
            Err(e) => {
                return tx
                    .reply_with(
                        refuse(StatusCode::NotAcceptableHere),
                        vec![Header::Warning(format!("304 netamp \"{e}\"").into())],
                        None,
                    )
                    .await
                    .map_err(stack);
            }
        };
        let contact = self.contact(&tx);
        let dialog = match self.dialogs.get_or_create_server_invite(
            &tx,
            self.states.clone(),
            None,
            Some(contact),
        ) {
            Ok(d) => d,
            Err(e) => {
                return tx
                    .reply(StatusCode::CallTransactionDoesNotExist)
                    .await
                    .map_err(|_| stack(e));
            }
        };
        let key = dialog.id().call_id.clone();
        let info = CallInfo {
            id: dialog.id().call_id.clone(),
            state: CallState::Ringing,
            incoming: true,
            remote_uri: tx
                .original
                .from_header()
                .ok()
                .and_then(|f| f.uri().ok())
                .map(|u| u.to_string())
                .unwrap_or_default(),
            remote_addr: tx
                .connection
                .as_ref()
                .and_then(|c| c.get_remote_addr().map(|a| a.addr.to_string()))
                .unwrap_or_default(),
            transport: tx
                .connection
                .as_ref()
                .map(|c| c.transport().to_string())
                .unwrap_or_default(),
            codec: Some(negotiated.codec),
            started_ms: now_ms(),
            reason: None,
            rtcp: (0, 0),
        };
        // The count and the insert under one lock: two INVITEs racing for the last slot
        // cannot both win.
        let busy = {
            let mut calls = self.lock_calls();
            let busy = calls.len() >= self.config.max_calls;
            if !busy {
                calls.insert(
                    key.clone(),
                    Call {
                        info: info.clone(),
                        dialog: dialog.clone(),
                        answer,
                        negotiated,
                        socket: Some(socket),
                        rtcp,
                        media: None,
                        matcher: Arc::new(Mutex::new(SequenceMatcher::new(
                            self.config.sequences.clone(),
                            SEQUENCE_GAP,
                        ))),
                    },
                );
            }
            busy
        };
        if busy {
            self.dialogs.remove_dialog(&dialog.id());
            return tx.reply(refuse(StatusCode::BusyHere)).await.map_err(stack);
        }
        let mut d = dialog.clone();
        let handle = tokio::spawn(async move { d.handle(&mut tx).await });
        if self.config.auto_answer {
            self.answer_key(&key)?;
        } else {
            dialog.ringing(None, None).map_err(stack)?;
            let _ = self.events.send(SipEvent::Call(info));
            let me = self.clone();
            let ring = self.config.ring_timeout;
            tokio::spawn(async move {
                tokio::time::sleep(ring).await;
                let still_ringing = me
                    .lock_calls()
                    .get(&key)
                    .is_some_and(|c| c.info.state == CallState::Ringing);
                if still_ringing {
                    let _ = dialog.reject(
                        Some(StatusCode::TemporarilyUnavailable),
                        Some("not answered".into()),
                    );
                }
            });
        }
        match handle.await {
            Ok(r) => r.map_err(stack),
            Err(_) => Ok(()),
        }
    }

    fn lock_accounts(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (RegStatus, CancellationToken)>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_status(&self, id: &str, status: RegStatus) {
        if let Some(entry) = self.lock_accounts().get_mut(id) {
            entry.0 = status;
        }
    }

    /// Keeps one account registered until `cancel`, then unregisters it.
    async fn register_loop(self: Arc<Self>, acc: AccountConfig, cancel: CancellationToken) {
        use rsipstack::dialog::authenticate::Credential;
        use rsipstack::dialog::registration::Registration;
        let credential = Credential {
            username: acc.user.clone(),
            password: acc.password.clone(),
            realm: None,
            auth_username: acc.auth_user.clone(),
        };
        let servers: Vec<&String> = std::iter::once(&acc.registrar)
            .chain(acc.secondary.iter())
            .collect();
        let mut regs: Vec<Registration> = servers
            .iter()
            .map(|_| {
                let mut r = Registration::new(self.endpoint.clone(), Some(credential.clone()));
                r.outbound_proxy = acc.outbound_proxy;
                r
            })
            .collect();
        let mut schedule = Schedule::new(servers.len() == 2);
        let mut last_ok: Option<usize> = None;
        loop {
            let i = schedule.server();
            let text = servers[i];
            let outcome = match registrar_uri(text) {
                Err(e) => Err(e),
                Ok(uri) => match tokio::time::timeout(
                    acc.timeout,
                    regs[i].register(uri, Some(acc.expires)),
                )
                .await
                {
                    Ok(Ok(resp))
                        if resp.status_code.kind()
                            == rsipstack::sip::StatusCodeKind::Successful =>
                    {
                        Ok(regs[i].expires())
                    }
                    Ok(Ok(resp)) => Err(format!("{text}: {}", resp.status_code)),
                    Ok(Err(e)) => Err(format!("{text}: {e}")),
                    Err(_) => Err(format!("{text}: no answer in {:?}", acc.timeout)),
                },
            };
            let next = match outcome {
                Ok(granted) => {
                    tracing::info!(account = %acc.id, server = %text, granted, "registered");
                    self.set_status(
                        &acc.id,
                        RegStatus::Registered {
                            server: text.clone(),
                            expires: granted,
                        },
                    );
                    last_ok = Some(i);
                    schedule.on_outcome(Outcome::Ok(granted), Instant::now())
                }
                Err(reason) => {
                    tracing::warn!(account = %acc.id, "registration failed: {reason}");
                    // Still registered elsewhere until that binding runs out: only a
                    // failure of the registrar we hold is a failed status.
                    if last_ok.is_none_or(|k| k == i) {
                        last_ok = None;
                        self.set_status(&acc.id, RegStatus::Failed { reason });
                    }
                    schedule.on_outcome(Outcome::Failed, Instant::now())
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
        if let Some(i) = last_ok {
            if let Ok(uri) = registrar_uri(servers[i]) {
                let _ = tokio::time::timeout(acc.timeout, regs[i].register(uri, Some(0))).await;
            }
        }
    }

    fn lock_calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Call>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Contact of our replies: the address the request reached, over its transport.
    fn contact(&self, tx: &Transaction) -> rsipstack::sip::Uri {
        let transport = tx
            .connection
            .as_ref()
            .map(|c| c.transport())
            .unwrap_or(rsipstack::sip::Transport::Udp);
        let mut params = Vec::new();
        if transport != rsipstack::sip::Transport::Udp {
            params.push(rsipstack::sip::Param::Transport(transport));
        }
        rsipstack::sip::Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(rsipstack::sip::Auth {
                user: "netamp".into(),
                password: None,
            }),
            host_with_port: SocketAddr::new(self.media_ip, self.local.port()).into(),
            params,
            ..Default::default()
        }
    }

    /// Binds the next free RTP port pair of the range: RTP on an even port, RTCP on the
    /// next one.
    fn bind_rtp(&self) -> Result<(UdpSocket, UdpSocket), SipError> {
        let (first, count) = self.config.rtp_ports;
        let first = first + first % 2;
        let count = count.max(2);
        let mut next = self.next_port.lock().unwrap_or_else(|p| p.into_inner());
        let bind_ip = self.rtp_bind_ip();
        for _ in 0..count / 2 {
            let port = (*next).max(first);
            *next = if port.saturating_add(2) >= first.saturating_add(count) {
                first
            } else {
                port + 2
            };
            if let (Ok(rtp), Ok(rtcp)) = (
                UdpSocket::bind(SocketAddr::new(bind_ip, port)),
                UdpSocket::bind(SocketAddr::new(bind_ip, port + 1)),
            ) {
                return Ok((rtp, rtcp));
            }
        }
        Err(SipError::Limit(format!(
            "no free RTP port in {first}..{}",
            first.saturating_add(count)
        )))
    }

    /// The address RTP sockets bind to.
    fn rtp_bind_ip(&self) -> IpAddr {
        if self.local.ip().is_unspecified() {
            self.local.ip()
        } else {
            self.media_ip
        }
    }

    fn answer(&self, call_id: &str) -> Result<(), SipError> {
        self.answer_key(call_id)
    }

    /// Sends 200 with the answer and starts the media.
    fn answer_key(&self, key: &str) -> Result<(), SipError> {
        let mut calls = self.lock_calls();
        let call = calls
            .get_mut(key)
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        if call.info.state != CallState::Ringing {
            return Ok(());
        }
        let socket = call
            .socket
            .take()
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        let media = self.start_media(call, socket)?;
        call.dialog
            .accept(
                Some(vec![
                    Header::ContentType("application/sdp".into()),
                    Header::Allow(ALLOW.into()),
                ]),
                Some(call.answer.clone().into_bytes()),
            )
            .map_err(stack)?;
        call.media = Some(media);
        call.info.state = CallState::Active;
        self.stats.answered.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(SipEvent::Call(call.info.clone()));
        Ok(())
    }

    fn start_media(&self, call: &Call, socket: UdpSocket) -> Result<Media, SipError> {
        let n = &call.negotiated;
        let peer: PeerLatch = Arc::new(Mutex::new(None));
        let out_socket = socket.try_clone()?;
        let events = self.events.clone();
        let id = call.info.id.clone();
        let matcher = call.matcher.clone();
        let rx = RtpReceiver::start(
            socket,
            self.engine.clone(),
            RtpInParams {
                codec: n.codec,
                payload_type: n.payload_type,
                telephone_event: n.telephone_event,
                jitter: self.config.jitter,
            },
            peer.clone(),
            Box::new(move |digit| report_digit(&events, &id, &matcher, digit, DtmfMethod::Rtp)),
        )?;
        let sends = matches!(n.direction, Direction::SendRecv | Direction::SendOnly);
        let ssrc = rand_u32();
        let tx = if n.remote.1 != 0 {
            let tx = RtpSender::start(
                out_socket,
                (self.taps)(),
                RtpOutParams {
                    codec: n.codec,
                    payload_type: n.payload_type,
                    remote: SocketAddr::new(n.remote.0, n.remote.1),
                    ssrc,
                },
                peer,
            )?;
            tx.set_sending(sends);
            Some(tx)
        } else {
            None
        };
        // RTCP is best effort: a call goes on without it.
        let rtcp = (n.remote.1 != 0)
            .then(|| {
                let socket = call.rtcp.try_clone().ok()?;
                RtcpSession::start(
                    socket,
                    SocketAddr::new(n.remote.0, n.remote.1.saturating_add(1)),
                    RtcpSources {
                        ssrc,
                        rx: Some(rx.stats_handle()),
                        tx: tx.as_ref().map(|t| t.stats_handle()),
                    },
                )
                .map_err(|e| tracing::warn!("RTCP: {e}"))
                .ok()
            })
            .flatten();
        Ok(Media { _rx: rx, tx, rtcp })
    }

    async fn hangup(&self, call_id: &str) -> Result<(), SipError> {
        let (dialog, state) = self
            .lock_calls()
            .get(call_id)
            .map(|c| (c.dialog.clone(), c.info.state))
            .ok_or_else(|| SipError::NoSuchCall(call_id.into()))?;
        if state == CallState::Ringing {
            dialog
                .reject(Some(StatusCode::TemporarilyUnavailable), None)
                .map_err(stack)
        } else if state == CallState::Calling {
            dialog.cancel().await.map_err(stack)
        } else {
            dialog.bye().await.map_err(stack)
        }
    }

    async fn follow_dialogs(
        self: Arc<Self>,
        mut states: rsipstack::dialog::dialog::DialogStateReceiver,
    ) {
        while let Some(state) = states.recv().await {
            match state {
                DialogState::Confirmed(id, _) => {
                    if let Some(limit) = self.config.max_duration {
                        let me = self.clone();
                        let key = id.call_id.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(limit).await;
                            let d = me.lock_calls().get(&key).map(|c| c.dialog.clone());
                            if let Some(d) = d {
                                tracing::info!("call reached its time limit");
                                let _ = d.bye().await;
                            }
                        });
                    }
                }
                DialogState::Info(id, req, handle) => {
                    let ct = req
                        .headers
                        .iter()
                        .find_map(|h| match h {
                            Header::ContentType(c) => Some(c.value().to_string()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let status = match dtmf::digit_of_info(&ct, req.body()) {
                        Some(digit) => {
                            let call = self
                                .lock_calls()
                                .get(&id.call_id)
                                .map(|c| (c.info.id.clone(), c.matcher.clone()));
                            if let Some((call_id, matcher)) = call {
                                report_digit(
                                    &self.events,
                                    &call_id,
                                    &matcher,
                                    digit,
                                    DtmfMethod::Info,
                                );
                            }
                            StatusCode::OK
                        }
                        None if ct.is_empty() => StatusCode::OK,
                        None => StatusCode::UnsupportedMediaType,
                    };
                    tokio::spawn(async move {
                        let _ = handle.reply(status).await;
                    });
                }
                DialogState::Updated(id, req, handle) => {
                    let me = self.clone();
                    tokio::spawn(async move { me.on_reinvite(id.call_id, req, handle).await });
                }
                DialogState::Options(_, _, handle) => {
                    tokio::spawn(async move {
                        let _ = handle
                            .respond(StatusCode::OK, Some(capability_headers()), None)
                            .await;
                    });
                }
                DialogState::Terminated(id, reason) => {
                    self.dialogs.remove_dialog(&id);
                    self.end(&id.call_id, reason_text(&reason));
                }
                DialogState::Message(_, _, handle)
                | DialogState::Notify(_, _, handle)
                | DialogState::Refer(_, _, handle)
                | DialogState::Publish(_, _, handle) => {
                    tokio::spawn(async move {
                        let _ = handle.reply(StatusCode::MethodNotAllowed).await;
                    });
                }
                _ => {}
            }
        }
    }

    /// Forgets a call, stops its media and reports it ended.
    fn end(&self, key: &str, reason: String) {
        let ended = self.lock_calls().remove(key);
        if let Some(mut call) = ended {
            // Media threads are joined away from the dialog-state task: a join takes a few
            // ms, and calls ending back to back would otherwise queue behind each other.
            if let Some(media) = call.media.take() {
                tokio::task::spawn_blocking(move || drop(media));
            }
            call.info.state = CallState::Terminated;
            call.info.reason = Some(reason);
            self.stats.ended.fetch_add(1, Ordering::Relaxed);
            let _ = self.events.send(SipEvent::Call(call.info));
        }
    }

    /// Calls `to`; returns the call's id at once, the call goes on in the background.
    async fn call(self: &Arc<Self>, to: &str) -> Result<String, SipError> {
        let callee = rsipstack::sip::Uri::try_from(to)
            .map_err(|e| SipError::Malformed(format!("SIP address {to:?}: {e}")))?;
        let (socket, rtcp) = self.bind_rtp()?;
        let port = socket.local_addr()?.port();
        let session = now_ms();
        let (offer, offered) = sdp::offer(&sdp::Local {
            addr: self.media_ip,
            port,
            codecs: self.config.codecs.clone(),
            direction: self.config.direction,
            ptime: self.config.ptime,
            session: (session, session),
        });
        let transport = callee
            .params
            .iter()
            .find_map(|p| match p {
                rsipstack::sip::Param::Transport(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(rsipstack::sip::Transport::Udp);
        let me = rsipstack::sip::Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(rsipstack::sip::Auth {
                user: "netamp".into(),
                password: None,
            }),
            host_with_port: SocketAddr::new(self.media_ip, self.local.port()).into(),
            params: if transport == rsipstack::sip::Transport::Udp {
                Vec::new()
            } else {
                vec![rsipstack::sip::Param::Transport(transport)]
            },
            ..Default::default()
        };
        let option = rsipstack::dialog::invitation::InviteOption {
            caller: me.clone(),
            callee: callee.clone(),
            contact: me,
            content_type: Some("application/sdp".into()),
            offer: Some(offer.clone().into_bytes()),
            ..Default::default()
        };
        let (dialog, pending) = {
            let mut calls = self.lock_calls();
            if calls.len() >= self.config.max_calls {
                return Err(SipError::Limit(format!(
                    "{} call(s) already",
                    self.config.max_calls
                )));
            }
            let (dialog, pending) = self
                .dialogs
                .do_invite_async(option, self.states.clone())
                .map_err(stack)?;
            let info = CallInfo {
                id: dialog.id().call_id.clone(),
                state: CallState::Calling,
                incoming: false,
                remote_uri: callee.to_string(),
                remote_addr: String::new(),
                transport: transport.to_string(),
                codec: None,
                started_ms: now_ms(),
                reason: None,
                rtcp: (0, 0),
            };
            calls.insert(
                info.id.clone(),
                Call {
                    info,
                    dialog: dialog.clone(),
                    answer: offer,
                    negotiated: Negotiated {
                        codec: offered[0].1,
                        payload_type: offered[0].0,
                        telephone_event: None,
                        direction: self.config.direction,
                        remote: (self.media_ip, 0),
                    },
                    socket: Some(socket),
                    rtcp,
                    media: None,
                    matcher: Arc::new(Mutex::new(SequenceMatcher::new(
                        self.config.sequences.clone(),
                        SEQUENCE_GAP,
                    ))),
                },
            );
            (dialog, pending)
        };
        let id = dialog.id().call_id.clone();
        if let Some(info) = self.lock_calls().get(&id).map(|c| c.info.clone()) {
            let _ = self.events.send(SipEvent::Call(info));
        }
        let me = self.clone();
        let key = id.clone();
        tokio::spawn(async move {
            let outcome = match pending.await {
                Ok(Ok((_, Some(resp)))) => Ok(resp),
                Ok(Ok((_, None))) => Err("no response".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(resp)
                    if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful =>
                {
                    if let Err(e) = me.connect(&key, resp.body(), &offered) {
                        tracing::warn!("outgoing call: {e}");
                        let _ = dialog.bye().await;
                        me.end(&key, e.to_string());
                    }
                }
                Ok(resp) => me.end(&key, resp.status_code.to_string()),
                Err(e) => me.end(&key, e),
            }
        });
        Ok(id)
    }

    /// An outgoing call was answered: read the answer and start the media.
    fn connect(
        &self,
        key: &str,
        body: &[u8],
        offered: &[(u8, AudioCodec)],
    ) -> Result<(), SipError> {
        let answer = sdp::parse_offer(
            std::str::from_utf8(body).map_err(|_| SipError::Malformed("SDP".into()))?,
        )?;
        let negotiated = sdp::from_answer(&answer, offered)?;
        let mut calls = self.lock_calls();
        let call = calls
            .get_mut(key)
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        let socket = call
            .socket
            .take()
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        call.negotiated = negotiated;
        call.info.codec = Some(call.negotiated.codec);
        call.media = Some(self.start_media(call, socket)?);
        call.info.state = CallState::Active;
        let _ = self.events.send(SipEvent::Call(call.info.clone()));
        Ok(())
    }

    /// A re-INVITE: hold/resume and codec changes. The answer keeps our RTP port.
    async fn on_reinvite(
        &self,
        key: String,
        req: rsipstack::sip::Request,
        handle: rsipstack::dialog::dialog::TransactionHandle,
    ) {
        let body = req.body();
        if body.is_empty() {
            // An offerless re-INVITE (session refresh): our last answer is the offer.
            let answer = self.lock_calls().get(&key).map(|c| c.answer.clone());
            let _ = match answer {
                Some(a) => {
                    handle
                        .respond(
                            StatusCode::OK,
                            Some(vec![Header::ContentType("application/sdp".into())]),
                            Some(a.into_bytes()),
                        )
                        .await
                }
                None => handle.reply(StatusCode::CallTransactionDoesNotExist).await,
            };
            return;
        }
        let result = (|| {
            let offer = sdp::parse_offer(
                std::str::from_utf8(body).map_err(|_| SipError::Malformed("SDP".into()))?,
            )?;
            let mut calls = self.lock_calls();
            let call = calls
                .get_mut(&key)
                .ok_or_else(|| SipError::NoSuchCall(key.clone()))?;
            let port = match call.media.as_ref() {
                Some(_) => call_port(&call.answer).unwrap_or(0),
                None => return Err(SipError::NoSuchCall(key.clone())),
            };
            let session = now_ms();
            let local = sdp::Local {
                addr: self.media_ip,
                port,
                codecs: self.config.codecs.clone(),
                direction: self.config.direction,
                ptime: self.config.ptime,
                session: (session, session),
            };
            let (negotiated, answer) = sdp::answer(&offer, &local)?;
            let restart = negotiated.codec != call.negotiated.codec
                || negotiated.payload_type != call.negotiated.payload_type
                || negotiated.remote != call.negotiated.remote;
            let sends = matches!(
                negotiated.direction,
                Direction::SendRecv | Direction::SendOnly
            ) && offer.addr != IpAddr::from([0, 0, 0, 0]);
            call.negotiated = negotiated;
            call.answer = answer.clone();
            if restart {
                // New codec or address: the old receiver lets go of the port first.
                call.media = None;
                let socket = UdpSocket::bind(SocketAddr::new(self.rtp_bind_ip(), port))?;
                call.media = Some(self.start_media(call, socket)?);
            }
            if let Some(tx) = call.media.as_ref().and_then(|m| m.tx.as_ref()) {
                tx.set_sending(sends);
            }
            Ok(answer)
        })();
        let _ = match result {
            Ok(answer) => {
                handle
                    .respond(
                        StatusCode::OK,
                        Some(vec![Header::ContentType("application/sdp".into())]),
                        Some(answer.into_bytes()),
                    )
                    .await
            }
            Err(e) => {
                tracing::info!("re-INVITE refused: {e}");
                handle.reply(StatusCode::NotAcceptableHere).await
            }
        };
    }
}

/// A registrar as a URI (`sip:` is added to a bare `host[:port]`).
fn registrar_uri(text: &str) -> Result<rsipstack::sip::Uri, String> {
    let t = if text.starts_with("sip:") || text.starts_with("sips:") {
        text.to_string()
    } else {
        format!("sip:{text}")
    };
    rsipstack::sip::Uri::try_from(t.as_str()).map_err(|e| format!("registrar {text:?}: {e}"))
}

/// The RTP port in an answer we made.
fn call_port(answer: &str) -> Option<u16> {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

fn report_digit(
    events: &mpsc::UnboundedSender<SipEvent>,
    call: &str,
    matcher: &Mutex<SequenceMatcher>,
    digit: Digit,
    method: DtmfMethod,
) {
    let _ = events.send(SipEvent::Dtmf {
        call: call.into(),
        digit,
        method,
    });
    let hit = matcher
        .lock()
        .ok()
        .and_then(|mut m| m.push(digit, Instant::now()).cloned());
    if let Some(sequence) = hit {
        let _ = events.send(SipEvent::Sequence {
            call: call.into(),
            sequence,
        });
    }
}

fn capability_headers() -> Vec<Header> {
    vec![
        Header::Allow(ALLOW.into()),
        Header::Accept("application/sdp, application/dtmf-relay, application/dtmf".into()),
        Header::ContentLength(0.into()),
    ]
}

fn reason_text(r: &TerminatedReason) -> String {
    match r {
        TerminatedReason::UacBye => "remote hung up".into(),
        TerminatedReason::UasBye => "netamp hung up".into(),
        TerminatedReason::UacCancel => "cancelled".into(),
        TerminatedReason::Timeout => "timeout".into(),
        other => format!("{other:?}"),
    }
}

/// A random SSRC (no `rand` dependency: time and a counter through a mixer).
fn rand_u32() -> u32 {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut x = now_ms() ^ (N.fetch_add(1, Ordering::Relaxed) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as u32
}
