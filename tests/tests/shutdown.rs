//! SIGTERM ends netamp within its bound (`control/src/shutdown.rs`: 5 s) even while a
//! `receive.cgi` stream, a `transmit.cgi` upload and idle connections are open, and a
//! quiet daemon stops at once with status 0.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{admin_basic, Daemon, DaemonOptions, ADMIN};

#[test]
fn sigterm_ends_netamp_within_its_bound_with_streams_open() {
    // A quiet daemon: the orderly path, exit status 0.
    let mut d = Daemon::start();
    let (took, status) = d
        .terminate(Duration::from_secs(10))
        .expect("a quiet netamp did not stop on SIGTERM");
    eprintln!("quiet: stopped in {took:?}, {status}");
    assert!(status.success(), "{status}");

    let scratch = tempfile::tempdir().expect("tmp");
    let mic = make_clip(scratch.path(), Format::WavPcm16, 8000, 1, 1.0);
    let mut d = Daemon::with(DaemonOptions {
        audio_in: Some(format!("wav:{}?loop", mic.display())),
        ..Default::default()
    });
    // A listener on the microphone: a response that never ends.
    let mut listener = Command::new("curl")
        .args([
            "-s",
            "-N",
            "--digest",
            "-u",
            &format!("{}:{}", ADMIN.0, ADMIN.1),
        ])
        .args(["-o", "/dev/null"])
        .arg(d.url("/axis-cgi/audio/receive.cgi"))
        .stdout(Stdio::null())
        .spawn()
        .expect("curl");
    // A transmit upload that has sent a little of what it announced.
    let basic = admin_basic();
    let mut transmit = TcpStream::connect(&d.addr).expect("connect");
    write!(
        transmit,
        "POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic}\r\nContent-Type: audio/basic\r\nContent-Length: 8000000\r\n\r\n"
    )
    .expect("write");
    transmit.write_all(&[0xFF; 8000]).expect("body");
    // And connections that say nothing.
    let idle: Vec<TcpStream> = (0..5)
        .filter_map(|_| TcpStream::connect(&d.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        listener.try_wait().expect("curl").is_none(),
        "the stream did not run"
    );

    let stopped = d.terminate(Duration::from_secs(10));
    let _ = listener.kill();
    let _ = listener.wait();
    drop((transmit, idle));
    let (took, status) = stopped.expect("netamp did not stop within 10 s of SIGTERM");
    eprintln!("with a stream, an upload and idle connections: stopped in {took:?}, {status}");
    // The bound is 5 s; the margin is for a loaded machine.
    assert!(took < Duration::from_secs(8), "{took:?}");
}
