//! Bad uploads get a 400 with a reason and change nothing: existing clips keep playing.

use netamp_tests::audio::{align, ffmpeg_reference, make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, play_and_capture, upload, upload_ok};
use netamp_tests::http::curl;

fn wav_header(channels: u16, rate: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    v.extend_from_slice(&(2 * channels).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn listing(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d.data().join("clips"))
        .expect("clip dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn bad_uploads_are_refused_and_change_nothing() {
    let d = Daemon::with(DaemonOptions {
        config: "[clips]\nmax_upload_mb = 1\n".into(),
        ..Default::default()
    });
    let good = make_clip(d.dir.path(), Format::Mp3, 44100, 2, 1.0);
    let id = upload_ok(&d, &good);
    let index_before = std::fs::read(d.data().join("clips.json")).expect("index");
    let files_before = listing(&d);

    let bytes = std::fs::read(&good).expect("mp3");
    let truncated = d.path("truncated.mp3");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let random = d.path("noise.wav");
    std::fs::write(
        &random,
        (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .expect("write");
    let empty = d.path("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    let no_channels = d.path("nochannels.wav");
    std::fs::write(&no_channels, wav_header(0, 16000, &[0u8; 3200])).expect("write");
    let big = d.path("big.wav");
    std::fs::write(&big, wav_header(1, 48000, &vec![0u8; 1_500_000])).expect("write");
    let huge = d.path("huge.wav");
    std::fs::write(&huge, wav_header(1, 48000, &vec![0u8; 3_000_000])).expect("write");

    for (file, why) in [
        (&truncated, "truncated"),
        (&random, "unsupported"),
        (&empty, "no audio"),
        (&no_channels, "channel"),
        (&big, "too large"),
        (&huge, "too large"),
    ] {
        let r = upload(&d, file, admin());
        let text = r.text();
        eprintln!("{}: {} {:?}", file.display(), r.status, text);
        assert_eq!(r.status, 400, "{} was accepted: {text}", file.display());
        assert!(text.starts_with("400 Bad Request\n"), "{text}");
        assert!(
            text.contains(why),
            "{}: reason {text:?} does not say {why:?}",
            file.display()
        );
    }
    // Not multipart at all, and an upload with no file part.
    let r = curl(
        admin(),
        &[
            "-H",
            "Content-Type: audio/wav",
            "--data-binary",
            &format!("@{}", empty.display()),
            &d.url("/axis-cgi/mediaclip.cgi?action=upload"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = curl(
        admin(),
        &[
            "-F",
            "name=only-a-name",
            &d.url("/axis-cgi/mediaclip.cgi?action=upload"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());

    assert_eq!(
        std::fs::read(d.data().join("clips.json")).expect("index"),
        index_before,
        "clip index changed"
    );
    assert_eq!(listing(&d), files_before, "clip directory changed");
    let capture = play_and_capture(&d, &format!("action=play&clip={id}"));
    let a = align(&ffmpeg_reference(&good), &capture);
    assert!(a.correlation > 0.95, "existing clip no longer plays: {a:?}");
}

#[test]
fn clip_limit_and_management_actions() {
    let d = Daemon::with(DaemonOptions {
        config: "[clips]\nmax_groups = 2\n".into(),
        ..Default::default()
    });
    let f = make_clip(d.dir.path(), Format::WavPcm16, 16000, 1, 0.2);
    let a = upload_ok(&d, &f);
    let b = upload_ok(&d, &f);
    assert_eq!((a, b), (0, 1));
    let r = upload(&d, &f, admin());
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no free clip slot"), "{}", r.text());

    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/mediaclip.cgi?action=update&clip=1&name=Door%20bell")],
    );
    assert_eq!(r.text(), "OK\nupdated=1\n");
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=list&group=MediaClip")],
    );
    let text = r.text();
    assert!(text.contains("root.MediaClip.MaxGroups=2\n"), "{text}");
    assert!(
        text.contains("root.MediaClip.M1.Name=Door bell\n"),
        "{text}"
    );
    assert!(
        text.contains("root.MediaClip.M0.Location=/etc/audioclips/"),
        "{text}"
    );
    // param.cgi writes through to the same clip.
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=update&root.MediaClip.M0.Name=Chime")],
    );
    assert_eq!(r.text(), "OK\n");
    assert!(
        curl(
            admin(),
            &[&d.url("/axis-cgi/param.cgi?action=list&group=MediaClip.M0.Name")]
        )
        .text()
            == "MediaClip.M0.Name=Chime\n"
    );
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=update&Properties.Firmware.Version=9")],
    );
    assert_eq!(
        r.text(),
        "# Error: Error setting 'Properties.Firmware.Version' to '9'!\n"
    );

    // As uploaded, byte for byte (the manual's download).
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/mediaclip.cgi?action=download&clip=0")],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("content-type: audio/wav"),
        "{}",
        r.headers
    );
    assert_eq!(r.body, std::fs::read(&f).expect("uploaded file"));
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/mediaclip.cgi?action=download&clip=0&format=flac")],
    );
    assert_eq!(r.status, 400);
    // As .au, the VAPIX documentation's download.
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/mediaclip.cgi?action=download&clip=0&format=au")],
    );
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("content-type: audio/basic"),
        "{}",
        r.headers
    );
    assert_eq!(&r.body[..4], b".snd");
    // 0.2 s at 16 kHz, 16-bit mono, after the 24-byte header.
    assert_eq!(r.body.len(), 24 + 3200 * 2);

    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/mediaclip.cgi?action=remove&clip=0")],
    );
    assert_eq!(r.text(), "OK\nremoved=0\n");
    assert_eq!(
        curl(
            admin(),
            &[&d.url("/axis-cgi/mediaclip.cgi?action=remove&clip=0")]
        )
        .status,
        400
    );
    assert_eq!(upload_ok(&d, &f), 0, "freed id is reused");
}
