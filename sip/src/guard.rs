//! The front door for SIP over UDP: every datagram is checked before the stack sees it.
//!
//! rsipstack drops a datagram that does not parse, or that lacks the headers a
//! transaction needs, without a word. RFC 3261 §8.2 / §21.4.1 wants `400 Bad Request` for a
//! malformed request whenever a reply can be addressed, so the socket netamp hands to
//! rsipstack ([`GuardedUdp`]) answers those itself and passes on only what will parse.
//! A reply is possible when the header lines a response copies (Via, From, To, Call-ID,
//! CSeq) can be found in the text; anything else (binary junk, broken responses) is
//! dropped and counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::SipMessage;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};

/// Counters of the guard.
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Datagrams passed to the stack.
    pub passed: AtomicU64,
    /// Malformed requests answered with 400.
    pub rejected: AtomicU64,
    /// Datagrams dropped without a reply.
    pub dropped: AtomicU64,
}

/// What to do with one datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the stack.
    Pass,
    /// Send this reply and drop the datagram.
    Reply(Vec<u8>),
    /// Drop it silently (keep-alives, junk that cannot be answered).
    Drop,
}

/// Checks one datagram.
pub fn check(packet: &[u8]) -> Verdict {
    // CRLF keep-alives (RFC 5626) are the stack's business.
    if packet.iter().all(|b| b.is_ascii_whitespace()) {
        return Verdict::Pass;
    }
    let reason = match SipMessage::try_from(packet) {
        Ok(SipMessage::Request(req)) => match request_problem(&req, packet) {
            None => return Verdict::Pass,
            Some(r) => r,
        },
        Ok(SipMessage::Response(resp)) => {
            return if TransactionKey::from_response(&resp, TransactionRole::Client).is_ok() {
                Verdict::Pass
            } else {
                Verdict::Drop
            };
        }
        Err(_) => "Malformed message",
    };
    match reply(packet, 400, reason) {
        Some(reply) => Verdict::Reply(reply),
        None => Verdict::Drop,
    }
}

/// Checks one datagram against the size limit first: one of `max` bytes or more gets
/// `513 Message Too Large` (RFC 3261 §21.5.14) when it can be answered. The stack reads
/// into a buffer of its own size and cuts what is longer, so `max` is at most that.
pub fn check_sized(packet: &[u8], max: usize) -> Verdict {
    if packet.len() >= max {
        return match reply(packet, 513, "Message Too Large") {
            Some(r) => Verdict::Reply(r),
            None => Verdict::Drop,
        };
    }
    check(packet)
}

/// Why a parsed request cannot go on, if it cannot.
fn request_problem(req: &rsipstack::sip::Request, raw: &[u8]) -> Option<&'static str> {
    if req.via_header().is_err() {
        return Some("Missing Via");
    }
    if req.from_header().is_err() || req.to_header().is_err() {
        return Some("Missing From or To");
    }
    if req.call_id_header().is_err() {
        return Some("Missing Call-ID");
    }
    let Ok(cseq) = req.cseq_header() else {
        return Some("Missing CSeq");
    };
    match (cseq.seq(), cseq.method()) {
        (Ok(_), Ok(m)) if m == req.method => {}
        _ => return Some("Bad CSeq"),
    }
    if TransactionKey::from_request(req, TransactionRole::Server).is_err() {
        return Some("Bad Via");
    }
    // RFC 3261 §18.3: a datagram shorter than its Content-Length is an error.
    if let Some(declared) = header_value(raw, &["content-length", "l"]) {
        match declared.trim().parse::<usize>() {
            Ok(n) if n <= body_len(raw) => {}
            _ => return Some("Bad Content-Length"),
        }
    }
    None
}

/// Bytes after the blank line that ends the headers.
fn body_len(raw: &[u8]) -> usize {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| raw.len() - p - 4)
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| raw.len() - p - 2)
        })
        .unwrap_or(0)
}

/// Header lines of `raw` up to the blank line, as text.
fn header_lines(raw: &[u8]) -> impl Iterator<Item = &str> {
    let text = std::str::from_utf8(raw).unwrap_or("");
    text.split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .skip(1)
        .take_while(|l| !l.is_empty())
}

/// The first value of a header (by any of its names, case-insensitive).
fn header_value<'a>(raw: &'a [u8], names: &[&str]) -> Option<&'a str> {
    header_lines(raw).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        names
            .iter()
            .any(|n| name.trim().eq_ignore_ascii_case(n))
            .then_some(value.trim())
    })
}

/// A `status` reply for a request whose identifying headers can be read, else `None`.
fn reply(raw: &[u8], status: u16, reason: &str) -> Option<Vec<u8>> {
    let first = std::str::from_utf8(raw).ok()?.lines().next()?;
    // Responses are never answered, nor is an ACK (RFC 3261 §17.2.1).
    if first.starts_with("SIP/") || first.starts_with("ACK ") || !first.ends_with("SIP/2.0") {
        return None;
    }
    let vias: Vec<&str> = header_lines(raw)
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let n = name.trim();
            (n.eq_ignore_ascii_case("via") || n.eq_ignore_ascii_case("v")).then_some(value.trim())
        })
        .collect();
    let from = header_value(raw, &["from", "f"])?;
    let to = header_value(raw, &["to", "t"])?;
    let call_id = header_value(raw, &["call-id", "i"])?;
    let cseq = header_value(raw, &["cseq"])?;
    if vias.is_empty() {
        return None;
    }
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for v in vias {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    out.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nServer: netamp\r\nContent-Length: 0\r\n\r\n"
    ));
    Some(out.into_bytes())
}

/// The UDP socket rsipstack reads: datagrams pass [`check`] first.
pub struct GuardedUdp {
    socket: tokio::net::UdpSocket,
    stats: Arc<GuardStats>,
    max: usize,
}

impl GuardedUdp {
    /// Wraps a bound socket; datagrams of `max` bytes or more are refused.
    pub fn new(socket: tokio::net::UdpSocket, stats: Arc<GuardStats>, max: usize) -> Self {
        Self { socket, stats, max }
    }
}

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for GuardedUdp {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            match check_sized(&buf[..n], self.max.min(buf.len())) {
                Verdict::Pass => {
                    self.stats.passed.fetch_add(1, Ordering::Relaxed);
                    return Ok((n, from));
                }
                Verdict::Reply(reply) => {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    let _ = self.socket.send_to(&reply, from).await;
                }
                Verdict::Drop => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "OPTIONS sip:netamp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:netamp@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_good_request_passes() {
        assert_eq!(check(OPTIONS.as_bytes()), Verdict::Pass);
        let compact = OPTIONS
            .replace("Via:", "v:")
            .replace("From:", "f:")
            .replace("To:", "t:")
            .replace("Call-ID:", "i:")
            .replace("Content-Length:", "l:");
        assert_eq!(check(compact.as_bytes()), Verdict::Pass);
    }

    fn reply_of(msg: &str) -> String {
        match check(msg.as_bytes()) {
            Verdict::Reply(r) => String::from_utf8(r).unwrap(),
            v => panic!("expected a 400, got {v:?} for {msg:?}"),
        }
    }

    #[test]
    fn broken_requests_get_400_with_their_headers() {
        let r = reply_of(&OPTIONS.replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS"));
        assert!(r.starts_with("SIP/2.0 400 "), "{r}");
        assert!(
            r.contains("Call-ID: abc\r\n") && r.contains("branch=z9hG4bK1"),
            "{r}"
        );
        let r = reply_of(&OPTIONS.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"));
        assert!(r.starts_with("SIP/2.0 400 Bad CSeq"), "{r}");
        let r = reply_of(&OPTIONS.replace("Content-Length: 0", "Content-Length: 500"));
        assert!(r.starts_with("SIP/2.0 400 Bad Content-Length"), "{r}");
        let r = reply_of(&OPTIONS.replace("Content-Length: 0", "Content-Length: -3"));
        assert!(r.starts_with("SIP/2.0 400"), "{r}");
        reply_of(&OPTIONS.replace("From: <sip:a@127.0.0.1>;tag=1", "From: <<<>>"));
    }

    #[test]
    fn a_datagram_at_the_size_limit_gets_513_and_one_below_passes() {
        let padded = OPTIONS.replace(
            "Max-Forwards: 70",
            &format!("Max-Forwards: 70\r\nX-Pad: {}", "p".repeat(1200)),
        );
        assert_eq!(
            check_sized(padded.as_bytes(), padded.len() + 1),
            Verdict::Pass
        );
        let Verdict::Reply(r) = check_sized(padded.as_bytes(), padded.len()) else {
            panic!("no reply");
        };
        let r = String::from_utf8(r).expect("text");
        assert!(r.starts_with("SIP/2.0 513 Message Too Large\r\n"), "{r}");
        assert!(r.contains("Call-ID: abc"), "{r}");
        assert_eq!(check_sized(&[0u8; 9000], 8192), Verdict::Drop);
    }

    #[test]
    fn unanswerable_junk_is_dropped() {
        assert_eq!(check(b"\x00\x01\x02 garbage"), Verdict::Drop);
        assert_eq!(
            check(OPTIONS.replace("Call-ID: abc\r\n", "").as_bytes()),
            Verdict::Drop
        );
        assert_eq!(
            check(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            Verdict::Drop
        );
        let ack = OPTIONS
            .replace("OPTIONS sip", "ACK sip")
            .replace("CSeq: 1 OPTIONS", "CSeq: z ACK");
        assert_eq!(check(ack.as_bytes()), Verdict::Drop);
        assert_eq!(check(b"\r\n\r\n"), Verdict::Pass);
    }

    proptest::proptest! {
        /// A valid request cut anywhere with any byte changed, or any bytes at all: a
        /// verdict, never a panic.
        #[test]
        fn cut_and_flipped_requests_never_panic(cut in 0usize..OPTIONS.len(), at: usize, byte: u8) {
            let mut p = OPTIONS.as_bytes()[..cut].to_vec();
            if !p.is_empty() {
                let i = at % p.len();
                p[i] = byte;
            }
            let _ = check(&p);
        }

        #[test]
        fn random_bytes_never_panic(p in proptest::collection::vec(proptest::num::u8::ANY, 0..3000)) {
            let _ = check(&p);
        }
    }
}
