//! `audio/receive.cgi`: listeners get the `--audio-in wav:` microphone as it is captured.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use netamp_tests::audio::{align, ffmpeg_reference, make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN};
use netamp_tests::flows::status;
use netamp_tests::{require_tool, run};

/// Seconds each listener stays connected.
const LISTEN_SECS: &str = "2.5";

fn listen(d: &Daemon, query: &str, out: &Path) -> Child {
    require_tool("curl");
    Command::new("curl")
        .args(["-s", "--digest", "-u", &format!("{}:{}", ADMIN.0, ADMIN.1)])
        .args(["--max-time", LISTEN_SECS, "-o"])
        .arg(out)
        .arg(d.url(&format!("/axis-cgi/audio/receive.cgi?{query}")))
        .stdout(Stdio::null())
        .spawn()
        .expect("curl")
}

fn f32s(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Raw audio in `fmt` at `rate` decoded by ffmpeg to 48 kHz.
fn decode_raw(path: &Path, fmt: &str, rate: u32) -> Vec<f32> {
    f32s(&run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            fmt,
            "-ar",
            &rate.to_string(),
            "-ac",
            "1",
            "-i",
        ])
        .arg(path)
        .args(["-ar", "48000", "-f", "f32le", "-"])))
}

/// The payloads of a `multipart/x-mixed-replace` body, joined.
fn multipart_payload(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(pos) = find(rest, b"Content-Length: ") {
        rest = &rest[pos + 16..];
        let end = find(rest, b"\r\n").expect("header end");
        let len: usize = std::str::from_utf8(&rest[..end])
            .expect("utf8")
            .trim()
            .parse()
            .expect("length");
        let start = find(rest, b"\r\n\r\n").expect("part body") + 4;
        if rest.len() < start + len {
            break;
        }
        out.extend_from_slice(&rest[start..start + len]);
        rest = &rest[start + len..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Checks that `got` (after its first 0.2 s) is a stretch of the looping microphone.
fn check(name: &str, got: &[f32], mic_loop: &[f32], min: f64) {
    assert!(got.len() > 48_000, "{name}: only {} samples", got.len());
    let seg = &got[9600..got.len().min(9600 + 72_000)];
    let a = align(seg, mic_loop);
    eprintln!(
        "{name}: correlation {:.4}, level {:+.2} dB",
        a.correlation, -a.gain_db
    );
    assert!(
        a.correlation >= min,
        "{name}: correlation {:.4}",
        a.correlation
    );
}

#[test]
fn listeners_get_the_microphone_and_a_stalled_one_disturbs_nobody() {
    require_tool("ffmpeg");
    let scratch = tempfile::tempdir().expect("tmp");
    // A 3 s sweep below 3.2 kHz: every codec and rate carries all of it, and every
    // position in it is unique.
    let mic = make_clip(scratch.path(), Format::WavPcm16, 8000, 1, 3.0);
    let one = ffmpeg_reference(&mic);
    let mic_loop: Vec<f32> = one.iter().chain(&one).chain(&one).copied().collect();
    let d = Daemon::with(DaemonOptions {
        audio_in: Some(format!("wav:{}?loop", mic.display())),
        config: "[audio]\nmax_listeners = 11\n".into(),
        ..DaemonOptions::default()
    });

    // µ-law singlepart, L16 multipart, Opus.
    let ulaw = d.path("rx.ulaw");
    let l16 = d.path("rx.l16");
    let opus = d.path("rx.ogg");
    let mut clients = vec![
        listen(&d, "audiocodec=g711", &ulaw),
        listen(
            &d,
            "audiocodec=lpcm&audiosamplerate=16000&httptype=multipart",
            &l16,
        ),
        listen(&d, "audiocodec=opus&audiosamplerate=16000", &opus),
    ];
    for c in &mut clients {
        c.wait().expect("curl");
    }
    check(
        "G.711 singlepart",
        &decode_raw(&ulaw, "mulaw", 8000),
        &mic_loop,
        0.98,
    );
    let payload = multipart_payload(&std::fs::read(&l16).expect("l16"));
    let pcm = d.path("rx.s16be");
    std::fs::write(&pcm, payload).expect("write");
    check(
        "L16 multipart",
        &decode_raw(&pcm, "s16be", 16000),
        &mic_loop,
        0.98,
    );
    check("Opus", &ffmpeg_reference(&opus), &mic_loop, 0.9);

    // A listener that asks for 48 kHz L16 and never reads a byte.
    // Its receive buffer is made tiny so the server's side fills within seconds.
    let mut stalled: std::net::TcpStream = {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        sock.set_recv_buffer_size(2048).expect("rcvbuf");
        let addr: std::net::SocketAddr = d.addr.parse().expect("addr");
        sock.connect(&addr.into()).expect("connect");
        sock.into()
    };
    let basic = netamp_tests::daemon::admin_basic();
    write!(
        stalled,
        "GET /axis-cgi/audio/receive.cgi?audiocodec=lpcm&audiosamplerate=48000 HTTP/1.1\r\n\
         Host: {}\r\nAuthorization: Basic {basic}\r\n\r\n",
        d.addr
    )
    .expect("request");
    // Long enough for its socket buffers and ring to fill.
    std::thread::sleep(Duration::from_millis(2500));

    // Ten more at once, while the stalled one holds its place (11 allowed).
    let outs: Vec<_> = (0..10).map(|i| d.path(&format!("rx{i}.ulaw"))).collect();
    let mut many: Vec<Child> = outs
        .iter()
        .map(|o| listen(&d, "audiocodec=g711", o))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let s = status(&d);
    assert_eq!(s["audio"]["input"]["listeners"], 11, "{s}");
    let refused = netamp_tests::http::curl(
        netamp_tests::flows::admin(),
        &[&d.url("/axis-cgi/audio/receive.cgi")],
    );
    assert_eq!(refused.status, 503, "a twelfth listener is refused");
    for c in &mut many {
        c.wait().expect("curl");
    }
    for (i, o) in outs.iter().enumerate() {
        check(
            &format!("listener {i}"),
            &decode_raw(o, "mulaw", 8000),
            &mic_loop,
            0.98,
        );
    }
    let s = status(&d);
    assert!(
        s["audio"]["input"]["lost_frames"].as_u64().unwrap_or(0) > 0,
        "the stalled listener lost frames: {s}"
    );
    drop(stalled);
}

#[test]
fn bad_arguments_get_400() {
    let d = Daemon::start();
    for q in [
        "audiocodec=aac",
        "audiocodec=g711&audiosamplerate=44100",
        "audiocodec=opus&audiosamplerate=abc",
        "httptype=mixed",
        "camera=2",
    ] {
        let r = netamp_tests::http::curl(
            netamp_tests::flows::admin(),
            &[&d.url(&format!("/axis-cgi/audio/receive.cgi?{q}"))],
        );
        assert_eq!(r.status, 400, "{q}: {}", r.text());
    }
    let r = netamp_tests::http::curl(
        netamp_tests::http::Auth::Anonymous,
        &[&d.url("/axis-cgi/audio/receive.cgi")],
    );
    assert_eq!(r.status, 401);
}

fn triggered(d: &Daemon) -> Option<String> {
    netamp_tests::flows::current_event(d, "tns1:AudioSource/tnsaxis:TriggerLevel", "channel", "1")
        .and_then(|e| {
            e["message"]["data"]["triggered"]
                .as_str()
                .map(str::to_string)
        })
}

fn wait_triggered(d: &Daemon, want: &str) {
    for _ in 0..50 {
        if triggered(d).as_deref() == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("TriggerLevel never became {want}: {:?}", triggered(d));
}

fn param(d: &Daemon, query: &str) -> String {
    netamp_tests::http::curl(
        netamp_tests::flows::admin(),
        &[&d.url(&format!("/axis-cgi/param.cgi?{query}"))],
    )
    .text()
}

#[test]
fn sound_level_trigger_and_device_settings() {
    let scratch = tempfile::tempdir().expect("tmp");
    // The sweep at 0.4 of full scale: −11 dBFS RMS, level 88 on the 0–100 scale.
    let mic = make_clip(scratch.path(), Format::WavPcm16, 8000, 1, 3.0);
    let d = Daemon::with(DaemonOptions {
        audio_in: Some(format!("wav:{}?loop", mic.display())),
        ..DaemonOptions::default()
    });
    // Default AlarmLevel 50: the room is loud enough.
    wait_triggered(&d, "1");
    // 95 is above the level, and 88 is more than 5 points below it: cleared.
    assert_eq!(
        param(&d, "action=update&AudioSource.A0.AlarmLevel=95"),
        "OK\n"
    );
    wait_triggered(&d, "0");
    assert!(param(&d, "action=list&group=AudioSource.A0.AlarmLevel").contains("=95"));
    // Back to 50, then a muted microphone clears it again.
    assert_eq!(
        param(&d, "action=update&AudioSource.A0.AlarmLevel=50"),
        "OK\n"
    );
    wait_triggered(&d, "1");
    assert_eq!(
        param(&d, "action=update&AudioSource.A0.InputGain=mute"),
        "OK\n"
    );
    wait_triggered(&d, "0");
    // Out of range: refused, nothing changes.
    assert!(param(&d, "action=update&AudioSource.A0.AlarmLevel=101").starts_with("# Error"));
    assert!(param(&d, "action=list&group=AudioSource.A0.AlarmLevel").contains("=50"));

    // Home Assistant's partial tree with a string channel id sets the output to −6 dB.
    let set = r#"{"apiVersion":"1.0","context":"Axis library","method":"setDevicesSettings","params":{"devices":[{"id":"0","outputs":[{"id":"0","connectionTypes":[{"id":"internal","signalingTypes":[{"id":"unbalanced","channels":[{"id":"0","gain":-6,"mute":false}]}]}]}]}]}}"#;
    let adc = d.url("/axis-cgi/audiodevicecontrol.cgi");
    let r = netamp_tests::http::curl(
        netamp_tests::flows::admin(),
        &["-H", "Content-Type: application/json", "--data", set, &adc],
    );
    assert!(r.json().get("error").is_none(), "{}", r.text());
    let get = r#"{"apiVersion":"1.0","context":"c","method":"getDevicesSettings"}"#;
    let r = netamp_tests::http::curl(
        netamp_tests::flows::admin(),
        &["-H", "Content-Type: application/json", "--data", get, &adc],
    );
    let ch = &r.json()["data"]["devices"][0]["outputs"][0]["connectionTypes"][0]["signalingTypes"]
        [0]["channels"][0];
    assert_eq!(ch["gain"], -6, "{}", r.text());
    let bad = r#"{"apiVersion":"1.0","context":"c","method":"setDevicesSettings","params":{"devices":[{"id":"0","outputs":[{"id":"0","connectionTypes":[{"id":"internal","signalingTypes":[{"id":"unbalanced","channels":[{"id":"0","gain":30}]}]}]}]}]}}"#;
    let r = netamp_tests::http::curl(
        netamp_tests::flows::admin(),
        &["-H", "Content-Type: application/json", "--data", bad, &adc],
    );
    assert_eq!(r.json()["error"]["code"], 2101, "{}", r.text());
    // audiomixer.cgi switches AGC and noise suppression in the capture chain.
    let mixer = d.url("/axis-cgi/audiomixer.cgi");
    let post = |body: &str| {
        netamp_tests::http::curl(
            netamp_tests::flows::admin(),
            &[
                "-H",
                "Content-Type: application/json",
                "--data",
                body,
                &mixer,
            ],
        )
        .json()
    };
    let r = post(
        r#"{"apiVersion":"1.0","context":"m","method":"setPluginsSettings","params":{"plugins":{"automaticGainControl":{"enabled":true},"voiceEnhancer":{"noiseSuppression":true}}}}"#,
    );
    assert!(r.get("error").is_none() && r.get("data").is_none(), "{r}");
    let r = post(r#"{"apiVersion":"1.0","context":"m","method":"getPluginsSettings"}"#);
    assert_eq!(
        r["data"]["plugins"]["automaticGainControl"]["enabled"], true,
        "{r}"
    );
    let p = &status(&d)["audio"]["input"]["processing"];
    assert_eq!(
        (p["agc"].as_bool(), p["noise_suppression"].as_bool()),
        (Some(true), Some(true)),
        "{p}"
    );
    let r = post(
        r#"{"apiVersion":"1.0","context":"m","method":"setPluginsSettings","params":{"plugins":{"automaticGainControl":{"target":-20}}}}"#,
    );
    assert_eq!(r["error"]["code"], 2101, "{r}");

    // A clip now plays 6 dB down.
    let clip = make_clip(scratch.path(), Format::WavPcm16, 48000, 1, 1.0);
    let id = netamp_tests::flows::upload_ok(&d, &clip);
    let capture = netamp_tests::flows::play_and_capture(&d, &format!("action=play&clip={id}"));
    let a = align(&ffmpeg_reference(&clip), &capture);
    eprintln!("output at -6 dB: level {:+.2} dB", a.gain_db);
    assert!((a.gain_db + 6.0).abs() < 0.2, "{:+.2} dB", a.gain_db);
}
