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
use crate::rtp::{self, RtpHeader};
use crate::rtp_in::PeerLatch;
use crate::sdp::AudioCodec;
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

/// A running sender; dropping it stops the thread.
pub struct RtpSender {
    stop: Arc<AtomicBool>,
    sending: Arc<AtomicBool>,
    stats: Arc<RtpOutStats>,
    thread: Option<JoinHandle<()>>,
}

impl RtpSender {
    /// Starts sending `tap`'s audio from `socket`.
    pub fn start(
        socket: UdpSocket,
        tap: Option<CaptureTap>,
        params: RtpOutParams,
        peer: PeerLatch,
    ) -> Result<Self, SipError> {
        let encoder = Encoder::new(params.codec)?;
        let resampler = StreamResampler::from_internal(pcm_rate(params.codec))?;
        let stop = Arc::new(AtomicBool::new(false));
        let sending = Arc::new(AtomicBool::new(true));
        let stats = Arc::new(RtpOutStats::default());
        let state = Sending {
            socket,
            tap,
            params,
            peer,
            encoder,
            resampler,
            stop: stop.clone(),
            sending: sending.clone(),
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("netamp-rtp-out".into())
            .spawn(move || state.run())?;
        Ok(Self {
            stop,
            sending,
            stats,
            thread: Some(thread),
        })
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
}

impl Sending {
    fn run(mut self) {
        let frame = (pcm_rate(self.params.codec) / 50) as usize;
        let units = self.params.codec.clock_rate() / 50;
        let captured_frame = 960;
        let mut header = RtpHeader {
            marker: true,
            payload_type: self.params.payload_type,
            seq: (self.params.ssrc >> 16) as u16,
            timestamp: self.params.ssrc.rotate_left(7),
            ssrc: self.params.ssrc,
        };
        let mut captured: Vec<f32> = Vec::with_capacity(MAX_BACKLOG * 2);
        let mut pcm: Vec<f32> = Vec::with_capacity(frame * 4);
        let mut payload = Vec::with_capacity(1500);
        let mut packet = Vec::with_capacity(1600);
        let mut next = Instant::now() + PTIME;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(5)));
                continue;
            }
            next += PTIME;
            // After a long stall (a suspended machine) start afresh instead of bursting.
            if now.saturating_duration_since(next) > Duration::from_millis(200) {
                next = now + PTIME;
            }
            if let Some(tap) = self.tap.as_mut() {
                tap.read(&mut captured);
            }
            if captured.len() > MAX_BACKLOG {
                let cut = captured.len() - MAX_BACKLOG;
                captured.drain(..cut);
            }
            let take = captured.len().min(captured_frame);
            self.resampler.push(&captured[..take]);
            captured.drain(..take);
            if take < captured_frame {
                self.resampler.push(&[0.0; 960][..captured_frame - take]);
            }
            let ready = self.resampler.ready();
            let n = ready.len();
            pcm.extend_from_slice(ready);
            self.resampler.consume(n);
            while pcm.len() >= frame {
                if self.sending.load(Ordering::Relaxed) {
                    payload.clear();
                    self.encoder.encode(&pcm[..frame], &mut payload);
                    packet.clear();
                    rtp::write(&header, &payload, &mut packet);
                    let to = self
                        .peer
                        .lock()
                        .ok()
                        .and_then(|p| *p)
                        .unwrap_or(self.params.remote);
                    if self.socket.send_to(&packet, to).is_ok() {
                        self.stats.packets.fetch_add(1, Ordering::Relaxed);
                        self.stats
                            .bytes
                            .fetch_add(payload.len() as u64, Ordering::Relaxed);
                        self.stats
                            .last_timestamp
                            .store(u64::from(header.timestamp), Ordering::Relaxed);
                    }
                    header.marker = false;
                }
                header.seq = header.seq.wrapping_add(1);
                header.timestamp = header.timestamp.wrapping_add(units);
                pcm.drain(..frame);
            }
        }
    }
}
