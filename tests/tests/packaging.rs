//! A service people install: the operator's commands, logs without terminal codes,
//! health endpoints, an identity that never follows the host's interfaces, mDNS
//! discovery, and the Debian package installed, run as its unit says, and removed.
//!
//! The namespace, identity, discovery and package tests need root (network namespaces,
//! dpkg), as CI runs them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netamp_tests::daemon::{bare_command, netamp_bin, Daemon, DaemonOptions, ADMIN};
use netamp_tests::http::{curl, curl_in, Auth};
use netamp_tests::netns::NetNs;
use netamp_tests::{ha_python, run, workspace_root};

/// Runs the netamp binary with `args`: exit status, stdout, stderr.
fn netamp(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(netamp_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netamp");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_forgotten_password_is_reset_offline_and_a_running_daemon_is_never_written_under() {
    let mut d = Daemon::start();
    let config = d.path("netamp.toml").display().to_string();
    let data = d.data().display().to_string();
    let common = ["--config", config.as_str(), "--data-dir", data.as_str()];
    // While the daemon runs, its state directory is its own.
    let (ok, _, err) = netamp(&[&common[..], &["user", "list"]].concat(), "");
    assert!(!ok && err.contains("another netamp is running"), "{err}");
    d.stop();

    // The mosquitto_passwd role: the new password on standard input.
    let (ok, out, err) = netamp(
        &[&common[..], &["user", "passwd", "root"]].concat(),
        "a new secret\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("password of root changed"), "{out}");
    let (ok, _, err) = netamp(
        &[
            &common[..],
            &[
                "user",
                "add",
                "ops",
                "--role",
                "operator",
                "--password",
                "op-pass",
            ],
        ]
        .concat(),
        "",
    );
    assert!(ok, "{err}");
    let (_, list, _) = netamp(&[&common[..], &["user", "list"]].concat(), "");
    assert_eq!(list, "root\tadmin\nops\toperator\n");

    let d = Daemon::with(DaemonOptions {
        data_dir: Some(d.data().to_path_buf()),
        ..Default::default()
    });
    let info = d.url("/axis-cgi/param.cgi?action=list&group=Brand");
    assert_eq!(
        curl(Auth::Digest("root", "a new secret"), &[&info]).status,
        200
    );
    assert_eq!(curl(Auth::Digest(ADMIN.0, ADMIN.1), &[&info]).status, 401);
    assert_eq!(curl(Auth::Digest("ops", "op-pass"), &[&info]).status, 200);
}

#[test]
fn check_config_names_file_line_and_the_valid_keys_and_the_shipped_file_passes() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[http]\nlisten = \"0.0.0.0:8080\"\nlisten_port = 80\n",
    )
    .expect("write");
    let (ok, _, err) = netamp(&["check-config", bad.to_str().expect("path")], "");
    assert!(!ok);
    for want in [
        bad.to_str().expect("path"),
        "line 3",
        "unknown field `listen_port`",
        "`listen`",
        "`max_connections`",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    // A value that parses but cannot work is refused too.
    std::fs::write(&bad, "[rules]\ntime_zone = \"Mars/Olympus\"\n").expect("write");
    let (ok, _, err) = netamp(&["check-config", bad.to_str().expect("path")], "");
    assert!(!ok && err.contains("unknown time zone"), "{err}");

    let (ok, text, _) = netamp(&["print-default-config"], "");
    assert!(ok);
    let shipped =
        std::fs::read_to_string(workspace_root().join("packaging/netamp.toml")).expect("read");
    assert_eq!(text, shipped);
    let good = dir.path().join("good.toml");
    std::fs::write(&good, &text).expect("write");
    let (ok, out, err) = netamp(&["check-config", good.to_str().expect("path")], "");
    assert!(ok && out.contains(": OK"), "{out}{err}");

    let (ok, man, _) = netamp(&["man"], "");
    assert!(
        ok && man.contains(".TH netamp") && man.contains("check\\-config"),
        "{man}"
    );
    let (ok, bash, _) = netamp(&["completions", "bash"], "");
    assert!(ok && bash.contains("complete -F") && bash.contains("print-default-config"));
}

#[test]
fn logs_carry_no_terminal_codes_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("tmp");
    // `default` devices on a machine without a sound card: the fallback warnings, and
    // none of the ALSA library's own lines.
    let mut child = bare_command(dir.path())
        .args(["--log-level", "debug"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netamp");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for line in stdout.lines().map_while(Result::ok) {
        if line.contains("HTTP listening") {
            break;
        }
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let out = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("DEBUG"), "--log-level debug: {log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains('\u{1b}'), "an ANSI escape in:\n{log}");
    assert!(!log.contains("ALSA lib"), "ALSA's own lines:\n{log}");
}

/// One datagram of journald's native protocol: `KEY=value\n`, or `KEY\n`, a 64-bit
/// little-endian length, the value and `\n`.
fn journal_fields(mut d: &[u8]) -> std::collections::HashMap<String, String> {
    let mut fields = std::collections::HashMap::new();
    while let Some(nl) = d.iter().position(|&b| b == b'\n') {
        let line = &d[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let key = String::from_utf8_lossy(&line[..eq]).into_owned();
            fields.insert(key, String::from_utf8_lossy(&line[eq + 1..]).into_owned());
            d = &d[nl + 1..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &d[nl + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
            fields.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            d = &rest[8 + len + 1..];
        }
    }
    fields
}

/// journald's native socket, where tracing-journald sends.
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

#[test]
fn under_systemd_the_log_goes_to_the_journal_with_its_fields() {
    use std::os::unix::fs::MetadataExt;
    // No systemd runs this machine: the test is journald's socket (removed afterwards),
    // and reads what arrives in journald's native protocol.
    assert!(
        !Path::new(JOURNAL_SOCKET).exists(),
        "a journald runs here: check `journalctl -t netamp` by hand instead"
    );
    std::fs::create_dir_all("/run/systemd/journal").expect("mkdir");
    let journal = std::os::unix::net::UnixDatagram::bind(JOURNAL_SOCKET).expect("bind");
    struct Unlink;
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(JOURNAL_SOCKET);
        }
    }
    let _unlink = Unlink;
    journal
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    // systemd names the stream it gave the service as stderr in $JOURNAL_STREAM.
    let dir = tempfile::tempdir().expect("tmp");
    let stderr = std::fs::File::create(dir.path().join("stderr")).expect("file");
    let meta = stderr.metadata().expect("meta");
    let mut child = bare_command(&dir.path().join("data"))
        .args(["--audio-in", "none"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("netamp");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    for line in stdout.lines().map_while(Result::ok) {
        if line.contains("HTTP listening") {
            break;
        }
    }
    terminate(&mut child);
    let mut records = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = journal.recv(&mut buf) {
        records.push(journal_fields(&buf[..n]));
    }
    let field = |r: &std::collections::HashMap<String, String>, k: &str| {
        r.get(k).cloned().unwrap_or_default()
    };
    let warning = records
        .iter()
        .find(|r| field(r, "MESSAGE").contains("no sound card could be opened"))
        .unwrap_or_else(|| panic!("the fallback warning is not in the journal: {records:?}"));
    assert_eq!(field(warning, "PRIORITY"), "4");
    assert_eq!(field(warning, "SYSLOG_IDENTIFIER"), "netamp");
    assert_eq!(field(warning, "TARGET"), "netamp_engine::device");
    assert!(field(warning, "CODE_FILE").ends_with(".rs"), "{warning:?}");
    // tracing-journald maps INFO to priority 5 (notice).
    assert!(records
        .iter()
        .any(|r| field(r, "MESSAGE") == "shutting down" && field(r, "PRIORITY") == "5"));
    // Nothing went to stderr besides: the journal has it.
    let text = std::fs::read_to_string(dir.path().join("stderr")).expect("read");
    assert!(!text.contains("no sound card"), "{text}");
}

#[test]
fn systemready_healthz_and_build_info_answer_as_tools_expect() {
    let d = Daemon::with(DaemonOptions {
        no_admin: true,
        ..Default::default()
    });
    let ready = |auth| {
        curl(
            auth,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"apiVersion":"1.0","context":"poll","method":"systemready","params":{"timeout":10}}"#,
                &d.url("/axis-cgi/systemready.cgi"),
            ],
        )
        .json()
    };
    // Anonymous, as Axis tools poll it after a restart; no account yet: needs setup.
    let first = ready(Auth::Anonymous);
    assert_eq!(first["context"], "poll");
    assert_eq!(first["data"]["systemready"], "yes");
    assert_eq!(first["data"]["needsetup"], "yes");
    assert!(first["data"]["uptime"]
        .as_str()
        .is_some_and(|u| u.parse::<u64>().is_ok()));
    let boot = first["data"]["bootid"]
        .as_str()
        .expect("bootid")
        .to_string();
    assert_eq!(boot.len(), 32);
    let add = d.url("/axis-cgi/pwdgrp.cgi?action=add&user=root&pwd=pass&grp=root&sgrp=admin:operator:viewer:ptz");
    assert_eq!(curl(Auth::Anonymous, &[&add]).status, 200);
    let second = ready(Auth::Anonymous);
    assert_eq!(second["data"]["needsetup"], "no");
    assert_eq!(second["data"]["bootid"], boot.as_str());
    let wrong = curl(
        Auth::Anonymous,
        &[
            "-X",
            "POST",
            "-d",
            r#"{"apiVersion":"1.0","method":"reboot"}"#,
            &d.url("/axis-cgi/systemready.cgi"),
        ],
    )
    .json();
    assert_eq!(wrong["error"]["code"], 2004);

    let health = curl(Auth::Anonymous, &[&d.url("/healthz")]);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let metrics = curl(Auth::Digest(ADMIN.0, ADMIN.1), &[&d.url("/metrics")]).text();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        metrics.contains(&format!("netamp_build_info{{version=\"{version}\",")),
        "{metrics}"
    );
}

/// A daemon started by `cmd` (whose stdout is read here) once it says where HTTP listens.
fn started(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("start netamp");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("netamp: HTTP listening on http://") {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => (child, addr),
        Err(_) => {
            let _ = child.kill();
            panic!("netamp did not start within 30 s");
        }
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A daemon inside `ns` with null devices, the test administrator and HTTP on `http`.
fn in_netns(ns: &NetNs, config: &Path, data: &Path, http: &str) -> (Child, String) {
    let mut cmd = ns.command(netamp_bin());
    cmd.arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--http", http, "--sip", "127.0.0.1:0", "--rtsp", ""])
        .args(["--audio-out", "null", "--audio-in", "none"])
        .args(["--admin", &format!("{}:{}", ADMIN.0, ADMIN.1)])
        .env("RUST_LOG", "warn");
    started(cmd)
}

/// The Digest realm a daemon at `addr` inside `ns` challenges with.
fn realm_in(ns: &NetNs, addr: &str) -> String {
    let r = curl_in(
        ns.command("curl"),
        Auth::Anonymous,
        &[&format!("http://{addr}/axis-cgi/param.cgi?action=list")],
    );
    let at = r.headers.find("realm=\"").expect("a Digest challenge") + 7;
    r.headers[at..].split('"').next().unwrap_or("").to_string()
}

#[test]
fn the_realm_stays_when_an_interface_that_sorts_first_appears() {
    let ns = NetNs::new("realm");
    ns.veth(
        ("vb0", "02:00:00:00:00:b0"),
        ("vb1", "02:00:00:00:00:b1"),
        "10.97.0.1/24",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let start = |data: &Path| in_netns(&ns, Path::new("/dev/null"), data, "127.0.0.1:0");
    let data = dir.path().join("data");
    let (mut first, addr) = start(&data);
    assert_eq!(realm_in(&ns, &addr), "AXIS_0200000000B0");
    terminate(&mut first);

    // A `docker0`-like interface appears and sorts first.
    ns.veth(
        ("aa0", "02:00:00:00:00:a0"),
        ("aa1", "02:00:00:00:00:a1"),
        "10.98.0.1/24",
    );
    let (mut again, addr) = start(&data);
    assert_eq!(realm_in(&ns, &addr), "AXIS_0200000000B0");
    let info = format!("http://{addr}/axis-cgi/param.cgi?action=list&group=Brand");
    assert_eq!(
        curl_in(ns.command("curl"), Auth::Digest("root", "pass"), &[&info]).status,
        200
    );
    terminate(&mut again);

    // What a realm following the host would have been: a fresh state directory shows it.
    let (mut fresh, addr) = start(&dir.path().join("fresh"));
    assert_eq!(realm_in(&ns, &addr), "AXIS_0200000000A0");
    terminate(&mut fresh);
}

/// Browses `types` from `lan` (an address in `ns`) for `seconds` with python-zeroconf.
fn browse(ns: &NetNs, lan: &str, seconds: u32, types: &[&str]) -> Vec<serde_json::Value> {
    let script = workspace_root().join("tests/peers/mdns_browse.py");
    let out = run(ns
        .command(ha_python())
        .env("MDNS_INTERFACES", lan)
        .arg(script)
        .arg(seconds.to_string())
        .args(types));
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn the_device_is_found_on_the_lan_by_mdns_unless_switched_off() {
    let ns = NetNs::new("mdns");
    ns.veth(
        ("m0", "02:00:00:00:00:c0"),
        ("m1", "02:00:00:00:00:c1"),
        "10.96.0.1/24",
    );
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("netamp.toml");
    let start = |mdns: bool| {
        std::fs::write(
            &config,
            format!("[device]\nname = \"Lobby speaker\"\nmac = \"ACCC8E0000C0\"\nmdns = {mdns}\n"),
        )
        .expect("config");
        in_netns(&ns, &config, &dir.path().join("data"), "0.0.0.0:8080")
    };
    let types = ["_http._tcp.local.", "_axis-video._tcp.local."];
    let (mut on, _) = start(true);
    let found = browse(&ns, "10.96.0.1", 4, &types);
    terminate(&mut on);
    for ty in types {
        let s = found
            .iter()
            .find(|s| s["type"] == ty)
            .unwrap_or_else(|| panic!("{ty} not announced: {found:?}"));
        assert_eq!(s["name"], format!("Lobby speaker - ACCC8E0000C0.{ty}"));
        assert_eq!(s["port"], 8080);
        // Home Assistant's axis matcher: `_axis-video._tcp` with an Axis OUI here.
        assert_eq!(s["properties"]["macaddress"], "ACCC8E0000C0");
        assert!(
            s["addresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "10.96.0.1")),
            "{s}"
        );
    }
    // Off by config: nothing is announced.
    let (mut off, _) = start(false);
    let found = browse(&ns, "10.96.0.1", 3, &types);
    terminate(&mut off);
    assert!(found.is_empty(), "{found:?}");
}

/// The installed unit's `Key=` values.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

fn dpkg_status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "netamp"])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Left in the state directory by this test, so a run that died half-way is cleaned up
/// by the next one (and a developer's own installation is never purged).
const MARKER: &str = "/var/lib/netamp/.package-test";

#[test]
fn the_debian_package_installs_runs_as_its_unit_says_and_removes_as_policy_says() {
    if dpkg_status().contains("installed") {
        assert!(
            Path::new(MARKER).exists(),
            "a netamp package is installed on this machine; this test installs and purges \
             its own, so remove it first (dpkg -P netamp)"
        );
        run(Command::new("dpkg").args(["-P", "netamp"]));
    }
    run(Command::new(workspace_root().join("scripts/package")).env("NETAMP_PACKAGE_PROFILE", "dev"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let deb = std::fs::read_dir(target.join("debian"))
        .expect("target/debian")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("a .deb");
    let install = run(Command::new("dpkg").arg("-i").arg(&deb));
    std::fs::write(MARKER, "").expect("marker");
    let said = String::from_utf8_lossy(&install);
    assert!(said.contains("First administrator: root"), "{said}");
    assert!(said.contains("/var/lib/netamp/initial-admin"), "{said}");

    // What the package left: the unit, the conffile, the user, the first password.
    let unit = std::fs::read_to_string("/usr/lib/systemd/system/netamp.service")
        .or_else(|_| std::fs::read_to_string("/lib/systemd/system/netamp.service"))
        .expect("the unit");
    for line in [
        "Type=notify",
        "User=netamp",
        "StateDirectory=netamp",
        "ProtectSystem=strict",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "SupplementaryGroups=audio gpio",
        "Restart=on-failure",
        "LimitRTPRIO=95",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "{line} missing from the unit"
        );
    }
    let exec = unit_values(&unit, "ExecStart").pop().expect("ExecStart");
    let watchdog_s: u64 = unit_values(&unit, "WatchdogSec")
        .pop()
        .and_then(|v| v.parse().ok())
        .expect("WatchdogSec");
    let groups =
        String::from_utf8_lossy(&run(Command::new("id").args(["-nG", "netamp"]))).into_owned();
    assert!(
        groups.contains("audio") && groups.contains("gpio"),
        "{groups}"
    );
    let password = std::fs::read_to_string("/var/lib/netamp/initial-admin")
        .expect("initial-admin")
        .trim()
        .strip_prefix("root:")
        .expect("root:")
        .to_string();
    let mac = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string("/var/lib/netamp/identity.json").expect("identity"),
    )
    .expect("json")["mac"]
        .as_str()
        .expect("mac")
        .to_string();

    // No systemd runs this machine: the unit's ExecStart, run as the unit would (its user
    // and groups, its ambient capability, $STATE_DIRECTORY, a notify socket and the
    // watchdog), inside a namespace so its default ports and mDNS stay off the host.
    let ns = NetNs::new("pkg");
    ns.veth(
        ("p0", "02:00:00:00:00:d0"),
        ("p1", "02:00:00:00:00:d1"),
        "10.95.0.1/24",
    );
    let notify_dir = tempfile::tempdir().expect("tmp");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(notify_dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let notify_path = notify_dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
    }
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut argv = exec.split_whitespace();
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid=netamp", "--regid=netamp", "--init-groups"])
        .args([
            "--inh-caps=+net_bind_service",
            "--ambient-caps=+net_bind_service",
        ])
        .arg(argv.next().expect("program"))
        .args(argv)
        .env("STATE_DIRECTORY", "/var/lib/netamp")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", (watchdog_s * 1_000_000 / 30).to_string())
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped());
    let (mut service, addr) = started(cmd);
    let mut messages = String::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let mut buf = [0u8; 512];
        if let Ok(n) = notify.recv(&mut buf) {
            messages.push_str(&String::from_utf8_lossy(&buf[..n]));
            messages.push('\n');
        }
    }
    assert!(messages.contains("READY=1"), "{messages}");
    assert!(messages.matches("WATCHDOG=1").count() >= 2, "{messages}");

    let port = addr.rsplit(':').next().expect("port");
    assert_eq!(port, "8080", "the shipped config's HTTP port");
    let ready = curl_in(
        ns.command("curl"),
        Auth::Anonymous,
        &[
            "-X",
            "POST",
            "-d",
            r#"{"apiVersion":"1.0","method":"systemready"}"#,
            &format!("http://{addr}/axis-cgi/systemready.cgi"),
        ],
    )
    .json();
    assert_eq!(ready["data"]["systemready"], "yes");
    assert_eq!(ready["data"]["needsetup"], "no");
    let info = format!("http://{addr}/axis-cgi/basicdeviceinfo.cgi");
    let device = curl_in(
        ns.command("curl"),
        Auth::Digest("root", &password),
        &[
            "-X",
            "POST",
            "-d",
            r#"{"apiVersion":"1.1","method":"getAllProperties"}"#,
            &info,
        ],
    )
    .json();
    assert_eq!(device["data"]["propertyList"]["SerialNumber"], mac.as_str());
    // HTTPS on 443 (the ambient capability) with the certificate made at first start.
    let secure = curl_in(
        ns.command("curl"),
        Auth::Anonymous,
        &[
            "--cacert",
            "/var/lib/netamp/certs/https.crt",
            "-d",
            r#"{"apiVersion":"1.0","method":"systemready"}"#,
            "https://127.0.0.1/axis-cgi/systemready.cgi",
        ],
    );
    assert_eq!(secure.status, 200, "{}", secure.text());
    // The ambient capability: RTSP got its privileged port.
    let rtsp = curl_in(
        ns.command("curl"),
        Auth::Anonymous,
        &["-X", "OPTIONS", "rtsp://127.0.0.1:554/"],
    );
    assert_eq!(rtsp.status, 200, "RTSP on 554: {}", rtsp.headers);
    let found = browse(
        &ns,
        "10.95.0.1",
        3,
        &["_http._tcp.local.", "_https._tcp.local."],
    );
    assert!(found.iter().any(|s| s["port"] == 8080), "{found:?}");
    assert!(
        found
            .iter()
            .any(|s| s["type"] == "_https._tcp.local." && s["port"] == 443),
        "{found:?}"
    );

    terminate(&mut service);
    let mut buf = [0u8; 512];
    let mut stopping = false;
    while let Ok(n) = notify.recv(&mut buf) {
        stopping |= String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1");
    }
    assert!(stopping, "no STOPPING=1");
    let log = service
        .wait_with_output()
        .map(|o| o.stderr)
        .unwrap_or_default();
    let log = String::from_utf8_lossy(&log);
    assert!(
        !log.contains('\u{1b}') && !log.contains("ALSA lib"),
        "{log}"
    );

    // Remove: the binary goes, configuration and state stay (Debian policy); purge: all.
    run(Command::new("dpkg").args(["-r", "netamp"]));
    assert!(!Path::new("/usr/bin/netamp").exists());
    assert!(Path::new("/etc/netamp/netamp.toml").exists());
    assert!(Path::new("/var/lib/netamp/users.json").exists());
    run(Command::new("dpkg").args(["-P", "netamp"]));
    assert!(!Path::new("/etc/netamp").exists());
    assert!(!Path::new("/var/lib/netamp").exists());
    assert!(!dpkg_status().contains("installed"));
}
