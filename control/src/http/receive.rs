//! `audio/receive.cgi`: the microphone, streamed to a listener as it is captured.
//!
//! `audiocodec=g711` (µ-law, default, 8 or 16 kHz), `lpcm` (16-bit big-endian, 8–48 kHz,
//! default 16 kHz) or `opus` (Ogg Opus, 8/12/16/24/48 kHz, default 16 kHz);
//! `httptype=singlepart` (default; one Content-Type, then raw bytes) or `multipart`
//! (`multipart/x-mixed-replace`, G.711 in 512-byte parts, L16 in 1024-byte parts, Opus
//! one Ogg page a part). Up to `Audio.MaxListeners` at once (`503` beyond). Each listener
//! has its own capture ring: one that stops reading loses its own frames and nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netamp_engine::live::{LiveEncoder, OutCodec};
use warp::http::{HeaderValue, StatusCode};

use super::Gate;
use super::{text, Reply, Request};
use crate::audio::AudioService;
use crate::users::Role;

/// How much capture a listener's ring holds before it starts losing frames.
const TAP_MS: usize = 1000;
/// How often a listener's task forwards what was captured.
const POLL: Duration = Duration::from_millis(20);
/// Multipart boundary.
const BOUNDARY: &str = "myboundary";

/// Counts a listener for as long as its stream lives.
struct Listener(Arc<AtomicUsize>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn bad(why: &str) -> Reply {
    text(
        StatusCode::BAD_REQUEST,
        &format!("400 Bad Request\n{why}\n"),
    )
}

/// Handles `GET /axis-cgi/audio/receive.cgi`.
pub fn receive(
    gate: &Gate,
    listeners: &Arc<AtomicUsize>,
    audio: &AudioService,
    req: &Request,
) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    let codec = match req.arg("audiocodec").unwrap_or("g711") {
        "g711" | "G711" | "pcmu" => OutCodec::Ulaw,
        "lpcm" | "LPCM" | "l16" => OutCodec::L16,
        "opus" | "OPUS" => OutCodec::OggOpus,
        other => return bad(&format!("audiocodec={other} is not supported")),
    };
    let default_rate = if codec == OutCodec::Ulaw { 8000 } else { 16000 };
    let rate = match req.arg("audiosamplerate").map(str::parse::<u32>) {
        None => default_rate,
        Some(Ok(r)) => r,
        Some(Err(_)) => return bad("audiosamplerate must be a number"),
    };
    let rate_ok = match codec {
        OutCodec::Ulaw => [8000, 16000].contains(&rate),
        OutCodec::L16 => [8000, 16000, 24000, 32000, 44100, 48000].contains(&rate),
        OutCodec::OggOpus => [8000, 12000, 16000, 24000, 48000].contains(&rate),
    };
    if !rate_ok {
        return bad(&format!(
            "audiosamplerate={rate} is not supported for this codec"
        ));
    }
    let multipart = match req.arg("httptype").unwrap_or("singlepart") {
        "singlepart" => false,
        "multipart" => true,
        other => return bad(&format!("httptype={other}")),
    };
    for (arg, allowed) in [
        ("audio", &["0", "1"][..]),
        ("camera", &["1"]),
        ("audiochannel", &["1"]),
    ] {
        if let Some(v) = req.arg(arg) {
            if !allowed.contains(&v) {
                return bad(&format!("{arg}={v}"));
            }
        }
    }
    let mut encoder = match LiveEncoder::new(codec, rate) {
        Ok(e) => e,
        Err(e) => return bad(&e.to_string()),
    };
    let max = audio.config.max_listeners;
    if listeners.fetch_add(1, Ordering::AcqRel) >= max {
        listeners.fetch_sub(1, Ordering::AcqRel);
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("503 Service Unavailable\nat most {max} listeners\n"),
        );
    }
    let listener = Listener(listeners.clone());
    let content_type = encoder.content_type();
    // Fixed part sizes for PCM; Opus goes a page a part.
    let part_size = match codec {
        OutCodec::Ulaw => Some(512),
        OutCodec::L16 => Some(1024),
        OutCodec::OggOpus => None,
    };
    let mut tap = audio.capture.subscribe(TAP_MS);
    // A small channel: a listener that stops reading fills it, then its task stops
    // draining its tap, which then loses frames on its own.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let part_type = content_type.clone();
    tokio::spawn(async move {
        let _listener = listener;
        let mut samples = Vec::new();
        let mut units = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            samples.clear();
            tap.read(&mut samples);
            units.clear();
            if encoder.push(&samples, &mut units).is_err() {
                return;
            }
            let mut out: Vec<Bytes> = Vec::new();
            if !multipart {
                out.extend(units.drain(..).filter(|u| !u.is_empty()).map(Bytes::from));
            } else if let Some(part_size) = part_size {
                for u in units.drain(..) {
                    pending.extend_from_slice(&u);
                }
                let whole = pending.len() / part_size * part_size;
                for p in pending[..whole].chunks(part_size) {
                    out.push(Bytes::from(part(&part_type, p)));
                }
                pending.drain(..whole);
            } else {
                out.extend(units.drain(..).map(|u| Bytes::from(part(&part_type, &u))));
            }
            for b in out {
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut reply = warp::reply::Reply::into_response(warp::reply::stream(stream));
    let ct = if multipart {
        format!("multipart/x-mixed-replace; boundary={BOUNDARY}")
    } else {
        content_type
    };
    if let Ok(v) = HeaderValue::from_str(&ct) {
        reply.headers_mut().insert("content-type", v);
    }
    reply
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    reply
}

fn part(content_type: &str, data: &[u8]) -> Vec<u8> {
    let mut p = format!(
        "--{BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    p.extend_from_slice(data);
    p.extend_from_slice(b"\r\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{gate, get, read};

    #[tokio::test]
    async fn listeners_are_counted_refused_beyond_the_limit_and_freed() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let mut audio = crate::audio::tests::service(dir.path());
        audio.config.max_listeners = 1;
        let listeners = Arc::new(AtomicUsize::new(0));
        let target = "/axis-cgi/audio/receive.cgi?audiocodec=g711";
        let r = receive(&gate, &listeners, &audio, &get(target, None));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let (status, _, body) = read(receive(
            &gate,
            &listeners,
            &audio,
            &get("/axis-cgi/audio/receive.cgi?audiocodec=mp3", Some("view")),
        ))
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "400 Bad Request\naudiocodec=mp3 is not supported\n"
            )
        );
        let first = receive(&gate, &listeners, &audio, &get(target, Some("view")));
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(listeners.load(Ordering::Acquire), 1);
        let second = receive(&gate, &listeners, &audio, &get(target, Some("view")));
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            listeners.load(Ordering::Acquire),
            1,
            "a refused listener is counted"
        );
        // The stream's task holds the count until the client goes.
        drop(first);
        for _ in 0..200 {
            if listeners.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(listeners.load(Ordering::Acquire), 0);
    }
}
