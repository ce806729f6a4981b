//! Every resource limit holds while it is hit, and a call in progress keeps playing
//! through all of them: header size, request body, connections per client and overall
//! (clients from several loopback addresses), slow headers (slowloris), a slow body,
//! concurrent uploads and the SIP datagram size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netamp_tests::audio::{
    assert_audio_windows, ffmpeg_reference, longest_gap_ms, make_clip, read_capture, write_wav_8k,
    Format,
};
use netamp_tests::daemon::{admin_basic, Daemon, DaemonOptions, ADMIN};
use netamp_tests::http::{curl, Auth};
use netamp_tests::sip::{self, pcmu_packets, play, uac_scenario, write_pcap, Sipp, PCMU_TE};

const IDLE_S: u64 = 4;
const PER_CLIENT: usize = 8;
const OVERALL: usize = 40;

/// A connection to `to` from the loopback address `from`.
fn connect_from(from: [u8; 4], to: &str) -> TcpStream {
    let to: SocketAddr = to.parse().expect("addr");
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&SocketAddr::from((from, 0)).into())
        .expect("bind");
    sock.connect(&to.into()).expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(3 * IDLE_S)))
        .expect("timeout");
    s
}

/// Sends `request` on `s` and reads until the server closes: what it answered.
fn exchange(mut s: TcpStream, request: &[u8]) -> String {
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A request for device info from `from`: its status line, or "" when the connection
/// was closed without an answer.
fn status_from(from: [u8; 4], addr: &str) -> String {
    let answer = exchange(
        connect_from(from, addr),
        b"GET /axis-cgi/basicdeviceinfo.cgi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    answer.lines().next().unwrap_or("").to_string()
}

/// Whether the server closes `s` (no answer needed) within `within`.
fn closed_within(mut s: TcpStream, within: Duration) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed() < within,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return start.elapsed() < within
            }
            Err(_) => return false,
        }
    }
}

#[test]
fn each_limit_holds_while_a_call_keeps_playing() {
    let d = Daemon::with(DaemonOptions {
        config: format!(
            "[http]\nidle_timeout_s = {IDLE_S}\nmax_connections = {OVERALL}\n\
             max_connections_per_client = {PER_CLIENT}\nmax_header_bytes = 8192\n\
             [clips]\nmax_concurrent_uploads = 2\n[sip]\nmax_datagram_bytes = 2048\n"
        ),
        ..DaemonOptions::default()
    });
    let voice8 = sip::voice(8000, 12.0, false);
    let pcap = d.dir.path().join("call.pcap");
    write_pcap(&pcap, &pcmu_packets(&voice8, |i| Some(i as f64 * 0.02)));
    let call = Sipp::start(
        &uac_scenario(PCMU_TE, &play(&pcap, 12_500), 200),
        &d.sip,
        1,
        &[],
    );
    std::thread::sleep(Duration::from_millis(1000));

    // Slow attackers first, in the background: a head sent a line every 0.5 s, and a body
    // that stops after 10 of its 1000 bytes. Each is closed at the idle timeout.
    let slowloris = {
        let addr = d.addr.clone();
        std::thread::spawn(move || {
            let mut s = connect_from([127, 0, 0, 20], &addr);
            let _ = s.write_all(b"GET /axis-cgi/basicdeviceinfo.cgi HTTP/1.1\r\n");
            let start = Instant::now();
            let mut i = 0;
            while start.elapsed() < Duration::from_secs(3 * IDLE_S) {
                if s.write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                    .is_err()
                {
                    return start.elapsed();
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
            start.elapsed()
        })
    };
    let slow_body = {
        let addr = d.addr.clone();
        std::thread::spawn(move || {
            let mut s = connect_from([127, 0, 0, 21], &addr);
            let head = format!(
                "PUT /api/v1/syslog HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"servers\"",
                admin_basic()
            );
            s.write_all(head.as_bytes()).expect("head");
            closed_within(s, Duration::from_secs(3 * IDLE_S))
        })
    };
    // Two uploads crawling at 16 kB/s hold both upload places.
    let big = make_clip(d.dir.path(), Format::WavPcm16, 16000, 1, 3.0);
    let crawl = |n: u8| {
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "--limit-rate",
                "16K",
                "--interface",
            ])
            .arg(format!("127.0.0.{}", 30 + n))
            .args(["--digest", "-u", &format!("{}:{}", ADMIN.0, ADMIN.1), "-F"])
            .arg(format!("file=@{}", big.display()))
            .arg(d.url("/axis-cgi/mediaclip.cgi?action=upload&media=audio"))
            .stdout(Stdio::null())
            .spawn()
            .expect("curl")
    };
    let mut crawlers = [crawl(1), crawl(2)];
    std::thread::sleep(Duration::from_millis(1000));
    let small = make_clip(d.dir.path(), Format::WavPcm16, 8000, 1, 0.2);
    let third = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &[
            "-F",
            &format!("file=@{}", small.display()),
            &d.url("/axis-cgi/mediaclip.cgi?action=upload&media=audio"),
        ],
    );
    assert_eq!(
        third.status,
        503,
        "a third upload at once: {}",
        third.text()
    );

    // A head longer than max_header_bytes: 431; a shorter one is served.
    let long = |n: usize| {
        exchange(
            connect_from([127, 0, 0, 1], &d.addr),
            format!(
                "GET /axis-cgi/basicdeviceinfo.cgi HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
                "a".repeat(n)
            )
            .as_bytes(),
        )
    };
    assert!(long(20_000).starts_with("HTTP/1.1 431"), "{}", long(20_000));
    assert!(long(6_000).starts_with("HTTP/1.1 200"), "{}", long(6_000));

    // A body over [http] max_body_bytes (64 KiB): 413, read no further.
    let body = d.dir.path().join("big.json");
    std::fs::write(
        &body,
        format!("{{\"servers\": [], \"x\": \"{}\"}}", "b".repeat(200_000)),
    )
    .expect("body");
    let r = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &[
            "-X",
            "PUT",
            "--data-binary",
            &format!("@{}", body.display()),
            &d.url("/api/v1/syslog"),
        ],
    );
    assert_eq!(r.status, 413, "{}", r.text());

    // A SIP datagram over max_datagram_bytes: 513; the same request shorter is answered.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let port = udp.local_addr().expect("addr").port();
    let options = |pad: usize| {
        format!(
            "OPTIONS sip:amp@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-lim{pad}\r\n\
             From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:amp@{sip}>\r\nCall-ID: lim{pad}\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\nX-Pad: {}\r\nContent-Length: 0\r\n\r\n",
            "p".repeat(pad),
            sip = d.sip
        )
    };
    let mut buf = [0u8; 4096];
    for (pad, want) in [(3000, "SIP/2.0 513 "), (100, "SIP/2.0 200 ")] {
        udp.send_to(options(pad).as_bytes(), &d.sip).expect("send");
        let (n, _) = udp.recv_from(&mut buf).expect("an answer");
        let reply = String::from_utf8_lossy(&buf[..n]);
        assert!(reply.starts_with(want), "{pad} bytes of padding: {reply}");
    }

    // Connections per client: the ninth from one address is closed unanswered, while
    // another address is served.
    let held: Vec<TcpStream> = (0..PER_CLIENT)
        .map(|_| connect_from([127, 0, 0, 9], &d.addr))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        status_from([127, 0, 0, 9], &d.addr),
        "",
        "over the per-client cap"
    );
    assert!(status_from([127, 0, 0, 10], &d.addr).starts_with("HTTP/1.1 200"));
    // The status report lists who is connected: those eight, and the call's peer.
    let status = curl(Auth::Digest(ADMIN.0, ADMIN.1), &[&d.url("/api/v1/status")]).json();
    let port: u16 = d
        .addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert!(
        status["clients"]["http"].as_array().is_some_and(|a| a.contains(
            &serde_json::json!({"address": "127.0.0.9", "protocol": "http", "port": port, "connections": PER_CLIENT})
        )),
        "{}",
        status["clients"]
    );
    let sip = &status["clients"]["sip"][0];
    assert_eq!(
        (&sip["protocol"], &sip["state"]),
        (&serde_json::json!("sip/udp"), &serde_json::json!("Active")),
        "{}",
        status["clients"]
    );
    // Overall: fill the rest from other addresses (the uploads, the slow attackers and
    // the held ones are open too); the next is closed unanswered.
    let mut more = Vec::new();
    let mut host = 11u8;
    while !status_from([127, 0, 0, 60], &d.addr).is_empty() {
        for _ in 0..PER_CLIENT - 1 {
            more.push(connect_from([127, 0, 0, host], &d.addr));
        }
        host += 1;
        assert!(host < 20, "the overall cap never refused");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(held);
    drop(more);

    let slow_head_for = slowloris.join().expect("slowloris");
    assert!(
        slow_head_for < Duration::from_secs(3 * IDLE_S),
        "a head trickled for {slow_head_for:?}"
    );
    assert!(
        slow_body.join().expect("slow body"),
        "a stalled body was closed"
    );
    for c in &mut crawlers {
        let _ = c.kill();
        let _ = c.wait();
    }

    let (code, errors) = call.wait();
    assert_eq!(code, 0, "the call failed: {errors}");
    std::thread::sleep(Duration::from_millis(300));
    let capture = read_capture(&d.capture, 0);
    let gap = longest_gap_ms(&capture, 0.005);
    let reference = {
        let path = d.dir.path().join("reference.wav");
        write_wav_8k(&path, &voice8);
        ffmpeg_reference(&path)
    };
    eprintln!("call audio while the limits were hit: longest gap {gap:.1} ms");
    assert!(gap < 10.0, "a {gap:.1} ms dropout");
    assert_audio_windows(
        "call audio while the limits were hit",
        &reference[48_000..48_000 * 7],
        &capture,
        1.0,
        0.95,
    );
    // Still serving, uploads again possible.
    let r = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &[
            "-F",
            &format!("file=@{}", small.display()),
            &d.url("/axis-cgi/mediaclip.cgi?action=upload&media=audio"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}
