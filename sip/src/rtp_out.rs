//! The sending half of a call leg: the capture chain's output, encoded with the negotiated
//! codec, one RTP packet every 20 ms.
//!
//! The sender keeps its own 20 ms clock (deadlines, not sleeps, so it never drifts) and
//! takes what the capture tap holds at each tick: a stalled or silent input still sends
//! silence, so the peer's jitter buffer and NAT bindings stay alive, and a capture clock
//! running fast is trimmed to 100 ms of backlog. Packets go to where the peer's RTP comes
//! from once it has come (symmetric RTP), else to the address in its SDP.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netamp_engine::capture::CaptureTap;
use netamp_engine::resample::StreamResampler;

use crate::media::{pcm_rate, Encoder};
use crate::media_task::MediaTask;
use crate::rtp::{self, RtpHeader};
use crate::rtp_in::PeerLatch;
use crate::sdp::AudioCodec;
use crate::srtp::Srtp;
use crate::SipError;

/// Packet time.
pub const PTIME: Duration = Duration::from_millis(20);
/// Most capture audio held back before the oldest is dropped, in 48 kHz samples.
const MAX_BACKLOG: usize = 4800;

/// What the sender sends.
#[derive(Debug, Clone)]
pub struct RtpOutParams {
    /// The codec.
    pub codec: AudioCodec,
    /// Its payload type.
    pub payload_type: u8,
    /// The peer's address from its SDP.
    pub remote: SocketAddr,
    /// Our synchronisation source.
    pub ssrc: u32,
}

/// Counters of one sender.
#[derive(Debug, Default)]
pub struct RtpOutStats {
    /// Packets sent.
    pub packets: AtomicU64,
    /// Payload bytes sent.
    pub bytes: AtomicU64,
    /// RTP timestamp of the last packet sent.
    pub last_timestamp: AtomicU64,
}

/// A running sender; dropping it stops it (and joins its thread, when it has one).
pub struct RtpSender {
    stop: Arc<AtomicBool>,
    sending: Arc<AtomicBool>,
    stats: Arc<RtpOutStats>,
    thread: Option<JoinHandle<()>>,
}

impl RtpSender {
    /// Starts sending `tap`'s audio from `socket`, on a thread of its own.
    pub fn start(
        socket: UdpSocket,
        tap: Option<CaptureTap>,
        params: RtpOutParams,
        peer: PeerLatch,
    ) -> Result<Self, SipError> {
        let (mut sender, mut task) = Self::task(socket, tap, params, peer, None)?;
        let stop = sender.stop.clone();
        let thread = std::thread::Builder::new()
            .name("netamp-rtp-out".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    let next = task.step(now);
                    std::thread::sleep(
                        next.saturating_duration_since(now)
                            .min(Duration::from_millis(5)),
                    );
                }
            })?;
        sender.thread = Some(thread);
        Ok(sender)
    }

    /// The sender without a thread: the handle, and the task a call's media thread runs
    /// ([`crate::rtp_in::RtpReceiver::start_with`]).
    /// With `srtp`, every packet is protected before it goes.
    pub fn task(
        socket: UdpSocket,
        tap: Option<CaptureTap>,
        params: RtpOutParams,
        peer: PeerLatch,
        srtp: Option<Srtp>,
    ) -> Result<(Self, Box<dyn MediaTask>), SipError> {
        let encoder = Encoder::new(params.codec)?;
        let resampler = StreamResampler::from_internal(pcm_rate(params.codec))?;
        let stop = Arc::new(AtomicBool::new(false));
        let sending = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(RtpOutStats::default());
        let frame = (pcm_rate(params.codec) / 50) as usize;
        let header = RtpHeader {
            marker: true,
            payload_type: params.payload_type,
            seq: (params.ssrc >> 16) as u16,
            timestamp: params.ssrc.rotate_left(7),
            ssrc: params.ssrc,
        };
        let state = Sending {
            socket,
            tap,
            frame,
            units: params.codec.clock_rate() / 50,
            params,
            peer,
            encoder,
            resampler,
            stop: stop.clone(),
            sending: sending.clone(),
            stats: stats.clone(),
            header,
            captured: Vec::with_capacity(MAX_BACKLOG * 2),
            pcm: Vec::with_capacity(frame * 4),
            payload: Vec::with_capacity(1500),
            packet: Vec::with_capacity(1600),
            srtp,
            protected: Vec::with_capacity(1600),
            next: Instant::now() + PTIME,
        };
        Ok((
            Self {
                stop,
                sending,
                stats,
                thread: None,
            },
            Box::new(state),
        ))
    }

    /// Pauses (hold, recvonly) or resumes sending; the clock and sequence run on.
    pub fn set_sending(&self, on: bool) {
        self.sending.store(on, Ordering::Relaxed);
    }

    /// The sender's counters.
    pub fn stats(&self) -> &RtpOutStats {
        &self.stats
    }

    /// A shared handle on the counters (for RTCP).
    pub fn stats_handle(&self) -> Arc<RtpOutStats> {
        self.stats.clone()
    }
}

impl Drop for RtpSender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Sending {
    socket: UdpSocket,
    tap: Option<CaptureTap>,
    params: RtpOutParams,
    peer: PeerLatch,
    encoder: Encoder,
    resampler: StreamResampler,
    stop: Arc<AtomicBool>,
    sending: Arc<AtomicBool>,
    stats: Arc<RtpOutStats>,
    /// Codec samples per packet.
    frame: usize,
    /// RTP timestamp units per packet.
    units: u32,
    header: RtpHeader,
    captured: Vec<f32>,
    pcm: Vec<f32>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    /// SRTP, when the call has it.
    srtp: Option<Srtp>,
    /// The protected packet.
    protected: Vec<u8>,
    /// When the next packet is due.
    next: Instant,
}

/// 48 kHz samples the capture tap gives per packet.
const CAPTURED_FRAME: usize = 960;

impl MediaTask for Sending {
    fn step(&mut self, now: Instant) -> Instant {
        if self.stop.load(Ordering::Relaxed) {
            return now + Duration::from_secs(3600);
        }
        while now >= self.next {
            self.next += PTIME;
            // After a long stall (a suspended machine) start afresh instead of bursting.
            if now.saturating_duration_since(self.next) > Duration::from_millis(200) {
                self.next = now + PTIME;
            }
            self.packetise();
        }
        self.next
    }
}

impl Sending {
    /// One packet time: take what the tap holds, send what is encoded.
    fn packetise(&mut self) {
        if let Some(tap) = self.tap.as_mut() {
            tap.read(&mut self.captured);
        }
        if self.captured.len() > MAX_BACKLOG {
            let cut = self.captured.len() - MAX_BACKLOG;
            self.captured.drain(..cut);
        }
        let take = self.captured.len().min(CAPTURED_FRAME);
        self.resampler.push(&self.captured[..take]);
        self.captured.drain(..take);
        if take < CAPTURED_FRAME {
            self.resampler
                .push(&[0.0; CAPTURED_FRAME][..CAPTURED_FRAME - take]);
        }
        let ready = self.resampler.ready();
        let n = ready.len();
        self.pcm.extend_from_slice(ready);
        self.resampler.consume(n);
        let frame = self.frame;
        while self.pcm.len() >= frame {
            if self.sending.load(Ordering::Relaxed) {
                self.payload.clear();
                self.encoder.encode(&self.pcm[..frame], &mut self.payload);
                self.packet.clear();
                rtp::write(&self.header, &self.payload, &mut self.packet);
                let wire = match self.srtp.as_mut() {
                    None => Some(&self.packet),
                    // Never sent in clear: a packet that cannot be protected is skipped.
                    Some(srtp) => srtp
                        .protect_rtp(&self.packet, &mut self.protected)
                        .is_ok()
                        .then_some(&self.protected),
                };
                let to = self
                    .peer
                    .lock()
                    .ok()
                    .and_then(|p| *p)
                    .unwrap_or(self.params.remote);
                if wire.is_some_and(|w| self.socket.send_to(w, to).is_ok()) {
                    self.stats.packets.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .bytes
                        .fetch_add(self.payload.len() as u64, Ordering::Relaxed);
                    self.stats
                        .last_timestamp
                        .store(u64::from(self.header.timestamp), Ordering::Relaxed);
                }
                self.header.marker = false;
            }
            self.header.seq = self.header.seq.wrapping_add(1);
            self.header.timestamp = self.header.timestamp.wrapping_add(self.units);
            self.pcm.drain(..frame);
        }
    }
}
