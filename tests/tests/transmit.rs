//! `audio/transmit.cgi` end to end with ffmpeg and curl as the senders.

use std::process::{Command, Stdio};
use std::time::Duration;

use netamp_tests::audio::{align, ffmpeg_reference, make_clip, rms, Format};
use netamp_tests::daemon::{Daemon, ADMIN};
use netamp_tests::flows::{admin, frames, status, upload_ok};
use netamp_tests::http::curl;
use netamp_tests::{require_tool, run};

fn wait_idle(d: &Daemon) {
    for _ in 0..100 {
        if status(d)["audio"]["active_sources"].as_u64() == Some(0) {
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the stream did not finish playing");
}

fn url(d: &Daemon) -> String {
    format!(
        "http://{}:{}@{}/axis-cgi/audio/transmit.cgi",
        ADMIN.0, ADMIN.1, d.addr
    )
}

/// How ffmpeg frames the body.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// Chunked transfer encoding, pre-emptive Basic.
    Chunked,
    /// A Content-Length of 99,999,999 that the stream never reaches, as VMS clients send.
    FakeLength,
    /// Neither: the body runs until ffmpeg closes (`-chunked_post 0`, no length).
    UntilClose,
}

/// Streams `src` with ffmpeg at real time (`-re`).
fn ffmpeg_stream(
    d: &Daemon,
    src: &std::path::Path,
    codec_args: &[&str],
    content_type: &str,
    framing: Framing,
) -> std::process::Child {
    require_tool("ffmpeg");
    let framing_args: &[&str] = match framing {
        Framing::Chunked => &["-auth_type", "basic"],
        Framing::FakeLength => &[
            "-auth_type",
            "basic",
            "-chunked_post",
            "0",
            "-headers",
            "Content-Length: 99999999\r\n",
        ],
        Framing::UntilClose => &["-auth_type", "basic", "-chunked_post", "0"],
    };
    Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(src)
        .args(codec_args)
        .args(["-content_type", content_type])
        .args(framing_args)
        .arg(url(d))
        .stdout(Stdio::null())
        .spawn()
        .expect("ffmpeg")
}

/// The reference: the source through the stream's coding, decoded by ffmpeg at 48 kHz.
fn coded_reference(
    dir: &std::path::Path,
    src: &std::path::Path,
    codec: &str,
    rate: u32,
) -> Vec<f32> {
    let coded = dir.join("coded.wav");
    // WAV has no big-endian PCM; 16-bit linear is lossless either way.
    let codec = if codec == "pcm_s16be" {
        "pcm_s16le"
    } else {
        codec
    };
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-c:a", codec, "-ar", &rate.to_string(), "-ac", "1"])
        .arg(&coded));
    ffmpeg_reference(&coded)
}

#[test]
fn ffmpeg_streams_play_as_they_arrive() {
    let d = Daemon::start();
    for (rate, codec, fmt, ct) in [
        (8000, "pcm_mulaw", "mulaw", "audio/basic"),
        (16000, "pcm_mulaw", "mulaw", "audio/axis-mulaw-128"),
        (
            16000,
            "pcm_s16be",
            "s16be",
            "audio/L16;rate=16000;channels=1",
        ),
    ] {
        let src = make_clip(d.dir.path(), Format::WavPcm16, rate, 1, 1.5);
        let args = [
            "-c:a",
            codec,
            "-ar",
            &rate.to_string(),
            "-ac",
            "1",
            "-f",
            fmt,
        ];
        let reference = coded_reference(d.dir.path(), &src, codec, rate);
        // Until-close framing once: it differs from the others only in how the body ends.
        let framings: &[Framing] = if ct == "audio/basic" {
            &[Framing::Chunked, Framing::FakeLength, Framing::UntilClose]
        } else {
            &[Framing::Chunked, Framing::FakeLength]
        };
        for &framing in framings {
            let f0 = frames(&d);
            // ffmpeg reports an error closing a fake-length body it never finished; the
            // audio is what counts.
            let _ = ffmpeg_stream(&d, &src, &args, ct, framing)
                .wait()
                .expect("ffmpeg");
            // ffmpeg does not wait for the reply; the cushion may still be playing.
            wait_idle(&d);
            let capture = netamp_tests::audio::read_capture(&d.capture, f0);
            let a = align(&reference, &capture);
            eprintln!(
                "{ct} {framing:?}: correlation {:.4}, level {:+.2} dB",
                a.correlation, a.gain_db
            );
            if a.correlation < 0.98 {
                // One dropout on a loaded machine shifts what follows it and spoils a
                // single whole-clip correlation; decoding faults spoil every window.
                netamp_tests::audio::assert_audio_windows(
                    &format!("{ct} {framing:?}"),
                    &reference,
                    &capture,
                    0.0,
                    0.98,
                );
            }
        }
    }
}

#[test]
fn fake_content_length_second_sender_and_ducking() {
    let d = Daemon::start();
    // A clip plays underneath (priority 5); live audio (7) ducks it to silence.
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 6.0);
    let id = upload_ok(&d, &clip);
    assert_eq!(
        curl(
            admin(),
            &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"))]
        )
        .status,
        200
    );
    // 1 s of µ-law with a Content-Length the sender never reaches.
    let body = d.path("tone.ulaw");
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:duration=1:sample_rate=8000",
            "-c:a",
            "pcm_mulaw",
            "-f",
            "mulaw",
        ])
        .arg(&body));
    let tone = netamp_tests::audio::ffmpeg_reference_raw_ulaw(&body);
    std::thread::sleep(Duration::from_millis(300));
    let f0 = frames(&d);
    let sender = {
        let body = body.clone();
        let u = d.url("/axis-cgi/audio/transmit.cgi");
        std::thread::spawn(move || {
            curl(
                admin(),
                &[
                    "-H",
                    "Content-Type: audio/basic",
                    "-H",
                    "Content-Length: 99999999",
                    "--data-binary",
                    &format!("@{}", body.display()),
                    &u,
                ],
            )
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let second = curl(
        admin(),
        &[
            "-H",
            "Content-Type: audio/basic",
            "--data-binary",
            &format!("@{}", body.display()),
            &d.url("/axis-cgi/audio/transmit.cgi"),
        ],
    );
    assert_eq!(second.status, 503, "{}", second.text());
    let first = sender.join().expect("sender");
    assert_eq!(first.status, 200, "{}", first.text());
    let capture = netamp_tests::audio::read_capture(&d.capture, f0);
    // The middle of the tone: its edges overlap the clip's 20 ms duck and return ramps.
    let middle = &tone[4800..tone.len() - 4800];
    let a = align(middle, &capture);
    eprintln!("fake Content-Length: correlation {:.4}", a.correlation);
    assert!(a.correlation >= 0.98, "correlation {:.4}", a.correlation);
    // While the tone played, the clip was ducked: the captured segment is the tone alone.
    let seg = &capture[a.lag..a.lag + middle.len()];
    let expect = rms(middle);
    assert!(
        (rms(seg) / expect - 1.0).abs() < 0.05,
        "clip not ducked: {} vs {}",
        rms(seg),
        expect
    );
    let r = curl(
        admin(),
        &[
            "-H",
            "Content-Type: audio/mpeg",
            "--data-binary",
            "x",
            &d.url("/axis-cgi/audio/transmit.cgi"),
        ],
    );
    assert_eq!(r.status, 415);
}

/// Streams one file to transmit.cgi with ffmpeg at real time, copying its packets.
fn ffmpeg_copy_stream(d: &Daemon, file: &std::path::Path, muxer: &str, content_type: &str) {
    let _ = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", muxer, "-content_type", content_type])
        .args(["-auth_type", "basic"])
        .arg(url(d))
        .status()
        .expect("ffmpeg");
}

fn check(name: &str, reference: &[f32], capture: &[f32], min: f64) {
    let a = align(reference, capture);
    eprintln!(
        "{name}: correlation {:.4}, level {:+.2} dB",
        a.correlation, a.gain_db
    );
    assert!(
        a.correlation >= min,
        "{name}: correlation {:.4}",
        a.correlation
    );
}

#[test]
fn g726_opus_wav_headers_digest_and_a_client_that_hangs_up() {
    require_tool("ffmpeg");
    let d = Daemon::start();
    let dir = d.dir.path();

    // G.726-32 as Nx sends it, whole body, Digest after a 401 (curl --digest).
    let src8 = make_clip(dir, Format::WavPcm16, 8000, 1, 1.5);
    let g726 = dir.join("speech.g726");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src8)
        .args(["-c:a", "g726", "-b:a", "32k", "-ar", "8000", "-f", "g726"])
        .arg(&g726));
    let reference = {
        let out = run(Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "g726",
                "-code_size",
                "4",
                "-sample_rate",
                "8000",
            ])
            .arg("-i")
            .arg(&g726)
            .args(["-ar", "48000", "-ac", "1", "-f", "f32le", "-"]));
        out.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect::<Vec<f32>>()
    };
    let f0 = frames(&d);
    let r = curl(
        admin(),
        &[
            "-H",
            "Content-Type: audio/G726-32",
            "--data-binary",
            &format!("@{}", g726.display()),
            &d.url("/axis-cgi/audio/transmit.cgi"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    check(
        "G.726-32",
        &reference,
        &netamp_tests::audio::read_capture(&d.capture, f0),
        0.98,
    );

    // Ogg Opus, the whole file in one body (ffmpeg's -re pacing of 20 ms Ogg pages
    // jitters by up to 40 ms on a loaded 2-core machine, which would test the machine).
    let src48 = make_clip(dir, Format::WavPcm16, 48000, 1, 1.5);
    let opus = dir.join("speech.opus");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src48)
        .args(["-c:a", "libopus", "-b:a", "64k", "-f", "ogg"])
        .arg(&opus));
    let reference = ffmpeg_reference(&opus);
    let f0 = frames(&d);
    let r = curl(
        admin(),
        &[
            "-H",
            "Content-Type: audio/opus",
            "--data-binary",
            &format!("@{}", opus.display()),
            &d.url("/axis-cgi/audio/transmit.cgi"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    check(
        "Ogg Opus",
        &reference,
        &netamp_tests::audio::read_capture(&d.capture, f0),
        0.98,
    );

    // A WAV header in the body overrides the declared type (ffmpeg -f wav, as the
    // reference's Electron example sends it), chunked here.
    let wav16 = dir.join("ulaw16.wav");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src8)
        .args(["-c:a", "pcm_mulaw", "-ar", "16000", "-ac", "1"])
        .arg(&wav16));
    let reference = ffmpeg_reference(&wav16);
    let f0 = frames(&d);
    ffmpeg_copy_stream(&d, &wav16, "wav", "audio/basic");
    wait_idle(&d);
    check(
        "WAV header",
        &reference,
        &netamp_tests::audio::read_capture(&d.capture, f0),
        0.98,
    );

    // agocontrol: raw socket, pre-emptive Basic, "Content-Length:  999999" with two
    // spaces, a shorter body, then it closes without reading any reply.
    let ulaw = dir.join("speech.ulaw");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src8)
        .args(["-c:a", "pcm_mulaw", "-f", "mulaw"])
        .arg(&ulaw));
    let reference = netamp_tests::audio::ffmpeg_reference_raw_ulaw(&ulaw);
    let body = std::fs::read(&ulaw).expect("µ-law");
    let f0 = frames(&d);
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(d.addr.as_str()).expect("connect");
        let basic = netamp_tests::daemon::admin_basic();
        write!(
            s,
            "POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nAuthorization: Basic {basic}\r\n\
             User-Agent: curl/7.26.0\r\nHost: {}\r\nAccept: */*\r\n\
             Content-Type: audio/basic\r\nContent-Length:  999999\r\n\
             Connection: Keep-Alive\r\nCache-Control: no-cache\r\n\r\n",
            d.addr
        )
        .expect("headers");
        s.write_all(&body).expect("body");
    }
    wait_idle(&d);
    check(
        "closed without reading",
        &reference,
        &netamp_tests::audio::read_capture(&d.capture, f0),
        0.98,
    );
}

#[test]
fn home_assistant_transmits_a_clip() {
    let python = netamp_tests::ha_python();
    let d = Daemon::start();
    let dir = d.dir.path();
    // The library's recipe: ffmpeg -c:a pcm_mulaw -b:a 128k -ac 1 -ar 16000 -f mulaw.
    let src = make_clip(dir, Format::WavPcm16, 16000, 1, 1.5);
    let body = dir.join("ha.ulaw");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args([
            "-c:a",
            "pcm_mulaw",
            "-b:a",
            "128k",
            "-ac",
            "1",
            "-ar",
            "16000",
        ])
        .args(["-f", "mulaw"])
        .arg(&body));
    let reference = coded_reference(dir, &src, "pcm_mulaw", 16000);
    let f0 = frames(&d);
    let (host, port) = d.addr.rsplit_once(':').expect("addr");
    let out = Command::new(&python)
        .arg(netamp_tests::workspace_root().join("tests/ha/ha_audio.py"))
        .args([host, port, ADMIN.0, ADMIN.1])
        .arg(&body)
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["status"], 200, "{v}");
    for key in [
        "DuplexMode",
        "MaxListeners",
        "ReceiverBuffer",
        "ReceiverTimeout",
        "NbrOfConfigs",
        "DSCP",
    ] {
        assert!(
            v["params"].get(format!("root.Audio.{key}")).is_some(),
            "Audio.{key} missing: {v}"
        );
    }
    assert_eq!(v["params"]["root.Properties.Audio.Audio"], "yes");
    check(
        "Home Assistant",
        &reference,
        &netamp_tests::audio::read_capture(&d.capture, f0),
        0.98,
    );
}

#[test]
fn ffmpeg_logs_in_with_digest_to_transmit_and_receive() {
    require_tool("ffmpeg");
    let scratch = tempfile::tempdir().expect("tmp");
    let mic = make_clip(scratch.path(), Format::WavPcm16, 8000, 1, 1.0);
    let d = Daemon::with(netamp_tests::daemon::DaemonOptions {
        audio_in: Some(format!("wav:{}?loop", mic.display())),
        ..Default::default()
    });
    // No -auth_type: ffmpeg answers the 401 with Digest (it computes MD5 only, and keeps
    // the last Digest challenge it reads).
    let src = make_clip(scratch.path(), Format::WavPcm16, 48000, 1, 1.0);
    let sent = Command::new("ffmpeg")
        .args(["-v", "error", "-re", "-i"])
        .arg(&src)
        .args([
            "-c:a",
            "pcm_mulaw",
            "-ar",
            "8000",
            "-ac",
            "1",
            "-f",
            "mulaw",
        ])
        .args(["-content_type", "audio/basic"])
        .arg(url(&d))
        .output()
        .expect("ffmpeg");
    assert!(
        sent.status.success(),
        "ffmpeg transmit with Digest: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    wait_idle(&d);
    let received = scratch.path().join("rx.wav");
    let got = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "mulaw", "-ar", "8000", "-i"])
        .arg(format!(
            "http://{}:{}@{}/axis-cgi/audio/receive.cgi",
            ADMIN.0, ADMIN.1, d.addr
        ))
        .args(["-t", "1"])
        .arg(&received)
        .output()
        .expect("ffmpeg");
    assert!(
        got.status.success(),
        "ffmpeg receive with Digest: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    let rx = ffmpeg_reference(&received);
    eprintln!(
        "ffmpeg received {} samples at 48 kHz, RMS {:.3}",
        rx.len(),
        rms(&rx)
    );
    assert!(rx.len() >= 47_000, "{} samples", rx.len());
    assert!(rms(&rx) > 0.01, "the microphone was silent in the stream");
}

/// A raw HTTP/1.1 transmit request with pre-emptive Basic: `framing` header lines, then
/// `body`; with `read_reply`, what the server answers (until it closes, or 300 ms
/// after the reply's headers).
fn raw_transmit(d: &Daemon, framing: &str, body: &[u8], read_reply: bool) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(&d.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        c,
        "POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Type: audio/basic\r\n{framing}\r\n",
        netamp_tests::daemon::admin_basic()
    )
    .expect("headers");
    c.write_all(body).expect("body");
    if !read_reply {
        // Hang up once the request is surely read, as a sender that does not wait for
        // the reply does.
        std::thread::sleep(Duration::from_millis(20));
        return String::new();
    }
    // Until the server closes, or the reply's headers are in and nothing more comes.
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.windows(4).any(|w| w == b"\r\n\r\n") {
            c.set_read_timeout(Some(Duration::from_millis(300)))
                .expect("timeout");
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn an_unframed_body_plays_until_close_and_the_slot_frees_when_a_body_ends() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    // Neither Content-Length nor chunked: the body runs until the sender closes its side;
    // then one 200, and the audio bytes were never read as a second request (no 400).
    let f0 = frames(&d);
    let mut c = std::net::TcpStream::connect(&d.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        c,
        "POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Type: audio/basic\r\n\r\n",
        netamp_tests::daemon::admin_basic()
    )
    .expect("headers");
    // 0.5 s of a loud µ-law square wave (0x80 and 0x00 are the two extremes).
    let wave: Vec<u8> = (0..4000)
        .map(|i| if i % 16 < 8 { 0x80 } else { 0x00 })
        .collect();
    c.write_all(&wave).expect("body");
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    let _ = c.read_to_string(&mut reply);
    eprintln!("unframed: {reply:?}");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(reply.matches("HTTP/1.1").count(), 1, "{reply}");
    wait_idle(&d);
    let played = netamp_tests::audio::read_capture(&d.capture, f0);
    let loud = played.iter().filter(|s| s.abs() > 0.5).count();
    // 0.5 s at 48 kHz, most of it near full scale (the edges ring through the resampler).
    assert!(
        loud > 15_000,
        "{loud} loud samples of the unframed body played"
    );

    // A sender posts 0.9 s of audio and hangs up without reading the reply; 150 ms later,
    // while that audio still plays, the next sender is taken.
    raw_transmit(&d, "Content-Length: 7200\r\n", &[0xFF; 7200], false);
    std::thread::sleep(Duration::from_millis(150));
    let reply = raw_transmit(&d, "Content-Length: 800\r\n", &[0xFF; 800], true);
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "the second sender: {reply}"
    );
}
