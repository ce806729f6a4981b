//! Every clip format × rate × channel count: upload over HTTP, play through mediaclip.cgi,
//! and compare the `wav:` capture with ffmpeg's own decode of the same file.

use netamp_tests::audio::{align, ffmpeg_reference, make_clip, Format};
use netamp_tests::daemon::Daemon;
use netamp_tests::flows::{play_and_capture, upload_ok};

const RATES: [u32; 4] = [8000, 16000, 44100, 48000];

fn check_format(format: Format) {
    let d = Daemon::start();
    let min_corr = if format.lossy() { 0.95 } else { 0.99 };
    let mut report = Vec::new();
    for rate in RATES {
        for channels in [1, 2] {
            let file = make_clip(d.dir.path(), format, rate, channels, 0.6);
            let id = upload_ok(&d, &file);
            let capture = play_and_capture(&d, &format!("action=play&clip={id}"));
            let reference = ffmpeg_reference(&file);
            let a = align(&reference, &capture);
            report.push(format!(
                "{format:?} {rate} Hz {channels} ch: corr {:.4}, level {:+.2} dB",
                a.correlation, a.gain_db
            ));
            assert!(
                a.correlation >= min_corr && a.gain_db.abs() <= 0.5,
                "{format:?} {rate} Hz {channels} ch: correlation {:.4} (need {min_corr}), level {:+.2} dB (need ±0.5)",
                a.correlation,
                a.gain_db
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn wav_pcm8() {
    check_format(Format::WavPcm8);
}

#[test]
fn wav_pcm16() {
    check_format(Format::WavPcm16);
}

#[test]
fn wav_pcm24() {
    check_format(Format::WavPcm24);
}

#[test]
fn wav_pcm32() {
    check_format(Format::WavPcm32);
}

#[test]
fn wav_float32() {
    check_format(Format::WavFloat32);
}

#[test]
fn wav_ulaw() {
    check_format(Format::WavUlaw);
}

#[test]
fn wav_alaw() {
    check_format(Format::WavAlaw);
}

#[test]
fn au_ulaw() {
    check_format(Format::AuUlaw);
}

#[test]
fn au_pcm16() {
    check_format(Format::AuPcm16);
}

#[test]
fn mp3() {
    check_format(Format::Mp3);
}

#[test]
fn ogg_vorbis() {
    check_format(Format::OggVorbis);
}

#[test]
fn ogg_opus() {
    check_format(Format::OggOpus);
}

#[test]
fn flac() {
    check_format(Format::Flac);
}
