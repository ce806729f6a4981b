//! netamp as a desktop or Home Assistant OS service: its `default` output goes to a
//! sound server through cpal's PulseAudio host (PipeWire serves the same protocol).
//! A real PulseAudio server with a null sink stands in for the desktop; `parec` records
//! what reaches the sink.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netamp_tests::audio::{align, ffmpeg_reference, longest_gap_ms, make_clip, Format};
use netamp_tests::daemon::bare_command;
use netamp_tests::http::{curl, Auth};
use netamp_tests::require_tool;

/// Kills a child on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn clips_play_through_a_pulseaudio_server_whole_and_without_gaps() {
    for tool in ["pulseaudio", "parec", "curl"] {
        require_tool(tool);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let socket = dir.path().join("native");
    let env = [
        ("PULSE_SERVER", format!("unix:{}", socket.display())),
        ("XDG_RUNTIME_DIR", dir.path().display().to_string()),
        ("HOME", dir.path().display().to_string()),
    ];
    let _server = Killed(
        Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
            ])
            .args(["--use-pid-file=no", "--system=false", "--log-target=stderr"])
            .arg("--load=module-null-sink sink_name=speaker rate=48000 channels=1")
            .arg(format!(
                "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
                socket.display()
            ))
            .envs(env.clone())
            .stderr(Stdio::null())
            .spawn()
            .expect("pulseaudio"),
    );
    let t0 = Instant::now();
    while !socket.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "pulseaudio did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut netamp = bare_command(&dir.path().join("data"))
        .args(["--audio-out", "default", "--audio-in", "none"])
        .args(["--admin", "root:pass"])
        .envs(env.clone())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("netamp");
    let stdout = BufReader::new(netamp.stdout.take().expect("stdout"));
    let addr = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("netamp: HTTP listening on http://")
                .map(|r| r.split('/').next().unwrap_or("").to_string())
        })
        .expect("netamp started");
    let _netamp = Killed(netamp);
    let auth = Auth::Digest("root", "pass");
    let status = curl(auth, &[&format!("http://{addr}/api/v1/status")]).json();
    assert_eq!(
        status["audio"]["output"]["device"], "cpal:speaker",
        "{status}"
    );

    let recording = dir.path().join("sink.raw");
    let _recorder = Killed(
        Command::new("parec")
            .args([
                "-d",
                "speaker.monitor",
                "--format=s16le",
                "--rate=48000",
                "--channels=1",
            ])
            .arg("--latency-msec=20")
            .arg(&recording)
            .envs(env.clone())
            .spawn()
            .expect("parec"),
    );
    // parec writes nothing for its first second or so: play once it records.
    let size = || std::fs::metadata(&recording).map_or(0, |m| m.len());
    let t1 = Instant::now();
    while size() == 0 {
        assert!(
            t1.elapsed() < Duration::from_secs(10),
            "parec records nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let clip = make_clip(dir.path(), Format::WavPcm16, 48000, 1, 2.0);
    let upload = curl(
        auth,
        &[
            "-F",
            &format!("file=@{}", clip.display()),
            &format!("http://{addr}/axis-cgi/mediaclip.cgi?action=upload"),
        ],
    );
    assert_eq!(upload.status, 200, "{}", upload.text());
    let play = curl(
        auth,
        &[&format!(
            "http://{addr}/axis-cgi/mediaclip.cgi?action=play&clip=0"
        )],
    );
    assert_eq!(play.status, 200);
    // The clip and half a second more (48 kHz, 16-bit mono).
    let want = size() + 2 * 48_000 * 5 / 2;
    let t2 = Instant::now();
    while size() < want {
        assert!(
            t2.elapsed() < Duration::from_secs(10),
            "the recording stalled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGINT: parec writes out what it holds and exits.
    let mut recorder = _recorder;
    let _ = Command::new("kill")
        .args(["-INT", &recorder.0.id().to_string()])
        .status();
    let _ = recorder.0.wait();

    let bytes = std::fs::read(&recording).expect("recording");
    let sink: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let reference = ffmpeg_reference(&clip);
    let a = align(&reference, &sink);
    assert!(a.correlation > 0.95, "correlation {:.3}", a.correlation);
    // The whole clip, with no dropout inside it (a 2 s device buffer drained every
    // source's ring in one callback and played 125 ms of it).
    let played = &sink[a.lag..a.lag + reference.len()];
    let gap = longest_gap_ms(played, 1e-3);
    assert!(gap < 5.0, "a {gap:.1} ms dropout");
}
