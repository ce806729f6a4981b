//! baresip against netamp: calls in over UDP and TCP and out through `/vapix/call`, audio
//! checked both ways (netamp's `--audio-in wav:` file in baresip's recording, baresip's
//! file in netamp's `wav:` output), DTMF from baresip's keypad.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netamp_tests::audio::{align, ffmpeg_reference, read_capture, write_wav_8k};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, vapix_call};
use netamp_tests::http::curl;
use netamp_tests::require_tool;
use netamp_tests::sip::{self, free_port};
use serde_json::{json, Value};

/// A headless baresip: PCMU only, its microphone a WAV file, both directions recorded
/// by its `sndfile` module, driven over `ctrl_tcp`.
struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    ctrl: TcpStream,
    /// Its SIP address.
    sip: String,
}

impl Baresip {
    /// Starts baresip on fresh ports. A port picked free can be taken by another test
    /// before baresip binds it (baresip then exits), so a start that does not come up
    /// is retried on other ports; the last attempt's output is in the panic.
    fn start(mic: &Path) -> Baresip {
        Baresip::start_with(mic, "", "")
    }

    /// [`Baresip::start`] with more configuration lines and account parameters.
    fn start_with(mic: &Path, config: &str, account: &str) -> Baresip {
        require_tool("baresip");
        let mut last = String::new();
        for _ in 0..3 {
            match Baresip::try_start(mic, config, account) {
                Ok(b) => return b,
                Err(e) => last = e,
            }
        }
        panic!("baresip did not come up three times; the last: {last}")
    }

    fn try_start(mic: &Path, extra: &str, account: &str) -> Result<Baresip, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (sip_port, ctrl_port) = (free_port(), free_port());
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\naudio_player aubridge,x\naudio_source aufile,{}\naudio_alert aubridge,x\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\nmodule_app account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl_port}\nsnd_path {}\n{extra}",
            mic.display(),
            dir.path().display()
        );
        std::fs::write(dir.path().join("config"), config).expect("config");
        std::fs::write(
            dir.path().join("accounts"),
            format!("<sip:baresip@127.0.0.1>;regint=0;answermode=auto{account}\n"),
        )
        .expect("accounts");
        let log = dir.path().join("baresip.log");
        let out = std::fs::File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start baresip");
        let t0 = Instant::now();
        let failed = |child: &mut Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            Err(format!("{why}; its output:\n{output}"))
        };
        let ctrl = loop {
            if let Ok(Some(status)) = child.try_wait() {
                return failed(&mut child, format!("baresip exited ({status})"));
            }
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if t0.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return failed(&mut child, format!("its control port: {e}")),
            }
        };
        Ok(Baresip {
            child,
            dir,
            ctrl,
            sip: format!("127.0.0.1:{sip_port}"),
        })
    }

    /// A command over ctrl_tcp (a netstring of JSON).
    fn command(&mut self, command: &str, params: &str) {
        let j = json!({"command": command, "params": params, "token": "t"}).to_string();
        write!(self.ctrl, "{}:{j},", j.len()).expect("ctrl");
    }

    /// What baresip decoded from the call (netamp's uplink), as 48 kHz samples.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }

    fn received(&self) -> Vec<f32> {
        let file: PathBuf = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("baresip recorded the call");
        ffmpeg_reference(&file)
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call_status(d: &Daemon) -> Value {
    vapix_call(d, "GetCallStatus", json!({})).json()["CallStatus"].clone()
}

fn wait_for(d: &Daemon, what: &str, f: impl Fn(&Value) -> bool) {
    let t0 = Instant::now();
    while !f(&call_status(d)) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn digits(d: &Daemon) -> String {
    let r = curl(
        admin(),
        &[&d.url("/api/v1/events/recent?topic=tnsaxis:Call/DTMF")],
    );
    r.json()["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["message"]["data"]["Digit"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Files for both sides: netamp's microphone (a voice) and baresip's (a different one).
struct Signals {
    dir: tempfile::TempDir,
    netamp_mic: Vec<f32>,
    baresip_mic: Vec<f32>,
}

fn signals() -> Signals {
    let dir = tempfile::tempdir().expect("tempdir");
    let netamp_mic = sip::voice(8000, 4.0, true);
    // baresip's voice: the same generator, time-reversed, so the two never correlate.
    let mut baresip_mic = sip::voice(8000, 8.0, true);
    baresip_mic.reverse();
    write_wav_8k(&dir.path().join("netamp.wav"), &netamp_mic);
    write_wav_8k(&dir.path().join("baresip.wav"), &baresip_mic);
    Signals {
        dir,
        netamp_mic,
        baresip_mic,
    }
}

fn daemon(s: &Signals) -> Daemon {
    daemon_with_tls(s, None)
}

/// [`daemon`], with SIP over TLS on `sip_tls` when given.
fn daemon_with_tls(s: &Signals, sip_tls: Option<&str>) -> Daemon {
    // The echo canceller is on (the default): with files at both ends there is no echo
    // path, and the microphone must reach the caller as it is while the caller talks.
    Daemon::with(DaemonOptions {
        audio_in: Some(format!(
            "wav:{}?loop",
            s.dir.path().join("netamp.wav").display()
        )),
        sip_tls: sip_tls.map(String::from),
        ..Default::default()
    })
}

/// 48 kHz reference of 8 kHz samples (via a WAV and ffmpeg, as the captures are read).
fn reference(dir: &Path, name: &str, pcm: &[f32]) -> Vec<f32> {
    let p = dir.join(name);
    write_wav_8k(&p, pcm);
    ffmpeg_reference(&p)
}

/// How well the best of three 0.4 s windows (1.0–2.2 s into `reference`) lines up in
/// `capture`. Windows, not one long stretch: the jitter buffer may move its target delay
/// in the first seconds of a call (on a loaded machine), which shifts what follows.
fn best_window(reference: &[f32], capture: &[f32]) -> f64 {
    (0..3)
        .map(|k| {
            let start = 48_000 + k * 19_200;
            align(&reference[start..start + 19_200], capture).correlation
        })
        .fold(0.0, f64::max)
}

/// Both directions of a finished call.
fn check_audio(d: &Daemon, b: &Baresip, s: &Signals, label: &str) {
    // netamp → baresip: netamp's looping microphone in baresip's recording.
    let received = b.received();
    let mic = reference(s.dir.path(), "ref-netamp.wav", &s.netamp_mic);
    let up = best_window(&mic, &received);
    // While baresip talks the whole call: every half second baresip received after the
    // first, each found on its own in netamp's looping microphone, at full shape and
    // level.
    let mic_loop: Vec<f32> = mic.iter().chain(&mic).chain(&mic).copied().collect();
    let starts = (48_000..received.len().saturating_sub(24_000)).step_by(24_000);
    let windows: Vec<(f64, f64)> = starts
        .map(|st| {
            let a = align(&received[st..st + 24_000], &mic_loop);
            (a.correlation, -a.gain_db)
        })
        .collect();
    eprintln!("baresip {label}: netamp→baresip half seconds (correlation, dB): {windows:.3?}");
    assert!(
        windows.len() >= 3,
        "{label}: {} s received",
        received.len() / 48_000
    );
    for (c, db) in &windows {
        assert!(
            *c >= 0.98,
            "{label}: the microphone at baresip: {windows:.3?}"
        );
        assert!(
            db.abs() <= 1.0,
            "{label}: the microphone's level at baresip: {windows:.3?}"
        );
    }
    // baresip → netamp: baresip's file in netamp's output.
    let played = read_capture(&d.capture, 0);
    let far = reference(s.dir.path(), "ref-baresip.wav", &s.baresip_mic);
    let down = best_window(&far, &played);
    eprintln!("baresip {label}: netamp→baresip correlation {up:.4}, baresip→netamp {down:.4}");
    assert!(
        up >= 0.95,
        "{label}: netamp's microphone at baresip: {up:.4}"
    );
    assert!(
        down >= 0.95,
        "{label}: baresip's audio from netamp: {down:.4}"
    );
}

fn baresip_calls_netamp(transport: &str) {
    let s = signals();
    let d = daemon(&s);
    let mut b = Baresip::start(&s.dir.path().join("baresip.wav"));
    let uri = match transport {
        "tcp" => format!("sip:netamp@{};transport=tcp", d.sip),
        _ => format!("sip:netamp@{}", d.sip),
    };
    b.command("dial", &uri);
    wait_for(&d, "the call", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|c| c["CallState"] == "Active"))
    });
    let transport_seen = call_status(&d)[0]["Transport"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(transport_seen.to_ascii_lowercase(), transport);
    std::thread::sleep(Duration::from_millis(2500));
    let status = call_status(&d);
    eprintln!(
        "baresip {transport}: RTCP sent {}, received {}",
        status[0]["RTCPSent"], status[0]["RTCPReceived"]
    );
    assert!(
        status[0]["RTCPSent"].as_u64() >= Some(1),
        "netamp sent no RTCP"
    );
    for digit in ["1", "#", "9"] {
        b.command("sndcode", digit);
        std::thread::sleep(Duration::from_millis(400));
    }
    b.command("hangup", "");
    wait_for(&d, "the hang-up", |v| {
        v.as_array().is_some_and(|a| a.is_empty())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(digits(&d), "1#9", "DTMF from baresip, each once");
    check_audio(&d, &b, &s, transport);
}

#[test]
fn baresip_calls_netamp_over_udp() {
    baresip_calls_netamp("udp");
}

#[test]
fn baresip_calls_netamp_over_tcp() {
    baresip_calls_netamp("tcp");
}

#[test]
fn netamp_calls_baresip_through_the_call_api() {
    let s = signals();
    let d = daemon(&s);
    let b = Baresip::start(&s.dir.path().join("baresip.wav"));
    let r = vapix_call(&d, "Call", json!({"To": format!("sip:baresip@{}", b.sip)}));
    let id = r.json()["CallId"].as_str().expect("CallId").to_string();
    wait_for(&d, "baresip to answer", |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .any(|c| c["CallId"] == id.as_str() && c["CallState"] == "Active")
        })
    });
    std::thread::sleep(Duration::from_millis(3500));
    let simple = curl(
        admin(),
        &[&d.url(&format!(
            "/vapix/call?format=simple&action=axcall:TerminateCall&CallId={id}"
        ))],
    );
    assert_eq!(simple.status, 200, "{}", simple.text());
    wait_for(&d, "the hang-up", |v| {
        v.as_array().is_some_and(|a| a.is_empty())
    });
    std::thread::sleep(Duration::from_millis(300));
    let states: Vec<String> = curl(
        admin(),
        &[&d.url("/api/v1/events/recent?topic=tnsaxis:Call/StateChange")],
    )
    .json()["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    e["message"]["data"]["Reason"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(states, ["Initiated", "AcceptedByRemote", "Terminated"]);
    check_audio(&d, &b, &s, "called by netamp");
}

/// netamp's certificate (what baresip is given to verify it), in `dir`.
fn netamp_certificate(d: &Daemon, dir: &Path) -> PathBuf {
    let r = curl(admin(), &[&d.url("/api/v1/https/certificate")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let path = dir.join("netamp.pem");
    std::fs::write(&path, r.body).expect("certificate");
    path
}

#[test]
fn baresip_calls_netamp_over_tls_with_srtp() {
    let s = signals();
    let d = daemon_with_tls(&s, Some("127.0.0.1:0"));
    assert!(!d.sip_tls.is_empty(), "SIP over TLS does not listen");
    let ca = netamp_certificate(&d, s.dir.path());
    let mut b = Baresip::start_with(
        &s.dir.path().join("baresip.wav"),
        &format!("sip_cafile {}\nmodule srtp.so\n", ca.display()),
        ";mediaenc=srtp-mand",
    );
    b.command("dial", &format!("sip:netamp@{};transport=tls", d.sip_tls));
    wait_for(&d, "the call", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|c| c["CallState"] == "Active"))
    });
    let call = call_status(&d)[0].clone();
    assert_eq!(
        call["Transport"].as_str().map(str::to_ascii_lowercase),
        Some("tls".into())
    );
    assert_eq!(call["MediaEncryption"], "SRTP", "{call}");
    std::thread::sleep(Duration::from_millis(3000));
    let status = call_status(&d);
    assert!(
        status[0]["RTCPSent"].as_u64() >= Some(1),
        "netamp sent no SRTCP: {status}"
    );
    hang_up_srtp_call(&d, &mut b, &s, "tls+srtp");
}

/// baresip hangs up an SRTP call; it had SRTP, could check and decrypt all netamp
/// protected (RTP and RTCP), and the audio arrived both ways.
fn hang_up_srtp_call(d: &Daemon, b: &mut Baresip, s: &Signals, label: &str) {
    b.command("hangup", "");
    wait_for(d, "the hang-up", |v| {
        v.as_array().is_some_and(|a| a.is_empty())
    });
    let log = b.log();
    assert!(log.contains("SRTP is Enabled"), "baresip: {log}");
    assert!(!log.contains("failed to decrypt"), "baresip: {log}");
    check_audio(d, b, s, label);
}

#[test]
fn netamp_calls_baresip_over_tls_with_srtp_once_the_store_trusts_its_ca() {
    let s = signals();
    // The Contact of a TLS call is the TLS listener.
    let d = daemon_with_tls(&s, Some("127.0.0.1:0"));
    // baresip presents a certificate of a CA only the test knows.
    let (ca, cert, key) = netamp_tests::peers::ca_signed(s.dir.path());
    let both = s.dir.path().join("baresip-tls.pem");
    let pem = std::fs::read_to_string(&cert).expect("cert")
        + &std::fs::read_to_string(&key).expect("key");
    std::fs::write(&both, pem).expect("pem");
    let mut b = Baresip::start_with(
        &s.dir.path().join("baresip.wav"),
        &format!("module srtp.so\nsip_certificate {}\n", both.display()),
        ";mediaenc=srtp-mand",
    );
    // baresip listens for TLS one port above its UDP and TCP.
    let port: u16 = b
        .sip
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let to = format!("sip:baresip@127.0.0.1:{};transport=tls", port + 1);
    let failed = vapix_call(&d, "Call", json!({"To": to}));
    assert_ne!(
        failed.status,
        200,
        "an unknown CA is refused: {}",
        failed.text()
    );
    assert!(failed.text().contains("certificate"), "{}", failed.text());

    netamp_tests::flows::trust_ca(&d, "test-ca", &ca);
    let r = vapix_call(&d, "Call", json!({"To": to}));
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["CallId"].as_str().expect("CallId").to_string();
    wait_for(&d, "baresip to answer", |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .any(|c| c["CallId"] == id.as_str() && c["CallState"] == "Active")
        })
    });
    let call = call_status(&d)[0].clone();
    assert_eq!(call["MediaEncryption"], "SRTP", "{call}");
    std::thread::sleep(Duration::from_millis(3500));
    hang_up_srtp_call(&d, &mut b, &s, "netamp called over tls+srtp");
}

#[test]
fn srtp_is_taken_only_over_tls_and_required_refuses_plain_rtp() {
    let s = signals();
    let d = Daemon::with(DaemonOptions {
        config: "[sip]\nmedia_encryption = \"required\"\n".into(),
        sip_tls: Some("127.0.0.1:0".into()),
        ..Default::default()
    });
    let ca = netamp_certificate(&d, s.dir.path());
    let mic = s.dir.path().join("baresip.wav");
    let refused = |b: &mut Baresip, uri: &str, what: &str| {
        b.command("dial", uri);
        let t0 = Instant::now();
        while !b.log().contains("488") {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{what}: no 488; baresip: {}",
                b.log()
            );
            assert!(
                call_status(&d).as_array().is_none_or(|a| a.is_empty()),
                "{what}: a call was taken"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Plain RTP over TLS: the manual's "required" refuses it.
    let mut plain = Baresip::start_with(&mic, &format!("sip_cafile {}\n", ca.display()), "");
    refused(
        &mut plain,
        &format!("sip:netamp@{};transport=tls", d.sip_tls),
        "plain RTP over TLS",
    );
    // SRTP over UDP: the keys would cross the network in clear.
    let mut udp = Baresip::start_with(&mic, "module srtp.so\n", ";mediaenc=srtp-mand");
    refused(&mut udp, &format!("sip:netamp@{}", d.sip), "SRTP over UDP");
}
