//! A call's media costs one OS thread: the receiver runs the sender and RTCP as its
//! tasks, and both still do their work (packets every 20 ms, a report within the first
//! seconds) from that one thread. Alone in its binary: it counts the process's threads.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netamp_engine::decode::DecodeLimits;
use netamp_engine::{Engine, EngineConfig};
use netamp_sip::rtcp::{RtcpSession, RtcpSources};
use netamp_sip::rtp_in::{RtpInParams, RtpReceiver};
use netamp_sip::rtp_out::{RtpOutParams, RtpSender};
use netamp_sip::rtp_params::RtpInStats;
use netamp_sip::sdp::AudioCodec;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

#[test]
fn receiver_sender_and_rtcp_share_one_thread_and_all_work() {
    let (engine, _renderer, _driver) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    // The peer: where our RTP and RTCP go.
    let peer_rtp = UdpSocket::bind("127.0.0.1:0").expect("peer rtp");
    let peer_rtcp = UdpSocket::bind("127.0.0.1:0").expect("peer rtcp");
    peer_rtp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    peer_rtcp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("rtp");
    let rtcp = UdpSocket::bind("127.0.0.1:0").expect("rtcp");
    let before = threads();

    let peer = Arc::new(std::sync::Mutex::new(None));
    let rx_stats = Arc::new(RtpInStats::default());
    let (tx, send_task) = RtpSender::task(
        rtp.try_clone().expect("clone"),
        None,
        RtpOutParams {
            codec: AudioCodec::Pcmu,
            payload_type: 0,
            remote: peer_rtp.local_addr().expect("addr"),
            ssrc: 0x1234_5678,
        },
        peer.clone(),
        None,
    )
    .expect("sender");
    let (session, rtcp_task) = RtcpSession::task(
        rtcp,
        peer_rtcp.local_addr().expect("addr"),
        Duration::from_secs(2),
        RtcpSources {
            ssrc: 0x1234_5678,
            rx: Some(rx_stats.clone()),
            tx: Some(tx.stats_handle()),
            srtp: None,
        },
    )
    .expect("rtcp");
    let rx = RtpReceiver::start_with(
        rtp,
        engine,
        RtpInParams {
            remote: SocketAddr::from(([0, 0, 0, 0], 0)),
            ..RtpInParams::pcmu()
        },
        peer,
        Box::new(|_| {}),
        rx_stats,
        vec![send_task, rtcp_task],
        None,
    )
    .expect("receiver");
    assert_eq!(threads(), before + 1, "one call, one media thread");

    // The sender paces 20 ms packets from that thread: 25 in half a second, give or take
    // the first and the scheduler.
    let mut buf = [0u8; 1500];
    let t0 = Instant::now();
    let mut packets = 0;
    while t0.elapsed() < Duration::from_millis(500) {
        if peer_rtp.recv(&mut buf).is_ok() {
            packets += 1;
        }
    }
    let expected = t0.elapsed().as_millis() as usize / 20;
    assert!(
        packets + 3 >= expected && packets <= expected + 3,
        "{packets} packets in {:?}",
        t0.elapsed()
    );
    // RTCP's first report is due a second into the call.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut reported = false;
    while Instant::now() < deadline && !reported {
        reported = peer_rtcp
            .recv(&mut buf)
            .is_ok_and(|n| n >= 8 && buf[1] == 200);
    }
    assert!(reported, "no sender report came");
    // The counter goes up once `send_to` has returned, which may be after the peer has
    // the datagram.
    let sent = || {
        session
            .stats()
            .sent
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = Instant::now() + Duration::from_secs(1);
    while sent() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(sent() >= 1, "the report went out uncounted");

    drop((rx, tx, session));
    assert_eq!(threads(), before, "the media thread outlived its call");
}
