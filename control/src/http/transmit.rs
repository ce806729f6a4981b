//! `audio/transmit.cgi`: live audio POSTed by a client plays as the bytes arrive.
//!
//! One sender at a time (`503` to a second). The body is decoded chunk by chunk by the
//! engine's [`LiveDecoder`] (G.711, L16, G.726-32, Ogg Opus; a WAV, AU or Ogg header at
//! the start is recognised) and written to an engine stream at priority 7, which ducks
//! clips. The reply comes when the audio has played; a body that stops arriving ends
//! after `Audio.ReceiverTimeout`, and a fake `Content-Length` that is never reached is
//! fine.
//!
//! What is written when is the engine's live-playout core, shared with SIP calls
//! ([`netamp_engine::live::playout`], through [`ArrivingStream`]): the cushion against
//! arrival jitter is silence written ahead of the first bytes, not audio held back; it
//! starts at `transmit_buffer_min_ms` and grows, the second time the ring runs dry
//! within 30 s, by what it lacked, up to `transmit_buffer_max_ms`. A sender on a clock
//! of its own is followed by setting the live resampler's ratio from its sample count
//! against the device's clock. This handler owns the engine stream and the waiting for
//! room, which holds a faster-than-real-time sender back through TCP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use netamp_engine::live::playout::{PlayoutConfig, Ring};
use netamp_engine::live::{ArrivingStream, LiveFormat};
use netamp_engine::{StreamOptions, StreamWriter, SAMPLE_RATE};
use warp::http::StatusCode;

use super::Gate;
use super::{text, Body, Reply, Request};
use crate::audio::AudioService;
use crate::users::Role;

/// Priority of live audio (ARCHITECTURE.md §2).
const PRIORITY: u8 = 7;
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

/// Writes all of `samples`, waiting for room; false if the stream was stopped. A
/// writer that had to wait tells `stream`: its sender is faster than real time.
async fn write_all(
    writer: &mut StreamWriter,
    samples: &[f32],
    stream: &mut ArrivingStream,
) -> bool {
    let mut written = 0;
    while written < samples.len() {
        written += writer.write(&samples[written..]);
        if written < samples.len() {
            if writer.is_closed() {
                return false;
            }
            stream.held_back();
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
    let config = PlayoutConfig {
        cushion: ms_to_samples(audio.transmit_buffer_min_ms),
        max_cushion: ms_to_samples(audio.transmit_buffer_max_ms),
        poll_slack: 0,
    };
    let mut stream = ArrivingStream::new(declared, config);
    let mut writer: Option<StreamWriter> = None;
    let silence = vec![0f32; config.max_cushion.max(config.cushion)];
    // The decoded samples are copied out of `stream` so that writing can tell it when
    // the sender had to be held back.
    let mut out: Vec<f32> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(c))) => Some(c),
            // End of body, a peer that closed early (fake Content-Length), or silence.
            Ok(Some(Err(_))) | Ok(None) | Err(_) => None,
        };
        let device = service.engine.device_position(Instant::now());
        match stream.decode(chunk.as_deref(), device) {
            Ok(samples) => {
                out.clear();
                out.extend_from_slice(samples);
            }
            Err(e) => {
                if writer.is_none() {
                    return unsupported(&e.to_string());
                }
                // Mid-stream garbage ends the stream; what played stays played.
                tracing::info!("transmit.cgi stream ended: {e}");
                break;
            }
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
            // The resampler's tail at the end belongs right after what played: no gap.
            let fill = if chunk.is_some() {
                stream
                    .plan(Ring {
                        buffered: w.buffered(),
                        starved: w.starved_frames(),
                        device: device as u64,
                    })
                    .fill
            } else {
                0
            };
            let fill = &silence[..fill.min(silence.len())];
            if !write_all(w, fill, &mut stream).await || !write_all(w, &out, &mut stream).await {
                return text(StatusCode::OK, "");
            }
        }
        if chunk.is_none() {
            break;
        }
    }
    drop(busy);
    let core = stream.playout();
    if core.dry_spells() > 0 {
        tracing::info!(
            "transmit.cgi: ran dry {} times, cushion grew to {} ms",
            core.dry_spells(),
            core.cushion() * 1000 / SAMPLE_RATE as usize
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
