//! Helpers for netamp's end-to-end tests: start the real daemon on ephemeral ports with
//! `wav:` devices, drive it with real peers (curl, ffmpeg, sox, Python clients), and compare
//! what it played with a reference decode.

#![forbid(unsafe_code)]

pub mod audio;
pub mod daemon;
pub mod flows;
pub mod http;
pub mod netns;
pub mod peers;
pub mod rules;
pub mod sip;

use std::path::PathBuf;
use std::process::Command;

/// Fails with a clear message when a peer tool is missing (never skips silently).
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "the end-to-end tests need `{name}`; run scripts/test, which installs it"
    );
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Runs a command and returns its stdout; panics with its stderr on failure.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The Python that has Home Assistant's `axis` library (a venv `scripts/test` makes);
/// fails with a clear message when it is missing.
pub fn ha_python() -> String {
    let python = std::env::var("NETAMP_HA_PYTHON").unwrap_or_else(|_| {
        workspace_root()
            .join("target/ha-venv/bin/python")
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "Home Assistant's axis library is not installed at {python}; run scripts/test, which installs it"
    );
    python
}
