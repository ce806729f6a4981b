//! Every command in the README's `sh` blocks runs as written against a fresh daemon (the
//! first block, `scripts/run` and `scripts/test`, excepted: it is what runs this).
//!
//! The only changes made to the text: the daemon's own addresses replace
//! `127.0.0.1:8080` and `sip:netamp@127.0.0.1`, and `curl` is given `--fail-with-body`
//! so an HTTP error fails the command. A command passes when it exits 0 and prints no
//! VAPIX or JSON error; one that streams until stopped (`receive.cgi`, `monitor=`,
//! baresip) passes when it is still running after a few seconds. Assignments (`PASS=…`)
//! carry over to the commands after them. The users block, which starts from a daemon
//! without any account, runs on one started so.

use std::path::Path;
use std::process::Command;

use netamp_tests::audio::ffmpeg_reference;
use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN};
use netamp_tests::{require_tool, run, workspace_root};

/// The README's `sh` blocks, each as its commands (continuation lines joined).
fn blocks() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut pending = String::new();
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(cmds), l) => {
                let l = l.trim();
                if pending.is_empty() && (l.is_empty() || l.starts_with('#')) {
                    continue;
                }
                // A comment after the command is the README talking.
                let l = match l.find("  # ") {
                    Some(i) => l[..i].trim_end(),
                    None => l,
                };
                pending.push_str(l.trim_end_matches('\\'));
                if l.ends_with('\\') || l.ends_with('|') {
                    pending.push(' ');
                } else {
                    cmds.push(std::mem::take(&mut pending));
                }
            }
            (None, _) => {}
        }
    }
    blocks
}

/// A command that runs until stopped.
fn streams(cmd: &str) -> bool {
    cmd.contains("receive.cgi") || cmd.contains("monitor=") || cmd.starts_with("baresip")
}

/// A line that sets shell variables for the commands after it.
fn assigns(cmd: &str) -> bool {
    let first = cmd.split(';').next().unwrap_or("").trim();
    first.starts_with("sleep ")
        || first.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Runs `cmds` in `dir` against `d`, after the assignments of the blocks before
/// (`carried`, extended with this block's); returns the failures.
fn run_block(d: &Daemon, dir: &Path, cmds: &[String], carried: &mut Vec<String>) -> Vec<String> {
    let shim = dir.join("bin");
    std::fs::create_dir_all(&shim).expect("mkdir");
    let curl = shim.join("curl");
    std::fs::write(
        &curl,
        "#!/bin/sh\nexec /usr/bin/curl --fail-with-body -sS \"$@\"\n",
    )
    .expect("shim");
    let _ = run(Command::new("chmod").arg("+x").arg(&curl));
    let mut script = String::from("set -a\n");
    for a in carried.iter() {
        script.push_str(&format!("{a}\n"));
    }
    for (i, cmd) in cmds.iter().enumerate() {
        let cmd = cmd
            .replace("127.0.0.1:8080", &d.addr)
            .replace("sip:netamp@127.0.0.1", &format!("sip:netamp@{}", d.sip));
        if assigns(&cmd) {
            script.push_str(&format!("{cmd}\n"));
            if !cmd.starts_with("sleep ") && !cmd.contains("$(curl") {
                carried.push(cmd);
            }
            continue;
        }
        let quoted = cmd.replace('\'', r"'\''");
        let limit = if streams(&cmd) { 3 } else { 20 };
        script.push_str(&format!(
            "out=$(timeout {limit} bash -o pipefail -c '{quoted}' 2>&1); rc=$?\n\
             printf '\\n@@ %s %s\\n%s\\n' {i} \"$rc\" \"$out\" | head -c 3000\n"
        ));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                shim.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", dir)
        .env("SDL_VIDEODRIVER", "dummy")
        .env("SDL_AUDIODRIVER", "dummy")
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut failures = Vec::new();
    for part in text.split("\n@@ ").skip(1) {
        let (head, output) = part.split_once('\n').unwrap_or((part, ""));
        let mut h = head.split_whitespace();
        let i: usize = h.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let rc: i32 = h.next().and_then(|x| x.parse().ok()).unwrap_or(-1);
        let cmd = &cmds[i];
        let ok_rc = rc == 0 || (rc == 124 && streams(cmd));
        // `timeout` signals the command and its process group, so ffmpeg may see the
        // stop twice and say so ("Immediate exit requested"): the harness's doing, not
        // the command's.
        let stopped_here = |l: &&str| rc == 124 && l.contains("Immediate exit requested");
        let error = output
            .lines()
            .filter(|l| !stopped_here(l))
            .any(|l| l.contains("Error") || l.contains("\"error\""));
        let shown: String = cmd.chars().take(110).collect();
        eprintln!("[{rc:>3}] {shown}");
        if !ok_rc || error {
            failures.push(format!("{cmd}\n  exit {rc}: {}", output.trim()));
        }
    }
    failures
}

#[test]
fn every_readme_command_runs_as_written() {
    for tool in ["curl", "ffmpeg", "ffplay", "baresip"] {
        require_tool(tool);
    }
    let blocks = blocks();
    assert!(blocks.len() >= 6, "{} sh blocks", blocks.len());
    let scratch = tempfile::tempdir().expect("tmp");
    let d = Daemon::start();
    // What scripts/run leaves for the first start.
    std::fs::create_dir_all(scratch.path().join("data")).expect("mkdir");
    std::fs::write(
        scratch.path().join("data/initial-admin"),
        format!("{}:{}\n", ADMIN.0, ADMIN.1),
    )
    .expect("write");
    let mut failures = Vec::new();
    let mut carried = Vec::new();
    for cmds in &blocks[1..] {
        if cmds.iter().any(|c| c.contains("while no account exists"))
            || cmds
                .iter()
                .any(|c| c.starts_with("curl \"") && c.contains("user=root"))
        {
            // The first administrator: on a daemon that has none.
            let fresh = Daemon::with(DaemonOptions {
                no_admin: true,
                ..Default::default()
            });
            failures.extend(run_block(&fresh, scratch.path(), cmds, &mut Vec::new()));
            continue;
        }
        failures.extend(run_block(&d, scratch.path(), cmds, &mut carried));
    }
    // The recordings example exports a range that holds audio.
    let minute = scratch.path().join("minute.opus");
    if std::fs::metadata(&minute).is_ok_and(|m| m.len() > 0) {
        let seconds = ffmpeg_reference(&minute).len() as f64 / 48_000.0;
        eprintln!("the exported minute holds {seconds:.1} s of audio");
        if seconds < 3.0 {
            failures.push(format!("the recordings export holds {seconds:.1} s"));
        }
    } else {
        failures.push("the recordings export wrote no file".into());
    }
    assert!(
        failures.is_empty(),
        "README commands failed:\n{}",
        failures.join("\n")
    );
}
