//! What the network can make netamp hold: after 200 clip uploads (good and hostile),
//! 100,000 malformed SIP datagrams and a few hundred HTTP connections that open and
//! never send (or stop half way), the daemon's open file handles are back where they
//! started and its memory grew less than 2 MB.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, upload};
use netamp_tests::http::{curl, Auth};

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Uploads: good clips of two formats (removed again so the 100 slots never fill) and
/// hostile bodies (random bytes, a truncated WAV, no credentials, a multipart body
/// without its boundary).
fn uploads(d: &Daemon, n: usize) {
    let dir = d.dir.path();
    let good = [
        make_clip(dir, Format::WavPcm16, 48000, 1, 0.5),
        make_clip(dir, Format::Mp3, 44100, 2, 0.5),
    ];
    let noise = dir.join("noise.wav");
    let bytes: Vec<u8> = (0..40_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise, &bytes).expect("write");
    let truncated = dir.join("truncated.wav");
    let wav = std::fs::read(&good[0]).expect("read");
    std::fs::write(&truncated, &wav[..wav.len() / 3]).expect("write");
    for i in 0..n {
        match i % 6 {
            0 | 1 => {
                let r = upload(d, &good[i % 2], admin());
                assert_eq!(r.status, 200, "{}", r.text());
                let id = r
                    .text()
                    .lines()
                    .find_map(|l| l.strip_prefix("uploaded="))
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let rm = d.url(&format!("/axis-cgi/mediaclip.cgi?action=remove&clip={id}"));
                assert_eq!(curl(admin(), &[&rm]).status, 200);
            }
            2 => assert_eq!(upload(d, &noise, admin()).status, 400),
            3 => assert_eq!(upload(d, &truncated, admin()).status, 400),
            4 => assert_eq!(upload(d, &good[0], Auth::Anonymous).status, 401),
            _ => {
                let url = d.url("/axis-cgi/mediaclip.cgi?action=upload");
                let r = curl(
                    admin(),
                    &[
                        "-H",
                        "Content-Type: multipart/form-data",
                        "--data-binary",
                        &format!("@{}", good[0].display()),
                        &url,
                    ],
                );
                assert_eq!(r.status, 400, "{}", r.text());
            }
        }
    }
}

/// Malformed SIP datagrams of five kinds, paced so the daemon reads them rather than the
/// kernel dropping them.
fn malformed_sip(d: &Daemon, n: usize) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = s.local_addr().expect("addr").port();
    for i in 0..n {
        let flaw = match i % 5 {
            0 => "CSeq: 1 INVITE",
            1 => "CSeq: 1 OPTIONS\r\nContent-Length: 900",
            2 => "CSeq: 1 OPTIONS\r\nContent-Length: -4",
            3 => "CSeq: 99999999999999999999 OPTIONS",
            _ => "CSeq: x",
        };
        let msg = format!(
            "OPTIONS sip:netamp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-res-{i}\r\nFrom: <sip:flood@127.0.0.1>;tag={i}\r\nTo: <sip:netamp@127.0.0.1>\r\nCall-ID: res-{i}\r\n{flaw}\r\nMax-Forwards: 70\r\n\r\n"
        );
        let _ = s.send_to(msg.as_bytes(), &d.sip);
        if i % 500 == 499 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Connections that never finish: silent ones, one with half its headers, one with its
/// headers and half its body, and keep-alive ones left open after a request.
fn held_connections(d: &Daemon, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|i| {
            let mut c = TcpStream::connect(&d.addr).ok()?;
            let _ = match i % 4 {
                0 => Ok(()),
                1 => c.write_all(b"GET /axis-cgi/basicdeviceinfo.cgi HTTP/1.1\r\nHost: x\r\n"),
                2 => c.write_all(b"POST /axis-cgi/mediaclip.cgi?action=upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc"),
                _ => c.write_all(b"GET /axis-cgi/basicdeviceinfo.cgi HTTP/1.1\r\nHost: x\r\n\r\n"),
            };
            Some(c)
        })
        .collect()
}

#[test]
fn uploads_malformed_sip_and_held_connections_give_back_what_they_took() {
    let d = Daemon::with(DaemonOptions {
        config: "[http]\nidle_timeout_s = 2\nmax_connections = 100\n".into(),
        ..Default::default()
    });
    let pid = d.pid();
    // Warm up: the allocator's arenas, the runtime's threads, the SIP stack's tables and
    // a full set of connection buffers reach their working size (memory the allocator
    // keeps for reuse, not what is measured here).
    uploads(&d, 24);
    malformed_sip(&d, 20_000);
    drop(held_connections(&d, 150));
    std::thread::sleep(Duration::from_secs(3));
    let (fd0, rss0) = (fds(pid), rss_kb(pid));

    uploads(&d, 200);
    malformed_sip(&d, 100_000);
    let held = held_connections(&d, 300);
    let during = fds(pid);
    // The cap holds while they are open, and the daemon still answers a new client once
    // the idle ones are closed.
    std::thread::sleep(Duration::from_secs(4));
    let after_idle = fds(pid);
    let r = curl(admin(), &[&d.url("/axis-cgi/basicdeviceinfo.cgi")]);
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    let (fd1, rss1) = (fds(pid), rss_kb(pid));
    eprintln!(
        "open files: {fd0} at the start, {during} with 300 connections held, {after_idle} \
         after their idle timeout, {fd1} at the end; RSS {rss0} kB → {rss1} kB ({:+} kB)",
        rss1 as i64 - rss0 as i64
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        during <= fd0 + 100 + 2,
        "{during} files open: the connection cap did not hold"
    );
    assert!(
        after_idle <= fd0 + 2,
        "{after_idle} files open: idle connections stayed"
    );
    assert!(fd1 <= fd0, "open files {fd0} → {fd1}");
    assert!(rss1 < rss0 + 2048, "RSS grew {} kB", rss1 - rss0);
    let metrics = curl(admin(), &[&d.url("/metrics")]).text();
    assert!(
        metrics.contains("netamp_http_connections_refused_total"),
        "{metrics}"
    );
}
