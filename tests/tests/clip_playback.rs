//! Volume, repeat, stop, mixing, the Playing event and trigger latency, end to end.

use std::time::Duration;

use netamp_tests::audio::{align, ffmpeg_reference, make_clip, rms, Format};
use netamp_tests::daemon::Daemon;
use netamp_tests::flows::{
    admin, current_event, frames, play_and_capture, status, upload_ok, wait_played,
};
use netamp_tests::http::curl;

#[test]
fn volume_fifty_is_minus_six_db_and_two_hundred_is_louder_without_wrapping() {
    let d = Daemon::start();
    let file = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 0.5);
    let id = upload_ok(&d, &file);
    let reference = ffmpeg_reference(&file);

    let unity = play_and_capture(&d, &format!("action=play&clip={id}"));
    let a100 = align(&reference, &unity);
    let half = play_and_capture(&d, &format!("action=play&clip={id}&volume=50"));
    let a50 = align(&reference, &half);
    let rel = a50.gain_db - a100.gain_db;
    eprintln!(
        "volume=50: {rel:+.3} dB relative to volume=100 ({:+.3} dB absolute)",
        a50.gain_db
    );
    assert!((rel + 6.0).abs() <= 0.3, "volume=50 gave {rel:+.3} dB");
    assert!(a50.correlation > 0.99);

    // The clip peaks at 0.4 FS; volume=400 would reach 1.6 FS without the limiter.
    let loud = play_and_capture(&d, &format!("action=play&clip={id}&volume=400"));
    let a400 = align(&reference, &loud);
    let seg = &loud[a400.lag..a400.lag + reference.len()];
    let peak = seg.iter().fold(0f32, |m, s| m.max(s.abs()));
    eprintln!("volume=400: {:+.2} dB, peak {peak:.4}", a400.gain_db);
    assert!(a400.gain_db > a100.gain_db + 3.0, "volume=400 not louder");
    assert!(peak <= 0.98, "output exceeded the limiter ceiling: {peak}");
    // A wrap would flip the sign of loud samples.
    let flips = seg
        .iter()
        .zip(&reference)
        .filter(|(c, r)| r.abs() > 0.05 && c.signum() != r.signum())
        .count();
    assert_eq!(flips, 0, "{flips} samples changed sign");
    let v200 = play_and_capture(&d, &format!("action=play&clip={id}&volume=200"));
    assert!(
        align(&reference, &v200).gain_db > a100.gain_db + 3.0,
        "volume=200 not louder"
    );
}

#[test]
fn repeat_two_plays_three_times_without_a_gap() {
    let d = Daemon::start();
    let file = make_clip(d.dir.path(), Format::WavPcm16, 44100, 1, 0.4);
    let id = upload_ok(&d, &file);
    let once = ffmpeg_reference(&file);
    let capture = play_and_capture(&d, &format!("action=play&clip={id}&repeat=2"));
    // Three back-to-back copies: any gap or overlap at a seam breaks the alignment.
    let thrice: Vec<f32> = once.iter().chain(&once).chain(&once).copied().collect();
    let a = align(&thrice, &capture);
    eprintln!(
        "repeat=2: corr {:.5} over {} samples",
        a.correlation,
        thrice.len()
    );
    assert!(
        a.correlation >= 0.99,
        "repeat=2 correlation {}",
        a.correlation
    );
    let after = &capture[a.lag + thrice.len()..];
    assert!(rms(after) < 1e-4, "audio after the third play");
}

#[test]
fn stop_silences_within_one_period_plus_the_ramp() {
    let d = Daemon::start();
    let file = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 5.0);
    let id = upload_ok(&d, &file);
    let r = curl(
        admin(),
        &[&d.url(&format!(
            "/axis-cgi/mediaclip.cgi?action=play&clip={id}&repeat=-1"
        ))],
    );
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(500));
    let r = curl(admin(), &[&d.url("/axis-cgi/mediaclip.cgi?action=stop")]);
    assert_eq!((r.status, r.text().as_str()), (200, "OK\nstopping\n"));
    let stopped_at = frames(&d);
    std::thread::sleep(Duration::from_millis(300));
    let capture = netamp_tests::audio::read_capture(&d.capture, 0);
    // One period (240) plus the 20 ms ramp (960), from when the stop was answered.
    let silent_from = stopped_at + 240 + 960;
    assert!(capture.len() > silent_from + 4800, "capture too short");
    let tail_peak = capture[silent_from..]
        .iter()
        .fold(0f32, |m, s| m.max(s.abs()));
    assert_eq!(tail_peak, 0.0, "audio continued after the stop");
    assert!(
        rms(&capture[stopped_at - 4800..stopped_at - 2400]) > 0.05,
        "clip was not playing before the stop"
    );
    wait_played(&d, 0, 1, Duration::from_secs(5));
}

#[test]
fn new_play_replaces_the_playing_clip_by_default() {
    let d = Daemon::start();
    let long = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 5.0);
    let a = upload_ok(&d, &long);
    let b = upload_ok(&d, &make_clip(d.dir.path(), Format::Flac, 16000, 1, 0.3));
    assert_eq!(
        curl(
            admin(),
            &[&d.url(&format!("/axis-cgi/playclip.cgi?clip={a}"))]
        )
        .status,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        curl(
            admin(),
            &[&d.url(&format!("/axis-cgi/playclip.cgi?clip={b}"))]
        )
        .status,
        200
    );
    // The 5 s clip was stopped, so everything ends with the short one.
    wait_played(&d, 0, 2, Duration::from_secs(3));
}

#[test]
fn playing_state_is_published_and_trigger_latency_recorded() {
    let d = Daemon::start();
    let id = upload_ok(
        &d,
        &make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 1.0),
    );
    let r = curl(
        admin(),
        &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"))],
    );
    assert_eq!(r.text(), format!("OK\nplaying={id}\n"));
    std::thread::sleep(Duration::from_millis(200));
    let playing_event = |d: &Daemon| {
        current_event(d, "tnsaxis:MediaClip/tnsaxis:Playing", "", "").expect("Playing event")
    };
    let playing = playing_event(&d);
    assert_eq!(playing["topic"], "tnsaxis:MediaClip/tnsaxis:Playing");
    assert_eq!(playing["message"]["source"]["audiooutputid"], "0");
    assert_eq!(playing["message"]["data"]["Playing"], "1");
    wait_played(&d, 0, 1, Duration::from_secs(5));
    assert_eq!(playing_event(&d)["message"]["data"]["Playing"], "0");
    let lat = &status(&d)["clips"]["trigger_latency_us"];
    assert_eq!(lat["count"].as_u64(), Some(1));
    let metrics = curl(admin(), &[&d.url("/metrics")]).text();
    assert!(
        metrics.contains("netamp_clip_trigger_latency_p99_seconds"),
        "{metrics}"
    );
    assert!(metrics.contains("netamp_frames_rendered_total"));
}

#[test]
fn location_argument_and_play_argument_errors() {
    let d = Daemon::start();
    let file = make_clip(d.dir.path(), Format::Mp3, 16000, 1, 0.3);
    let id = upload_ok(&d, &file);
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_string();
    for loc in [
        name.clone(),
        format!("/etc/audioclips/{name}"),
        "clip-Mp3*".to_string(),
    ] {
        let r = curl(
            admin(),
            &[&d.url(&format!(
                "/axis-cgi/playclip.cgi?location={loc}&audiodeviceid=0&audiooutputid=0"
            ))],
        );
        assert_eq!(
            (r.status, r.text()),
            (200, format!("OK\nplaying={id}\n")),
            "location {loc}"
        );
    }
    for bad in [
        "clip=99",
        "clip=x",
        "clip=0&volume=1001",
        "clip=0&volume=-1",
        "clip=0&repeat=-2",
        "location=nope.mp3",
        "",
        "clip=0&audiooutput=2",
    ] {
        let r = curl(admin(), &[&d.url(&format!("/axis-cgi/playclip.cgi?{bad}"))]);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(
            r.text().starts_with("400 Bad Request\n"),
            "{bad}: {}",
            r.text()
        );
    }
    let r = curl(admin(), &[&d.url("/axis-cgi/mediaclip.cgi?action=dance")]);
    assert_eq!(r.status, 400);
}
