//! SIP calls end to end: SIPp calls the real daemon, plays RTP from pcaps (SIPp's own
//! `g711a.pcap` and pcaps made here), sends DTMF both ways, and the `wav:` output is
//! compared with what was sent.

use std::path::Path;
use std::time::Duration;

use netamp_dsp::g711;
use netamp_tests::audio::{assert_audio_windows, ffmpeg_reference, read_capture, write_wav_8k};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::admin;
use netamp_tests::http::curl;
use netamp_tests::sip::{
    self, info, options_status, pcmu_packets, play, read_pcap, rtp, uac_scenario, write_pcap, Sipp,
    TimedRtp, PCMU_TE,
};
use serde_json::Value;

const PCMA_TE: &str =
    "8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15";
const OPUS: &str = "96\na=rtpmap:96 opus/48000/2\na=fmtp:96 useinbandfec=1";
const G722: &str = "9\na=rtpmap:9 G722/8000";

/// The tests of this file run one at a time: each is a real-time audio check, and the
/// load test's 64 calls would starve a neighbour's playback on a 2-core machine.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Recent events of `topic`, oldest first.
fn events(d: &Daemon, topic: &str) -> Vec<Value> {
    let r = curl(
        admin(),
        &[&d.url(&format!("/api/v1/events/recent?topic={topic}"))],
    );
    r.json()["events"].as_array().cloned().unwrap_or_default()
}

fn data(ev: &Value, key: &str) -> String {
    ev["message"]["data"][key]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// 8 kHz samples as a WAV, decoded back to 48 kHz by ffmpeg (the comparison reference).
fn reference_8k(dir: &Path, pcm: &[f32]) -> Vec<f32> {
    let path = dir.join("reference.wav");
    write_wav_8k(&path, pcm);
    ffmpeg_reference(&path)
}

/// G.711 payloads of an RTP list, decoded.
fn decode_g711(packets: &[TimedRtp], alaw: bool) -> Vec<f32> {
    packets
        .iter()
        .flat_map(|p| p.rtp[12..].to_vec())
        .map(|b| {
            f32::from(if alaw {
                g711::alaw_to_linear(b)
            } else {
                g711::ulaw_to_linear(b)
            }) / 32768.0
        })
        .collect()
}

/// A second of voice as PCMU packets 20 ms apart, in a pcap for SIPp to play.
fn voice_pcap(d: &Daemon, name: &str) -> std::path::PathBuf {
    let voice8 = sip::voice(8000, 1.0, false);
    let pcap = d.dir.path().join(format!("{name}.pcap"));
    write_pcap(&pcap, &pcmu_packets(&voice8, |i| Some(i as f64 * 0.02)));
    pcap
}

/// A UAC scenario that requires the 180: the call must ring first.
fn ringing_first(scenario: &str) -> String {
    scenario.replace(
        "<recv response=\"180\" optional=\"true\"/>",
        "<recv response=\"180\"/>",
    )
}

/// A daemon with `config` and a 1.5 s clip uploaded as clip 0.
fn daemon_with_clip(config: &str) -> Daemon {
    use netamp_tests::audio::{make_clip, Format};
    let d = Daemon::with(DaemonOptions {
        config: config.into(),
        ..Default::default()
    });
    let file = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 1.5);
    assert_eq!(netamp_tests::flows::upload_ok(&d, &file), 0);
    d
}

/// Runs one SIPp call and returns the daemon's capture from before the call.
fn call_and_capture(d: &Daemon, scenario: &str) -> Vec<f32> {
    let run = Sipp::start(scenario, &d.sip, 1, &[]);
    let (code, errors) = run.wait();
    assert_eq!(code, 0, "SIPp call failed: {errors}");
    std::thread::sleep(Duration::from_millis(300));
    read_capture(&d.capture, 0)
}

#[test]
fn sipp_pcma_call_plays_its_audio_and_reports_rtp_and_info_digits_once_in_order() {
    let _serial = serial();
    let d = Daemon::start();
    assert!(!d.sip.is_empty(), "SIP did not start");
    let g711a = Path::new(sip::SIPP_PCAPS).join("g711a.pcap");
    let middle = format!(
        "{}{}{}{}{}",
        play(&g711a, 8000),
        play(&Path::new(sip::SIPP_PCAPS).join("dtmf_2833_1.pcap"), 1000),
        info(2, "application/dtmf-relay", "Signal=5\nDuration=160"),
        info(3, "application/dtmf", "#"),
        play(
            &Path::new(sip::SIPP_PCAPS).join("dtmf_2833_star.pcap"),
            1000
        ),
    );
    let capture = call_and_capture(&d, &uac_scenario(PCMA_TE, &middle, 200));
    let sent = read_pcap(&g711a);
    let reference = reference_8k(d.dir.path(), &decode_g711(&sent, true));
    assert_audio_windows("SIPp g711a.pcap (PCMA)", &reference, &capture, 0.0, 0.95);

    let digits: Vec<(String, String)> = events(&d, "tnsaxis:Call/DTMF")
        .iter()
        .map(|e| (data(e, "Digit"), data(e, "Method")))
        .collect();
    let expected: Vec<(String, String)> =
        [("1", "RTP"), ("5", "INFO"), ("#", "INFO"), ("*", "RTP")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(digits, expected, "each digit once, in order");
    let states: Vec<String> = events(&d, "tnsaxis:Call/State")
        .iter()
        .map(|e| data(e, "CallState"))
        .collect();
    assert_eq!(states, ["Idle", "Active", "Idle"]);
    let change = events(&d, "tnsaxis:Call/StateChange");
    assert_eq!(data(&change[0], "Reason"), "AcceptedByDevice");
    assert!(data(&change[0], "RemoteURI").contains("sipp@127.0.0.1"));
    assert_eq!(data(&change[1], "Reason"), "Terminated");
}

#[test]
fn sipp_pcmu_and_opus_calls_play_their_audio() {
    let _serial = serial();
    let d = Daemon::start();
    // PCMU made here, 20 ms packets.
    let voice8 = sip::voice(8000, 4.0, true);
    let packets = pcmu_packets(&voice8, |i| Some(i as f64 * 0.02));
    let pcap = d.dir.path().join("pcmu.pcap");
    write_pcap(&pcap, &packets);
    let capture = call_and_capture(&d, &uac_scenario(PCMU_TE, &play(&pcap, 4500), 200));
    let reference = reference_8k(d.dir.path(), &decode_g711(&packets, false));
    assert_audio_windows("SIPp PCMU", &reference, &capture, 0.0, 0.95);

    // Opus at 48 kHz, encoded here; the reference is its own decode.
    let voice48 = sip::voice(48_000, 4.0, true);
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).expect("encoder");
    enc.set_bitrate(opus::Bitrate::Bits(48_000))
        .expect("bitrate");
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono).expect("decoder");
    let mut reference = Vec::new();
    let mut packets = Vec::new();
    for (i, frame) in voice48.chunks_exact(960).enumerate() {
        let mut buf = [0u8; 1500];
        let n = enc.encode_float(frame, &mut buf).expect("encode");
        let mut out = [0f32; 960];
        let m = dec
            .decode_float(&buf[..n], &mut out, false)
            .expect("decode");
        reference.extend_from_slice(&out[..m]);
        packets.push(TimedRtp {
            at: i as f64 * 0.02,
            rtp: rtp(
                96,
                i == 0,
                100 + i as u16,
                960 * i as u32,
                0x0905,
                &buf[..n],
            ),
        });
    }
    let pcap = d.dir.path().join("opus.pcap");
    write_pcap(&pcap, &packets);
    let before = read_capture(&d.capture, 0).len();
    let capture = call_and_capture(&d, &uac_scenario(OPUS, &play(&pcap, 4500), 200));
    assert_audio_windows("SIPp Opus", &reference, &capture[before..], 0.0, 0.95);
}

#[test]
fn jittered_reordered_lossy_rtp_stays_continuous() {
    let _serial = serial();
    let d = Daemon::start();
    let voice8 = sip::voice(8000, 5.0, false);
    // 20–50 ms of jitter (a fixed pseudo-random spread, so the run is repeatable), which
    // reorders neighbours, and 5 % of packets lost, never two in a row.
    let packets = pcmu_packets(&voice8, |i| {
        let jitter = if i % 3 == 1 {
            0.050
        } else {
            0.020 + ((i * 7919) % 31) as f64 / 1000.0
        };
        (i % 20 != 7).then_some(i as f64 * 0.02 + jitter)
    });
    let reordered = packets
        .windows(2)
        .filter(|w| {
            let seq = |p: &TimedRtp| u16::from_be_bytes([p.rtp[2], p.rtp[3]]);
            seq(&w[1]) < seq(&w[0])
        })
        .count();
    assert!(reordered > 10, "the pcap reorders ({reordered})");
    let pcap = d.dir.path().join("jitter.pcap");
    write_pcap(&pcap, &packets);
    let capture = call_and_capture(&d, &uac_scenario(PCMU_TE, &play(&pcap, 5500), 200));
    let gap = netamp_tests::audio::longest_gap_ms(&capture, 0.005);
    eprintln!("SIPp jittered PCMU, 5 % loss: longest gap {gap:.1} ms");
    assert!(gap < 30.0, "a {gap:.1} ms dropout");
    let reference = reference_8k(d.dir.path(), &voice8);
    // From 1 s, once the buffer has learnt the jitter; 5 % of packets are concealed.
    assert_audio_windows("SIPp jittered PCMU", &reference, &capture, 1.0, 0.8);
}

#[test]
fn a_second_caller_gets_486_with_one_call_allowed_and_eight_calls_mix_with_eight() {
    let _serial = serial();
    let d = Daemon::start();
    let voice8 = sip::voice(8000, 3.0, false);
    let pcap = d.dir.path().join("v.pcap");
    write_pcap(&pcap, &pcmu_packets(&voice8, |i| Some(i as f64 * 0.02)));
    let first = Sipp::start(
        &uac_scenario(PCMU_TE, &play(&pcap, 3000), 200),
        &d.sip,
        1,
        &[],
    );
    std::thread::sleep(Duration::from_millis(800));
    let second = Sipp::start(&uac_scenario(PCMU_TE, "", 486), &d.sip, 1, &[]);
    let (code, errors) = second.wait();
    assert_eq!(code, 0, "the second caller did not get 486: {errors}");
    let (code, errors) = first.wait();
    assert_eq!(code, 0, "the first call failed: {errors}");

    let d8 = Daemon::with(DaemonOptions {
        config: "[sip]\nmax_calls = 8\n".into(),
        ..Default::default()
    });
    let runs: Vec<Sipp> = (0..8)
        .map(|_| {
            Sipp::start(
                &uac_scenario(PCMU_TE, &play(&pcap, 3000), 200),
                &d8.sip,
                1,
                &[],
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let status = curl(
        admin(),
        &[&d8.url("/vapix/call?format=simple&action=axcall:GetCallStatus")],
    )
    .text();
    let active = status.matches("CallState=Active").count();
    for r in runs {
        let (code, errors) = r.wait();
        assert_eq!(code, 0, "one of eight calls failed: {errors}");
    }
    assert_eq!(active, 8, "eight calls at once: {status}");
    // Eight identical voices, each started a little apart, mix louder than one.
    let capture = read_capture(&d8.capture, 0);
    let peak = capture.iter().fold(0f32, |m, s| m.max(s.abs()));
    let one = voice8.iter().fold(0f32, |m, s| m.max(s.abs()));
    eprintln!("eight calls: peak {peak:.3} (one voice {one:.3})");
    assert!(peak > one * 1.5, "the calls did not mix: {peak} vs {one}");
}

/// A request netamp must answer with 400: every header a reply needs, one thing broken.
fn broken_request(i: usize, port: u16) -> Vec<u8> {
    let flaw = match i % 5 {
        0 => "CSeq: x OPTIONS",
        1 => "CSeq: 1 INVITE",
        2 => "CSeq: 1 OPTIONS\r\nContent-Length: 900",
        3 => "CSeq: 1 OPTIONS\r\nContent-Length: -4",
        _ => "CSeq: 99999999999999999999 OPTIONS",
    };
    format!(
        "OPTIONS sip:netamp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-flood-{i}\r\nFrom: <sip:flood@127.0.0.1>;tag={i}\r\nTo: <sip:netamp@127.0.0.1>\r\nCall-ID: flood-{i}\r\n{flaw}\r\nMax-Forwards: 70\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_thousand_malformed_datagrams_and_truncated_tcp_messages_leave_the_call_alone() {
    let _serial = serial();
    use std::io::Write;
    use std::net::{TcpStream, UdpSocket};

    let d = Daemon::start();
    let voice8 = sip::voice(8000, 6.0, false);
    let pcap = d.dir.path().join("call.pcap");
    write_pcap(&pcap, &pcmu_packets(&voice8, |i| Some(i as f64 * 0.02)));
    let call = Sipp::start(
        &uac_scenario(PCMU_TE, &play(&pcap, 6500), 200),
        &d.sip,
        1,
        &[],
    );
    std::thread::sleep(Duration::from_millis(1000));

    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    // Replies are read while the flood goes on: a kernel buffer holds only ~200 datagrams.
    let reader = {
        let sock = sock.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut answered = 0;
            sock.set_read_timeout(Some(Duration::from_millis(1500)))
                .expect("timeout");
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                let reply = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(reply.starts_with("SIP/2.0 400 "), "not a 400: {reply}");
                answered += 1;
            }
            answered
        })
    };
    // 500 answerable requests with one flaw each, 500 datagrams of noise.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..1000 {
        let msg = if i % 2 == 0 {
            broken_request(i, port)
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 1400) as usize;
            (0..len).map(|k| (x >> (k % 56)) as u8).collect()
        };
        sock.send_to(&msg, &d.sip).expect("send");
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let answered = reader.join().expect("reader");
    // Truncated messages over TCP: headers cut off, bodies shorter than declared.
    let full = String::from_utf8(broken_request(0, port))
        .expect("text")
        .replace("CSeq: x OPTIONS", "CSeq: 1 OPTIONS\r\nContent-Length: 50");
    for cut in (10..full.len()).step_by(7) {
        if let Ok(mut s) = TcpStream::connect(&d.sip) {
            let _ = s.write_all(&full.as_bytes()[..cut]);
        }
    }
    let (code, errors) = call.wait();
    assert_eq!(code, 0, "the call failed: {errors}");
    eprintln!("flood: {answered} of 500 malformed requests answered with 400");
    assert_eq!(answered, 500, "every answerable malformed request gets 400");

    let capture = read_capture(&d.capture, 0);
    let gap = netamp_tests::audio::longest_gap_ms(&capture, 0.005);
    let reference = reference_8k(d.dir.path(), &voice8);
    eprintln!("  call audio during the flood: longest gap {gap:.1} ms");
    assert!(gap < 10.0, "a {gap:.1} ms dropout");
    assert_audio_windows(
        "call audio during the flood",
        &reference[..240_000],
        &capture,
        1.0,
        0.95,
    );

    // Still answering.
    let reply = options_status(&d.sip, Duration::from_secs(5));
    assert_eq!(
        reply.as_deref(),
        Some("SIP/2.0 200 OK"),
        "OPTIONS after the flood"
    );
}

#[test]
fn sipp_load_500_calls_at_20_per_second_with_3_s_of_audio_each() {
    let _serial = serial();
    let d = Daemon::with(DaemonOptions {
        config: "[sip]\nmax_calls = 64\n".into(),
        ..Default::default()
    });
    let voice8 = sip::voice(8000, 3.0, false);
    let pcap = d.dir.path().join("load.pcap");
    write_pcap(&pcap, &pcmu_packets(&voice8, |i| Some(i as f64 * 0.02)));
    let run = Sipp::start(
        &uac_scenario(PCMU_TE, &play(&pcap, 3000), 200),
        &d.sip,
        500,
        &["-r", "20", "-l", "64"],
    );
    let (code, errors) = run.wait();
    assert_eq!(
        code, 0,
        "some calls failed or saw unexpected messages: {errors}"
    );
    let status = curl(admin(), &[&d.url("/api/v1/status")]).json();
    eprintln!(
        "SIPp load: 500 calls at 20/s, all answered; sip status {}",
        status["sip"]
    );
    assert_eq!(status["sip"]["answered"], 500);
    assert_eq!(status["sip"]["refused"], 0);
    assert_eq!(status["sip"]["active"], 0);
}

fn account_status(d: &Daemon) -> Value {
    let r = netamp_tests::flows::vapix_call(d, "GetSIPAccountStatus", serde_json::json!({}));
    r.json()["SIPAccountStatus"][1].clone()
}

fn wait_registered_at(d: &Daemon, port: u16, within: Duration) -> Value {
    let t0 = std::time::Instant::now();
    loop {
        let s = account_status(d);
        if s["Status"] == "Registered"
            && s["Registrar"]
                .as_str()
                .is_some_and(|r| r.ends_with(&format!(":{port}")))
        {
            return s;
        }
        assert!(t0.elapsed() < within, "not registered at :{port}: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn registers_with_digest_refreshes_fails_over_fails_back_and_takes_a_call() {
    let _serial = serial();
    let (primary, secondary) = (sip::free_port(), sip::free_port());
    // The primary grants 4 s (refresh after 3 s) and answers two REGISTERs, then dies.
    let first = Sipp::server(
        &sip::registrar_scenario("alice", "s3cret", 4, 2),
        primary,
        1,
    );
    let second = Sipp::server(
        &sip::registrar_scenario("alice", "s3cret", 4, 1),
        secondary,
        1,
    );
    std::thread::sleep(Duration::from_millis(300));
    let d = Daemon::with(DaemonOptions {
        config: format!(
            "[sip]\n[[sip.accounts]]\nid = \"sip_account_1\"\nuser = \"alice\"\npassword = \"s3cret\"\nregistrar = \"127.0.0.1:{primary}\"\nsecondary_registrar = \"127.0.0.1:{secondary}\"\nexpires = 60\ntimeout_s = 2\ndefault = true\n"
        ),
        ..Default::default()
    });
    let s = wait_registered_at(&d, primary, Duration::from_secs(5));
    eprintln!("registered: {s}");
    assert_eq!(s["Expires"], 4);
    // Two registrations on the primary (the first and its refresh), then it is gone.
    let (code, errors) = first.wait();
    assert_eq!(code, 0, "primary registrar: {errors}");
    wait_registered_at(&d, secondary, Duration::from_secs(8));
    // The primary comes back: the next refresh returns to it.
    let back = Sipp::server(
        &sip::registrar_scenario("alice", "s3cret", 60, 1),
        primary,
        1,
    );
    let (code, errors) = second.wait();
    assert_eq!(code, 0, "secondary registrar: {errors}");
    wait_registered_at(&d, primary, Duration::from_secs(8));
    let (code, errors) = back.wait();
    assert_eq!(code, 0, "primary again: {errors}");

    // A call to the registered contact, as the registrar routes it.
    let pcap = voice_pcap(&d, "reg");
    let call = Sipp::start(
        &uac_scenario(PCMU_TE, &play(&pcap, 1200), 200),
        &d.sip,
        1,
        &["-s", "alice"],
    );
    let (code, errors) = call.wait();
    assert_eq!(code, 0, "the call to alice failed: {errors}");
    let calls = events(&d, "tnsaxis:Call/StateChange");
    assert!(data(&calls[0], "RemoteURI").contains("sipp"));
}

#[test]
fn calls_through_a_registered_account_go_via_its_registrar_with_digest() {
    let _serial = serial();
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    let port = sip::free_port();
    let pbx = Sipp::server(&sip::pbx_scenario("alice", "s3cret", 60), port, 2);
    std::thread::sleep(Duration::from_millis(300));
    let d = Daemon::with(DaemonOptions {
        config: format!(
            "[sip]\n[[sip.accounts]]\nid = \"sip_account_1\"\nuser = \"alice\"\npassword = \"s3cret\"\nregistrar = \"127.0.0.1:{port}\"\nexpires = 60\n"
        ),
        ..Default::default()
    });
    wait_registered_at(&d, port, Duration::from_secs(5));
    // An unknown account is refused and changes nothing.
    let r = vapix_call(
        &d,
        "Call",
        json!({"To": "1234", "SIPAccountId": "sip_account_9"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // A bare number through the account: to 1234 at the registrar, From alice, with the
    // challenge answered (the PBX refuses the call otherwise).
    let r = vapix_call(
        &d,
        "Call",
        json!({"To": "1234", "SIPAccountId": "sip_account_1"}),
    );
    let id = r.json()["CallId"].as_str().expect("CallId").to_string();
    let t0 = std::time::Instant::now();
    let status = loop {
        let s = vapix_call(&d, "GetCallStatus", json!({"CallId": id})).json()["CallStatus"].clone();
        if s["CallState"] == "Active" {
            break s;
        }
        assert!(
            s["CallState"] == "Calling" && t0.elapsed() < Duration::from_secs(5),
            "the call through the account: {s}; {:?}",
            events(&d, "tnsaxis:Call/StateChange")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("call through sip_account_1: {status}");
    assert!(
        status["RemoteURI"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("1234@127.0.0.1:{port}"))),
        "{status}"
    );
    assert_eq!(status["Direction"], "Outgoing");
    let r = vapix_call(&d, "TerminateCall", json!({"CallId": id}));
    assert_eq!(r.status, 200, "{}", r.text());
    let (code, errors) = pbx.wait();
    assert_eq!(code, 0, "the PBX: {errors}");
}

#[test]
fn set_sip_configuration_changes_call_handling_at_once_keeps_it_and_refuses_bad_input() {
    let _serial = serial();
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    let mut d = Daemon::start();
    let get = |d: &Daemon| {
        vapix_call(d, "GetSIPConfiguration", json!({})).json()["SIPConfiguration"].clone()
    };
    let before = get(&d);
    // Bad input: a fault, and nothing changes (all or nothing).
    for bad in [
        json!({"AllowIncomingCalls": false, "MaxCalls": 0}),
        json!({"AllowIncomingCalls": false, "RingTimeout": 601}),
        json!({"AllowIncomingCalls": false, "SIPPort": 5070}),
        json!({"AllowIncomingCalls": false, "STUNEnabled": true}),
        json!({"AllowIncomingCalls": "no"}),
        json!({"AllowIncomingCalls": false, "Colour": "blue"}),
    ] {
        let r = vapix_call(&d, "SetSIPConfiguration", bad.clone());
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["FaultCode"], "ter:InvalidArgVal");
    }
    assert_eq!(get(&d), before, "refused settings changed nothing");
    // What Get gave, sent back with one change (as clients do), wrapped or not.
    let mut changed = before.clone();
    changed["AllowIncomingCalls"] = json!(false);
    let r = vapix_call(
        &d,
        "SetSIPConfiguration",
        json!({"SIPConfiguration": changed}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let pcap = voice_pcap(&d, "v");
    let refused = Sipp::start(&uac_scenario(PCMU_TE, "", 480), &d.sip, 1, &[]);
    let (code, errors) = refused.wait();
    assert_eq!(code, 0, "incoming calls off: 480 expected: {errors}");
    // Kept across a restart.
    d.stop();
    let data = d.data_dir.clone();
    let d = Daemon::with(DaemonOptions {
        data_dir: Some(data),
        ..Default::default()
    });
    assert_eq!(get(&d)["AllowIncomingCalls"], false);
    let r = vapix_call(
        &d,
        "SetSIPConfiguration",
        json!({"AllowIncomingCalls": true, "MaxCalls": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&d)["MaxCalls"], 2);
    let answered = Sipp::start(
        &uac_scenario(PCMU_TE, &play(&pcap, 1200), 200),
        &d.sip,
        1,
        &[],
    );
    let (code, errors) = answered.wait();
    assert_eq!(code, 0, "incoming calls on again: {errors}");
}

#[test]
fn a_pre_announcement_clip_plays_while_the_call_rings_and_the_call_is_answered_after_it() {
    let _serial = serial();
    let d = daemon_with_clip("[sip]\npre_announcement_clip = 0\n");
    let pcap = voice_pcap(&d, "after");
    // The 180 is required here: the call rings first.
    let scenario = ringing_first(&uac_scenario(PCMU_TE, &play(&pcap, 1200), 200));
    let run = Sipp::start(&scenario, &d.sip, 1, &[]);
    let (code, errors) = run.wait();
    assert_eq!(code, 0, "the call failed: {errors}");
    let changes = events(&d, "tnsaxis:Call/StateChange");
    let at = |reason: &str| {
        changes
            .iter()
            .find(|e| data(e, "Reason") == reason)
            .and_then(|e| e["timestamp"].as_u64())
            .unwrap_or_else(|| panic!("no {reason} in {changes:?}"))
    };
    let rang_ms = at("AcceptedByDevice") - at("Initiated");
    let clip_started = !events(&d, "tnsaxis:MediaClip/tnsaxis:CurrentlyPlaying").is_empty();
    eprintln!("pre-announcement: rang {rang_ms} ms for a 1.5 s clip");
    assert!(clip_started, "the clip did not play");
    assert!(
        (1400..3000).contains(&rang_ms),
        "answered after {rang_ms} ms"
    );
}

#[test]
fn accounts_set_through_the_call_api_register_persist_and_go() {
    let _serial = serial();
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    let port = sip::free_port();
    // Two registrations, each with its own Call-ID (one per daemon run): two SIPp calls.
    let registrar = Sipp::server(&sip::registrar_scenario("bob", "pw", 60, 1), port, 2);
    std::thread::sleep(Duration::from_millis(300));
    let mut d = Daemon::start();
    // Bad input changes nothing.
    let r = vapix_call(&d, "SetSIPAccount", json!({"Username": "bob"}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["FaultCode"], "ter:InvalidArgVal");
    let r = vapix_call(
        &d,
        "SetSIPAccount",
        json!({"Username": "bob", "Password": "pw", "Registrar": format!("127.0.0.1:{port}"), "IsDefault": true}),
    );
    assert_eq!(r.json()["SIPAccountId"], "sip_account_1", "{}", r.text());
    wait_registered_at(&d, port, Duration::from_secs(5));
    let accounts = vapix_call(&d, "GetSIPAccounts", json!({})).json();
    let list = accounts["SIPAccounts"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["IsDefault"], false);
    assert_eq!(list[1]["IsDefault"], true);
    assert!(!accounts.to_string().contains("\"pw\""), "no passwords out");

    // Kept across a restart, and registering again.
    d.stop();
    let data = d.data_dir.clone();
    let d = Daemon::with(DaemonOptions {
        data_dir: Some(data),
        ..Default::default()
    });
    wait_registered_at(&d, port, Duration::from_secs(5));
    let (code, errors) = registrar.wait();
    assert_eq!(code, 0, "registrar: {errors}");
    vapix_call(
        &d,
        "RemoveSIPAccount",
        json!({"SIPAccountId": "sip_account_1"}),
    );
    let accounts = vapix_call(&d, "GetSIPAccounts", json!({})).json();
    assert_eq!(accounts["SIPAccounts"].as_array().map(Vec::len), Some(1));
    let status = vapix_call(&d, "GetSIPAccountStatus", json!({})).json();
    assert_eq!(status["SIPAccountStatus"].as_array().map(Vec::len), Some(1));
}

#[test]
fn session_timers_are_accepted_refreshed_and_too_short_ones_refused() {
    let _serial = serial();
    let d = Daemon::start();
    let with_timer = |interval: u32, expect: u16, middle: &str| {
        uac_scenario(PCMU_TE, middle, expect).replacen(
            "Max-Forwards: 70\nContent-Type: application/sdp",
            &format!(
                "Max-Forwards: 70\nSupported: timer\nSession-Expires: {interval};refresher=uac\nContent-Type: application/sdp"
            ),
            1,
        )
    };
    // 120 s asked: the 200 carries it with the caller refreshing, and an UPDATE refresh
    // (no body) is answered with it too.
    let check = |what: &str| {
        format!(
            "<action><ereg regexp=\"120;refresher=uac\" search_in=\"hdr\" header=\"Session-Expires:\" check_it=\"true\" assign_to=\"{what}\"/></action>"
        )
    };
    let update = format!(
        "<send retrans=\"500\"><![CDATA[\nUPDATE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\nFrom: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]\nTo: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]\nCall-ID: [call_id]\nContact: sip:sipp@[local_ip]:[local_port]\nMax-Forwards: 70\nCSeq: 2 UPDATE\nSession-Expires: 120;refresher=uac\nContent-Length: 0\n\n]]></send>\n<recv response=\"200\">{}</recv>\n",
        check("refresh")
    );
    let scenario = with_timer(120, 200, &update)
        .replacen(
            "<recv response=\"200\" rtd=\"true\"/>",
            &format!(
                "<recv response=\"200\" rtd=\"true\">{}</recv>",
                check("answer")
            ),
            1,
        )
        // SIPp refuses a variable it sees used only once.
        .replace(
            "</scenario>",
            "<Reference variables=\"answer,refresh\"/>\n</scenario>",
        );
    let (code, errors) = Sipp::start(&scenario, &d.sip, 1, &[]).wait();
    assert_eq!(code, 0, "session timer call: {errors}");
    // 30 s is below Min-SE: 422.
    let (code, errors) = Sipp::start(&with_timer(30, 422, ""), &d.sip, 1, &[]).wait();
    assert_eq!(code, 0, "expected 422: {errors}");
}

#[test]
fn sipp_g722_call_plays_ffmpegs_encoding() {
    let _serial = serial();
    use netamp_tests::run;
    use std::process::Command;
    let d = Daemon::start();
    // ffmpeg encodes 16 kHz audio to raw G.722; its own decode is the reference.
    let voice16 = sip::voice(16_000, 4.0, true);
    let raw = d.dir.path().join("voice16.raw");
    let bytes: Vec<u8> = voice16
        .iter()
        .flat_map(|s| ((s * 32767.0) as i16).to_le_bytes())
        .collect();
    std::fs::write(&raw, bytes).expect("raw");
    let g722 = d.dir.path().join("voice.g722");
    run(Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i",
        ])
        .arg(&raw)
        .args(["-c:a", "g722", "-f", "g722"])
        .arg(&g722));
    let reference = ffmpeg_reference(&g722);
    let coded = std::fs::read(&g722).expect("g722");
    let packets: Vec<TimedRtp> = coded
        .chunks_exact(160)
        .enumerate()
        .map(|(i, p)| TimedRtp {
            at: i as f64 * 0.02,
            rtp: rtp(9, i == 0, 300 + i as u16, 160 * i as u32, 0x722, p),
        })
        .collect();
    let pcap = d.dir.path().join("g722.pcap");
    write_pcap(&pcap, &packets);
    let capture = call_and_capture(&d, &uac_scenario(G722, &play(&pcap, 4500), 200));
    assert_audio_windows(
        "SIPp G.722 (ffmpeg-encoded)",
        &reference,
        &capture,
        0.5,
        0.95,
    );
}

#[test]
fn each_account_answers_its_own_way_at_once_or_ringing() {
    let _serial = serial();
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    // `[sip]` rings (unanswered calls ring 2 s); alice's account answers at once.
    let d = daemon_with_clip("[sip]\nauto_answer = false\nring_timeout_s = 2\n");
    // A call reaches an account by its Request-URI user (what a registrar forwards to
    // the registered contact), registered or not, so no registrar runs here.
    let registrar = format!("127.0.0.1:{}", sip::free_port());
    let account = |id: &str, user: &str, extra: Value| {
        let mut a = json!({"Id": id, "Username": user, "Registrar": registrar});
        if let (Some(a), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
            a.extend(extra.clone());
        }
        vapix_call(&d, "SetSIPAccount", a)
    };
    // Bad per-account values are refused and store nothing.
    for bad in [json!({"AutoAnswer": "maybe"}), json!({"AutoAnswer": 1})] {
        let r = account("sip_account_3", "dave", bad.clone());
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = account("sip_account_1", "alice", json!({"AutoAnswer": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = account("sip_account_2", "carol", json!({"AutoAnswer": false}));
    assert_eq!(r.status, 200, "{}", r.text());
    let list = vapix_call(&d, "GetSIPAccounts", json!({})).json()["SIPAccounts"].clone();
    let entry = |id: &str| {
        list.as_array()
            .and_then(|l| l.iter().find(|a| a["Id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from {list}"))
    };
    assert_eq!(entry("sip_account_1")["AutoAnswer"], true);
    assert_eq!(entry("sip_account_2")["AutoAnswer"], false);
    assert!(
        !list.to_string().contains("sip_account_3"),
        "a refused account was stored: {list}"
    );

    let pcap = voice_pcap(&d, "v");
    let rings = |expect: u16| ringing_first(&uac_scenario(PCMU_TE, &play(&pcap, 1200), expect));
    // The reasons and the clip events one call added.
    let seen = std::cell::Cell::new(0);
    let call = |scenario: &str, user: &str| {
        let run = Sipp::start(scenario, &d.sip, 1, &["-s", user]);
        let (code, errors) = run.wait();
        assert_eq!(code, 0, "the call to {user} failed: {errors}");
        let all = events(&d, "tnsaxis:Call/StateChange");
        let new: Vec<String> = all[seen.get()..]
            .iter()
            .map(|e| data(e, "Reason"))
            .collect();
        seen.set(all.len());
        new
    };
    // alice: answered at once, no ringing.
    let reasons = call(&uac_scenario(PCMU_TE, &play(&pcap, 1200), 200), "alice");
    assert_eq!(
        reasons.first().map(String::as_str),
        Some("AcceptedByDevice"),
        "{reasons:?}"
    );
    // Anyone else (the peer-to-peer account) and carol: ring, are not answered, and get
    // 480 when the ring time is up.
    for user in ["somebody", "carol"] {
        let reasons = call(&rings(480), user);
        assert_eq!(
            reasons.first().map(String::as_str),
            Some("Initiated"),
            "{user}: {reasons:?}"
        );
        assert!(
            !reasons.iter().any(|r| r == "AcceptedByDevice"),
            "{user}: {reasons:?}"
        );
    }
}

#[test]
fn a_registered_contact_takes_the_address_the_registrar_saw() {
    let _serial = serial();
    let port = sip::free_port();
    // The registrar's replies say the REGISTER came from 192.0.2.7:5999 (a NAT).
    let registrar = Sipp::server(
        &sip::nat_registrar_scenario("alice", "s3cret", r"@192\.0\.2\.7:5999"),
        port,
        1,
    );
    std::thread::sleep(Duration::from_millis(300));
    let d = Daemon::with(DaemonOptions {
        config: format!(
            "[sip]\n[[sip.accounts]]\nid = \"sip_account_1\"\nuser = \"alice\"\npassword = \"s3cret\"\nregistrar = \"127.0.0.1:{port}\"\nexpires = 60\n"
        ),
        ..Default::default()
    });
    let s = wait_registered_at(&d, port, Duration::from_secs(5));
    eprintln!("registered: {s}");
    assert_eq!(s["Contact"], "192.0.2.7:5999", "{s}");
    // The registrar granted only a REGISTER whose Contact was that address.
    let (code, errors) = registrar.wait();
    assert_eq!(code, 0, "{errors}");
}

#[test]
fn outgoing_calls_that_cannot_start_end_idle_with_reason_failed() {
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    let d = Daemon::with(DaemonOptions {
        config: "[sip]\ninvite_timeout_s = 2\n".into(),
        ..Default::default()
    });
    // Nobody listens there: over TCP the INVITE cannot even be sent; over UDP no
    // response ever comes.
    let closed = sip::free_port();
    for to in [
        format!("sip:nobody@127.0.0.1:{closed};transport=tcp"),
        format!("sip:nobody@127.0.0.1:{closed}"),
    ] {
        let r = vapix_call(&d, "Call", json!({ "To": to }));
        let id = r.json()["CallId"].as_str().expect("CallId").to_string();
        let t0 = std::time::Instant::now();
        let ended = loop {
            let ended = events(&d, "tnsaxis:Call/StateChange")
                .into_iter()
                .find(|e| data(e, "CallId") == id && data(e, "CallState") == "Idle");
            if let Some(e) = ended {
                break e;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{to}: still {} after 10 s",
                vapix_call(&d, "GetCallStatus", json!({"CallId": id})).text()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        eprintln!("{to}: {}", ended["message"]["data"]);
        assert_eq!(data(&ended, "Reason"), "Failed", "{to}");
        let calls = vapix_call(&d, "GetCallStatus", json!({})).json();
        assert_eq!(calls["CallStatus"], json!([]), "{to}: {calls}");
    }
}

#[test]
fn registers_over_tls_with_kamailio_once_the_store_trusts_its_ca() {
    let _serial = serial();
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    let d = Daemon::start();
    let (ca, cert, key) = netamp_tests::peers::ca_signed(d.dir.path());
    let kamailio = netamp_tests::peers::KamailioTls::start(&cert, &key);
    // The account's transport is TLS; its registrar a bare address.
    let registrar = format!("127.0.0.1:{}", kamailio.tls_port);
    let add = |verify: bool| {
        let r = vapix_call(
            &d,
            "SetSIPAccount",
            json!({"Id": "sip_account_1", "Username": "alice", "Password": "pw",
                   "Registrar": registrar, "Transport": "tls",
                   "VerifyServerCertificate": verify, "IsDefault": true}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    let status_within = |want: &str| {
        let t0 = std::time::Instant::now();
        loop {
            let s = account_status(&d);
            if s["Status"] == want {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "not {want}: {s}; kamailio: {}",
                kamailio.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Its CA is unknown: the TLS handshake fails on the certificate, nothing registers.
    add(true);
    let failed = status_within("Failed");
    assert!(
        failed.to_string().contains("certificate") || failed.to_string().contains("Issuer"),
        "{failed}"
    );
    assert!(!kamailio.log().contains("REGISTER over tls"));
    // This account's switch turned off: it registers without checking.
    add(false);
    status_within("Registered");
    let accounts = vapix_call(&d, "GetSIPAccounts", json!({})).json();
    let account = &accounts["SIPAccounts"][1];
    assert_eq!(
        (&account["Transport"], &account["VerifyServerCertificate"]),
        (&json!("tls"), &json!(false)),
        "{account}"
    );

    netamp_tests::flows::trust_ca(&d, "site", &ca);
    // Checking again, with the CA in the store: it registers over TLS (Kamailio refuses
    // REGISTER over anything else), anew.
    let before = kamailio.log().matches("REGISTER over tls").count();
    add(true);
    let t0 = std::time::Instant::now();
    while kamailio.log().matches("REGISTER over tls").count() <= before {
        assert!(t0.elapsed() < Duration::from_secs(10), "no new REGISTER");
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = status_within("Registered");
    assert_eq!(
        s["Registrar"],
        format!("sip:{registrar};transport=tls"),
        "{s}"
    );
    assert!(
        kamailio.log().contains("REGISTER over tls for sip:alice@"),
        "{}",
        kamailio.log()
    );
}

#[test]
fn the_peer_to_peer_account_goes_once_another_is_the_default_and_comes_back() {
    let _serial = serial();
    use netamp_tests::flows::vapix_call;
    use serde_json::json;
    let d = Daemon::start();
    let ids = |d: &Daemon| -> Vec<String> {
        vapix_call(d, "GetSIPAccounts", json!({})).json()["SIPAccounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["Id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let remove_p2p = || {
        vapix_call(
            &d,
            "RemoveSIPAccount",
            json!({"SIPAccountId": "sip_account_0"}),
        )
    };
    // Alone it is the default: it stays.
    assert_eq!(remove_p2p().status, 400);
    assert_eq!(ids(&d), ["sip_account_0"]);
    // Another account, the default (its registrar need not answer for this).
    let r = vapix_call(
        &d,
        "SetSIPAccount",
        json!({"Username": "bob", "Password": "pw", "Registrar": "127.0.0.1:9", "IsDefault": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(remove_p2p().status, 200);
    assert_eq!(ids(&d), ["sip_account_1"]);
    // Now a call to the account's user is taken, a call to anyone else is not.
    let media = "0\na=rtpmap:0 PCMU/8000";
    let to_bob = Sipp::start(&uac_scenario(media, "", 200), &d.sip, 1, &["-s", "bob"]);
    let (code, errors) = to_bob.wait();
    assert_eq!(code, 0, "a call to bob: {errors}");
    let direct = Sipp::start(&uac_scenario(media, "", 404), &d.sip, 1, &["-s", "anyone"]);
    let (code, errors) = direct.wait();
    assert_eq!(code, 0, "a direct call gets 404: {errors}");
    // The default stays while the peer-to-peer account is gone.
    let demote = vapix_call(
        &d,
        "SetSIPAccount",
        json!({"Id": "sip_account_1", "Username": "bob", "Password": "pw", "Registrar": "127.0.0.1:9", "IsDefault": false}),
    );
    assert_eq!(demote.status, 400, "{}", demote.text());
    let gone = vapix_call(
        &d,
        "RemoveSIPAccount",
        json!({"SIPAccountId": "sip_account_1"}),
    );
    assert_eq!(gone.status, 400, "{}", gone.text());
    // Set again, it is back, and takes direct calls.
    let back = vapix_call(&d, "SetSIPAccount", json!({"Id": "sip_account_0"}));
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(ids(&d), ["sip_account_0", "sip_account_1"]);
    let direct = Sipp::start(&uac_scenario(media, "", 200), &d.sip, 1, &["-s", "anyone"]);
    let (code, errors) = direct.wait();
    assert_eq!(code, 0, "a direct call again: {errors}");
}
