//! Continuous recording: segments survive kill -9, recording resumes after a restart,
//! list/export/delete through `/api/v1/recordings`.

use std::process::Command;
use std::time::Duration;

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::admin;
use netamp_tests::http::curl;
use netamp_tests::{require_tool, run};

fn api(d: &Daemon, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    let url = d.url("/api/v1/recordings");
    if all.last().is_none_or(|a| !a.starts_with("http")) {
        all.push(&url);
    }
    curl(admin(), &all).json()
}

/// Decodes `file` with ffmpeg; its duration in seconds (fails the test if it cannot).
fn playable_seconds(file: &std::path::Path) -> f64 {
    let out = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-ac", "1", "-ar", "16000", "-f", "s16le", "-"]));
    out.len() as f64 / 32000.0
}

fn options(mic: &std::path::Path, data: Option<std::path::PathBuf>) -> DaemonOptions {
    DaemonOptions {
        audio_in: Some(format!("wav:{}?loop", mic.display())),
        config: "[recording]\nsegment_seconds = 2\nmax_export_seconds = 3\n".into(),
        data_dir: data,
        ..DaemonOptions::default()
    }
}

#[test]
fn segments_survive_kill_9_and_recording_resumes() {
    require_tool("ffmpeg");
    let scratch = tempfile::tempdir().expect("tmp");
    let mic = make_clip(scratch.path(), Format::WavPcm16, 16000, 1, 3.0);
    let data = scratch.path().join("data");
    let mut d = Daemon::with(options(&mic, Some(data.clone())));
    assert_eq!(api(&d, &[])["recording"], false);
    let r = api(
        &d,
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"recording":true}"#,
        ],
    );
    assert_eq!(r["recording"], true, "{r}");
    std::thread::sleep(Duration::from_millis(5500));
    d.kill_hard();

    // Every segment written before the kill, the cut-off one too, plays.
    let dir = data.join("recordings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("recordings")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "segments: {files:?}");
    let mut total = 0.0;
    for f in &files {
        let secs = playable_seconds(f);
        eprintln!("{}: {secs:.2} s", f.display());
        total += secs;
    }
    assert!(total >= 3.0, "only {total:.2} s survived");
    // And it is the microphone: a stretch of the first segment lies in the looping file.
    let one = netamp_tests::audio::ffmpeg_reference(&mic);
    let mic_loop: Vec<f32> = one.iter().chain(&one).chain(&one).copied().collect();
    let rec = netamp_tests::audio::ffmpeg_reference(&files[0]);
    let a = netamp_tests::audio::align(&rec[9600..9600 + 48_000], &mic_loop);
    eprintln!("recorded vs microphone: correlation {:.4}", a.correlation);
    assert!(a.correlation >= 0.9, "correlation {:.4}", a.correlation);

    // Restart: recording was on, so it resumes into a new segment.
    let d = Daemon::with(options(&mic, Some(data.clone())));
    let before = files.len();
    std::thread::sleep(Duration::from_millis(2500));
    let listed = api(&d, &[]);
    assert_eq!(listed["recording"], true, "{listed}");
    let segs = listed["segments"].as_array().expect("segments").clone();
    assert!(
        segs.len() > before,
        "no new segment after restart: {listed}"
    );
    assert!(segs.iter().any(|s| s["open"] == true), "{listed}");

    // Time filter: only the first segment's range.
    let first = &segs[0];
    let (s0, e0) = (
        first["start_ms"].as_u64().expect("start"),
        first["end_ms"].as_u64().expect("end"),
    );
    let url = d.url(&format!("/api/v1/recordings?from={s0}&to={}", s0 + 1));
    let only = api(&d, &[&url]);
    assert_eq!(only["segments"].as_array().map(Vec::len), Some(1), "{only}");

    // Export 1 s from inside the first segment: an Ogg Opus file of about 1 s.
    let export = scratch.path().join("export.opus");
    let url = d.url(&format!(
        "/api/v1/recordings/export?from={s0}&to={}",
        s0 + 1000
    ));
    let r = curl(admin(), &[&url]);
    assert_eq!(r.status, 200);
    std::fs::write(&export, &r.body).expect("write export");
    let secs = playable_seconds(&export);
    assert!(
        (secs - 1.0).abs() < 0.1,
        "export is {secs:.2} s (segment {s0}..{e0})"
    );

    // Within the export limit (3 s here) the first segment alone passes; an open-ended
    // range over everything does not.
    let r = curl(
        admin(),
        &[&d.url(&format!("/api/v1/recordings/export?from={s0}&to={e0}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = curl(admin(), &[&d.url("/api/v1/recordings/export?from=0")]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("at most 3 s"), "{}", r.text());

    // Delete the first segment; the open one refuses.
    let r = curl(
        admin(),
        &["-X", "DELETE", &d.url(&format!("/api/v1/recordings/{s0}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let open = segs.iter().find(|s| s["open"] == true).expect("open")["id"]
        .as_u64()
        .expect("id");
    let r = curl(
        admin(),
        &[
            "-X",
            "DELETE",
            &d.url(&format!("/api/v1/recordings/{open}")),
        ],
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = curl(admin(), &["-X", "DELETE", &d.url("/api/v1/recordings/123")]);
    assert_eq!(r.status, 404);
    let r = curl(
        admin(),
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            "nonsense",
            &d.url("/api/v1/recordings"),
        ],
    );
    assert_eq!(r.status, 400);
    let r = curl(
        netamp_tests::http::Auth::Anonymous,
        &[&d.url("/api/v1/recordings")],
    );
    assert_eq!(r.status, 401);
}
