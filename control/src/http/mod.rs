//! The HTTP surface: one warp filter hands every request to [`route`], which checks
//! credentials centrally and dispatches to the VAPIX and netamp handlers.

mod audio_device;
mod audio_mixer;
mod call;
mod certificate;
pub(crate) mod clips;
pub mod gate;
mod io;
mod json_api;
mod json_cgi;
mod logs;
mod maintenance;
pub(crate) mod param;
pub mod receive;
mod recipients;
pub mod recordings;
pub mod routes;
mod rules;
mod schedules;
pub mod server;
mod services;
mod status;
mod syslog;
#[cfg(test)]
pub(crate) mod testing;
pub mod transmit;
mod unframed;
mod users;
pub mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use warp::Filter;

pub use gate::{Gate, HttpStats};

use crate::services::Services;

/// The response type every handler returns.
pub type Reply = warp::reply::Response;

/// A streaming request body.
pub type Body = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// One request, as the handlers see it.
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Decoded query arguments, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Peer address.
    pub remote: Option<SocketAddr>,
    /// When the request reached the handler.
    pub received: Instant,
    /// The body, unread.
    pub body: Option<Body>,
    /// Most bytes a handler reads into memory from the body (`[http] max_body_bytes`).
    pub body_limit: usize,
}

impl Request {
    /// The first query argument named `key` (case-insensitive name).
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Reads the whole body, at most `limit` bytes.
    pub async fn body_bytes(&mut self, limit: usize) -> Result<Bytes, Reply> {
        let Some(mut body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let mut buf = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| text(StatusCode::BAD_REQUEST, &format!("reading body: {e}\n")))?;
            if buf.len() + chunk.len() > limit {
                return Err(text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("request body larger than {limit} bytes\n"),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    }

    /// Query arguments plus, for a POST, the body's arguments.
    ///
    /// The body is read as form data whatever its declared type: Home Assistant's `axis`
    /// library posts `action=list&group=…` labelled `text/plain`, and Axis devices accept it.
    pub async fn form_args(&mut self, limit: usize) -> Result<Vec<(String, String)>, Reply> {
        let mut args = self.query.clone();
        if self.method == Method::POST {
            let body = self.body_bytes(limit).await?;
            args.extend(parse_query(String::from_utf8_lossy(&body).trim()));
        }
        Ok(args)
    }
}

/// The first argument named `key` (case-insensitive name).
pub fn find_arg<'a>(args: &'a [(String, String)], key: &str) -> Option<&'a str> {
    args.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Decodes `a=b&c=d` (form rules: `+` is a space).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A response with a body and content type.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let bytes: Bytes = body.into();
    let mut r = Response::new(bytes.into());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert("content-type", v);
    }
    r
}

/// A `text/plain` response.
pub fn text(status: StatusCode, body: &str) -> Reply {
    respond(status, "text/plain", body.to_string())
}

/// A JSON response (VAPIX JSON APIs answer 200 even for errors).
pub fn json(value: &serde_json::Value) -> Reply {
    respond(StatusCode::OK, "application/json", value.to_string())
}

/// netamp's own JSON APIs' refusal: `{"error": {"code", "message"}}` with that status.
pub fn json_error(status: StatusCode, message: &str) -> Reply {
    let mut r = json(&serde_json::json!({"error": {"code": status.as_u16(), "message": message}}));
    *r.status_mut() = status;
    r
}

/// VAPIX CGI failure: real `400`, `text/plain`, `400 Bad Request` then the reason.
pub fn bad_request(message: &str) -> Reply {
    text(
        StatusCode::BAD_REQUEST,
        &format!("400 Bad Request\n{message}\n"),
    )
}

/// What the HTTP layer itself holds: the door, the one transmit sender, websocket
/// tokens, the receive listeners and the body limit.
pub struct HttpState {
    /// Credential checks and the counters.
    pub gate: Gate,
    /// The one transmit.cgi sender.
    pub transmit: transmit::TransmitSlot,
    /// Websocket session tokens.
    pub ws_sessions: ws::WsSessions,
    /// receive.cgi listeners connected now.
    pub listeners: Arc<AtomicUsize>,
    /// `[http] max_body_bytes`.
    pub body_limit: usize,
    /// HTTPS-only mode (`None`: plain HTTP is served).
    pub https_only: Option<HttpsOnly>,
}

impl HttpState {
    /// The HTTP layer's state over `auth`.
    pub fn new(auth: Arc<crate::auth::Authenticator>, body_limit: usize) -> Self {
        Self {
            gate: Gate::new(auth, Arc::new(HttpStats::default())),
            transmit: Default::default(),
            ws_sessions: Default::default(),
            listeners: Default::default(),
            body_limit,
            https_only: None,
        }
    }
}

use crate::maintenance::Reset;

/// Dispatches a request to its handler, with the services that handler uses: the row of
/// [`routes::ROUTES`] for its path, `405` for a method the row does not list.
pub async fn route(svc: &Services, http: &HttpState, mut req: Request) -> Reply {
    use routes::Handler as H;
    let gate = &http.gate;
    let Some(row) = routes::find(&req.path) else {
        return text(StatusCode::NOT_FOUND, "404 Not Found\n");
    };
    if !routes::allows(row, req.method.as_str()) {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "405 Method Not Allowed\nAllowed: {}\n",
                row.methods.join(", ")
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&row.methods.join(", ")) {
            r.headers_mut().insert("allow", v);
        }
        return r;
    }
    match row.handler {
        H::Param => param::handle(gate, &param::Model::of(svc), &mut req).await,
        H::Pwdgrp => users::pwdgrp(gate, &mut req).await,
        H::UserGroup => users::usergroup(gate, &req),
        H::MediaClip => clips::mediaclip(gate, &svc.clips, &svc.player, &mut req).await,
        H::PlayClip => clips::playclip(gate, &svc.clips, &svc.player, &req).await,
        H::StopClip => clips::stopclip(gate, &svc.player, &req),
        H::Port => io::port_cgi(gate, &svc.io, &svc.bus, &req).await,
        H::PortManagement => io::port_management(gate, &svc.io, &mut req).await,
        H::VirtualActivate => io::virtual_input(gate, &svc.io, &req, true),
        H::VirtualDeactivate => io::virtual_input(gate, &svc.io, &req, false),
        H::VirtualSchemas => io::schema_versions(gate, &req),
        H::ManualTrigger => io::manual_trigger(gate, &svc.io, &req),
        H::Transmit => transmit::transmit(gate, &http.transmit, &svc.audio, &mut req).await,
        H::Receive => receive::receive(gate, &http.listeners, &svc.audio, &req),
        H::AudioDevice => audio_device::handle(gate, &svc.audio, &mut req).await,
        H::AudioMixer => audio_mixer::handle(gate, &svc.audio, &mut req).await,
        H::Recordings => recordings::handle(gate, &svc.recorder, &mut req).await,
        H::Recipients => recipients::handle(gate, &svc.rules, &mut req).await,
        H::Schedules => schedules::handle(gate, &svc.rules, &mut req).await,
        H::Rules => rules::handle(gate, &svc.rules, &mut req).await,
        H::WsSession => ws::wssession(gate, &http.ws_sessions, &req),
        H::IoSim => io::sim(gate, &svc.io, &mut req).await,
        H::BasicDeviceInfo => {
            json_api::basic_device_info(gate, &param::Model::of(svc), &mut req).await
        }
        H::ApiDiscovery => json_api::api_discovery(gate, svc.io.config(), &mut req).await,
        H::Status => status::status(gate, svc, http, &req),
        H::EventState => status::event_state(gate, &svc.bus, &req),
        H::EventRecent => status::event_recent(gate, &svc.bus, &req),
        H::Call => call::handle(gate, &svc.calls, &mut req).await,
        H::SoapServices => services::handle(gate, &svc.rules, &svc.io, &mut req).await,
        H::Metrics => status::metrics(gate, svc, &req),
        H::Certificate => certificate::handle(gate, svc.tls.as_deref(), &svc.certs, &mut req).await,
        H::Certificates => {
            certificate::store_api(gate, svc.tls.as_deref(), &svc.certs, &mut req).await
        }
        H::Syslog => syslog::handle(gate, &svc.syslog, &mut req).await,
        H::SystemLog => logs::log(gate, &req, crate::logs::Log::System),
        H::AccessLog => logs::log(gate, &req, crate::logs::Log::Access),
        H::ServerReport => logs::server_report(gate, svc, http, &req),
        H::DebugArchive => logs::debug_archive(gate, svc, http, &req),
        H::Restart => maintenance::handle(gate, &svc.maintenance, &req, Reset::Restart),
        H::FactoryDefault => maintenance::handle(gate, &svc.maintenance, &req, Reset::Factory),
        H::HardFactoryDefault => maintenance::handle(gate, &svc.maintenance, &req, Reset::Hard),
        H::SystemReady => json_api::system_ready(gate, svc, &mut req).await,
        H::Healthz => status::healthz(svc),
    }
}

/// The body as handlers read it: a pause longer than `idle` ends it with a `TimedOut`
/// error, so a client that stops sending cannot hold a handler (and its connection).
fn boxed_body<S, B>(s: S, idle: std::time::Duration) -> Body
where
    S: Stream<Item = Result<B, warp::Error>> + Send + Sync + Unpin + 'static,
    B: Buf,
{
    let chunks = s.map(|r| {
        r.map(|mut b| b.copy_to_bytes(b.remaining()))
            .map_err(std::io::Error::other)
    });
    Box::pin(futures_util::stream::unfold(
        Some(chunks),
        move |state| async move {
            let mut chunks = state?;
            match tokio::time::timeout(idle, chunks.next()).await {
                Ok(Some(item)) => Some((item, Some(chunks))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no body data for {} s", idle.as_secs()),
                    )),
                    None,
                )),
            }
        },
    ))
}

/// Serves the same routes on every listener (HTTP, HTTPS) within `limits` until
/// `shutdown` resolves (and then at most `limits.grace` longer).
pub async fn serve(
    svc: Arc<Services>,
    http: Arc<HttpState>,
    listeners: Vec<server::Listener>,
    limits: server::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let idle = limits.idle_timeout;
    let (ws_http, ws_bus) = (http.clone(), svc.bus.clone());
    let websocket = warp::path!("vapix" / "ws-data-stream")
        .and(warp::ws())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(peer())
        .map(
            move |upgrade: warp::ws::Ws, query: String, headers, remote| {
                let req = Request {
                    method: Method::GET,
                    path: "/vapix/ws-data-stream".into(),
                    query: parse_query(&query),
                    headers,
                    remote,
                    received: Instant::now(),
                    body: None,
                    body_limit: 0,
                };
                match ws::authorize(&ws_http.gate, &ws_http.ws_sessions, &req) {
                    Ok(_role) => {
                        let bus = ws_bus.clone();
                        warp::reply::Reply::into_response(
                            upgrade.on_upgrade(move |socket| ws::session(bus, socket)),
                        )
                    }
                    Err(reply) => reply,
                }
            },
        );
    let filter = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(peer())
        .and(secure())
        .and(warp::body::stream().map(move |s| boxed_body(s, idle)))
        .and_then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  remote,
                  secure: bool,
                  body: Body| {
                let (svc, http) = (svc.clone(), http.clone());
                async move {
                    if let Some(to) = https_redirect(
                        http.https_only.as_ref(),
                        secure,
                        path.as_str(),
                        &query,
                        &headers,
                    ) {
                        let mut reply = text(StatusCode::MOVED_PERMANENTLY, "Moved Permanently\n");
                        if let Ok(v) = HeaderValue::from_str(&to) {
                            reply.headers_mut().insert("location", v);
                        }
                        return Ok::<_, Infallible>(reply);
                    }
                    let received = Instant::now();
                    let req = Request {
                        method,
                        path: path.as_str().to_string(),
                        query: parse_query(&query),
                        headers,
                        remote,
                        received,
                        body: Some(body),
                        body_limit: http.body_limit,
                    };
                    let (who, method, path) = (
                        crate::logs::claimed_user(req.header("authorization")),
                        req.method.clone(),
                        req.path.clone(),
                    );
                    let mut reply = route(&svc, &http, req).await;
                    crate::logs::access(
                        remote,
                        &who,
                        method.as_str(),
                        &path,
                        reply.status().as_u16(),
                    );
                    reply.headers_mut().insert(
                        "server",
                        HeaderValue::from_static(concat!("netamp/", env!("CARGO_PKG_VERSION"))),
                    );
                    let stats = http.gate.stats();
                    stats.requests.fetch_add(1, Ordering::Relaxed);
                    stats
                        .micros_total
                        .fetch_add(received.elapsed().as_micros() as u64, Ordering::Relaxed);
                    Ok::<_, Infallible>(reply)
                }
            },
        );
    let service = warp::service(websocket.or(filter));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let runs = listeners.into_iter().map(|listener| {
        let mut stop = stop_rx.clone();
        server::run(service.clone(), listener, limits, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
    });
    futures_util::future::join_all(runs).await;
}

/// The peer address [`server::run`] puts into each request.
fn peer() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Copy {
    warp::ext::optional::<server::Peer>().map(|p: Option<server::Peer>| p.map(|p| p.0))
}

/// Whether the request came over TLS.
fn secure() -> impl Filter<Extract = (bool,), Error = Infallible> + Copy {
    warp::ext::optional::<server::Peer>().map(|p: Option<server::Peer>| p.is_some_and(|p| p.1))
}

/// In HTTPS-only mode, where a plain-HTTP request to `path` goes instead (`None`: it is
/// served, HTTPS or a path kept open).
fn https_redirect(
    only: Option<&HttpsOnly>,
    secure: bool,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Option<String> {
    let only = only?;
    if secure || only.open_paths.iter().any(|p| p == path) {
        return None;
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.rsplit_once(':') {
            // A bracketed IPv6 literal keeps its brackets; a port goes.
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        })
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1");
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Some(format!("https://{host}:{}{path}{query}", only.port))
}

/// "Allow access through HTTPS" only: plain HTTP is redirected, but for the paths kept
/// open.
#[derive(Debug, Clone)]
pub struct HttpsOnly {
    /// The HTTPS port redirects go to.
    pub port: u16,
    /// Paths plain HTTP still serves (what cameras' HTTP recipients call).
    pub open_paths: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("action=play&clip=3&location=%2Fetc%2Faudioclips%2Fa+b.mp3&flag");
        assert_eq!(q[0], ("action".into(), "play".into()));
        assert_eq!(q[2].1, "/etc/audioclips/a b.mp3");
        assert_eq!(q[3], ("flag".into(), String::new()));
    }
}
