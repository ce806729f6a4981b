//! The `wav:` device: the render thread does no file I/O (a writer thread of its own does,
//! behind a wait-free ring), and the file still holds every rendered frame.

use std::time::Duration;

use netamp_engine::decode::DecodeLimits;
use netamp_engine::device::{open_output, OutputSpec};
use netamp_engine::{Engine, EngineConfig};

/// Bytes a thread of this process has written through write(2) and kin, by thread name.
fn written_by(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let io = std::fs::read_to_string(task.path().join("io")).ok()?;
            return io
                .lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok());
        }
    }
    None
}

#[test]
fn the_render_thread_writes_nothing_and_the_file_gets_every_frame() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("out.wav");
    let (engine, renderer, _driver) =
        Engine::offline(EngineConfig::default(), DecodeLimits::default()).expect("engine");
    let device = open_output(&OutputSpec::Wav(path.clone()), renderer).expect("wav");
    std::thread::sleep(Duration::from_millis(1000));
    let render = written_by("netamp-render").expect("the render thread");
    let writer = written_by("netamp-wav").expect("the writer thread");
    let rendered = engine.stats().frames_rendered;
    let xruns = engine.stats().xruns;
    device.stop();
    let bytes = std::fs::metadata(&path).expect("file").len();
    let frames = (bytes - 44) / 2;
    eprintln!(
        "render thread wrote {render} bytes, writer thread {writer}; {rendered} frames \
         rendered, {frames} in the file, {xruns} xruns"
    );
    assert_eq!(render, 0, "the render thread did file I/O");
    assert!(writer > 0, "the writer thread wrote nothing");
    assert!(
        frames >= rendered,
        "{frames} of {rendered} frames in the file"
    );
    // A writer that keeps up loses nothing: xruns here are only late wake-ups of a loaded
    // machine, a handful at most in 200 blocks.
    let blocks = rendered / 240;
    assert!(xruns * 10 < blocks, "{xruns} xruns in {blocks} blocks");
}
