//! The receiving half of a call leg: a UDP socket's RTP into [`CallPlayout`] (jitter
//! buffer, decoder, an engine stream at priority 8).
//!
//! A thread of its own reads the socket with a short timeout, so playout is polled at
//! least every 2 ms whether packets come or not. Malformed datagrams and unknown payload
//! types are counted and dropped; they never reach the buffer. Telephone-events (RFC 4733)
//! go to the DTMF receiver instead of the buffer. Which source the audio is taken from and
//! the microphone is sent to is the [`Latch`]'s rule: packets from anywhere else are
//! counted as spoofed and dropped, neither played nor followed.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netamp_engine::Engine;

use crate::dtmf::{Digit, EventReceiver};
use crate::latch::{Latch, Verdict};
use crate::media_task::MediaTask;
use crate::playout::CallPlayout;
pub use crate::rtp_params::{RtpInParams, RtpInStats};
use crate::srtp::Srtp;
use crate::{rtp, SipError};

/// Called with each DTMF digit the peer sends in RTP.
pub type DtmfSink = Box<dyn FnMut(Digit) + Send>;

/// Sequence and jitter bookkeeping for reception reports (RFC 3550 A.1, A.8).
#[derive(Debug, Default)]
struct Reception {
    ssrc: Option<u32>,
    max: u64,
    transit: Option<i64>,
    jitter: f64,
}

impl Reception {
    /// One audio packet that arrived `arrival` after the receiver started.
    fn packet(&mut self, stats: &RtpInStats, h: &rtp::RtpHeader, clock: u32, arrival: Duration) {
        let (ssrc, seq, ts) = (h.ssrc, h.seq, h.timestamp);
        if self.ssrc != Some(ssrc) {
            // A new source starts the counts afresh.
            *self = Reception {
                ssrc: Some(ssrc),
                max: u64::from(seq) + 65536,
                ..Default::default()
            };
            stats.ssrc.store(u64::from(ssrc), Ordering::Relaxed);
            stats.base_seq.store(self.max, Ordering::Relaxed);
            stats.received.store(0, Ordering::Relaxed);
        }
        let cycle = self.max & !0xFFFF;
        let mut ext = cycle | u64::from(seq);
        if ext + 0x8000 < self.max {
            ext += 65536;
        } else if ext > self.max + 0x8000 {
            ext = ext.saturating_sub(65536);
        }
        self.max = self.max.max(ext);
        stats.max_seq.store(self.max, Ordering::Relaxed);
        stats.received.fetch_add(1, Ordering::Relaxed);
        let arrival = (arrival.as_secs_f64() * f64::from(clock)) as i64;
        let transit = arrival - i64::from(ts);
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
            stats.jitter.store(self.jitter as u64, Ordering::Relaxed);
        }
        self.transit = Some(transit);
    }
}

/// Where the peer's RTP comes from, latched by the receiver (symmetric RTP).
pub type PeerLatch = Arc<Mutex<Option<SocketAddr>>>;

/// A running receiver; dropping it stops the thread and ends the stream.
pub struct RtpReceiver {
    stop: Arc<AtomicBool>,
    stats: Arc<RtpInStats>,
    thread: Option<JoinHandle<()>>,
}

impl RtpReceiver {
    /// Starts receiving on `socket` into a new stream of `engine`.
    pub fn start(
        socket: UdpSocket,
        engine: Engine,
        params: RtpInParams,
        peer: PeerLatch,
        dtmf: DtmfSink,
    ) -> Result<Self, SipError> {
        let stats = Arc::new(RtpInStats::default());
        Self::start_with(socket, engine, params, peer, dtmf, stats, Vec::new(), None)
    }

    /// Like [`RtpReceiver::start`], with the call's other media work (the sender, RTCP)
    /// run on the same thread between packets: one thread per call. `stats` are the
    /// counters the receiver fills (RTCP reads them). With `srtp`, every packet is
    /// authenticated and decrypted first; one that fails is counted as malformed.
    #[allow(clippy::too_many_arguments)]
    pub fn start_with(
        socket: UdpSocket,
        engine: Engine,
        params: RtpInParams,
        peer: PeerLatch,
        dtmf: DtmfSink,
        stats: Arc<RtpInStats>,
        tasks: Vec<Box<dyn MediaTask>>,
        srtp: Option<Srtp>,
    ) -> Result<Self, SipError> {
        socket.set_read_timeout(Some(POLL))?;
        // Fail here, not on the thread, when the codec cannot be decoded.
        let playout = CallPlayout::new(engine, &params)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (t_stop, t_stats) = (stop.clone(), stats.clone());
        let io = Io {
            socket,
            peer,
            dtmf,
            tasks,
            srtp,
        };
        let thread = std::thread::Builder::new()
            .name("netamp-rtp-in".into())
            .spawn(move || run(io, playout, params, t_stop, t_stats))?;
        Ok(Self {
            stop,
            stats,
            thread: Some(thread),
        })
    }

    /// The receiver's counters.
    pub fn stats(&self) -> &RtpInStats {
        &self.stats
    }

    /// A shared handle on the counters (for RTCP).
    pub fn stats_handle(&self) -> Arc<RtpInStats> {
        self.stats.clone()
    }
}

impl Drop for RtpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The receiver's ends: socket in, peer address and digits out, and the call's other
/// media work.
struct Io {
    socket: UdpSocket,
    peer: PeerLatch,
    dtmf: DtmfSink,
    tasks: Vec<Box<dyn MediaTask>>,
    srtp: Option<Srtp>,
}

/// The longest the receive thread waits for a packet: playout is polled at least this
/// often, and a media task runs at most this late.
const POLL: Duration = Duration::from_millis(2);

fn run(
    mut io: Io,
    mut playout: CallPlayout,
    params: RtpInParams,
    stop: Arc<AtomicBool>,
    stats: Arc<RtpInStats>,
) {
    let clock = params.codec.clock_rate();
    let mut events = EventReceiver::new();
    let mut buf = vec![0u8; rtp::MAX_PACKET + 1];
    let mut plain: Vec<u8> = Vec::with_capacity(rtp::MAX_PACKET + 1);
    let mut reception = Reception::default();
    let t0 = Instant::now();
    let mut latch = Latch::new(params.remote, params.latch_window, t0);
    let mut due = t0;
    while !stop.load(Ordering::Relaxed) {
        // First in the loop: no path through it (a flood of spoofed packets included)
        // keeps the sender and RTCP from their turn.
        let now = Instant::now();
        if !io.tasks.is_empty() && now >= due {
            due = io
                .tasks
                .iter_mut()
                .map(|t| t.step(now))
                .min()
                .unwrap_or(now + POLL);
        }
        match io.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                stats.datagrams.fetch_add(1, Ordering::Relaxed);
                let packet = match io.srtp.as_mut() {
                    None => &buf[..n],
                    Some(srtp) => {
                        if srtp.unprotect_rtp(&buf[..n], &mut plain).is_err() {
                            // Forged, replayed or plain RTP: never played.
                            stats.malformed.fetch_add(1, Ordering::Relaxed);
                            playout.poll(Instant::now(), &stats);
                            continue;
                        }
                        &plain[..]
                    }
                };
                match rtp::parse(packet) {
                    Ok((h, payload)) => {
                        let negotiated = Some(h.payload_type) == params.telephone_event
                            || h.payload_type == params.payload_type;
                        let verdict = if negotiated {
                            latch.packet(from, h.ssrc, Instant::now())
                        } else if latch.is_current(from) {
                            Verdict::Accept { moved: false }
                        } else {
                            Verdict::Spoofed
                        };
                        match verdict {
                            Verdict::Spoofed => {
                                stats.spoofed.fetch_add(1, Ordering::Relaxed);
                                playout.poll(Instant::now(), &stats);
                                continue;
                            }
                            Verdict::Accept { moved: true } => {
                                if let Ok(mut p) = io.peer.lock() {
                                    *p = Some(from);
                                }
                            }
                            Verdict::Accept { moved: false } => {}
                        }
                        if Some(h.payload_type) == params.telephone_event {
                            if let Some(d) = events.push(h.ssrc, h.timestamp, payload) {
                                (io.dtmf)(d);
                            }
                        } else if h.payload_type == params.payload_type {
                            reception.packet(&stats, &h, clock, t0.elapsed());
                            playout.push(&h, payload, Instant::now());
                        } else {
                            stats.unknown_payload.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        stats.malformed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                // ICMP port unreachable from a peer that has gone surfaces here on Linux.
                tracing::debug!("RTP socket: {e}");
                std::thread::sleep(POLL);
            }
        }
        playout.poll(Instant::now(), &stats);
    }
}
