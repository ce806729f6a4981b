//! RTP arrival → device output through the whole call path (socket, jitter buffer, G.711,
//! resampler, engine stream, renderer), against the release daemon with a `wav:` output.
//!
//! A raw UDP caller sets up a call, then sends 20 ms PCMU packets with a click at the
//! start of every 25th; each packet leaves at its nominal time plus a uniform random delay
//! of 0–J ms (J = 0, 20, 50), so packets reorder when J > 20. A click's latency is where it
//! appears in the capture (mapped to wall-clock time by `audio.output.started_unix_ns`)
//! minus when its packet was sent — on loopback, when it arrived. The first 3 s (the
//! buffer adapting) are left out.
//!
//! `cargo run --release -p netamp-benches --bin rtp_latency [SECONDS]`

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netamp_benches::{caller, click_latencies, Daemon};

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn run(seconds: u64, jitter_ms: f64) {
    let dir = std::env::temp_dir().join(format!(
        "netamp-bench-rtp-{}-{jitter_ms}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("netamp.toml");
    std::fs::write(&conf, "[rtsp]\nlisten = \"\"\n").expect("config");
    let wav = dir.join("out.wav");
    let d = Daemon::start(
        &dir.join("data"),
        &[
            "--config",
            conf.to_str().unwrap_or_default(),
            "--sip",
            "127.0.0.1:0",
            "--audio-out",
            &format!("wav:{}", wav.display()),
        ],
    );
    let started = d.status()["audio"]["output"]["started_unix_ns"]
        .as_u64()
        .expect("started_unix_ns");
    let sip = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sip.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let media = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let my_rtp = media.local_addr().expect("addr").port();
    let call = caller::call(&sip, &d.sip, 1, my_rtp, "sendrecv");
    caller::ack(&sip, &d.sip, 1, &call.to_tag);
    let to = format!("127.0.0.1:{}", call.rtp_port);

    let silence = netamp_dsp::g711::linear_to_ulaw(0);
    let click = netamp_dsp::g711::linear_to_ulaw(24000);
    let packets = seconds * 50;
    let mut x = 0x9E37_79B9u32;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f64::from(x) / f64::from(u32::MAX)
    };
    let t0 = Instant::now() + Duration::from_millis(50);
    let mut schedule: Vec<(Instant, u64)> = (0..packets)
        .map(|i| {
            let at = t0
                + Duration::from_millis(20 * i)
                + Duration::from_secs_f64(rnd() * jitter_ms / 1000.0);
            (at, i)
        })
        .collect();
    schedule.sort();
    let mut sent = Vec::new();
    for (at, i) in schedule {
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        let mut payload = vec![silence; 160];
        if i % 25 == 0 {
            payload[..8].fill(click);
            sent.push((i, unix_ns()));
        }
        let mut p = vec![0x80, if i == 0 { 0x80 } else { 0 }];
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&((i * 160) as u32).to_be_bytes());
        p.extend_from_slice(&0xB0B0_u32.to_be_bytes());
        p.extend_from_slice(&payload);
        media.send_to(&p, &to).expect("rtp");
    }
    std::thread::sleep(Duration::from_millis(500));
    caller::hang_up(&sip, &d.sip, 1, &call.to_tag);
    std::thread::sleep(Duration::from_millis(500));
    drop(d);

    let late: Vec<u64> = sent
        .iter()
        .filter(|(i, _)| *i >= 150)
        .map(|&(_, t)| t)
        .collect();
    let lat = click_latencies(&wav, started, &late);
    if lat.is_empty() {
        println!("J = {jitter_ms} ms: no clicks found");
        return;
    }
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!(
        "RTP arrival -> device output, PCMU 20 ms, jitter 0-{jitter_ms} ms, {} clicks: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        lat.len(),
        pct(0.5),
        pct(0.95),
        lat[lat.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    for j in [0.0, 20.0, 50.0] {
        run(seconds, j);
    }
}
