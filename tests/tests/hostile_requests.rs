//! What an attacker on the same network can send before (or without) logging in: each
//! request costs a bounded amount of CPU, and a burst of them leaves HTTP and SIP
//! answering.

use std::process::Command;
use std::time::Duration;

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::Daemon;
use netamp_tests::flows::{admin, upload_ok};
use netamp_tests::http::{curl, Auth};
use netamp_tests::sip::options_status;

/// The body that pinned a core: forty `*` and a character no API id has.
fn hostile_discovery() -> String {
    format!(
        "{{\"apiVersion\":\"1.0\",\"method\":\"getApiList\",\"params\":{{\"id\":\"{}!\"}}}}",
        "*".repeat(40)
    )
}

/// POSTs `body` anonymously; the status and curl's own `time_total`, seconds (curl is
/// stopped after 20 s: an unbounded request shows as status 0).
fn post_timed(url: &str, body: &str) -> (u16, f64) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "20"])
        .args(["-w", "%{http_code} %{time_total}", "-H"])
        .arg("Content-Type: application/json")
        .args(["--data-binary", body, url])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut it = text.split_whitespace();
    let status = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let secs = it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::MAX);
    (status, secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn wildcard_patterns_cost_no_more_than_plain_requests_and_a_burst_leaves_http_and_sip_answering() {
    netamp_tests::require_tool("curl");
    let d = Daemon::start();
    let url = d.url("/axis-cgi/apidiscovery.cgi");
    let plain = r#"{"apiVersion":"1.0","method":"getApiList","params":{"id":"mediaclip"}}"#;
    let hostile = hostile_discovery();

    // One at a time, interleaved: the hostile pattern costs about what a plain id does.
    let (mut hostile_s, mut plain_s) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let (status, s) = post_timed(&url, &hostile);
        assert_eq!(status, 200, "the hostile getApiList was not answered");
        hostile_s.push(s);
        let (status, s) = post_timed(&url, plain);
        assert_eq!(status, 200);
        plain_s.push(s);
    }
    let (h, p) = (median(hostile_s), median(plain_s));
    eprintln!(
        "getApiList: forty stars {:.2} ms, a plain id {:.2} ms",
        h * 1e3,
        p * 1e3
    );
    assert!(h < p * 5.0 + 0.002, "forty stars: {h} s against {p} s");

    // A pattern beyond the limit is refused in the API's own error form.
    let long = format!(
        "{{\"apiVersion\":\"1.0\",\"method\":\"getApiList\",\"params\":{{\"id\":\"{}\"}}}}",
        "*".repeat(300)
    );
    let r = curl(
        Auth::Anonymous,
        &[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &long,
            &url,
        ],
    );
    assert_eq!(r.json()["error"]["code"], 1000, "{}", r.text());

    // A viewer's playclip.cgi?location= of the same shape, over clips that exist.
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 16000, 1, 0.2);
    for _ in 0..3 {
        upload_ok(&d, &clip);
    }
    let location = format!("{}!", "*".repeat(40));
    let r = curl(
        admin(),
        &[&d.url(&format!("/axis-cgi/playclip.cgi?location={location}"))],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("no clip at location"), "{}", r.text());

    // Fifty at once, and the daemon still answers HTTP and SIP at the end.
    let burst: Vec<_> = (0..50)
        .map(|_| {
            let (url, body) = (url.clone(), hostile.clone());
            std::thread::spawn(move || post_timed(&url, &body).0)
        })
        .collect();
    for t in burst {
        assert_eq!(
            t.join().expect("curl thread"),
            200,
            "a request of the burst"
        );
    }
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=list&group=Brand")],
    );
    assert_eq!(r.status, 200, "HTTP after the burst");
    assert_eq!(
        options_status(&d.sip, Duration::from_secs(5)).as_deref(),
        Some("SIP/2.0 200 OK"),
        "SIP after the burst"
    );
}
