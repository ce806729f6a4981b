//! Basic RTCP (RFC 3550 §6): sender and receiver reports with SDES CNAME, both ways.
//!
//! Building and parsing are plain functions; the per-call thread in [`RtcpSession`] sends a
//! compound report every [`INTERVAL`] on the RTP port + 1 (SR while netamp sends, RR
//! otherwise) from the receiver's and sender's counters, and reads the peer's reports
//! (kept for LSR/DLSR and counted). Malformed RTCP is counted and dropped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::latch::{Latch, Verdict};
use crate::media_task::MediaTask;
use crate::rtp_out::RtpOutStats;
use crate::rtp_params::RtpInStats;
use crate::SipError;

/// Time between reports (RFC 3550's 5 s minimum).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// How much longer than RTP's the RTCP latch stays open for a new address.
pub const FIRST_REPORT_SLACK: Duration = Duration::from_secs(10);

/// One reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, /256.
    pub fraction_lost: u8,
    /// Packets lost in all (24 bits, signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP time.
    pub lsr: u32,
    /// Delay since that SR, 1/65536 s.
    pub dlsr: u32,
}

/// What a parsed compound packet held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Sender of the SR or RR.
    pub ssrc: u32,
    /// Middle 32 bits of the NTP time of an SR.
    pub sr_ntp_middle: Option<u32>,
    /// Report blocks.
    pub blocks: Vec<ReportBlock>,
    /// A BYE was included.
    pub bye: bool,
}

/// NTP time now (seconds since 1900 in the high 32 bits).
pub fn ntp_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() + 2_208_988_800;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

fn push_block(out: &mut Vec<u8>, b: &ReportBlock) {
    out.extend_from_slice(&b.ssrc.to_be_bytes());
    let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0xFF_FFFF;
    out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
    out.extend_from_slice(&b.highest_seq.to_be_bytes());
    out.extend_from_slice(&b.jitter.to_be_bytes());
    out.extend_from_slice(&b.lsr.to_be_bytes());
    out.extend_from_slice(&b.dlsr.to_be_bytes());
}

/// A compound SR (when `sender` is `(ntp, rtp_ts, packets, octets)`) or RR, then SDES CNAME.
pub fn compound(
    ssrc: u32,
    sender: Option<(u64, u32, u32, u32)>,
    block: Option<ReportBlock>,
    cname: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let rc = u8::from(block.is_some());
    let words = match sender {
        Some(_) => 6 + 6 * u16::from(rc),
        None => 1 + 6 * u16::from(rc),
    };
    out.push(0x80 | rc);
    out.push(if sender.is_some() { 200 } else { 201 });
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some((ntp, ts, packets, octets)) = sender {
        out.extend_from_slice(&ntp.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&packets.to_be_bytes());
        out.extend_from_slice(&octets.to_be_bytes());
    }
    if let Some(b) = block {
        push_block(&mut out, &b);
    }
    // SDES: one chunk, CNAME item, zero-padded to a 32-bit boundary.
    let name = &cname.as_bytes()[..cname.len().min(255)];
    let mut chunk = ssrc.to_be_bytes().to_vec();
    chunk.extend_from_slice(&[1, name.len() as u8]);
    chunk.extend_from_slice(name);
    chunk.push(0);
    while !chunk.len().is_multiple_of(4) {
        chunk.push(0);
    }
    out.extend_from_slice(&[0x81, 202]);
    out.extend_from_slice(&((chunk.len() / 4) as u16).to_be_bytes());
    out.extend_from_slice(&chunk);
    out
}

/// Parses a compound RTCP packet; the first packet must be an SR or RR (RFC 3550 §6.1).
pub fn parse(data: &[u8]) -> Result<Parsed, SipError> {
    let bad = |m: &str| SipError::Malformed(format!("RTCP: {m}"));
    let mut p = Parsed::default();
    let mut off = 0;
    let mut first = true;
    while off + 4 <= data.len() {
        let h = &data[off..];
        if h[0] >> 6 != 2 {
            return Err(bad("version"));
        }
        let count = usize::from(h[0] & 0x1F);
        let pt = h[1];
        let len = (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1) * 4;
        if off + len > data.len() {
            return Err(bad("length"));
        }
        let body = &data[off + 4..off + len];
        if first && pt != 200 && pt != 201 {
            return Err(bad("compound does not start with SR or RR"));
        }
        first = false;
        let be = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match pt {
            200 | 201 => {
                let fixed = if pt == 200 { 24 } else { 4 };
                if body.len() < fixed + 24 * count {
                    return Err(bad("report too short"));
                }
                p.ssrc = be(body, 0);
                if pt == 200 {
                    let ntp = (u64::from(be(body, 4)) << 32) | u64::from(be(body, 8));
                    p.sr_ntp_middle = Some((ntp >> 16) as u32);
                }
                for k in 0..count {
                    let b = &body[fixed + 24 * k..];
                    let lost = be(b, 4);
                    p.blocks.push(ReportBlock {
                        ssrc: be(b, 0),
                        fraction_lost: (lost >> 24) as u8,
                        cumulative_lost: ((lost << 8) as i32) >> 8,
                        highest_seq: be(b, 8),
                        jitter: be(b, 12),
                        lsr: be(b, 16),
                        dlsr: be(b, 20),
                    });
                }
            }
            203 => p.bye = true,
            _ => {}
        }
        off += len;
    }
    if first || off != data.len() {
        return Err(bad("truncated"));
    }
    Ok(p)
}

/// Counters of one call's RTCP.
#[derive(Debug, Default)]
pub struct RtcpStats {
    /// Reports sent.
    pub sent: AtomicU64,
    /// Reports received.
    pub received: AtomicU64,
    /// Datagrams that were not RTCP.
    pub malformed: AtomicU64,
    /// Reports from a source the latch refused (another address during the call).
    pub spoofed: AtomicU64,
    /// Packets lost as the peer last reported for our stream.
    pub peer_reported_lost: AtomicU64,
}

/// The RTCP half of a call; dropping it stops it (and joins its thread, when it has one).
pub struct RtcpSession {
    stop: Arc<AtomicBool>,
    stats: Arc<RtcpStats>,
    thread: Option<JoinHandle<()>>,
}

/// What the session reports on.
pub struct RtcpSources {
    /// Our SSRC (the sender's).
    pub ssrc: u32,
    /// Receiver counters, when we receive.
    pub rx: Option<Arc<RtpInStats>>,
    /// Sender counters, when we send.
    pub tx: Option<Arc<RtpOutStats>>,
    /// SRTCP: what protects our reports and checks the peer's (`None`: plain RTCP).
    pub srtp: Option<SrtcpPair>,
}

/// The two SRTCP contexts of a call.
pub struct SrtcpPair {
    /// Protects what we send.
    pub out: crate::srtp::Srtp,
    /// Checks what the peer sends.
    pub input: crate::srtp::Srtp,
}

impl RtcpSession {
    /// Starts reporting from `socket` to `peer` (the peer's RTP port + 1 until its own
    /// RTCP shows where it comes from, by the [`Latch`] rule with `window`).
    ///
    /// RTCP's latch stays open [`FIRST_REPORT_SLACK`] longer than RTP's: a peer's first
    /// report comes only after its randomised interval (RFC 3550 §6.2), seconds into the
    /// call. Once the peer's RTP has an SSRC, reports must carry it to move the latch.
    pub fn start(
        socket: UdpSocket,
        peer: SocketAddr,
        window: Duration,
        src: RtcpSources,
    ) -> Result<Self, SipError> {
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let (mut session, mut reporter) = Self::reporter(socket, peer, window, src);
        let stop = session.stop.clone();
        let thread = std::thread::Builder::new()
            .name("netamp-rtcp".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // Blocks up to 200 ms for the peer's report.
                    if let Ok((n, from)) = reporter.socket.recv_from(&mut reporter.buf) {
                        reporter.datagram(n, from, Instant::now());
                    }
                    reporter.report_if_due(Instant::now());
                }
            })?;
        session.thread = Some(thread);
        Ok(session)
    }

    /// The session without a thread: the handle, and the task a call's media thread runs
    /// ([`crate::rtp_in::RtpReceiver::start_with`]); `socket` is made non-blocking.
    pub fn task(
        socket: UdpSocket,
        peer: SocketAddr,
        window: Duration,
        src: RtcpSources,
    ) -> Result<(Self, Box<dyn MediaTask>), SipError> {
        socket.set_nonblocking(true)?;
        let (session, reporter) = Self::reporter(socket, peer, window, src);
        Ok((session, Box::new(reporter)))
    }

    fn reporter(
        socket: UdpSocket,
        peer: SocketAddr,
        window: Duration,
        src: RtcpSources,
    ) -> (Self, Reporter) {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RtcpStats::default());
        let started = Instant::now();
        let cname = format!(
            "netamp@{}",
            socket
                .local_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default()
        );
        let reporter = Reporter {
            socket,
            latch: Latch::new(peer, window + FIRST_REPORT_SLACK, started),
            // The first report goes out early so short calls report at all.
            next: started + Duration::from_secs(1),
            last_sr: None,
            prev: (0, 0),
            buf: [0u8; 1500],
            plain: Vec::with_capacity(1500),
            cname,
            src,
            stop: stop.clone(),
            stats: stats.clone(),
        };
        (
            Self {
                stop,
                stats,
                thread: None,
            },
            reporter,
        )
    }

    /// The session's counters.
    pub fn stats(&self) -> &RtcpStats {
        &self.stats
    }
}

impl Drop for RtcpSession {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One call's RTCP state: the latch on the peer's reports, what it last sent, when the
/// next report is due.
struct Reporter {
    socket: UdpSocket,
    latch: Latch,
    next: Instant,
    last_sr: Option<(u32, Instant)>,
    prev: (u64, u64),
    buf: [u8; 1500],
    /// A decrypted SRTCP packet, or one to protect.
    plain: Vec<u8>,
    cname: String,
    src: RtcpSources,
    stop: Arc<AtomicBool>,
    stats: Arc<RtcpStats>,
}

impl MediaTask for Reporter {
    fn step(&mut self, now: Instant) -> Instant {
        if self.stop.load(Ordering::Relaxed) {
            return now + Duration::from_secs(3600);
        }
        // Non-blocking: whatever reports have come, then the report if due.
        while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
            self.datagram(n, from, now);
        }
        self.report_if_due(now);
        self.next
    }
}

impl Reporter {
    /// A datagram of `n` bytes in `buf` from `from`.
    fn datagram(&mut self, n: usize, from: SocketAddr, now: Instant) {
        if let Some(rx) = self
            .src
            .rx
            .as_ref()
            .filter(|rx| rx.received.load(Ordering::Relaxed) > 0)
        {
            self.latch
                .expect_ssrc(rx.ssrc.load(Ordering::Relaxed) as u32);
        }
        let data = match self.src.srtp.as_mut() {
            None => &self.buf[..n],
            Some(pair) => {
                if pair
                    .input
                    .unprotect_rtcp(&self.buf[..n], &mut self.plain)
                    .is_err()
                {
                    // Forged, replayed or plain: not the peer's.
                    self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                &self.plain[..]
            }
        };
        let (src, stats) = (&self.src, &self.stats);
        match parse(data) {
            Ok(p) if self.latch.packet(from, p.ssrc, now) == Verdict::Spoofed => {
                stats.spoofed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(p) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = p.sr_ntp_middle {
                    self.last_sr = Some((m, now));
                }
                if let Some(b) = p.blocks.iter().find(|b| b.ssrc == src.ssrc) {
                    stats
                        .peer_reported_lost
                        .store(b.cumulative_lost.max(0) as u64, Ordering::Relaxed);
                }
            }
            Err(_) => {
                stats.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends the compound report when it is due.
    fn report_if_due(&mut self, now: Instant) {
        if now < self.next {
            return;
        }
        self.next = now + INTERVAL;
        let (src, last_sr) = (&self.src, self.last_sr);
        let prev = &mut self.prev;
        let block = src.rx.as_ref().and_then(|rx| {
            let (ssrc, expected, received, highest, jitter) = rx.reception();
            if expected == 0 {
                return None;
            }
            let (d_exp, d_rec) = (expected - prev.0, received.saturating_sub(prev.1));
            *prev = (expected, received);
            let lost_interval = d_exp.saturating_sub(d_rec);
            let (lsr, dlsr) = last_sr.map_or((0, 0), |(m, at)| {
                (m, (now.duration_since(at).as_secs_f64() * 65536.0) as u32)
            });
            Some(ReportBlock {
                ssrc,
                fraction_lost: (lost_interval * 256)
                    .checked_div(d_exp)
                    .map_or(0, |f| f.min(255) as u8),
                cumulative_lost: expected.saturating_sub(received).min(0x7F_FFFF) as i32,
                highest_seq: highest,
                jitter,
                lsr,
                dlsr,
            })
        });
        let sender = src.tx.as_ref().and_then(|tx| {
            let packets = tx.packets.load(Ordering::Relaxed);
            (packets > 0).then(|| {
                let ts = tx.last_timestamp.load(Ordering::Relaxed) as u32;
                (
                    ntp_now(),
                    ts,
                    packets as u32,
                    tx.bytes.load(Ordering::Relaxed) as u32,
                )
            })
        });
        let mut packet = compound(src.ssrc, sender, block, &self.cname);
        if let Some(pair) = self.src.srtp.as_mut() {
            if pair.out.protect_rtcp(&packet, &mut self.plain).is_err() {
                return;
            }
            std::mem::swap(&mut packet, &mut self.plain);
        }
        if self.socket.send_to(&packet, self.latch.current()).is_ok() {
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let block = ReportBlock {
            ssrc: 0xABCD,
            fraction_lost: 12,
            cumulative_lost: 34,
            highest_seq: 0x1_0005,
            jitter: 80,
            lsr: 0x1234_5678,
            dlsr: 65536,
        };
        let sr = compound(
            7,
            Some((ntp_now(), 160, 50, 8000)),
            Some(block),
            "netamp@127.0.0.1",
        );
        let p = parse(&sr).unwrap();
        assert_eq!(p.ssrc, 7);
        assert!(p.sr_ntp_middle.is_some());
        assert_eq!(p.blocks, vec![block]);
        let rr = compound(9, None, None, "x");
        let p = parse(&rr).unwrap();
        assert_eq!((p.ssrc, p.sr_ntp_middle, p.blocks.len()), (9, None, 0));
        let neg = ReportBlock {
            cumulative_lost: -3,
            ..block
        };
        let p = parse(&compound(1, None, Some(neg), "x")).unwrap();
        assert_eq!(p.blocks[0].cumulative_lost, -3);
    }

    #[test]
    fn hostile_rtcp_is_refused_without_panicking() {
        let good = compound(7, Some((1, 2, 3, 4)), Some(ReportBlock::default()), "n");
        // Cut anywhere, the packet is refused, except right after the SR (a lone SR is
        // a complete, if minimal, report).
        let sr_len = (usize::from(u16::from_be_bytes([good[2], good[3]])) + 1) * 4;
        for cut in 0..good.len() {
            assert_eq!(parse(&good[..cut]).is_ok(), cut == sr_len, "cut at {cut}");
        }
        let mut sdes_first = good.clone();
        sdes_first[1] = 202;
        assert!(parse(&sdes_first).is_err());
    }

    proptest::proptest! {
        /// A good compound packet with any byte changed, or any bytes at all: parsed or
        /// refused, never a panic.
        #[test]
        fn flipped_and_random_rtcp_never_panics(
            at: usize,
            byte: u8,
            random in proptest::collection::vec(proptest::num::u8::ANY, 0..1600),
        ) {
            let mut p = compound(7, Some((1, 2, 3, 4)), Some(ReportBlock::default()), "n");
            let i = at % p.len();
            p[i] = byte;
            let _ = parse(&p);
            let _ = parse(&random);
        }
    }

    #[test]
    fn a_session_reports_and_reads_the_peers_reports() {
        let ours = UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let rx = Arc::new(RtpInStats::default());
        // The peer's RTP has come with SSRC 7.
        rx.received.store(1, Ordering::Relaxed);
        rx.ssrc.store(7, Ordering::Relaxed);
        let session = RtcpSession::start(
            ours.try_clone().unwrap(),
            peer.local_addr().unwrap(),
            crate::latch::DEFAULT_WINDOW,
            RtcpSources {
                ssrc: 42,
                rx: Some(rx),
                tx: None,
                srtp: None,
            },
        )
        .unwrap();
        // The peer's SR reaches the session and is counted.
        let sr = compound(7, Some((ntp_now(), 1, 2, 3)), None, "peer");
        peer.send_to(&sr, ours.local_addr().unwrap()).unwrap();
        peer.send_to(b"junk", ours.local_addr().unwrap()).unwrap();
        // A stranger's report with another SSRC is dropped and does not take the reports.
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let spoof = compound(99, None, Some(ReportBlock::default()), "spoof");
        stranger
            .send_to(&spoof, ours.local_addr().unwrap())
            .unwrap();
        // Our first report comes within about a second: an RR (nothing sent yet).
        let mut buf = [0u8; 1500];
        let (n, _) = peer.recv_from(&mut buf).expect("a report");
        let p = parse(&buf[..n]).unwrap();
        assert_eq!((p.ssrc, p.sr_ntp_middle), (42, None));
        // The counter is bumped after the send returns: give the thread a moment.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(session.stats().received.load(Ordering::Relaxed), 1);
        assert_eq!(session.stats().malformed.load(Ordering::Relaxed), 1);
        assert_eq!(session.stats().sent.load(Ordering::Relaxed), 1);
        assert_eq!(session.stats().spoofed.load(Ordering::Relaxed), 1);
    }
}
