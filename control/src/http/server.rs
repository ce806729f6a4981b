//! The HTTP accept loop, with what a connection may cost bounded.
//!
//! warp's own server cannot bound it: hyper's header timeout needs a timer warp does not
//! give it (an idle keep-alive connection, or one that never finishes its headers, stays
//! open for ever), it has no cap on connections (each holds a file descriptor: enough of
//! them and netamp can open no file), and its graceful shutdown waits for every response
//! to end (a `receive.cgi` stream never does). So netamp runs hyper itself, with warp's
//! filter as the service:
//! - at most `[http] max_connections` at once per listener, and of them at most
//!   `[http] max_connections_per_client` from one address; beyond either a new
//!   connection is closed at once (counted in `/metrics`);
//! - a request head of at most `[http] max_header_bytes` (hyper's check of each parsed
//!   head; a longer one gets `431`);
//! - a connection must send a request's headers within `[http] idle_timeout_s` of
//!   opening (netamp reads the first head itself: [`super::unframed`]) or of its last
//!   response (hyper's header-read timer, which also runs while a keep-alive connection
//!   waits), and a body may pause no longer than that ([`super::boxed_body`]);
//! - at shutdown, connections get `grace` to finish, then are dropped;
//! - on an HTTPS listener the TLS handshake comes first, within the same header timeout,
//!   with the certificate [`crate::tls::TlsState`] holds at that moment.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::tls::TlsState;

/// The peer of a connection and whether it came over TLS, put into each request's
/// extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr, pub bool);

/// What connections may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_per_client: usize,
    /// Largest request head, bytes.
    pub max_header_bytes: usize,
    /// Longest wait for a request's headers (from opening, or from the last response).
    pub idle_timeout: Duration,
    /// How long open connections may take to finish at shutdown.
    pub grace: Duration,
}

/// A listening socket, plain HTTP or HTTPS.
pub struct Listener {
    /// The socket.
    pub tcp: TcpListener,
    /// Its TLS configuration (`None`: plain HTTP).
    pub tls: Option<Arc<TlsState>>,
}

/// TLS handshakes that failed or did not finish in time, for `/metrics`.
pub static HANDSHAKE_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Connections refused for being over the cap, for `/metrics`.
pub static REFUSED: AtomicU64 = AtomicU64::new(0);

/// Serves one connection (plain or TLS) until it ends or shutdown's grace is over; its
/// connection slot is given back then.
/// Open connections per client address.
type PerClient = Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>;

/// A listener's protocol, port and client table.
type Listening = (
    &'static str,
    u16,
    std::sync::Weak<std::sync::Mutex<HashMap<IpAddr, usize>>>,
);

/// Each running listener's protocol, port and client table, for the status report.
static LISTENING: std::sync::Mutex<Vec<Listening>> = std::sync::Mutex::new(Vec::new());

/// A client with connections open now.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Client {
    /// Its address.
    pub address: String,
    /// `http` or `https`.
    pub protocol: &'static str,
    /// netamp's port it is connected to.
    pub port: u16,
    /// Connections it has open there.
    pub connections: usize,
}

/// Every client with an HTTP or HTTPS connection open, by listener and address.
pub fn clients() -> Vec<Client> {
    let mut listening = LISTENING.lock().unwrap_or_else(|p| p.into_inner());
    listening.retain(|(_, _, table)| table.strong_count() > 0);
    let mut out = Vec::new();
    for (protocol, port, table) in listening.iter() {
        let Some(table) = table.upgrade() else {
            continue;
        };
        let counts = table.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(counts.iter().map(|(ip, n)| Client {
            address: ip.to_string(),
            protocol,
            port: *port,
            connections: *n,
        }));
    }
    out.sort_by(|a, b| (a.port, &a.address).cmp(&(b.port, &b.address)));
    out
}

/// A connection's place under both caps, given back when it is dropped.
struct Slot {
    _all: OwnedSemaphorePermit,
    ip: IpAddr,
    per_client: PerClient,
}

impl Slot {
    /// A place for a connection from `ip`, if its client is under `max`.
    fn take(
        all: OwnedSemaphorePermit,
        ip: IpAddr,
        per_client: &PerClient,
        max: usize,
    ) -> Option<Self> {
        let mut counts = per_client.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            _all: all,
            ip,
            per_client: per_client.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.per_client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

async fn serve_connection<I, S>(
    stream: I,
    service: S,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
    slot: Slot,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // The first request head is read here (an unframed transmit body gets its length:
    // [`super::unframed`]), within the same header timeout hyper keeps.
    let io = tokio::select! {
        io = super::unframed::prepare(stream, limits.idle_timeout) => io,
        () = async { drop(stop.wait_for(|s| *s).await) } => None,
    };
    let Some(io) = io else {
        drop(slot);
        return;
    };
    // HTTP/1.1 only: VAPIX clients speak it, and the automatic HTTP/2 detection would
    // wait for a first byte without any timeout.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_header_size(limits.max_header_bytes)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { drop(stop.wait_for(|s| *s).await) } => {
            // Finish the request in hand, then close.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    drop(slot);
}

/// Serves `service` (warp's filter as a service) on `listener` within `limits` until
/// `shutdown` resolves; returns when every connection has finished or `limits.grace`
/// has passed.
pub async fn run<S>(
    service: S,
    listener: Listener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: tower_service::Service<
            warp::http::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let Listener { tcp: listener, tls } = listener;
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = PerClient::default();
    if let Ok(local) = listener.local_addr() {
        let protocol = if tls.is_some() { "https" } else { "http" };
        LISTENING.lock().unwrap_or_else(|p| p.into_inner()).push((
            protocol,
            local.port(),
            Arc::downgrade(&per_client),
        ));
    }
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, typically: wait rather than spin.
                    tracing::warn!("HTTP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses go out as soon as they are written: with Nagle's algorithm a TLS
        // response in two records waited for the client's delayed ACK (40 ms, in the p99
        // of the HTTPS bench).
        let _ = stream.set_nodelay(true);
        let slot = slots
            .clone()
            .try_acquire_owned()
            .ok()
            .and_then(|all| Slot::take(all, peer.ip(), &per_client, limits.max_per_client));
        let Some(slot) = slot else {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let warp_service = service.clone();
        let secure = tls.is_some();
        let service = hyper::service::service_fn(
            move |mut req: warp::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer, secure));
                let mut s = warp_service.clone();
                tower_service::Service::call(&mut s, req)
            },
        );
        let mut stop = stop_rx.clone();
        let tls = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let Some(acceptor) = tls else {
                return serve_connection(stream, service, stop, limits, slot).await;
            };
            let handshake = tokio::select! {
                r = tokio::time::timeout(limits.idle_timeout, acceptor.accept(stream)) => r,
                () = async { drop(stop.wait_for(|s| *s).await) } => return,
            };
            match handshake {
                Ok(Ok(tls_stream)) => {
                    serve_connection(tls_stream, service, stop, limits, slot).await;
                }
                // A client that does not speak our TLS (1.0, 1.1, no shared cipher) or
                // never finishes: nothing to answer in HTTP.
                Ok(Err(_)) | Err(_) => {
                    HANDSHAKE_FAILURES.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = limits.max_connections - slots.available_permits();
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(
                "{open} HTTP connection(s) still open {} s after shutdown began: dropped",
                limits.grace.as_secs_f32()
            );
        }
    }
}
