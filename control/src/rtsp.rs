//! RTSP metadata event stream (`rtsp://<host>/axis-media/media.amp?…&event=on`), the event
//! transport of Home Assistant's `axis` library (vapix.md §8.4). Only the event track:
//! OPTIONS, DESCRIBE, SETUP (RTP over UDP), PLAY, TEARDOWN; each event goes out as one
//! RTP packet holding a complete ONVIF `tt:MetadataStream` document.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::auth::AuthOutcome;
use crate::auth::Authenticator;
use crate::events::Event;
use crate::events::EventBus;
use crate::users::Role;

/// The resource every request is authorised against.
const RESOURCE: &str = "/axis-media/media.amp";
/// Largest request head accepted.
const MAX_HEAD: usize = 8192;
/// RTP payload type of the metadata track.
const PAYLOAD_TYPE: u8 = 98;

pub(crate) struct RtspRequest {
    method: String,
    url: String,
    cseq: String,
    headers: Vec<(String, String)>,
}

impl RtspRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn parse(head: &str) -> Option<RtspRequest> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let url = first.next()?.to_string();
    if first.next() != Some("RTSP/1.0") {
        return None;
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let cseq = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("CSeq"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    Some(RtspRequest {
        method,
        url,
        cseq,
        headers,
    })
}

/// Escapes text for XML attributes and content.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn items(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("<tt:SimpleItem Name=\"{}\" Value=\"{}\"/>", xml(k), xml(v)))
        .collect()
}

fn utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let date = crate::identity::format_iso_date(secs);
    format!("{date}.{:03}Z", ms % 1000)
}

/// One event as the metadata document Axis devices send.
pub fn metadata(ev: &Event, initialized: bool) -> String {
    let op = if initialized {
        "Initialized"
    } else {
        "Changed"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\">\n<tt:Event><wsnt:NotificationMessage xmlns:tns1=\"http://www.onvif.org/ver10/topics\" xmlns:tnsaxis=\"http://www.axis.com/2009/event/topics\" xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\" xmlns:wsa5=\"http://www.w3.org/2005/08/addressing\"><wsnt:Topic Dialect=\"http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple\">{}</wsnt:Topic><wsnt:ProducerReference><wsa5:Address>uri://netamp/ProducerReference</wsa5:Address></wsnt:ProducerReference><wsnt:Message><tt:Message UtcTime=\"{}\" PropertyOperation=\"{op}\"><tt:Source>{}</tt:Source><tt:Key>{}</tt:Key><tt:Data>{}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></tt:Event></tt:MetadataStream>\n",
        xml(&ev.topic),
        utc(ev.timestamp_ms),
        items(&ev.source),
        items(&ev.key),
        items(&ev.data)
    )
}

struct Rtp {
    socket: UdpSocket,
    peer: SocketAddr,
    seq: u16,
    ssrc: u32,
    start: Instant,
}

impl Rtp {
    async fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let ts = (self.start.elapsed().as_micros() as u64 * 9 / 100) as u32; // 90 kHz
        let mut p = Vec::with_capacity(12 + payload.len());
        p.extend_from_slice(&[0x80, 0x80 | PAYLOAD_TYPE]);
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.socket.send_to(&p, self.peer).await.map(|_| ())
    }
}

/// Accepts RTSP connections until the process ends.
pub async fn serve(auth: Arc<Authenticator>, bus: Arc<EventBus>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (auth, bus) = (auth.clone(), bus.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(&auth, &bus, stream, peer).await {
                tracing::debug!(%peer, "RTSP connection ended: {e}");
            }
        });
    }
}

async fn connection(
    auth: &Authenticator,
    bus: &EventBus,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut session: Option<String> = None;
    let mut client_ports: Option<(u16, u16)> = None;
    let mut playing: Option<tokio::task::JoinHandle<()>> = None;
    let local = stream.local_addr()?;
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD {
                stream
                    .write_all(b"RTSP/1.0 400 Bad Request\r\n\r\n")
                    .await?;
                return Ok(());
            }
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                if let Some(t) = playing.take() {
                    t.abort();
                }
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let Some(req) = parse(&head) else {
            stream
                .write_all(b"RTSP/1.0 400 Bad Request\r\n\r\n")
                .await?;
            continue;
        };
        let cseq = req.cseq.clone();
        let reply = |status: &str, extra: &str, body: &str| {
            let len = if body.is_empty() {
                String::new()
            } else {
                format!("Content-Length: {}\r\n", body.len())
            };
            format!(
                "RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: netamp/{}\r\n{extra}{len}\r\n{body}",
                env!("CARGO_PKG_VERSION")
            )
        };
        if req.method != "OPTIONS" {
            let outcome = auth.authenticate(
                &req.method,
                RESOURCE,
                req.header("Authorization"),
                Some(peer.ip()),
                SystemTime::now(),
            );
            let ok = matches!(&outcome, AuthOutcome::User(a) if a.role() >= Role::Viewer);
            if !ok {
                let stale = matches!(outcome, AuthOutcome::Failed { stale: true });
                let realm = auth.users().realm();
                let nonce = auth.nonce(SystemTime::now());
                // Realm first and nonce second, with `stale`: the axis library parses by position.
                let extra = format!(
                    "WWW-Authenticate: Digest realm=\"{realm}\", nonce=\"{nonce}\", stale={}\r\nWWW-Authenticate: Basic realm=\"{realm}\"\r\n",
                    if stale { "TRUE" } else { "FALSE" }
                );
                stream
                    .write_all(reply("401 Unauthorized", &extra, "").as_bytes())
                    .await?;
                continue;
            }
        }
        let host = local.ip();
        let out = match req.method.as_str() {
            "OPTIONS" => reply(
                "200 OK",
                "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n",
                "",
            ),
            "DESCRIBE" => {
                let base = req.url.split('?').next().unwrap_or(&req.url).to_string();
                let sdp = format!(
                    "v=0\r\no=- 0 0 IN IP4 {host}\r\ns=netamp events\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\nm=application 0 RTP/AVP {PAYLOAD_TYPE}\r\na=rtpmap:{PAYLOAD_TYPE} vnd.onvif.metadata/90000\r\na=control:{base}/stream=0\r\n"
                );
                reply(
                    "200 OK",
                    &format!("Content-Type: application/sdp\r\nContent-Base: {base}/\r\n"),
                    &sdp,
                )
            }
            "SETUP" => {
                let ports = req.header("Transport").and_then(|t| {
                    let p = t
                        .split(';')
                        .find_map(|p| p.trim().strip_prefix("client_port="))?;
                    let (a, b) = p.split_once('-').unwrap_or((p, p));
                    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
                });
                match ports {
                    Some(p) => {
                        client_ports = Some(p);
                        let id = format!("{:08}", rand::random_range(0..100_000_000u32));
                        session = Some(id.clone());
                        reply("200 OK", &format!("Transport: RTP/AVP;unicast;client_port={}-{}\r\nSession: {id};timeout=60\r\n", p.0, p.1), "")
                    }
                    None => reply("461 Unsupported Transport", "", ""),
                }
            }
            "PLAY" => match (&session, client_ports) {
                (Some(id), Some((rtp_port, _))) => {
                    if playing.is_none() {
                        let socket = UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await?;
                        let rtp = Rtp {
                            socket,
                            peer: SocketAddr::new(peer.ip(), rtp_port),
                            seq: rand::random(),
                            ssrc: rand::random(),
                            start: Instant::now(),
                        };
                        // Subscribed before the reply: nothing that happens after PLAY is missed.
                        let (snapshot, rx) = bus.subscribe();
                        playing = Some(tokio::spawn(stream_events(snapshot, rx, rtp)));
                    }
                    reply(
                        "200 OK",
                        &format!("Session: {id};timeout=60\r\nRange: npt=0.000-\r\n"),
                        "",
                    )
                }
                _ => reply("455 Method Not Valid in This State", "", ""),
            },
            "TEARDOWN" => {
                if let Some(t) = playing.take() {
                    t.abort();
                }
                session = None;
                reply("200 OK", "", "")
            }
            _ => reply("501 Not Implemented", "", ""),
        };
        stream.write_all(out.as_bytes()).await?;
    }
}

/// Sends the current state of every stateful topic, then each event as it happens.
async fn stream_events(
    snapshot: Vec<Event>,
    mut rx: tokio::sync::broadcast::Receiver<Event>,
    mut rtp: Rtp,
) {
    for ev in &snapshot {
        if rtp.send(metadata(ev, true).as_bytes()).await.is_err() {
            return;
        }
    }
    loop {
        match rx.recv().await {
            Ok(ev) => {
                if rtp.send(metadata(&ev, false).as_bytes()).await.is_err() {
                    return;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
}
