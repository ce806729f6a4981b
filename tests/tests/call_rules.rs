//! The C8210 manual's call examples as rules, end to end with SIPp: "Stop audio with
//! DTMF", "Audio for incoming SIP calls" (the pre-configured two-rule pre-announcement)
//! and the loud ringer, which stops when the caller gives up.

use std::path::Path;
use std::time::{Duration, Instant};

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, upload_ok};
use netamp_tests::http::curl;
use netamp_tests::rules::{add, call, recent};
use netamp_tests::sip::{self, cancel_scenario, play, uac_scenario, Sipp, PCMU_TE};
use serde_json::{json, Value};

/// One SIP test at a time: they are real-time and share SIPp's media ports.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A daemon with `config` and one clip of `seconds` (clip 0).
fn daemon(config: &str, seconds: f32) -> Daemon {
    let d = Daemon::with(DaemonOptions {
        config: config.into(),
        ..Default::default()
    });
    let file = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, seconds);
    assert_eq!(upload_ok(&d, &file), 0);
    d
}

/// Enables the pre-configured rules with these preset keys.
fn enable_presets(d: &Daemon, keys: &[&str]) {
    let (_, list) = call(d, "GET", "/api/v1/rules", None);
    let rules = list["rules"].as_object().expect("rules").clone();
    for key in keys {
        let (id, rule) = rules
            .iter()
            .find(|(_, r)| r["preset"] == *key)
            .unwrap_or_else(|| panic!("no pre-configured rule {key}: {list}"));
        let mut rule = rule.clone();
        rule["enabled"] = json!(true);
        let (status, v) = call(d, "PUT", &format!("/api/v1/rules/{id}"), Some(rule));
        assert_eq!(status, 200, "{v}");
    }
}

fn data(e: &Value, k: &str) -> String {
    e["message"]["data"][k].as_str().unwrap_or("").to_string()
}

/// The timestamps (ms) of `topic`'s events whose data `k` is `v`.
fn times(d: &Daemon, topic: &str, k: &str, v: &str) -> Vec<u64> {
    recent(d, topic)
        .iter()
        .filter(|e| data(e, k) == v)
        .filter_map(|e| e["timestamp"].as_u64())
        .collect()
}

#[test]
fn dtmf_1_stops_the_clip_that_plays() {
    let _serial = serial();
    let d = daemon("", 8.0);
    let stop = add(
        &d,
        "/api/v1/rules/actions",
        json!({"name": "stop", "template": "com.axis.action.fixed.stop.audioclip"}),
    );
    add(
        &d,
        "/api/v1/rules",
        json!({"name": "Stop audio with DTMF", "enabled": true, "action": stop,
               "trigger": {"topic": "tnsaxis:Call/DTMF",
                           "content": "boolean(//SimpleItem[@Name=\"Digit\" and @Value=\"1\"])"}}),
    );
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/mediaclip.cgi?action=play&clip=0")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let started = Instant::now();
    let digit = play(&Path::new(sip::SIPP_PCAPS).join("dtmf_2833_1.pcap"), 1500);
    let (code, errors) = Sipp::start(&uac_scenario(PCMU_TE, &digit, 200), &d.sip, 1, &[]).wait();
    assert_eq!(code, 0, "{errors}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the call took the clip's length"
    );
    let dtmf = times(&d, "tnsaxis:Call/DTMF", "Digit", "1");
    let stopped = times(&d, "tnsaxis:MediaClip/tnsaxis:Playing", "Playing", "0");
    assert_eq!(dtmf.len(), 1, "{dtmf:?}");
    assert_eq!(stopped.len(), 1, "the clip stopped once: {stopped:?}");
    let after = stopped[0].saturating_sub(dtmf[0]);
    eprintln!("DTMF 1 → clip stopped after {after} ms");
    assert!(
        stopped[0] >= dtmf[0] && after < 1000,
        "stopped {after} ms after the digit"
    );
}

#[test]
fn the_pre_configured_rules_play_the_tone_then_answer_and_the_loud_ringer_stops_on_cancel() {
    let _serial = serial();
    // Auto-answer off, as the manual's example says.
    let d = daemon("[sip]\nauto_answer = false\nring_timeout_s = 30\n", 1.5);
    enable_presets(&d, &["pre-announcement-tone", "pre-announcement-answer"]);
    let voice = d.dir.path().join("v.pcap");
    let pcm = sip::voice(8000, 1.0, false);
    sip::write_pcap(&voice, &sip::pcmu_packets(&pcm, |i| Some(i as f64 * 0.02)));
    let scenario = uac_scenario(PCMU_TE, &play(&voice, 1200), 200).replace(
        "<recv response=\"180\" optional=\"true\"/>",
        "<recv response=\"180\"/>",
    );
    let (code, errors) = Sipp::start(&scenario, &d.sip, 1, &[]).wait();
    assert_eq!(code, 0, "180 first, then 200: {errors}");
    let initiated = times(&d, "tnsaxis:Call/StateChange", "Reason", "Initiated");
    let answered = times(&d, "tnsaxis:Call/StateChange", "Reason", "AcceptedByDevice");
    let tone_end = times(&d, "tnsaxis:MediaClip/tnsaxis:Playing", "Playing", "0");
    assert_eq!((initiated.len(), answered.len(), tone_end.len()), (1, 1, 1));
    let rang = answered[0] - initiated[0];
    eprintln!("pre-announcement: rang {rang} ms for a 1.5 s tone");
    assert!(answered[0] >= tone_end[0], "200 OK before the tone ended");
    assert!((1400..3000).contains(&rang), "answered after {rang} ms");

    // The loud ringer alone: the clip repeats while the call rings, and stops when the
    // caller CANCELs.
    let (_, list) = call(&d, "GET", "/api/v1/rules", None);
    for (id, r) in list["rules"].as_object().expect("rules") {
        let mut r = r.clone();
        r["enabled"] = json!(r["preset"] == "loud-ringer");
        call(&d, "PUT", &format!("/api/v1/rules/{id}"), Some(r));
    }
    let zeros_before = times(&d, "tnsaxis:MediaClip/tnsaxis:Playing", "Playing", "0").len();
    let (code, errors) = Sipp::start(&cancel_scenario(PCMU_TE, 4000), &d.sip, 1, &[]).wait();
    assert_eq!(code, 0, "CANCEL → 487: {errors}");
    std::thread::sleep(Duration::from_millis(300));
    let rang = times(&d, "tnsaxis:Call/StateChange", "Reason", "Initiated");
    let zeros = times(&d, "tnsaxis:MediaClip/tnsaxis:Playing", "Playing", "0");
    assert_eq!(
        zeros.len(),
        zeros_before + 1,
        "one stop, at the end: {zeros:?}"
    );
    let ended = times(&d, "tnsaxis:Call/StateChange", "Reason", "Terminated");
    let cancelled = *ended.last().expect("the cancelled call ended");
    let silent = zeros[zeros_before];
    let played = silent - rang.last().expect("rang");
    assert!(
        played > 3000,
        "the 1.5 s ringer repeated while ringing: {played} ms"
    );
    let after = silent.saturating_sub(cancelled);
    eprintln!("loud ringer: stopped {after} ms after the CANCEL");
    assert!(
        silent >= cancelled && after < 1500 + 100,
        "stopped {after} ms after the CANCEL"
    );
}

#[test]
fn an_input_calls_a_sip_recipient_and_another_ends_the_call() {
    let _serial = serial();
    let d = daemon("", 0.2);
    let port = sip::free_port();
    let callee = Sipp::server(&sip::uas_scenario(), port, 1);
    std::thread::sleep(Duration::from_millis(300));
    let bob = add(
        &d,
        "/api/v1/recipients",
        json!({"name": "bob", "template": "com.axis.recipient.sip",
               "parameters": {"sip_address": format!("sip:bob@127.0.0.1:{port}")}}),
    );
    let call_bob = add(
        &d,
        "/api/v1/rules/actions",
        json!({"name": "call bob", "template": "com.axis.action.fixed.sip",
               "parameters": {"recipient": bob.to_string()}}),
    );
    let end = add(
        &d,
        "/api/v1/rules/actions",
        json!({"name": "end", "template": "com.axis.action.fixed.call.end"}),
    );
    netamp_tests::rules::on_input(&d, 7, call_bob);
    netamp_tests::rules::on_input(&d, 8, end);
    netamp_tests::rules::set_input(&d, 7, true);
    let t0 = Instant::now();
    while times(&d, "tnsaxis:Call/StateChange", "Reason", "AcceptedByRemote").is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(5), "bob did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    netamp_tests::rules::set_input(&d, 8, true);
    let (code, errors) = callee.wait();
    assert_eq!(
        code, 0,
        "bob was called and the call ended with a BYE: {errors}"
    );
    // A SIP recipient cannot take an e-mail action, and needs a sip: address.
    let (status, _) = call(
        &d,
        "POST",
        "/api/v1/rules/actions",
        Some(
            json!({"name": "x", "template": "com.axis.action.fixed.notification.smtp",
                    "parameters": {"recipient": bob.to_string()}}),
        ),
    );
    assert_eq!(status, 400);
    let (status, _) = call(
        &d,
        "POST",
        "/api/v1/recipients",
        Some(json!({"name": "x", "template": "com.axis.recipient.sip",
                    "parameters": {"sip_address": "bob@example.org"}})),
    );
    assert_eq!(status, 400);
}
