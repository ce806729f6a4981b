//! Steps many tests share: upload, play, wait, capture.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::audio::read_capture;
use crate::daemon::{Daemon, ADMIN};
use crate::http::{curl, Auth, Response};

/// Administrator credentials.
pub fn admin() -> Auth<'static> {
    Auth::Digest(ADMIN.0, ADMIN.1)
}

/// Uploads a file with an RFC 1867 form, as the VAPIX doc's curl example does.
pub fn upload(d: &Daemon, file: &Path, auth: Auth<'_>) -> Response {
    let form = format!("file=@{}", file.display());
    curl(
        auth,
        &["-F", &form, &d.url("/axis-cgi/mediaclip.cgi?action=upload")],
    )
}

/// Uploads and returns the new clip id; panics on failure.
pub fn upload_ok(d: &Daemon, file: &Path) -> u32 {
    let r = upload(d, file, admin());
    let text = r.text();
    assert_eq!(r.status, 200, "upload of {} failed: {text}", file.display());
    text.lines()
        .find_map(|l| l.strip_prefix("uploaded="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no uploaded= in {text:?}"))
}

/// The status document.
pub fn status(d: &Daemon) -> serde_json::Value {
    let r = curl(admin(), &[&d.url("/api/v1/status")]);
    assert_eq!(r.status, 200, "status: {}", r.text());
    r.json()
}

/// Output frames rendered so far.
pub fn frames(d: &Daemon) -> usize {
    status(d)["audio"]["output"]["frames_rendered"]
        .as_u64()
        .unwrap_or(0) as usize
}

fn started_count(d: &Daemon) -> u64 {
    status(d)["clips"]["trigger_latency_us"]["count"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until `started` plays have started and nothing plays any more.
pub fn wait_played(d: &Daemon, started_before: u64, plays: u64, timeout: Duration) {
    let t0 = Instant::now();
    loop {
        let s = status(d);
        let started = s["clips"]["trigger_latency_us"]["count"]
            .as_u64()
            .unwrap_or(0);
        let idle = s["audio"]["active_sources"].as_u64() == Some(0)
            && s["clips"]["playing"]
                .as_array()
                .is_some_and(|a| a.is_empty());
        if started >= started_before + plays && idle {
            return;
        }
        assert!(
            t0.elapsed() < timeout,
            "playback did not finish within {timeout:?}: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Plays with `query` (e.g. `action=play&clip=0`), waits for the end, returns the capture
/// from just before the request on.
pub fn play_and_capture(d: &Daemon, query: &str) -> Vec<f32> {
    let before = started_count(d);
    let f0 = frames(d);
    let r = curl(
        admin(),
        &[&d.url(&format!("/axis-cgi/mediaclip.cgi?{query}"))],
    );
    assert_eq!(r.status, 200, "play {query}: {}", r.text());
    assert!(
        r.text().starts_with("OK\nplaying="),
        "play reply {:?}",
        r.text()
    );
    wait_played(d, before, 1, Duration::from_secs(60));
    // Let the paced device write the last blocks.
    std::thread::sleep(Duration::from_millis(100));
    read_capture(&d.capture, f0.saturating_sub(4800))
}

/// The current state event of `topic` whose source item `key` is `value`.
pub fn current_event(d: &Daemon, topic: &str, key: &str, value: &str) -> Option<serde_json::Value> {
    let r = curl(admin(), &[&d.url("/api/v1/events/state")]);
    r.json()["events"]
        .as_array()?
        .iter()
        .find(|e| e["topic"] == topic && (key.is_empty() || e["message"]["source"][key] == value))
        .cloned()
}

/// A `/vapix/call` command (`{"axcall:<command>": args}`) as the administrator; the reply.
pub fn vapix_call(d: &Daemon, command: &str, args: serde_json::Value) -> Response {
    let body = serde_json::json!({ format!("axcall:{command}"): args }).to_string();
    curl(
        admin(),
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
            &d.url("/vapix/call"),
        ],
    )
}

/// `systemready.cgi`'s data (anonymous, as installers' tools poll it), or `None` while the
/// daemon does not answer.
pub fn system_ready(d: &Daemon) -> Option<serde_json::Value> {
    let r = curl(
        Auth::Anonymous,
        &[
            "--max-time",
            "2",
            "-d",
            r#"{"apiVersion":"1.0","method":"systemready"}"#,
            &d.url("/axis-cgi/systemready.cgi"),
        ],
    );
    (r.status == 200).then(|| r.json()["data"].clone())
}

/// Puts the CA certificate in `pem_file` into the daemon's certificate store as `id`.
pub fn trust_ca(d: &Daemon, id: &str, pem_file: &std::path::Path) {
    let pem = std::fs::read_to_string(pem_file).expect("CA certificate");
    let r = curl(
        admin(),
        &[
            "-X",
            "PUT",
            "-d",
            &serde_json::json!({ "certificate": pem }).to_string(),
            &d.url(&format!("/api/v1/certificates/ca/{id}")),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}
