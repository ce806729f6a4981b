//! A call's RTP and RTCP against a stranger on the same network: SIPp signals the call,
//! the test is the caller's media (its own sockets, so it sees where netamp's
//! microphone goes) and a spoofer sends from other ports. The spoofer must get neither
//! the microphone nor the reports and must not be heard; a caller behind NAT, whose RTP
//! comes from another port than its SDP named, must still be latched.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netamp_tests::audio::{
    assert_audio_windows, ffmpeg_reference, half_second_windows, read_capture, write_wav_8k,
};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::vapix_call;
use netamp_tests::sip::{self, free_media_port, pcmu_packets, rtp, uac_scenario, Sipp, PCMU_TE};
use serde_json::{json, Value};

/// The caller's SSRC (the one [`pcmu_packets`] gives).
const SSRC: u32 = 0x5EED;

/// One at a time: both are real-time audio checks.
static SERIAL: Mutex<()> = Mutex::new(());

/// A daemon whose microphone loops a voice (from a file in the returned directory).
fn daemon() -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mic = dir.path().join("mic.wav");
    write_wav_8k(&mic, &sip::voice(8000, 3.0, true));
    let d = Daemon::with(DaemonOptions {
        audio_in: Some(format!("wav:{}?loop", mic.display())),
        ..Default::default()
    });
    (d, dir)
}

/// A call from SIPp whose SDP names `sdp_port` for media and lasts `ms` after the ACK.
fn call(d: &Daemon, sdp_port: u16, ms: u32) -> Sipp {
    let scenario = uac_scenario(PCMU_TE, &format!("<pause milliseconds=\"{ms}\"/>\n"), 200)
        .replace("[auto_media_port]", &sdp_port.to_string());
    Sipp::start(&scenario, &d.sip, 1, &[])
}

fn bind(port: u16) -> UdpSocket {
    let s = UdpSocket::bind(("127.0.0.1", port)).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    s
}

/// Waits for netamp's first RTP packet on `s`: where netamp's RTP socket is.
fn first_uplink(s: &UdpSocket) -> SocketAddr {
    let t0 = Instant::now();
    let mut buf = [0u8; 1500];
    while t0.elapsed() < Duration::from_secs(10) {
        if let Ok((_, from)) = s.recv_from(&mut buf) {
            return from;
        }
    }
    panic!("netamp sent no RTP to the address of the SDP");
}

/// Sends the PCMU stream of `pcm` ([`pcmu_packets`], SSRC [`SSRC`]) from `s` to `to`,
/// each packet at its time from now.
fn send_voice(s: UdpSocket, to: SocketAddr, pcm: &[f32]) -> std::thread::JoinHandle<()> {
    let packets = pcmu_packets(pcm, |i| Some(i as f64 * 0.02));
    std::thread::spawn(move || {
        let t0 = Instant::now();
        for p in packets {
            let due = t0 + Duration::from_secs_f64(p.at);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let _ = s.send_to(&p.rtp, to);
        }
    })
}

/// Counts what arrives on `s` until `stop`, with each arrival's time since `t0`.
fn count(s: UdpSocket, t0: Instant, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let mut at = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if s.recv_from(&mut buf).is_ok() {
                at.push(t0.elapsed().as_secs_f64());
            }
        }
        at
    })
}

fn call_status(d: &Daemon) -> Value {
    vapix_call(d, "GetCallStatus", json!({})).json()["CallStatus"][0].clone()
}

/// 48 kHz reference of 8 kHz samples, as the capture is read.
fn reference(d: &Daemon, name: &str, pcm: &[f32]) -> Vec<f32> {
    let p = d.dir.path().join(name);
    write_wav_8k(&p, pcm);
    ffmpeg_reference(&p)
}

#[test]
fn a_spoofer_gets_neither_the_microphone_nor_the_reports_and_is_not_heard() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (d, _mic) = daemon();
    let port = free_media_port();
    let (caller, caller_rtcp) = (bind(port), bind(port + 1));
    let sipp = call(&d, port, 7000);
    let netamp = first_uplink(&caller);
    let t0 = Instant::now();
    let voice = sip::voice(8000, 6.0, true);
    let sender = send_voice(caller.try_clone().expect("clone"), netamp, &voice);
    let stop = Arc::new(AtomicBool::new(false));
    let uplink = count(caller, t0, stop.clone());
    let reports = count(caller_rtcp, t0, stop.clone());
    let (spoofer, spoofer_rtcp) = (bind(0), bind(0));
    let spoofer_heard = count(spoofer.try_clone().expect("clone"), t0, stop.clone());
    let spoofer_reports = count(spoofer_rtcp.try_clone().expect("clone"), t0, stop.clone());

    // One second into the call: 60 packets of another voice, PT 0 with a new SSRC (the
    // attack that took the microphone), 20 of a payload type the call did not
    // negotiate, and a receiver report with the new SSRC to the RTCP port.
    std::thread::sleep(Duration::from_secs(1));
    let mut other = sip::voice(8000, 1.2, false);
    other.reverse();
    for mut p in pcmu_packets(&other, |i| Some(i as f64 * 0.02)) {
        p.rtp[8..12].copy_from_slice(&0xBADu32.to_be_bytes());
        let _ = spoofer.send_to(&p.rtp, netamp);
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..20u16 {
        let _ = spoofer.send_to(&rtp(8, false, i, 0, 0xBAD, &[0xD5; 160]), netamp);
    }
    let rr = [0x80, 201, 0, 1, 0, 0, 0x0B, 0xAD];
    let rtcp_port = SocketAddr::new(netamp.ip(), netamp.port() + 1);
    for _ in 0..3 {
        let _ = spoofer_rtcp.send_to(&rr, rtcp_port);
    }
    // After the latch window (5 s): even the caller's own SSRC from another port.
    std::thread::sleep(Duration::from_millis(5500).saturating_sub(t0.elapsed()));
    for i in 0..20u16 {
        let _ = spoofer.send_to(&rtp(0, false, 9000 + i, 0, SSRC, &[0x7F; 160]), netamp);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = call_status(&d);
    sender.join().expect("sender");
    let (code, errors) = sipp.wait();
    assert_eq!(code, 0, "SIPp call failed: {errors}");
    stop.store(true, Ordering::Relaxed);
    let uplink = uplink.join().expect("uplink");
    let reports = reports.join().expect("reports");
    let spoofer_heard = spoofer_heard.join().expect("spoofer");
    let spoofer_reports = spoofer_reports.join().expect("spoofer reports");

    let during_attack = uplink.iter().filter(|t| (1.0..2.5).contains(*t)).count();
    eprintln!(
        "uplink to the caller: {} packets ({during_attack} during the attack), reports {}; \
         to the spoofer: {} packets, {} reports; status {status}",
        uplink.len(),
        reports.len(),
        spoofer_heard.len(),
        spoofer_reports.len()
    );
    assert_eq!(
        spoofer_heard.len(),
        0,
        "the spoofer received the microphone"
    );
    assert_eq!(spoofer_reports.len(), 0, "the spoofer received RTCP");
    assert!(
        during_attack >= 60,
        "the caller lost the microphone: {during_attack}"
    );
    assert!(!reports.is_empty(), "the caller got no RTCP");
    assert!(status["SpoofedRTP"].as_u64() >= Some(100), "{status}");
    assert!(status["SpoofedRTCP"].as_u64() >= Some(3), "{status}");

    std::thread::sleep(Duration::from_millis(300));
    let played = read_capture(&d.capture, 0);
    let caller_voice = reference(&d, "caller.wav", &voice);
    assert_audio_windows("the caller's voice", &caller_voice, &played, 0.5, 0.9);
    // The half seconds of the attack (1.0–2.5 s) hold the caller's voice alone: the
    // spoofer's, mixed in or instead, would take their correlation far below this.
    let attack = &half_second_windows(&caller_voice, &played, 1.0)[..3];
    assert!(
        attack.iter().all(|c| *c >= 0.98),
        "the spoofer was heard: {attack:.3?}"
    );
}

#[test]
fn a_caller_behind_nat_is_latched_from_its_first_packet() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (d, _mic) = daemon();
    // The SDP names `port + 2`; the caller's packets come from `port` (its NAT's).
    let port = free_media_port();
    let (natted, named) = (bind(port), bind(port + 2));
    let sipp = call(&d, port + 2, 4000);
    let netamp = first_uplink(&named);
    let t0 = Instant::now();
    let voice = sip::voice(8000, 3.5, true);
    let sender = send_voice(natted.try_clone().expect("clone"), netamp, &voice);
    let stop = Arc::new(AtomicBool::new(false));
    let uplink = count(natted, t0, stop.clone());
    sender.join().expect("sender");
    let (code, errors) = sipp.wait();
    assert_eq!(code, 0, "SIPp call failed: {errors}");
    stop.store(true, Ordering::Relaxed);
    let uplink = uplink.join().expect("uplink");
    eprintln!("uplink to the NAT's port: {} packets", uplink.len());
    // 3.5 s of the caller's audio: netamp's microphone follows it from the first packet.
    assert!(uplink.len() >= 150, "{} packets", uplink.len());
    std::thread::sleep(Duration::from_millis(300));
    assert_audio_windows(
        "the natted caller's voice",
        &reference(&d, "caller.wav", &voice),
        &read_capture(&d.capture, 0),
        0.5,
        0.9,
    );
}
