//! A notification, read from a recipient's parameters merged with its action's, and
//! the [`Notifier`] that sends it: reqwest over rustls for HTTP(S) (Basic or Digest
//! after the server's 401, keep-alive connections reused), a plain TCP connection, and
//! lettre for e-mail (STARTTLS or implicit TLS, optional AUTH). Every send has a time
//! limit; the answer is the peer's status line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use tokio::io::AsyncWriteExt;

use super::message::{expand, DeviceText};
use super::model::Kind;
use crate::certstore::CertStore;

/// How long one delivery may take, connection included, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of a message, subject or body after expansion.
pub const MAX_TEXT: usize = 64 * 1024;
/// What a test sends.
pub const TEST_MESSAGE: &str = "netamp test message from #n at %F %T";

/// Why a notification could not be read or delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Its parameters are wrong.
    #[error("{0}")]
    Parameters(String),
    /// The peer could not be reached or the exchange failed.
    #[error("{0}")]
    Delivery(String),
    /// The peer answered with a refusal.
    #[error("the server answered {0}")]
    Refused(String),
}

/// How an e-mail's connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Plain SMTP.
    None,
    /// STARTTLS, required (`starttls`; Axis's `tls`).
    StartTls,
    /// TLS from the first byte (`ssl`, `implicit`; port 465).
    Implicit,
}

/// An HTTP(S) notification.
#[derive(Debug, Clone)]
pub struct HttpNotification {
    url: Url,
    parameters: String,
    message: String,
    method: Method,
    headers: Vec<(HeaderName, String)>,
    body: String,
    login: Option<(String, String)>,
    validate: bool,
    proxy: Option<(String, Option<(String, String)>)>,
}

/// An e-mail.
#[derive(Debug, Clone)]
pub struct SmtpNotification {
    host: String,
    port: u16,
    encryption: Encryption,
    validate: bool,
    login: Option<(String, String)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    subject: String,
    message: String,
}

/// A notification, ready to send.
#[derive(Debug, Clone)]
pub enum Notification {
    /// An HTTP(S) request.
    Http(HttpNotification),
    /// A message on a TCP connection.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// The text sent.
        message: String,
    },
    /// An e-mail.
    Smtp(SmtpNotification),
    /// A SIP call (placed by the calls service, not the notifier).
    Call {
        /// The `sip:` address.
        to: String,
        /// The SIPAccountId it goes through (none: the default).
        account: Option<String>,
    },
}

fn bad(s: impl Into<String>) -> NotifyError {
    NotifyError::Parameters(s.into())
}

fn flag(p: &BTreeMap<String, String>, k: &str, default: bool) -> Result<bool, NotifyError> {
    match p.get(k).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(bad(format!("{k} must be 1 or 0, not {v:?}"))),
    }
}

fn login(p: &BTreeMap<String, String>, user: &str, pass: &str) -> Option<(String, String)> {
    let u = p.get(user).map(|v| v.trim()).filter(|v| !v.is_empty())?;
    Some((u.to_string(), p.get(pass).cloned().unwrap_or_default()))
}

fn port(p: &BTreeMap<String, String>, k: &str, default: Option<u16>) -> Result<u16, NotifyError> {
    match p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => default.ok_or_else(|| bad(format!("{k} is needed"))),
        Some(v) => v
            .parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(format!("{k} must be a port from 1 to 65535"))),
    }
}

fn mailboxes(v: &str, what: &str) -> Result<Vec<Mailbox>, NotifyError> {
    let out: Result<Vec<Mailbox>, _> = v
        .split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Mailbox>())
        .collect();
    match out {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(bad(format!("{what} is needed"))),
        Err(e) => Err(bad(format!("{what}: {e}"))),
    }
}

impl Notification {
    /// Reads the merged parameters of a notification of `kind` (recipient parameters
    /// overlaid with the action's).
    pub fn parse(kind: Kind, p: &BTreeMap<String, String>) -> Result<Self, NotifyError> {
        let text = |k: &str| p.get(k).cloned().unwrap_or_default();
        match kind {
            Kind::Sip => {
                let to = p
                    .get("sip_address")
                    .or_else(|| p.get("to"))
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad("sip_address (or to) is needed"))?;
                if !(to.starts_with("sip:") || to.starts_with("sips:")) || to.len() > 256 {
                    return Err(bad(format!("{to:?} is not a sip: address")));
                }
                Ok(Self::Call {
                    to: to.to_string(),
                    account: p
                        .get("account")
                        .map(|v| v.trim())
                        .filter(|v| !v.is_empty())
                        .map(str::to_string),
                })
            }
            Kind::Http => {
                let raw = p
                    .get("upload_url")
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad("upload_url is needed"))?;
                let url = Url::parse(raw).map_err(|e| bad(format!("upload_url: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(bad("upload_url must be an http:// or https:// address"));
                }
                let method = match p.get("method").map(|m| m.trim().to_ascii_uppercase()) {
                    None => Method::GET,
                    Some(m) if m.is_empty() => Method::GET,
                    Some(m) => match m.as_str() {
                        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => {
                            Method::from_bytes(m.as_bytes()).map_err(|e| bad(e.to_string()))?
                        }
                        _ => return Err(bad("method must be GET, POST, PUT, PATCH or DELETE")),
                    },
                };
                let mut headers = Vec::new();
                for line in text("http_headers").lines() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    let (name, value) = line
                        .split_once(':')
                        .ok_or_else(|| bad(format!("http_headers: {line:?} is not Name: value")))?;
                    let name = HeaderName::from_bytes(name.trim().as_bytes())
                        .map_err(|_| bad(format!("http_headers: bad header name {name:?}")))?;
                    HeaderValue::from_str(value.trim())
                        .map_err(|_| bad(format!("http_headers: bad value for {name}")))?;
                    headers.push((name, value.trim().to_string()));
                }
                let proxy = match p
                    .get("proxy_host")
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                {
                    None => None,
                    Some(h) => {
                        let pp = port(p, "proxy_port", Some(8080))?;
                        Some((
                            format!("http://{h}:{pp}"),
                            login(p, "proxy_login", "proxy_password"),
                        ))
                    }
                };
                Ok(Self::Http(HttpNotification {
                    url,
                    parameters: text("parameters")
                        .trim()
                        .trim_start_matches(['?', '&'])
                        .to_string(),
                    message: text("message"),
                    method,
                    headers,
                    body: text("body"),
                    login: login(p, "login", "password"),
                    validate: flag(p, "validate_server_cert", true)?,
                    proxy,
                }))
            }
            Kind::Tcp => {
                let host = p
                    .get("host")
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad("host is needed"))?;
                Ok(Self::Tcp {
                    host: host.to_string(),
                    port: port(p, "port", None)?,
                    message: text("message"),
                })
            }
            Kind::Smtp => {
                let encryption = match p.get("encryption").map(|v| v.trim().to_ascii_lowercase()) {
                    None => Encryption::StartTls,
                    Some(e) => match e.as_str() {
                        "" | "starttls" | "tls" => Encryption::StartTls,
                        "ssl" | "implicit" => Encryption::Implicit,
                        "none" => Encryption::None,
                        _ => return Err(bad("encryption must be none, starttls or ssl")),
                    },
                };
                let host = p
                    .get("host")
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| bad("host is needed"))?;
                let default_port = match encryption {
                    Encryption::Implicit => 465,
                    _ => 587,
                };
                let from = mailboxes(&text("email_from"), "email_from")?
                    .into_iter()
                    .next()
                    .ok_or_else(|| bad("email_from is needed"))?;
                Ok(Self::Smtp(SmtpNotification {
                    host: host.to_string(),
                    port: port(p, "port", Some(default_port))?,
                    encryption,
                    validate: flag(p, "validate_server_cert", true)?,
                    login: login(p, "login", "password"),
                    from,
                    to: mailboxes(&text("email_to"), "email_to")?,
                    subject: text("subject"),
                    message: text("message"),
                }))
            }
        }
    }

    /// The same notification carrying netamp's test message instead of its own.
    pub fn as_test(mut self) -> Self {
        match &mut self {
            Self::Http(h) => h.message = TEST_MESSAGE.into(),
            Self::Tcp { message, .. } => *message = TEST_MESSAGE.into(),
            Self::Smtp(s) => {
                s.subject = "netamp test message".into();
                s.message = TEST_MESSAGE.into();
            }
            Self::Call { .. } => {}
        }
        self
    }
}

/// Sends notifications. Holds one HTTP client that validates server certificates and
/// one that does not, so keep-alive connections are reused between sends.
pub struct Notifier {
    /// The validating client, or why there is none (no CA store on this machine: a
    /// minimal container or image without ca-certificates). Only validating HTTPS
    /// recipients need it, so its absence does not keep the daemon from starting.
    /// Built with the certificate store's CA certificates of the generation it names;
    /// made again when they change.
    verifying: std::sync::Mutex<(u64, Result<reqwest::Client, String>)>,
    trusting: reqwest::Client,
    /// CA certificates trusted besides the system's.
    certs: Arc<CertStore>,
    timeout: Duration,
    device: DeviceText,
    sent: AtomicU64,
}

/// The store's CA certificates as reqwest takes them.
fn extra_roots(certs: &CertStore) -> Vec<reqwest::Certificate> {
    certs
        .trust_anchors()
        .iter()
        .filter_map(|c| reqwest::Certificate::from_der(c).ok())
        .collect()
}

fn client(
    validate: bool,
    timeout: Duration,
    roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        .tls_certs_merge(roots)
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .tls_danger_accept_invalid_certs(!validate)
        .no_proxy()
        .user_agent(concat!("netamp/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Delivery(format!("HTTP client: {}", chain(&e))))
}

fn limited(s: String, what: &str) -> Result<String, NotifyError> {
    if s.len() > MAX_TEXT {
        return Err(bad(format!("{what} is longer than {MAX_TEXT} bytes")));
    }
    Ok(s)
}

/// The whole error chain in one line (reqwest's own message says only "error sending
/// request"; the cause, e.g. an invalid certificate, is further down).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

impl Notifier {
    /// A notifier for the device `device`; each delivery may take `timeout`.
    /// Validating connections trust the system's CA certificates and those of `certs`.
    pub fn new(
        device: DeviceText,
        timeout: Duration,
        certs: Arc<CertStore>,
    ) -> Result<Self, NotifyError> {
        let generation = certs.ca_generation();
        let verifying = client(true, timeout, extra_roots(&certs)).map_err(|e| e.to_string());
        if let Err(e) = &verifying {
            tracing::warn!(
                "{e}: HTTPS recipients that validate certificates will fail (install the \
                 system's CA certificates)"
            );
        }
        Ok(Self {
            verifying: std::sync::Mutex::new((generation, verifying)),
            trusting: client(false, timeout, Vec::new())?,
            certs,
            timeout,
            device,
            sent: AtomicU64::new(0),
        })
    }

    /// The validating client for the store's CA certificates as they are now.
    fn verifying(&self) -> Result<reqwest::Client, NotifyError> {
        let generation = self.certs.ca_generation();
        let mut v = self.verifying.lock().unwrap_or_else(|p| p.into_inner());
        if v.0 != generation {
            let made = client(true, self.timeout, extra_roots(&self.certs));
            *v = (generation, made.map_err(|e| e.to_string()));
        }
        v.1.clone()
            .map_err(|e| NotifyError::Delivery(format!("cannot validate server certificates: {e}")))
    }

    fn text(&self, t: &str, seq: u64, what: &str) -> Result<String, NotifyError> {
        limited(expand(t, &chrono::Local::now(), &self.device, seq), what)
    }

    /// Sends `n`; the answer is the peer's status (`200 OK`, `250 …`, bytes sent).
    pub async fn send(&self, n: &Notification) -> Result<String, NotifyError> {
        let seq = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        match n {
            Notification::Http(h) => self.http(h, seq).await,
            Notification::Tcp {
                host,
                port,
                message,
            } => {
                let msg = self.text(message, seq, "message")?;
                let io = async {
                    let mut s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    s.write_all(msg.as_bytes()).await?;
                    s.shutdown().await
                };
                match tokio::time::timeout(self.timeout, io).await {
                    Ok(Ok(())) => Ok(format!("{} bytes sent", msg.len())),
                    Ok(Err(e)) => Err(NotifyError::Delivery(format!("{host}:{port}: {e}"))),
                    Err(_) => Err(NotifyError::Delivery(format!("{host}:{port}: timed out"))),
                }
            }
            Notification::Smtp(m) => self.smtp(m, seq).await,
            Notification::Call { .. } => Err(NotifyError::Delivery(
                "a SIP recipient is called through the calls service".into(),
            )),
        }
    }

    async fn http(&self, h: &HttpNotification, seq: u64) -> Result<String, NotifyError> {
        let mut url = h.url.clone();
        let mut extra = self.text(&h.parameters, seq, "parameters")?;
        let message = self.text(&h.message, seq, "message")?;
        if !message.is_empty() {
            if !extra.is_empty() {
                extra.push('&');
            }
            extra.push_str("Message=");
            extra.extend(percent_encoding::utf8_percent_encode(
                &message,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        if !extra.is_empty() {
            let q = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{extra}"),
                _ => extra,
            };
            url.set_query(Some(&q));
        }
        let body = self.text(&h.body, seq, "body")?;
        let (proxied, validating);
        let client = match &h.proxy {
            Some((addr, auth)) => {
                let mut proxy = reqwest::Proxy::all(addr.as_str())
                    .map_err(|e| NotifyError::Delivery(format!("proxy: {e}")))?;
                if let Some((u, p)) = auth {
                    proxy = proxy.basic_auth(u, p);
                }
                proxied = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .tls_danger_accept_invalid_certs(!h.validate)
                    .tls_certs_merge(extra_roots(&self.certs))
                    .proxy(proxy)
                    .build()
                    .map_err(|e| NotifyError::Delivery(format!("HTTP client: {e}")))?;
                &proxied
            }
            None if h.validate => {
                validating = self.verifying()?;
                &validating
            }
            None => &self.trusting,
        };
        let request = |auth: Option<String>| {
            let mut r = client.request(h.method.clone(), url.clone());
            for (k, v) in &h.headers {
                r = r.header(k, v);
            }
            if !body.is_empty() {
                r = r.body(body.clone());
            }
            if let Some(a) = auth {
                r = r.header(AUTHORIZATION, a);
            }
            r
        };
        let send = |r: reqwest::RequestBuilder| async move {
            r.send()
                .await
                .map_err(|e| NotifyError::Delivery(format!("{}: {}", h.url, chain(&e))))
        };
        let mut resp = send(request(None)).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            if let Some((user, pass)) = &h.login {
                let challenges: Vec<String> = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_string))
                    .collect();
                let auth = authorization(&challenges, user, pass, &h.method, &url, &body)?;
                resp = send(request(Some(auth))).await?;
            }
        }
        let status = resp.status();
        let line = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        if status.is_success() {
            Ok(line.trim_end().to_string())
        } else {
            Err(NotifyError::Refused(line.trim_end().to_string()))
        }
    }

    async fn smtp(&self, m: &SmtpNotification, seq: u64) -> Result<String, NotifyError> {
        let subject = self.text(&m.subject, seq, "subject")?;
        let message = self.text(&m.message, seq, "message")?;
        let mut email = lettre::Message::builder()
            .from(m.from.clone())
            .subject(subject);
        for to in &m.to {
            email = email.to(to.clone());
        }
        let email = email
            .body(message)
            .map_err(|e| bad(format!("e-mail: {e}")))?;
        let tls = || {
            let mut b =
                TlsParameters::builder(m.host.clone()).dangerous_accept_invalid_certs(!m.validate);
            for der in self.certs.trust_anchors() {
                if let Ok(c) = lettre::transport::smtp::client::Certificate::from_der(der.to_vec())
                {
                    b = b.add_root_certificate(c);
                }
            }
            b.build_rustls()
                .map_err(|e| NotifyError::Delivery(format!("TLS: {e}")))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(m.host.as_str())
            .port(m.port)
            .timeout(Some(self.timeout))
            .hello_name(ClientId::Domain(if self.device.name.is_empty() {
                "netamp".into()
            } else {
                self.device.name.clone()
            }));
        b = match m.encryption {
            Encryption::None => b.tls(Tls::None),
            Encryption::StartTls => b.tls(Tls::Required(tls()?)),
            Encryption::Implicit => b.tls(Tls::Wrapper(tls()?)),
        };
        if let Some((u, p)) = &m.login {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let mailer = b.build();
        let io = mailer.send(email);
        match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(r)) => Ok(format!(
                "{} {}",
                r.code(),
                r.message().collect::<Vec<_>>().join(" ")
            )),
            Ok(Err(e)) if e.is_permanent() || e.is_transient() => {
                Err(NotifyError::Refused(chain(&e)))
            }
            Ok(Err(e)) => Err(NotifyError::Delivery(format!(
                "{}:{}: {}",
                m.host,
                m.port,
                chain(&e)
            ))),
            Err(_) => Err(NotifyError::Delivery(format!(
                "{}:{}: timed out",
                m.host, m.port
            ))),
        }
    }
}

/// The `Authorization` header answering a 401: Digest when the server offers it, else
/// Basic.
fn authorization(
    challenges: &[String],
    user: &str,
    pass: &str,
    method: &Method,
    url: &Url,
    body: &str,
) -> Result<String, NotifyError> {
    if let Some(c) = challenges
        .iter()
        .find(|c| c.trim_start().to_ascii_lowercase().starts_with("digest"))
    {
        let mut prompt = digest_auth::parse(c)
            .map_err(|e| NotifyError::Delivery(format!("the server's Digest challenge: {e}")))?;
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let ctx = digest_auth::AuthContext::new_with_method(
            user,
            pass,
            uri,
            (!body.is_empty()).then_some(body.as_bytes()),
            digest_auth::HttpMethod::from(method.as_str()),
        );
        let answer = prompt
            .respond(&ctx)
            .map_err(|e| NotifyError::Delivery(format!("Digest: {e}")))?;
        return Ok(answer.to_header_string());
    }
    use base64::Engine as _;
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_are_checked_when_read() {
        assert!(Notification::parse(
            Kind::Http,
            &params(&[
                ("upload_url", "http://speaker/axis-cgi/mediaclip.cgi"),
                ("parameters", "action=play&clip=1"),
                ("method", "post"),
                ("http_headers", "X-Site: lobby\nX-Level: 2"),
            ])
        )
        .is_ok());
        for bad in [
            params(&[]),
            params(&[("upload_url", "ftp://x/")]),
            params(&[("upload_url", "http://x/"), ("method", "TRACE")]),
            params(&[("upload_url", "http://x/"), ("http_headers", "no colon")]),
            params(&[
                ("upload_url", "http://x/"),
                ("validate_server_cert", "maybe"),
            ]),
        ] {
            assert!(Notification::parse(Kind::Http, &bad).is_err(), "{bad:?}");
        }
        assert!(
            Notification::parse(Kind::Tcp, &params(&[("host", "vms"), ("port", "0")])).is_err()
        );
        assert!(Notification::parse(
            Kind::Smtp,
            &params(&[
                ("host", "mail"),
                ("email_from", "amp@example.org"),
                ("email_to", "guard@example.org, desk@example.org"),
            ])
        )
        .is_ok());
        assert!(Notification::parse(
            Kind::Smtp,
            &params(&[
                ("host", "mail"),
                ("email_from", "amp"),
                ("email_to", "guard@example.org")
            ])
        )
        .is_err());
    }

    #[test]
    fn a_sip_recipient_needs_a_sip_address() {
        let call = Notification::parse(
            Kind::Sip,
            &params(&[
                ("sip_address", "sip:guard@pbx"),
                ("account", "sip_account_1"),
            ]),
        );
        assert!(matches!(
            call,
            Ok(Notification::Call { ref to, account: Some(ref a) }) if to == "sip:guard@pbx" && a == "sip_account_1"
        ));
        for bad in [params(&[]), params(&[("sip_address", "guard@pbx")])] {
            assert!(Notification::parse(Kind::Sip, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_digest_challenge_gets_a_digest_answer_else_basic() {
        let url = Url::parse("http://amp/axis-cgi/mediaclip.cgi?action=play&clip=1").expect("url");
        let digest = authorization(
            &[r#"Digest realm="AXIS_ACCC8E", nonce="abc", qop="auth""#.into()],
            "root",
            "pass",
            &Method::GET,
            &url,
            "",
        )
        .expect("digest");
        assert!(digest.starts_with("Digest "), "{digest}");
        assert!(digest.contains(r#"uri="/axis-cgi/mediaclip.cgi?action=play&clip=1""#));
        let basic = authorization(
            &[r#"Basic realm="x""#.into()],
            "root",
            "pass",
            &Method::GET,
            &url,
            "",
        )
        .expect("basic");
        assert_eq!(basic, "Basic cm9vdDpwYXNz");
    }
}
