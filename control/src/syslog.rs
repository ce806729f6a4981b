//! Remote syslog: the system log's lines sent to up to [`MAX_SERVERS`] servers, each over
//! UDP (RFC 5426), TCP (RFC 6587, octet counting) or TLS (RFC 5425), in RFC 3164 or
//! RFC 5424 format, from a chosen severity up; plus a test message that says whether a
//! server can be reached. Settings are run-time state (`syslog.json`, the JSON API
//! `/api/v1/syslog`), applied without a restart.
//!
//! The tracing layer of [`crate::logs`] offers each line to a bounded queue
//! ([`offer`], never blocking: a full queue drops the line and counts it); one task sends
//! them, keeping one connection per server and reconnecting after a pause when a server
//! goes away. Lines are formatted here, not with `fasyslog`: it stamps the time of
//! formatting rather than the record's, its TLS sender frames with line ends where
//! RFC 5425 requires octet counting, and it would bring `jiff` and `nix` for what
//! `chrono` and a `format!` do. TLS is rustls (aws-lc-rs) with the system's roots, or
//! the CA certificates given for the server, or no verification when the server's
//! `verify` is off.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::certstore::CertStore;
use crate::error::ControlError;
use crate::store;

/// Most servers the system log is sent to.
pub const MAX_SERVERS: usize = 4;
/// Lines waiting to be sent; more are dropped (and counted).
const QUEUE_LINES: usize = 1024;
/// Longest message sent over TCP/TLS; longer ones are cut.
const MAX_MESSAGE: usize = 8192;
/// Longest datagram (RFC 5426 asks receivers for at least 2048 octets).
const MAX_DATAGRAM: usize = 2048;
/// How long a connect or a send may take.
const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before reconnecting to a server that failed.
const RETRY: Duration = Duration::from_secs(5);

/// Transport to a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// RFC 5426, one datagram per line.
    #[default]
    Udp,
    /// RFC 6587, octet-counted frames.
    Tcp,
    /// RFC 5425, octet-counted frames over TLS 1.2/1.3.
    Tls,
}

/// Message format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The BSD format: `<PRI>Mmm dd hh:mm:ss HOST APP[PID]: MSG`.
    Rfc3164,
    /// The syslog protocol: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
    #[default]
    Rfc5424,
}

/// Syslog severities (RFC 5424 table 2), most severe first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// 0: system is unusable.
    Emerg,
    /// 1: action must be taken immediately.
    Alert,
    /// 2: critical conditions.
    Crit,
    /// 3: error conditions.
    Err,
    /// 4: warning conditions.
    Warning,
    /// 5: normal but significant.
    Notice,
    /// 6: informational.
    #[default]
    Info,
    /// 7: debug-level messages.
    Debug,
}

impl Severity {
    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The severity of a tracing level.
    pub fn of(level: tracing::Level) -> Self {
        match level {
            tracing::Level::ERROR => Self::Err,
            tracing::Level::WARN => Self::Warning,
            tracing::Level::INFO => Self::Info,
            _ => Self::Debug,
        }
    }
}

/// Facilities by name (RFC 5424 table 1), in code order.
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

fn default_facility() -> String {
    "user".into()
}

fn yes() -> bool {
    true
}

/// One remote server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Host name or address.
    pub host: String,
    /// Port; absent: 514 (UDP, TCP) or 6514 (TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Transport.
    #[serde(default)]
    pub protocol: Protocol,
    /// Message format.
    #[serde(default)]
    pub format: Format,
    /// The least severe lines sent (`info`: info and everything more severe).
    #[serde(default)]
    pub severity: Severity,
    /// Facility name (`user`, `daemon`, `local0` … `local7`, …).
    #[serde(default = "default_facility")]
    pub facility: String,
    /// TLS: verify the server's certificate (and name).
    #[serde(default = "yes")]
    pub verify: bool,
    /// TLS: CA certificates (PEM) to verify it with instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl Server {
    /// The port used.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.protocol {
            Protocol::Tls => 6514,
            _ => 514,
        })
    }

    fn facility_code(&self) -> u8 {
        FACILITIES
            .iter()
            .position(|f| *f == self.facility)
            .unwrap_or(1) as u8
    }

    /// Says what is wrong with this server's settings.
    pub fn check(&self) -> Result<(), String> {
        let h = &self.host;
        if h.is_empty() || h.len() > 253 {
            return Err("host: 1 to 253 characters".into());
        }
        if !h
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
        {
            return Err(format!("host {h:?}: a host name or an address"));
        }
        if self.port == Some(0) {
            return Err("port: 1 to 65535".into());
        }
        if !FACILITIES.contains(&self.facility.as_str()) {
            return Err(format!(
                "facility {:?}: one of {}",
                self.facility,
                FACILITIES.join(", ")
            ));
        }
        if let Some(ca) = &self.ca {
            if self.protocol != Protocol::Tls {
                return Err("ca: only for protocol tls".into());
            }
            let certs = CertificateDer::pem_slice_iter(ca.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ca: {e}"))?;
            if certs.is_empty() {
                return Err("ca: no certificate in the PEM text".into());
            }
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err("ca: no usable CA certificate".into());
            }
        }
        Ok(())
    }
}

/// The remote syslog settings: no servers, no remote syslog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the system log goes.
    #[serde(default)]
    pub servers: Vec<Server>,
}

impl Settings {
    /// Says what is wrong with these settings.
    pub fn check(&self) -> Result<(), String> {
        if self.servers.len() > MAX_SERVERS {
            return Err(format!("at most {MAX_SERVERS} servers"));
        }
        for (i, s) in self.servers.iter().enumerate() {
            s.check().map_err(|e| format!("server {i}: {e}"))?;
        }
        Ok(())
    }
}

/// One system log line on its way out.
#[derive(Debug, Clone)]
pub struct Line {
    /// When it was logged.
    pub at: DateTime<Local>,
    /// Its severity.
    pub severity: Severity,
    /// The process that logged it (`netamp`).
    pub app: &'static str,
    /// The text.
    pub text: String,
}

/// The line as `format` writes it, for device `host` (`axis-<mac>`), process `pid`.
pub fn format_line(server: &Server, host: &str, pid: u32, line: &Line) -> String {
    let pri = u16::from(server.facility_code()) * 8 + u16::from(line.severity.code());
    // Control characters would end or split the message at the receiver.
    let text: String = line
        .text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = match server.format {
        Format::Rfc3164 => format!(
            "<{pri}>{} {host} {}[{pid}]: {text}",
            line.at.format("%b %e %H:%M:%S"),
            line.app
        ),
        Format::Rfc5424 => format!(
            "<{pri}>1 {} {host} {} {pid} - - {text}",
            line.at.format("%Y-%m-%dT%H:%M:%S%.6f%:z"),
            line.app
        ),
    };
    let limit = match server.protocol {
        Protocol::Udp => MAX_DATAGRAM,
        _ => MAX_MESSAGE,
    };
    if out.len() > limit {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// What happened to one server's lines since the start.
#[derive(Debug, Default)]
pub struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The queue the tracing layer feeds and its overflow count.
struct Queue {
    tx: tokio::sync::mpsc::Sender<Line>,
    overflow: AtomicU64,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();
/// Whether any server is set (no queueing otherwise).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Hands a system log line to the sender (called by the tracing layer; never blocks).
pub fn offer(line: impl FnOnce() -> Line) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    if let Some(q) = QUEUE.get() {
        // A full queue costs no formatting: the check comes before the line is made.
        if q.tx.capacity() == 0 || q.tx.try_send(line()).is_err() {
            q.overflow.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The remote syslog service: its settings and the task that sends.
pub struct RemoteSyslog {
    path: PathBuf,
    host: String,
    /// Held from a change's save to its publication, so the file and what is in use agree.
    write: Mutex<()>,
    /// The settings in use with their servers' counters: what the API reads and the
    /// sender follows.
    in_use: tokio::sync::watch::Sender<InUse>,
    /// CA certificates trusted besides the system's (TLS servers without their own `ca`).
    certs: Arc<CertStore>,
}

/// The settings in use and one counter set per server.
#[derive(Clone)]
struct InUse {
    settings: Settings,
    counters: Vec<Arc<Counters>>,
}

impl InUse {
    fn new(settings: Settings) -> Self {
        let counters = settings.servers.iter().map(|_| Arc::default()).collect();
        Self { settings, counters }
    }
}

impl RemoteSyslog {
    /// Loads `syslog.json` from `data_dir` (none: no servers). `host` names the device in
    /// every line.
    pub fn load(
        data_dir: &std::path::Path,
        host: String,
        certs: Arc<CertStore>,
    ) -> Result<Self, ControlError> {
        let path = data_dir.join("syslog.json");
        let settings: Settings =
            store::load_json_checked(&path, Settings::check)?.unwrap_or_default();
        let (in_use, _) = tokio::sync::watch::channel(InUse::new(settings));
        Ok(Self {
            path,
            host,
            write: Mutex::new(()),
            in_use,
            certs,
        })
    }

    /// Starts sending (once per process: the queue is the tracing layer's).
    pub fn start(self: &Arc<Self>) {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE_LINES);
        if QUEUE
            .set(Queue {
                tx,
                overflow: AtomicU64::new(0),
            })
            .is_err()
        {
            return;
        }
        ACTIVE.store(!self.settings().servers.is_empty(), Ordering::Relaxed);
        let host = self.host.clone();
        tokio::spawn(send_loop(
            rx,
            self.in_use.subscribe(),
            host,
            self.certs.clone(),
        ));
    }

    /// The settings in use.
    pub fn settings(&self) -> Settings {
        self.in_use.borrow().settings.clone()
    }

    /// Replaces the settings: checked, stored, then used for the next line. Settings
    /// that do not check change nothing.
    pub fn set(&self, new: Settings) -> Result<(), String> {
        new.check()?;
        let _write = self.write.lock().unwrap_or_else(|p| p.into_inner());
        store::save_json(&self.path, &new).map_err(|e| e.to_string())?;
        ACTIVE.store(!new.servers.is_empty(), Ordering::Relaxed);
        self.in_use.send_replace(InUse::new(new));
        Ok(())
    }

    /// Per server: lines sent, lines dropped (unreachable, or the queue was full), the
    /// last error; and the lines the full queue dropped before any server saw them.
    pub fn report(&self) -> serde_json::Value {
        let counters = self.in_use.borrow().counters.clone();
        let servers: Vec<serde_json::Value> = counters
            .iter()
            .map(|c| {
                serde_json::json!({
                    "sent": c.sent.load(Ordering::Relaxed),
                    "dropped": c.dropped.load(Ordering::Relaxed),
                    "last_error": *c.last_error.lock().unwrap_or_else(|p| p.into_inner()),
                })
            })
            .collect();
        serde_json::json!({
            "servers": servers,
            "queue_overflow": QUEUE.get().map_or(0, |q| q.overflow.load(Ordering::Relaxed)),
        })
    }

    /// Sends one test message (notice) to `server` on a connection of its own and says
    /// whether it went out.
    pub async fn test(&self, server: &Server) -> Result<(), String> {
        server.check()?;
        let line = Line {
            at: Local::now(),
            severity: Severity::Notice,
            app: "netamp",
            text: "netamp: remote syslog test message".into(),
        };
        let mut conn = connect(server, &self.certs).await?;
        let text = format_line(server, &self.host, std::process::id(), &line);
        conn.send(&text).await?;
        conn.close().await;
        Ok(())
    }
}

/// An open connection to one server.
enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Conn {
    /// Sends one message: a datagram, or an octet-counted frame (`LEN SP MSG`).
    async fn send(&mut self, text: &str) -> Result<(), String> {
        let framed = || format!("{} {text}", text.len());
        let io = async {
            match self {
                Self::Udp(s) => s.send(text.as_bytes()).await.map(|_| ()),
                Self::Tcp(s) => s.write_all(framed().as_bytes()).await,
                Self::Tls(s) => {
                    s.write_all(framed().as_bytes()).await?;
                    s.flush().await
                }
            }
        };
        match tokio::time::timeout(IO_TIMEOUT, io).await {
            Ok(r) => r.map_err(|e| format!("send: {e}")),
            Err(_) => Err("send: timed out".into()),
        }
    }

    /// Closes a stream cleanly (a TLS close_notify), so the last frame is not lost.
    async fn close(self) {
        let shut = async {
            match self {
                Self::Udp(_) => {}
                Self::Tcp(mut s) => {
                    let _ = s.shutdown().await;
                }
                Self::Tls(mut s) => {
                    let _ = s.shutdown().await;
                }
            }
        };
        let _ = tokio::time::timeout(IO_TIMEOUT, shut).await;
    }
}

/// The TLS client configuration for `server`.
fn client_config(server: &Server, certs: &CertStore) -> Result<rustls::ClientConfig, String> {
    if !server.verify {
        return crate::tls::client_config(None);
    }
    let roots = match &server.ca {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("ca: {e}"))?;
            roots.add_parsable_certificates(certs);
            Arc::new(roots)
        }
        None => certs.trusted_roots(),
    };
    crate::tls::client_config(Some(roots))
}

/// Opens a connection to `server`.
async fn connect(server: &Server, certs: &CertStore) -> Result<Conn, String> {
    let addr = (server.host.as_str(), server.port());
    let open = async {
        match server.protocol {
            Protocol::Udp => {
                let target = tokio::net::lookup_host(addr)
                    .await
                    .map_err(|e| format!("{}: {e}", server.host))?
                    .next()
                    .ok_or_else(|| format!("{}: no address", server.host))?;
                let local: std::net::SocketAddr = if target.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
                s.connect(target).await.map_err(|e| e.to_string())?;
                Ok(Conn::Udp(s))
            }
            Protocol::Tcp => TcpStream::connect(addr)
                .await
                .map(Conn::Tcp)
                .map_err(|e| format!("connect: {e}")),
            Protocol::Tls => {
                let config = client_config(server, certs)?;
                let name = ServerName::try_from(server.host.clone())
                    .map_err(|e| format!("{}: {e}", server.host))?;
                let tcp = TcpStream::connect(addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                Ok(Conn::Tls(Box::new(tls)))
            }
        }
    };
    match tokio::time::timeout(IO_TIMEOUT, open).await {
        Ok(r) => r,
        Err(_) => Err("connect: timed out".into()),
    }
}

/// One server as the sender keeps it: its connection, or when to try again.
struct Link {
    server: Server,
    counters: Arc<Counters>,
    conn: Option<Conn>,
    retry_at: Option<tokio::time::Instant>,
}

impl Link {
    async fn deliver(&mut self, host: &str, pid: u32, line: &Line, certs: &CertStore) {
        if line.severity > self.server.severity {
            return;
        }
        if self.conn.is_none() {
            if self
                .retry_at
                .is_some_and(|t| tokio::time::Instant::now() < t)
            {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            match connect(&self.server, certs).await {
                Ok(c) => {
                    self.conn = Some(c);
                    self.retry_at = None;
                }
                Err(e) => return self.failed(e),
            }
        }
        let text = format_line(&self.server, host, pid, line);
        if let Some(conn) = self.conn.as_mut() {
            match conn.send(&text).await {
                Ok(()) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.failed(e),
            }
        }
    }

    fn failed(&mut self, error: String) {
        self.conn = None;
        self.retry_at = Some(tokio::time::Instant::now() + RETRY);
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        *self
            .counters
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(error);
    }
}

/// Sends queued lines to the servers of the latest settings.
async fn send_loop(
    mut lines: tokio::sync::mpsc::Receiver<Line>,
    mut settings: tokio::sync::watch::Receiver<InUse>,
    host: String,
    certs: Arc<CertStore>,
) {
    let pid = std::process::id();
    let links_of = |u: &InUse| -> Vec<Link> {
        u.settings
            .servers
            .iter()
            .zip(&u.counters)
            .map(|(server, counters)| Link {
                server: server.clone(),
                counters: counters.clone(),
                conn: None,
                retry_at: None,
            })
            .collect()
    };
    let mut links = links_of(&settings.borrow_and_update());
    loop {
        tokio::select! {
            // New settings first: a line logged after a change goes by the new ones.
            biased;
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                for l in links.drain(..) {
                    if let Some(c) = l.conn {
                        c.close().await;
                    }
                }
                links = links_of(&settings.borrow_and_update());
            }
            line = lines.recv() => {
                let Some(line) = line else { return };
                for l in &mut links {
                    l.deliver(&host, pid, &line, &certs).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_store(dir: &std::path::Path) -> Arc<CertStore> {
        Arc::new(CertStore::open(&dir.join("certs")).expect("store"))
    }

    fn server(format: Format, protocol: Protocol) -> Server {
        Server {
            host: "127.0.0.1".into(),
            port: None,
            protocol,
            format,
            severity: Severity::Info,
            facility: "local3".into(),
            verify: true,
            ca: None,
        }
    }

    fn line(text: &str) -> Line {
        let at = DateTime::parse_from_rfc3339("2026-12-08T09:05:07.123456+01:00")
            .expect("time")
            .with_timezone(&Local);
        Line {
            at,
            severity: Severity::Warning,
            app: "netamp",
            text: text.into(),
        }
    }

    #[test]
    fn lines_are_formatted_as_the_rfcs_write_them() {
        let l = line("audio: no output\ndevice");
        let s5424 = format_line(
            &server(Format::Rfc5424, Protocol::Udp),
            "axis-accc8e",
            42,
            &l,
        );
        // local3 (19) * 8 + warning (4) = 156.
        let rest = s5424.strip_prefix("<156>1 ").expect("PRI and version");
        let (stamp, rest) = rest.split_once(' ').expect("timestamp");
        assert!(DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
        assert_eq!(
            stamp.len(),
            "2026-12-08T09:05:07.123456+01:00".len(),
            "{stamp}"
        );
        assert_eq!(rest, "axis-accc8e netamp 42 - - audio: no output device");
        let s3164 = format_line(
            &server(Format::Rfc3164, Protocol::Tcp),
            "axis-accc8e",
            42,
            &l,
        );
        let rest = s3164.strip_prefix("<156>").expect("PRI");
        // `Mmm dd hh:mm:ss`, the day padded with a space.
        let (stamp, rest) = rest.split_at(15);
        assert!(
            chrono::NaiveTime::parse_from_str(&stamp[7..], "%H:%M:%S").is_ok()
                && stamp.as_bytes()[3] == b' '
                && stamp.as_bytes()[6] == b' ',
            "{stamp}"
        );
        assert_eq!(rest, " axis-accc8e netamp[42]: audio: no output device");
        let long = line(&"é".repeat(5000));
        assert!(format_line(&server(Format::Rfc5424, Protocol::Udp), "h", 1, &long).len() <= 2048);
        assert!(format_line(&server(Format::Rfc5424, Protocol::Tls), "h", 1, &long).len() <= 8192);
    }

    #[test]
    fn bad_settings_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let rs =
            RemoteSyslog::load(dir.path(), "axis-x".into(), cert_store(dir.path())).expect("load");
        let good = Settings {
            servers: vec![server(Format::Rfc5424, Protocol::Udp)],
        };
        rs.set(good.clone()).expect("set");
        let mut bad = good.clone();
        bad.servers[0].host = "a b".into();
        assert!(rs.set(bad).is_err());
        let mut bad = good.clone();
        bad.servers[0].facility = "local9".into();
        assert!(rs.set(bad).is_err());
        let mut bad = good.clone();
        bad.servers[0].ca = Some("not pem".into());
        bad.servers[0].protocol = Protocol::Tls;
        assert!(rs.set(bad).is_err());
        let many = Settings {
            servers: vec![server(Format::Rfc5424, Protocol::Udp); MAX_SERVERS + 1],
        };
        assert!(rs.set(many).is_err());
        assert_eq!(rs.settings(), good);
        let again = RemoteSyslog::load(dir.path(), "axis-x".into(), cert_store(dir.path()))
            .expect("reload");
        assert_eq!(again.settings(), good);
        assert_eq!(good.servers[0].port(), 514);
    }

    #[test]
    fn severity_follows_the_tracing_level() {
        assert_eq!(Severity::of(tracing::Level::ERROR), Severity::Err);
        assert!(Severity::Err < Severity::Info);
        let json: Settings =
            serde_json::from_str(r#"{"servers":[{"host":"log.example","protocol":"tls"}]}"#)
                .expect("parse");
        assert_eq!(json.servers[0].port(), 6514);
        assert_eq!(json.servers[0].severity, Severity::Info);
        assert!(json.servers[0].verify);
    }

    #[tokio::test]
    async fn a_test_message_reaches_a_udp_and_a_tcp_server() {
        let dir = tempfile::tempdir().expect("tmp");
        let rs =
            RemoteSyslog::load(dir.path(), "axis-x".into(), cert_store(dir.path())).expect("load");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        udp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut s = server(Format::Rfc5424, Protocol::Udp);
        s.port = Some(udp.local_addr().expect("addr").port());
        rs.test(&s).await.expect("udp test");
        let mut buf = [0; 4096];
        let n = udp.recv(&mut buf).expect("datagram");
        let got = String::from_utf8_lossy(&buf[..n]);
        assert!(got.starts_with("<157>1 "), "{got}");
        assert!(got.ends_with("remote syslog test message"), "{got}");

        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
        let mut s = server(Format::Rfc3164, Protocol::Tcp);
        s.port = Some(tcp.local_addr().expect("addr").port());
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let (mut c, _) = tcp.accept().expect("accept");
            let mut all = String::new();
            c.read_to_string(&mut all).expect("read");
            all
        });
        rs.test(&s).await.expect("tcp test");
        let all = reader.join().expect("reader");
        let (len, msg) = all.split_once(' ').expect("octet count");
        assert_eq!(len.parse::<usize>().expect("len"), msg.len(), "{all}");
        assert!(msg.starts_with("<157>"), "{msg}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
        s.port = Some(closed.local_addr().expect("addr").port());
        drop(closed);
        assert!(rs.test(&s).await.is_err());
    }
}
