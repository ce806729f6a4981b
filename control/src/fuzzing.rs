//! Fuzzing entry points: each takes arbitrary bytes and gives them to the parsers that
//! network input reaches, the way the daemon does. `fuzz/` (cargo-fuzz, libFuzzer) runs
//! them (`scripts/fuzz`); the unit tests below run each over a few seeds, so CI keeps
//! every harness compiling and working. Whatever the input, none may panic: a panic is
//! the fuzzer's finding, and each finding becomes a regression test here.
//!
//! The harnesses live in this crate, not in `fuzz/`, because several parsers are private
//! to it and because CI builds and lints this crate but not the fuzzing one.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use netamp_engine::decode::DecodeLimits;
use warp::http::{HeaderMap, HeaderValue, Method};

use crate::clips::ClipLibrary;
use crate::http::{Body, Request};

/// A harness: one input, no result (a panic is the failure).
pub type Harness = fn(&[u8]);

/// Every harness by the name of its fuzz target.
pub const TARGETS: &[(&str, Harness)] = &[
    ("sip_message", sip_message),
    ("sdp", sdp),
    ("rtp_rtcp", rtp_rtcp),
    ("rtsp_request", rtsp_request),
    ("vapix_query", vapix_query),
    ("soap", soap),
    ("clip_upload", clip_upload),
    ("clip_file", clip_file),
    ("live_stream", live_stream),
    ("recording", recording),
];

/// The bytes as text, the way the daemon's text parsers get them.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A SIP datagram through the UDP front door; a request that passes has its SDP body
/// parsed as an offer and its `a=crypto` lines as SDES keys.
pub fn sip_message(data: &[u8]) {
    use netamp_sip::guard::{check, Verdict};
    if check(data) != Verdict::Pass {
        return;
    }
    let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    sdp(&data[at + 4..]);
}

/// An SDP offer, and every `a=crypto` line in it.
pub fn sdp(data: &[u8]) {
    let body = text(data);
    let _ = netamp_sip::sdp::parse_offer(&body);
    for line in body.lines() {
        if let Some(v) = line.strip_prefix("a=crypto:") {
            let _ = netamp_sip::srtp::Crypto::parse(v);
        }
    }
}

/// An RTP packet and an RTCP compound packet (the same bytes as both: a media port
/// receives either).
pub fn rtp_rtcp(data: &[u8]) {
    let _ = netamp_sip::rtp::parse(data);
    let _ = netamp_sip::rtcp::parse(data);
}

/// The head of an RTSP request, as the event stream's server reads it.
pub fn rtsp_request(data: &[u8]) {
    let _ = crate::rtsp::parse(&text(data));
}

/// A VAPIX request's text: the query (form rules), then the values the CGIs parse from
/// it: `port.cgi` actions, port directions and circuits, `param.cgi` list groups, an
/// Authorization header's Digest parameters, event topic and content filters, and
/// `pwdgrp.cgi` groups.
pub fn vapix_query(data: &[u8]) {
    let q = text(data);
    let args = crate::http::parse_query(&q);
    let _ = crate::auth::parse_params(&q);
    let params: Vec<(String, String)> = [
        "Brand.Brand",
        "Brand.ProdNbr",
        "IOPort.I0.Direction",
        "IOPort.I0.Input.Name",
        "MediaClip.M0.Name",
        "AudioSource.A0.InputGain",
    ]
    .iter()
    .map(|n| (n.to_string(), "x".into()))
    .collect();
    for (k, v) in &args {
        let _ = netamp_io::action::parse(v);
        let _ = netamp_io::Direction::parse(v);
        let _ = netamp_io::Circuit::parse(v);
        let _ = crate::http::param::list(&params, Some(v));
        let _ = crate::event_filter::TopicFilter::parse(v);
        let _ = crate::event_filter::ContentFilter::parse(v);
        let _ = crate::users::parse_sgroups(v);
        let _ = crate::http::find_arg(&args, k);
    }
}

/// A SOAP envelope to `/vapix/services`: the operation in its body, and whether a known
/// service has it.
pub fn soap(data: &[u8]) {
    if let Ok(op) = crate::soap::operation(&text(data)) {
        let _ = crate::soap::action1::needs(&op.name);
        let _ = crate::soap::event1::needs(&op.name);
    }
}

/// Scratch space the file harnesses share: one directory for the process.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netamp-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// The limits the daemon decodes with, but for clips of at most 30 s, so one input's
/// decode stays short.
fn limits() -> DecodeLimits {
    DecodeLimits {
        max_frames: 30 * 48_000,
        ..DecodeLimits::default()
    }
}

/// One clip library for the process (uploads of at most 1 MB).
fn library() -> &'static Arc<ClipLibrary> {
    static LIB: OnceLock<Arc<ClipLibrary>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = ClipLibrary::load(&scratch().join("state"), 16, 1, 100, limits())
            .unwrap_or_else(|e| panic!("clip library: {e}"));
        Arc::new(lib)
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

/// A `mediaclip.cgi?action=upload` body: multipart/form-data read by the upload handler
/// (its first byte sets the size of the chunks the body arrives in), then, when a file
/// came through, probed by the decoders and stored like any upload (and removed again).
pub fn clip_upload(data: &[u8]) {
    let Some((&chunk, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let parts: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("multipart/form-data; boundary=netamp-fuzz"),
    );
    let mut req = Request {
        method: Method::POST,
        path: "/axis-cgi/mediaclip.cgi".into(),
        query: crate::http::parse_query("action=upload&media=audio"),
        headers,
        remote: Some(([127, 0, 0, 1], 40_000).into()),
        received: std::time::Instant::now(),
        body: Some(Box::pin(futures_util::stream::iter(parts)) as Body),
        body_limit: 64 * 1024,
    };
    let lib = library();
    let _reply = runtime().block_on(crate::http::clips::upload(lib, &mut req));
    for clip in lib.list() {
        let _ = lib.remove(clip.id);
    }
}

/// A clip file, decoded whole as an upload's probe does.
pub fn clip_file(data: &[u8]) {
    let path = scratch().join("clip");
    if std::fs::write(&path, data).is_ok() {
        let _ = netamp_engine::decode::probe(&path, limits());
    }
}

/// A `transmit.cgi` body: its first byte picks the Content-Type it is declared with, the
/// second the size of the chunks it arrives in.
pub fn live_stream(data: &[u8]) {
    use netamp_engine::live::{LiveDecoder, LiveFormat};
    const TYPES: &[&str] = &[
        "audio/basic",
        "audio/pcma",
        "audio/axis-mulaw-128",
        "audio/G726-32",
        "audio/L16;rate=16000;channels=1",
        "audio/L16;rate=44100;channels=2",
        "audio/ogg",
        "audio/wav",
        "application/octet-stream",
        "",
    ];
    let [kind, chunk, body @ ..] = data else {
        return;
    };
    let Ok(format) = LiveFormat::from_mime(TYPES[usize::from(*kind) % TYPES.len()]) else {
        return;
    };
    let mut dec = LiveDecoder::new(format);
    let mut out = Vec::new();
    for part in body.chunks(usize::from(*chunk).max(1)) {
        if dec.push(part, &mut out).is_err() {
            return;
        }
        out.clear();
    }
    let _ = dec.finish(&mut out);
}

/// A recording segment (Ogg Opus) as the recorder reads it back: its length from the
/// last page's granule, and its audio for an export.
pub fn recording(data: &[u8]) {
    use netamp_engine::live::{Coding, LiveDecoder, LiveFormat};
    let _ = netamp_engine::live::last_granule(data);
    let mut dec = LiveDecoder::new(LiveFormat {
        coding: Coding::OggOpus,
        rate: 48_000,
        channels: 1,
    });
    let mut pcm = Vec::new();
    let _ = dec.push(data, &mut pcm);
    let _ = dec.finish(&mut pcm);
}

/// Seeds of the harness `name`: short valid inputs and broken ones (the fuzzing
/// corpus starts from these and the files `scripts/fuzz` makes with ffmpeg).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let invite = b"INVITE sip:amp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:amp@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 77\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec();
    let common: Vec<Vec<u8>> = vec![Vec::new(), vec![0], vec![0xff; 64], b"\r\n\r\n".to_vec()];
    let own: Vec<Vec<u8>> = match name {
        "sip_message" => vec![invite.clone(), invite[..100].to_vec()],
        "sdp" => vec![
            invite[invite.len() - 77..].to_vec(),
            b"m=audio 1 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x".to_vec(),
        ],
        "rtp_rtcp" => vec![
            [&[0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1][..], &[0xff; 160]].concat(),
            vec![0x81, 200, 0, 1, 0, 0, 0, 1],
        ],
        "rtsp_request" => vec![
            b"OPTIONS rtsp://127.0.0.1/axis-media/media.amp RTSP/1.0\r\nCSeq: 1\r\n\r\n"
                .to_vec(),
        ],
        "vapix_query" => vec![
            b"action=play&clip=3&volume=80".to_vec(),
            b"action=1:/300\\&checkactive=%ff%".to_vec(),
            b"group=Brand,IOPort.*".to_vec(),
        ],
        "soap" => vec![br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetEventInstances xmlns="http://www.axis.com/vapix/ws/event1"/></s:Body></s:Envelope>"#.to_vec()],
        "clip_upload" => vec![
            [&[7u8][..], b"--netamp-fuzz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.au\"\r\n\r\n.snd\0\0\0\x18\0\0\0\x08\0\0\0\x01\0\0\x1f\x40\0\0\0\x01\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\r\n--netamp-fuzz--\r\n"].concat(),
        ],
        "clip_file" => vec![b"RIFF\x24\0\0\0WAVEfmt ".to_vec(), b".snd\0\0\0\x18".to_vec()],
        "live_stream" => vec![[&[4u8, 3][..], &[0x12; 99]].concat(), [&[6u8, 1][..], b"OggS\0\x02"].concat()],
        "recording" => vec![b"OggS\0\x02\0\0\0\0\0\0\0\0".to_vec()],
        _ => Vec::new(),
    };
    own.into_iter().chain(common).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each input a fuzzer once crashed on, in `fuzz/regressions/<target>/`, runs clean.
    #[test]
    fn every_past_finding_runs_clean() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
        let mut ran = 0;
        for (name, harness) in TARGETS {
            let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
                continue;
            };
            for e in entries.flatten() {
                harness(&std::fs::read(e.path()).expect("finding"));
                ran += 1;
            }
        }
        assert!(
            ran >= 2,
            "the findings are where this test looks: {}",
            dir.display()
        );
    }

    #[test]
    fn every_harness_takes_its_seeds_and_junk() {
        for (name, harness) in TARGETS {
            let inputs = seeds(name);
            assert!(inputs.len() > 4, "{name} has seeds of its own");
            for input in inputs {
                harness(&input);
            }
        }
    }
}
