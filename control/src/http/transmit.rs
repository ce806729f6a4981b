//! `audio/transmit.cgi`: live audio POSTed by a client plays as the bytes arrive.
//!
//! One sender at a time (`503` to a second). The body is decoded chunk by chunk by the
//! engine's [`LiveDecoder`] (G.711, L16, G.726-32, Ogg Opus; a WAV, AU or Ogg header at
//! the start is recognised) and written to an engine stream at priority 7, which ducks
//! clips. The reply comes when the audio has played; a body that stops arriving ends
//! after `Audio.ReceiverTimeout`, and a fake `Content-Length` that is never reached is
//! fine.
//!
//! The cushion against arrival jitter is silence written ahead of the first bytes, not
//! audio held back: it starts at `transmit_buffer_min_ms` and grows by half after each
//! underrun up to `transmit_buffer_max_ms`. A sender on a clock of its own is followed by
//! nudging the resampler's ratio (at most ±0.5 %) so the ring's low-water mark stays at
//! the cushion.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use netamp_engine::live::{LiveDecoder, LiveFormat};
use netamp_engine::{StreamOptions, StreamWriter, SAMPLE_RATE};
use warp::http::StatusCode;

use super::Gate;
use super::{text, Body, Reply, Request};
use crate::audio::AudioService;
use crate::users::Role;

/// Priority of live audio (ARCHITECTURE.md §2).
const PRIORITY: u8 = 7;
/// Largest ratio correction for a drifting sender clock.
const MAX_DRIFT: f64 = 0.005;
/// How often the drift control looks at the ring's low-water mark.
const DRIFT_WINDOW: Duration = Duration::from_secs(1);
/// Low-water deviation left alone (ms): arrival jitter, not drift. A 100 ppm clock
/// difference takes five minutes to cross it.
const DRIFT_DEADBAND_MS: u64 = 30;

/// Held while a sender streams.
#[derive(Default)]
pub struct TransmitSlot {
    busy: Arc<AtomicBool>,
}

/// Frees the slot when the stream's task ends, however it ends.
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Handles `POST /axis-cgi/audio/transmit.cgi`.
///
/// The stream is played by a task of its own: a sender that closes its connection right
/// after the last byte (ffmpeg does) cancels this handler, and the audio it sent must
/// still play to the end.
pub async fn transmit(
    gate: &Gate,
    slot: &TransmitSlot,
    audio: &Arc<AudioService>,
    req: &mut Request,
) -> Reply {
    // Credentials first: a 401 goes out before the body is touched (no 100 Continue).
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    if req.method != warp::http::Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 Method Not Allowed\nuse POST\n",
        );
    }
    // A first request with neither length nor chunked framing was given a length that
    // runs until the sender closes ([`super::unframed`]). A later one on a keep-alive
    // connection reads as empty in HTTP/1.1, and the audio after the headers would then
    // be parsed as a next request: say so before any 200, and close the connection so
    // those bytes are never read as one.
    if req.header("content-length").is_none() && req.header("transfer-encoding").is_none() {
        let mut r = text(
            StatusCode::LENGTH_REQUIRED,
            "411 Length Required\nsend the audio chunked (Transfer-Encoding: chunked) or with a Content-Length (a large one that is never reached works)\n",
        );
        r.headers_mut().insert(
            warp::http::header::CONNECTION,
            warp::http::HeaderValue::from_static("close"),
        );
        return r;
    }
    let declared = match LiveFormat::from_mime(req.header("content-type").unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return unsupported(&e.to_string()),
    };
    if slot.busy.swap(true, Ordering::AcqRel) {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable\nReceiving audio from another client\n",
        );
    }
    let busy = Busy(slot.busy.clone());
    let Some(body) = req.body.take() else {
        return text(StatusCode::BAD_REQUEST, "400 Bad Request\nno body\n");
    };
    match tokio::spawn(play(busy, audio.clone(), declared, body)).await {
        Ok(reply) => reply,
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("500 Internal Server Error\n{e}\n"),
        ),
    }
}

fn unsupported(why: &str) -> Reply {
    text(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &format!("415 Unsupported Media Type\n{why}\n"),
    )
}

fn ms_to_samples(ms: u64) -> usize {
    (ms * u64::from(SAMPLE_RATE) / 1000) as usize
}

/// The jitter cushion and the clock-drift control of one stream.
struct Cushion {
    margin: usize,
    max: usize,
    started: bool,
    underruns: u64,
    window_start: Instant,
    window_low: usize,
    window_blocked: bool,
    drift: f64,
}

impl Cushion {
    fn new(min_ms: u64, max_ms: u64, now: Instant) -> Self {
        Self {
            margin: ms_to_samples(min_ms).max(1),
            max: ms_to_samples(max_ms.max(min_ms)),
            started: false,
            underruns: 0,
            window_start: now,
            window_low: usize::MAX,
            window_blocked: false,
            drift: 1.0,
        }
    }

    /// Silence to write before the `arrived` samples that just came: the whole cushion at
    /// the start and after an underrun (which also grows it). A sender that delivers
    /// large bursts (ffmpeg `-re` writes 128–256 ms at a time) paces them coarsely, so
    /// an eighth of the first burst is added to the cushion from the start.
    fn lead_in(&mut self, buffered: usize, arrived: usize) -> usize {
        if !self.started {
            self.started = true;
            self.margin = (self.margin + arrived / 8).min(self.max);
            return self.margin;
        }
        if buffered == 0 {
            self.underruns += 1;
            self.margin = (self.margin * 3 / 2).min(self.max);
            return self.margin;
        }
        0
    }

    /// Notes the ring's fill as bytes arrive; returns a new resampler ratio when the
    /// window closes. A sender that had to wait for room is faster than real time (a
    /// whole file posted at once), not drifting, and leaves the ratio alone.
    fn observe(&mut self, buffered: usize, now: Instant) -> Option<f64> {
        if !self.started {
            self.window_start = now;
            return None;
        }
        self.window_low = self.window_low.min(buffered);
        if now - self.window_start < DRIFT_WINDOW {
            return None;
        }
        let excess = self.window_low as f64 - self.margin as f64;
        let deadband = ms_to_samples(DRIFT_DEADBAND_MS) as f64;
        self.drift = if self.window_blocked || self.window_low == usize::MAX {
            1.0
        } else if excess.abs() <= deadband {
            // Inside the deadband a correction already running finishes its job.
            if (self.drift - 1.0) * excess < 0.0 || excess.abs() < deadband / 3.0 {
                1.0
            } else {
                self.drift
            }
        } else {
            // Drain (or build) the excess over about ten seconds.
            1.0 - (excess / (10.0 * f64::from(SAMPLE_RATE))).clamp(-MAX_DRIFT, MAX_DRIFT)
        };
        self.window_start = now;
        self.window_low = usize::MAX;
        self.window_blocked = false;
        Some(self.drift)
    }
}

/// Writes all of `samples`, waiting for room; false if the stream was stopped.
async fn write_all(writer: &mut StreamWriter, samples: &[f32], cushion: &mut Cushion) -> bool {
    let mut written = 0;
    while written < samples.len() {
        written += writer.write(&samples[written..]);
        if written < samples.len() {
            if writer.is_closed() {
                return false;
            }
            cushion.window_blocked = true;
            // Faster-than-real-time senders are held back here, and through TCP.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    true
}

/// Plays one sender's body until it ends, goes idle or the stream is stopped.
///
/// The slot is given back as soon as the body has ended: the audio still buffered plays
/// out on its own, and the next sender need not wait for it.
async fn play(
    busy: Busy,
    service: Arc<AudioService>,
    declared: LiveFormat,
    mut body: Body,
) -> Reply {
    let audio = &service.config;
    let idle = Duration::from_millis(audio.receiver_timeout_ms.max(100));
    let mut cushion = Cushion::new(
        audio.transmit_buffer_min_ms,
        audio.transmit_buffer_max_ms,
        Instant::now(),
    );
    let mut decoder = LiveDecoder::new(declared);
    let mut writer: Option<StreamWriter> = None;
    let mut out: Vec<f32> = Vec::new();
    let silence = vec![0f32; cushion.max];
    loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(c))) => Some(c),
            // End of body, a peer that closed early (fake Content-Length), or silence.
            Ok(Some(Err(_))) | Ok(None) | Err(_) => None,
        };
        out.clear();
        let decoded = match &chunk {
            Some(c) => decoder.push(c, &mut out),
            None => decoder.finish(&mut out),
        };
        if let Err(e) = decoded {
            if writer.is_none() {
                return unsupported(&e.to_string());
            }
            // Mid-stream garbage ends the stream; what played stays played.
            tracing::info!("transmit.cgi stream ended: {e}");
            break;
        }
        if !out.is_empty() {
            if writer.is_none() {
                match service.engine.add_stream(StreamOptions {
                    gain: 1.0,
                    priority: PRIORITY,
                    capacity_ms: 1000,
                }) {
                    Ok(w) => writer = Some(w),
                    Err(e) => {
                        return text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            &format!("503 Service Unavailable\n{e}\n"),
                        )
                    }
                }
            }
            let Some(w) = writer.as_mut() else { break };
            let now = Instant::now();
            let buffered = w.buffered();
            if let Some(ratio) = cushion.observe(buffered, now) {
                decoder.set_drift(ratio);
            }
            // The resampler's tail at the end belongs right after what played: no gap.
            let lead = if chunk.is_some() {
                cushion.lead_in(buffered, out.len())
            } else {
                0
            };
            if !write_all(w, &silence[..lead], &mut cushion).await
                || !write_all(w, &out, &mut cushion).await
            {
                return text(StatusCode::OK, "");
            }
        }
        if chunk.is_none() {
            break;
        }
    }
    drop(busy);
    if cushion.underruns > 0 {
        tracing::info!(
            "transmit.cgi: {} underruns, cushion grew to {} ms",
            cushion.underruns,
            cushion.margin * 1000 / SAMPLE_RATE as usize
        );
    }
    // Reply once the stream has played out.
    if let Some(w) = writer {
        while w.buffered() > 0 && !w.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    text(StatusCode::OK, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cushion_grows_after_underruns_and_stops_at_the_limit() {
        let t0 = Instant::now();
        let mut c = Cushion::new(20, 50, t0);
        assert_eq!(
            c.lead_in(0, 960),
            1080,
            "the first bytes start behind 20 ms of silence and an eighth of their length"
        );
        assert_eq!(c.lead_in(500, 960), 0);
        assert_eq!(c.lead_in(0, 960), 1620);
        assert_eq!(c.lead_in(0, 960), 2400, "capped at 50 ms");
        assert_eq!(c.underruns, 2);
    }

    #[test]
    fn drift_control_drains_excess_unless_the_sender_was_held_back() {
        let t0 = Instant::now();
        let mut c = Cushion::new(20, 500, t0);
        assert_eq!(
            c.observe(0, t0),
            None,
            "nothing is measured before the start"
        );
        c.lead_in(0, 0);
        assert_eq!(c.observe(960 + 480, t0), None);
        let r = c.observe(960 + 480, t0 + DRIFT_WINDOW).unwrap();
        assert_eq!(r, 1.0, "10 ms of jitter is not drift");
        assert_eq!(c.observe(960 + 4800, t0 + DRIFT_WINDOW), None);
        let r = c.observe(960 + 4800, t0 + DRIFT_WINDOW * 2).unwrap();
        assert!((1.0 - MAX_DRIFT..1.0).contains(&r), "{r}");
        c.window_blocked = true;
        let r = c.observe(48_000, t0 + DRIFT_WINDOW * 3).unwrap();
        assert_eq!(r, 1.0);
        c.margin = 9600;
        let r = c.observe(0, t0 + DRIFT_WINDOW * 4).unwrap();
        assert!(r > 1.0, "an emptying ring is refilled: {r}");
    }
}

#[cfg(test)]
mod handler_tests {
    use super::*;
    use crate::http::testing::{gate, read, request};
    use warp::http::{HeaderValue, Method};

    #[tokio::test]
    async fn refusals_come_before_the_body_and_leave_the_slot_free() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let audio = Arc::new(crate::audio::tests::service(dir.path()));
        let slot = TransmitSlot::default();
        let target = "/axis-cgi/audio/transmit.cgi";

        let mut r = request(Method::POST, target, None, Some(b"\xff\xff"));
        assert_eq!(
            transmit(&gate, &slot, &audio, &mut r).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let mut r = request(Method::GET, target, Some("view"), None);
        assert_eq!(
            transmit(&gate, &slot, &audio, &mut r).await.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Neither length nor chunked: 411 and the connection closes.
        let mut r = request(Method::POST, target, Some("view"), Some(b"\xff\xff"));
        r.headers
            .insert("content-type", HeaderValue::from_static("audio/basic"));
        let reply = transmit(&gate, &slot, &audio, &mut r).await;
        assert_eq!(reply.status(), StatusCode::LENGTH_REQUIRED);
        assert_eq!(
            reply.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
        let mut r = request(Method::POST, target, Some("view"), Some(b"\xff\xff"));
        r.headers
            .insert("content-length", HeaderValue::from_static("2"));
        r.headers
            .insert("content-type", HeaderValue::from_static("video/mp4"));
        let (status, _, body) = read(transmit(&gate, &slot, &audio, &mut r).await).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        assert!(
            !slot.busy.load(Ordering::Acquire),
            "a refused sender holds the slot"
        );
    }

    #[tokio::test]
    async fn a_second_sender_is_refused_while_one_streams() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let audio = Arc::new(crate::audio::tests::service(dir.path()));
        let slot = TransmitSlot::default();
        slot.busy.store(true, Ordering::Release);
        let mut r = request(
            Method::POST,
            "/axis-cgi/audio/transmit.cgi",
            Some("view"),
            Some(b"\xff"),
        );
        r.headers
            .insert("content-length", HeaderValue::from_static("1"));
        r.headers
            .insert("content-type", HeaderValue::from_static("audio/basic"));
        let (status, _, body) = read(transmit(&gate, &slot, &audio, &mut r).await).await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "503 Service Unavailable\nReceiving audio from another client\n"
            )
        );
    }
}
