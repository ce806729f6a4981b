//! SIP figures against the release daemon on loopback:
//!
//! 1. INVITE → 200 OK with auto-answer: a raw UDP client sends an INVITE with a PCMU
//!    offer, times the 200 (100 Trying skipped), ACKs and BYEs; one call at a time.
//! 2. CPU per active call: eight SIPp calls playing 20 s of audio (PCMU, then Opus), the
//!    daemon's CPU time (`/proc`) over 10 s in the middle, less its idle CPU, per call.
//! 3. Calls per second: SIPp at rising rates for 5 s each, calls without media hung up as
//!    soon as they are answered (so `max_calls` is not what limits), until one fails.
//!
//! `cargo run --release -p netamp-benches --bin sip_calls [INVITES]`

use std::net::UdpSocket;
use std::time::Duration;

use netamp_benches::{caller, Daemon};
use netamp_tests::sip::{play, rtp, uac_scenario, write_pcap, Sipp, TimedRtp};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn invite_latency(d: &Daemon, n: usize) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let mut times = Vec::new();
    for i in 0..n {
        let a = caller::call(&sock, &d.sip, i, 9, "inactive");
        if i >= 20 {
            times.push(a.rtt.as_secs_f64() * 1000.0);
        }
        caller::ack(&sock, &d.sip, i, &a.to_tag);
        caller::hang_up(&sock, &d.sip, i, &a.to_tag);
    }
    let p50 = percentile(&mut times, 0.5);
    let p99 = percentile(&mut times, 0.99);
    println!(
        "INVITE -> 200 OK (auto-answer, UDP loopback, {} calls): p50 {p50:.3} ms, p99 {p99:.3} ms, max {:.3} ms",
        times.len(),
        percentile(&mut times, 1.0)
    );
}

fn media_pcap(dir: &std::path::Path, opus: bool) -> std::path::PathBuf {
    let seconds = 20.0;
    let path = dir.join(if opus { "opus.pcap" } else { "pcmu.pcap" });
    let mut packets = Vec::new();
    if opus {
        let pcm = netamp_tests::sip::voice(48_000, seconds, false);
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .expect("encoder");
        for (i, f) in pcm.chunks_exact(960).enumerate() {
            let mut buf = [0u8; 1500];
            let n = enc.encode_float(f, &mut buf).expect("encode");
            packets.push(TimedRtp {
                at: i as f64 * 0.02,
                rtp: rtp(96, i == 0, i as u16, 960 * i as u32, 7, &buf[..n]),
            });
        }
    } else {
        let pcm = netamp_tests::sip::voice(8000, seconds, false);
        for (i, f) in pcm.chunks_exact(160).enumerate() {
            let p: Vec<u8> = f
                .iter()
                .map(|s| netamp_dsp::g711::linear_to_ulaw((s * 32767.0) as i16))
                .collect();
            packets.push(TimedRtp {
                at: i as f64 * 0.02,
                rtp: rtp(0, i == 0, i as u16, 160 * i as u32, 7, &p),
            });
        }
    }
    write_pcap(&path, &packets);
    path
}

fn cpu_per_call(d: &Daemon, dir: &std::path::Path) {
    let idle0 = d.cpu_time();
    std::thread::sleep(Duration::from_secs(5));
    let idle = (d.cpu_time() - idle0).as_secs_f64() / 5.0;
    println!("idle daemon: {:.2} % of one core", idle * 100.0);
    for (name, media, opus) in [
        (
            "PCMU",
            "0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000",
            false,
        ),
        ("Opus", "96\na=rtpmap:96 opus/48000/2", true),
    ] {
        let pcap = media_pcap(dir, opus);
        let calls = 8;
        let runs: Vec<Sipp> = (0..calls)
            .map(|_| {
                Sipp::start(
                    &uac_scenario(media, &play(&pcap, 20_000), 200),
                    &d.sip,
                    1,
                    &[],
                )
            })
            .collect();
        std::thread::sleep(Duration::from_secs(5));
        let c0 = d.cpu_time();
        std::thread::sleep(Duration::from_secs(10));
        let busy = (d.cpu_time() - c0).as_secs_f64() / 10.0;
        for r in runs {
            let (code, errors) = r.wait();
            assert_eq!(code, 0, "{errors}");
        }
        println!(
            "CPU per active {name} call (8 calls, RTP both ways): {:.2} % of one core (daemon {:.1} % in all)",
            (busy - idle) / calls as f64 * 100.0,
            busy * 100.0
        );
    }
}

fn calls_per_second(d: &Daemon) {
    let scenario = uac_scenario("0\na=rtpmap:0 PCMU/8000", "", 200);
    let mut best = 0;
    for rate in [50u32, 100, 200, 400, 800] {
        let run = Sipp::start(
            &scenario,
            &d.sip,
            rate * 5,
            &["-r", &rate.to_string(), "-l", "1000"],
        );
        let (code, _) = run.wait();
        println!(
            "{rate} calls/s for 5 s (answered, then BYE): {}",
            if code == 0 {
                "all answered"
            } else {
                "failures"
            }
        );
        if code != 0 {
            break;
        }
        best = rate;
    }
    println!("sustained with zero failures: {best} calls/s");
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("netamp-bench-sip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("netamp.toml");
    std::fs::write(
        &conf,
        "[rtsp]\nlisten = \"\"\n[sip]\nmax_calls = 64\nrtp_port_count = 2000\n",
    )
    .expect("config");
    let d = Daemon::start(
        &dir.join("data"),
        &[
            "--config",
            conf.to_str().unwrap_or_default(),
            "--sip",
            "127.0.0.1:0",
            "--audio-out",
            "null",
        ],
    );
    invite_latency(&d, n);
    cpu_per_call(&d, &dir);
    calls_per_second(&d);
    let _ = std::fs::remove_dir_all(&dir);
}
