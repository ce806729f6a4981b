//! `mediaclip.cgi`, `playclip.cgi`, `stopclip.cgi`: upload, manage and play clips.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use warp::http::{HeaderValue, StatusCode};

use super::Gate;
use super::{bad_request, text, Reply, Request};
use crate::clips::ClipError;
use crate::clips::ClipLibrary;
use crate::player::ClipPlayer;
use crate::users::Role;

fn ok(line: &str) -> Reply {
    text(StatusCode::OK, &format!("OK\n{line}\n"))
}

fn clip_arg(req: &Request) -> Result<u32, Reply> {
    let raw = req
        .arg("clip")
        .ok_or_else(|| bad_request("missing argument: clip"))?;
    raw.trim()
        .parse::<u32>()
        .map_err(|_| bad_request(&format!("invalid clip: {raw}")))
}

/// What a play request asks for.
struct PlayArgs {
    clip: u32,
    gain: f32,
    repeat: i32,
}

fn play_args(clips: &ClipLibrary, req: &Request) -> Result<PlayArgs, Reply> {
    let clip = match (req.arg("clip"), req.arg("location")) {
        (Some(_), _) => {
            let id = clip_arg(req)?;
            clips
                .get(id)
                .ok_or_else(|| bad_request(&format!("no clip {id}")))?
                .id
        }
        (None, Some(loc)) => {
            clips
                .find_location(loc)
                .map_err(|e| bad_request(&format!("invalid location: {e}")))?
                .ok_or_else(|| bad_request(&format!("no clip at location {loc}")))?
                .id
        }
        (None, None) => return Err(bad_request("missing argument: clip or location")),
    };
    let volume = match req.arg("volume") {
        None => 100,
        Some(v) => match v.trim().parse::<u32>() {
            Ok(v) if v <= 1000 => v,
            _ => return Err(bad_request(&format!("invalid volume: {v} (0-1000)"))),
        },
    };
    let volume = volume.min(clips.max_volume);
    let repeat = match req.arg("repeat") {
        None => 0,
        Some(r) => match r.trim().parse::<i32>() {
            Ok(r) if r >= -1 => r,
            _ => return Err(bad_request(&format!("invalid repeat: {r} (-1, 0 or more)"))),
        },
    };
    // One output: audiooutput=1, or audiodeviceid=0 with audiooutputid=0.
    if let Some(o) = req.arg("audiooutput") {
        if o.trim() != "1" {
            return Err(bad_request(&format!("invalid audiooutput: {o}")));
        }
    }
    for key in ["audiodeviceid", "audiooutputid"] {
        if let Some(v) = req.arg(key) {
            if v.trim() != "0" {
                return Err(bad_request(&format!("invalid {key}: {v}")));
            }
        }
    }
    Ok(PlayArgs {
        clip,
        gain: volume as f32 / 100.0,
        repeat,
    })
}

async fn play(clips: &ClipLibrary, player: &Arc<ClipPlayer>, req: &Request) -> Reply {
    let args = match play_args(clips, req) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(clip) = clips.get(args.clip) else {
        return bad_request(&format!("no clip {}", args.clip));
    };
    let path = clips.path(&clip);
    let received = req.received;
    let player = player.clone();
    let result = tokio::task::spawn_blocking(move || {
        player.play(clip.id, &clip.file, &path, args.gain, args.repeat, received)
    })
    .await;
    match result {
        Ok(Ok(_)) => ok(&format!("playing={}", args.clip)),
        Ok(Err(e)) => bad_request(&format!("cannot play clip {}: {e}", args.clip)),
        Err(e) => bad_request(&format!("cannot play clip {}: {e}", args.clip)),
    }
}

fn stop(player: &ClipPlayer) -> Reply {
    player.stop_all();
    ok("stopping")
}

/// Handles `mediaclip.cgi`.
pub async fn mediaclip(
    gate: &Gate,
    clips: &Arc<ClipLibrary>,
    player: &Arc<ClipPlayer>,
    req: &mut Request,
) -> Reply {
    if let Err(r) = gate.require(req, Role::Operator) {
        return r;
    }
    match req.arg("action").unwrap_or("") {
        "play" => play(clips, player, req).await,
        "stop" => stop(player),
        "upload" => upload(clips, req).await,
        "remove" => {
            let id = match clip_arg(req) {
                Ok(id) => id,
                Err(r) => return r,
            };
            player.stop_clip(id);
            match clips.remove(id) {
                Ok(_) => ok(&format!("removed={id}")),
                Err(e) => bad_request(&e.to_string()),
            }
        }
        "update" => {
            let id = match clip_arg(req) {
                Ok(id) => id,
                Err(r) => return r,
            };
            let Some(name) = req.arg("name") else {
                return bad_request("missing argument: name");
            };
            match clips.rename(id, name) {
                Ok(()) => ok(&format!("updated={id}")),
                Err(e) => bad_request(&e.to_string()),
            }
        }
        "download" => download(clips, req).await,
        "" => bad_request("missing argument: action"),
        other => bad_request(&format!("unknown action: {other}")),
    }
}

/// Handles `playclip.cgi`.
pub async fn playclip(
    gate: &Gate,
    clips: &ClipLibrary,
    player: &Arc<ClipPlayer>,
    req: &Request,
) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    play(clips, player, req).await
}

/// Handles `stopclip.cgi`.
pub fn stopclip(gate: &Gate, player: &ClipPlayer, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    stop(player)
}

pub(crate) async fn upload(clips: &Arc<ClipLibrary>, req: &mut Request) -> Reply {
    if let Some(media) = req.arg("media") {
        if !media.eq_ignore_ascii_case("audio") {
            return bad_request(&format!("unsupported media: {media}"));
        }
    }
    // Each upload holds a file being written, then a whole decode: a few at once.
    let Some(_slot) = clips.upload_slot() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "Error: at most {} uploads at once; try again when one has ended\n",
                clips.max_uploads()
            ),
        );
    };
    let max = clips.max_upload_bytes();
    let too_large = || bad_request(&ClipError::TooLarge(clips.max_upload_mb).to_string());
    if let Some(len) = req
        .header("content-length")
        .and_then(|l| l.trim().parse::<u64>().ok())
    {
        if len > max + 1024 * 1024 {
            return too_large();
        }
    }
    let Some(boundary) = req
        .header("content-type")
        .and_then(|ct| multer::parse_boundary(ct).ok())
    else {
        return bad_request("expected a multipart/form-data upload");
    };
    let Some(body) = req.body.take() else {
        return bad_request("empty request");
    };
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max + 1024 * 1024)
            .per_field(max),
    );
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
    let temp = clips.upload_path();
    let mut file_name: Option<String> = None;
    let mut form_name: Option<String> = None;
    let result: Result<(), ClipError> = async {
        loop {
            let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| upload_error(e, clips))?
            else {
                break;
            };
            let is_file = field.file_name().is_some() || field.name() != Some("name");
            if !is_file || file_name.is_some() {
                let value = collect_small(field).await?;
                if form_name.is_none() {
                    form_name = Some(value);
                }
                continue;
            }
            file_name = Some(
                field
                    .file_name()
                    .or(field.name())
                    .unwrap_or("clip")
                    .to_string(),
            );
            let mut out = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| ClipError::Storage(e.to_string()))?;
            let mut field = field;
            let mut size = 0u64;
            loop {
                match field.chunk().await.map_err(|e| upload_error(e, clips)) {
                    Ok(Some(chunk)) => {
                        size += chunk.len() as u64;
                        if size > max {
                            return Err(ClipError::TooLarge(clips.max_upload_mb));
                        }
                        out.write_all(&chunk)
                            .await
                            .map_err(|e| ClipError::Storage(e.to_string()))?;
                    }
                    Ok(None) => break,
                    Err(e) => return Err(e),
                }
            }
            out.sync_all()
                .await
                .map_err(|e| ClipError::Storage(e.to_string()))?;
        }
        Ok(())
    }
    .await;
    let name = req.arg("name").map(str::to_string).or(form_name);
    let outcome = match (result, file_name) {
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(ClipError::NoFile),
        (Ok(()), Some(file_name)) => {
            let lib = clips.clone();
            let temp2 = temp.clone();
            tokio::task::spawn_blocking(move || {
                let info = lib.probe(&temp2, &file_name)?;
                lib.commit(&temp2, &file_name, name.as_deref(), info)
            })
            .await
            .unwrap_or_else(|e| Err(ClipError::Storage(e.to_string())))
        }
    };
    match outcome {
        Ok(id) => ok(&format!("uploaded={id}")),
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            bad_request(&e.to_string())
        }
    }
}

/// A multipart failure as the reason the client is told.
fn upload_error(e: multer::Error, clips: &ClipLibrary) -> ClipError {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            ClipError::TooLarge(clips.max_upload_mb)
        }
        other => ClipError::Malformed(other.to_string()),
    }
}

async fn collect_small(mut field: multer::Field<'_>) -> Result<String, ClipError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ClipError::Malformed(e.to_string()))?
    {
        if buf.len() + chunk.len() > 4096 {
            return Err(ClipError::Malformed("form field too long".into()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The media type of a stored clip, by its file name.
fn media_type(file: &str) -> &'static str {
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("wav" | "wave") => "audio/wav",
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "oga" | "opus") => "audio/ogg",
        Some("flac") => "audio/flac",
        Some("au" | "snd") => "audio/basic",
        _ => "application/octet-stream",
    }
}

/// A reply streaming `chunks` with `content_type`, offered for saving as `file_name`.
fn attachment(
    mut chunks: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    content_type: &'static str,
    file_name: &str,
) -> Reply {
    let stream = futures_util::stream::poll_fn(move |cx| chunks.poll_recv(cx));
    let mut reply = warp::reply::Reply::into_response(warp::reply::stream(stream));
    reply
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        reply.headers_mut().insert("content-disposition", v);
    }
    reply
}

/// `action=download`: the clip's file as it was uploaded, or with `format=au` as a
/// 16-bit linear `.au` file at its own rate, mono (what the VAPIX documentation
/// describes).
async fn download(clips: &ClipLibrary, req: &Request) -> Reply {
    let id = match clip_arg(req) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(clip) = clips.get(id) else {
        return bad_request(&format!("no clip {id}"));
    };
    let path = clips.path(&clip);
    match req.arg("format") {
        None | Some("") => return as_uploaded(path, &clip.file),
        Some(f) if f.eq_ignore_ascii_case("au") => {}
        Some(f) => {
            return bad_request(&format!("format={f}: au, or none for the file as uploaded"))
        }
    }
    let limits = clips.limits();
    let reader =
        match tokio::task::spawn_blocking(move || netamp_engine::decode::open(&path, limits)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return bad_request(&format!("cannot read clip {id}: {e}")),
            Err(e) => return bad_request(&format!("cannot read clip {id}: {e}")),
        };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut header = Vec::with_capacity(24);
        for w in [0x2e73_6e64u32, 24, u32::MAX, 3, reader.sample_rate(), 1] {
            header.extend_from_slice(&w.to_be_bytes());
        }
        if tx.blocking_send(Ok(Bytes::from(header))).is_err() {
            return;
        }
        let mut frames = Vec::with_capacity(8192);
        loop {
            frames.clear();
            match reader.read(&mut frames, 8192) {
                Ok(0) => return,
                Ok(_) => {
                    let mut out = Vec::with_capacity(frames.len() * 2);
                    for s in &frames {
                        out.extend_from_slice(&netamp_dsp::sample::f32_to_i16(*s).to_be_bytes());
                    }
                    if tx.blocking_send(Ok(Bytes::from(out))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
    });
    attachment(rx, "audio/basic", &format!("{}.au", clip.file))
}

/// Streams the stored file itself.
fn as_uploaded(path: std::path::PathBuf, file_name: &str) -> Reply {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    attachment(rx, media_type(file_name), file_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::http::testing::{gate, get, read, request};
    use warp::http::{HeaderValue, Method};

    /// A 0.1 s 8 kHz mono 16-bit WAV.
    fn wav() -> Vec<u8> {
        let samples = 800u32;
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + samples * 2).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        for v in [16u32, 0x0001_0001, 8000, 16000, 0x0010_0002] {
            w.extend_from_slice(&v.to_le_bytes());
        }
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(samples * 2).to_le_bytes());
        for i in 0..samples {
            w.extend_from_slice(&(((i % 40) as i16 - 20) * 500).to_le_bytes());
        }
        w
    }

    /// The renderer and driver of the offline engine, kept alive for the test.
    type Offline = (netamp_engine::Renderer, netamp_engine::OfflineDriver);

    fn services(dir: &std::path::Path) -> (Gate, Arc<ClipLibrary>, Arc<ClipPlayer>, Offline) {
        let (engine, r, d) = netamp_engine::Engine::offline(
            Default::default(),
            netamp_engine::decode::DecodeLimits::default(),
        )
        .expect("engine");
        let clips = ClipLibrary::load(dir, 10, 1, 200, Default::default()).expect("clips");
        let player = ClipPlayer::new(engine, Arc::new(EventBus::new()), false, 5);
        (gate(dir), Arc::new(clips), Arc::new(player), (r, d))
    }

    #[tokio::test]
    async fn upload_play_and_remove_with_the_replies_of_an_axis_speaker() {
        let dir = tempfile::tempdir().expect("dir");
        let (gate, clips, player, _engine) = services(dir.path());
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chime.wav\"\r\nContent-Type: audio/wav\r\n\r\n".to_vec();
        body.extend(wav());
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        let mut req = request(
            Method::POST,
            "/axis-cgi/mediaclip.cgi?action=upload",
            Some("op"),
            Some(&body),
        );
        req.headers.insert(
            "content-type",
            HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
        );
        let (status, _, reply) = read(mediaclip(&gate, &clips, &player, &mut req).await).await;
        assert_eq!(
            (status, reply.as_str()),
            (StatusCode::OK, "OK\nuploaded=0\n")
        );
        assert_eq!(clips.list().len(), 1);

        // A viewer may play (playclip.cgi) but not manage (mediaclip.cgi).
        let r = mediaclip(
            &gate,
            &clips,
            &player,
            &mut get("/axis-cgi/mediaclip.cgi?action=remove&clip=0", Some("view")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = playclip(
            &gate,
            &clips,
            &player,
            &get("/axis-cgi/playclip.cgi?clip=0&volume=80", Some("view")),
        )
        .await;
        assert_eq!(read(r).await.2, "OK\nplaying=0\n");
        assert_eq!(player.plays(), 1);
        let r = stopclip(&gate, &player, &get("/axis-cgi/stopclip.cgi", Some("view")));
        assert_eq!(read(r).await.2, "OK\nstopping\n");
        let r = mediaclip(
            &gate,
            &clips,
            &player,
            &mut get("/axis-cgi/mediaclip.cgi?action=remove&clip=0", Some("op")),
        )
        .await;
        assert_eq!(read(r).await.2, "OK\nremoved=0\n");
        assert!(clips.list().is_empty());
    }

    #[tokio::test]
    async fn bad_play_arguments_are_400_with_the_reason() {
        let dir = tempfile::tempdir().expect("dir");
        let (gate, clips, player, _engine) = services(dir.path());
        for (target, reason) in [
            (
                "/axis-cgi/playclip.cgi",
                "missing argument: clip or location",
            ),
            ("/axis-cgi/playclip.cgi?clip=x", "invalid clip: x"),
            ("/axis-cgi/playclip.cgi?clip=7", "no clip 7"),
            (
                "/axis-cgi/playclip.cgi?location=nothing.mp3",
                "no clip at location nothing.mp3",
            ),
        ] {
            let r = playclip(&gate, &clips, &player, &get(target, Some("view"))).await;
            assert_eq!(
                read(r).await,
                (
                    StatusCode::BAD_REQUEST,
                    "text/plain".into(),
                    format!("400 Bad Request\n{reason}\n")
                ),
                "{target}"
            );
        }
        let r = mediaclip(
            &gate,
            &clips,
            &player,
            &mut get("/axis-cgi/mediaclip.cgi?action=dance", Some("op")),
        )
        .await;
        assert_eq!(read(r).await.2, "400 Bad Request\nunknown action: dance\n");
        assert_eq!(player.plays(), 0);
    }
}
