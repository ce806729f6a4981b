//! The receiving half of a call leg: a UDP socket's RTP through the jitter buffer and the
//! payload decoder into an engine stream (priority 8, ducks clips and live HTTP audio).
//!
//! A thread of its own reads the socket with a short timeout, so playout is polled at
//! least every 2 ms whether packets come or not. Malformed datagrams and unknown payload
//! types are counted and dropped; they never reach the buffer. The stream starts behind
//! 10 ms of silence so the renderer's 5 ms blocks never catch up with a frame that is
//! being written.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netamp_engine::resample::StreamResampler;
use netamp_engine::{Engine, StreamOptions, StreamWriter};

use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Packet, Pop};
use crate::media::{Codec, Decoder};
use crate::{rtp, SipError};

/// Priority of a call's audio (ARCHITECTURE.md §2).
pub const CALL_PRIORITY: u8 = 8;
/// Silence ahead of the first frame, in 48 kHz samples (10 ms).
const LEAD_IN: usize = 480;

/// Counters of one receiver.
#[derive(Debug, Default)]
pub struct RtpInStats {
    /// Datagrams received.
    pub datagrams: AtomicU64,
    /// Datagrams that were not RTP.
    pub malformed: AtomicU64,
    /// RTP with a payload type netamp does not decode.
    pub unknown_payload: AtomicU64,
    /// Frames concealed.
    pub concealed: AtomicU64,
    /// Jitter-buffer target delay now, µs.
    pub target_delay_us: AtomicU64,
}

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
        jitter: JitterConfig,
    ) -> Result<Self, SipError> {
        socket.set_read_timeout(Some(Duration::from_millis(2)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RtpInStats::default());
        let (t_stop, t_stats) = (stop.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("netamp-rtp-in".into())
            .spawn(move || run(socket, engine, jitter, t_stop, t_stats))?;
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
}

impl Drop for RtpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The playout side: decoder and resampler made at the first packet, the engine stream
/// at the first decoded audio (so the stream never waits, empty, for the jitter buffer).
struct Playout {
    codec: Codec,
    decoder: Decoder,
    resampler: StreamResampler,
    writer: Option<StreamWriter>,
    pcm: Vec<f32>,
}

fn run(
    socket: UdpSocket,
    engine: Engine,
    config: JitterConfig,
    stop: Arc<AtomicBool>,
    stats: Arc<RtpInStats>,
) {
    let mut jb = JitterBuffer::new(config);
    let mut buf = vec![0u8; rtp::MAX_PACKET + 1];
    let mut playout: Option<Playout> = None;
    let mut last_jb = JitterStats::default();
    while !stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buf) {
            Ok(n) => {
                stats.datagrams.fetch_add(1, Ordering::Relaxed);
                match rtp::parse(&buf[..n]) {
                    Ok((h, payload)) => match Codec::from_payload_type(h.payload_type) {
                        Some(codec) => {
                            if playout.as_ref().is_none_or(|p| p.codec != codec) {
                                match start_playout(codec) {
                                    Ok(p) => playout = Some(p),
                                    Err(e) => {
                                        tracing::warn!("call audio: {e}");
                                        continue;
                                    }
                                }
                            }
                            jb.push(
                                Packet {
                                    seq: h.seq,
                                    timestamp: h.timestamp,
                                    ssrc: h.ssrc,
                                    payload: payload.to_vec(),
                                },
                                Instant::now(),
                            );
                        }
                        None => {
                            stats.unknown_payload.fetch_add(1, Ordering::Relaxed);
                        }
                    },
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
                tracing::warn!("RTP socket: {e}");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let Some(p) = playout.as_mut() else { continue };
        p.pcm.clear();
        let now = Instant::now();
        while let Some(pop) = jb.pop(now) {
            match pop {
                Pop::Frame(f) => p.decoder.decode(&f.payload, &mut p.pcm),
                Pop::Lost { .. } => p.decoder.conceal(config.frame_units as usize, &mut p.pcm),
            }
        }
        if !p.pcm.is_empty() {
            p.resampler.push(&p.pcm);
            if p.writer.is_none() {
                match open_stream(&engine) {
                    Ok(w) => p.writer = Some(w),
                    Err(e) => tracing::warn!("call audio: {e}"),
                }
            }
            let ready = p.resampler.ready();
            let len = ready.len();
            // The ring holds a second; a call that falls that far behind loses the rest.
            if let Some(w) = p.writer.as_mut() {
                w.write(ready);
            }
            p.resampler.consume(len);
        }
        let s = jb.stats();
        if s != last_jb {
            stats.concealed.store(s.lost, Ordering::Relaxed);
            last_jb = s;
        }
        stats
            .target_delay_us
            .store(jb.target_delay().as_micros() as u64, Ordering::Relaxed);
    }
}

fn start_playout(codec: Codec) -> Result<Playout, SipError> {
    Ok(Playout {
        codec,
        decoder: Decoder::new(codec),
        resampler: StreamResampler::live(codec.clock_rate())?,
        writer: None,
        pcm: Vec::with_capacity(1024),
    })
}

fn open_stream(engine: &Engine) -> Result<StreamWriter, SipError> {
    let mut writer = engine.add_stream(StreamOptions {
        gain: 1.0,
        priority: CALL_PRIORITY,
        capacity_ms: 1000,
    })?;
    writer.write(&[0.0; LEAD_IN]);
    Ok(writer)
}
