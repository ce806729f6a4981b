//! The system log, the access log and the server report: the Axis line format, the
//! `text=` filter, no query string in the access log, no secret in the report.

use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN, MAC};
use netamp_tests::http::{curl, Auth};
use netamp_tests::rules::add;
use netamp_tests::run;
use serde_json::json;

const SIP_SECRET: &str = "sip-secret-77";
const RECIPIENT_SECRET: &str = "rcp-secret-88";
const USER_SECRET: &str = "user-secret-99";

/// `<RFC 3339 with ms and offset> axis-<mac> [ LEVEL   ] <process>[<pid>]: <text>`.
fn axis_line(line: &str) -> bool {
    let mut parts = line.splitn(3, ' ');
    let (Some(time), Some(host), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    chrono::DateTime::parse_from_rfc3339(time).is_ok()
        && time
            .split('.')
            .nth(1)
            .is_some_and(|f| f.len() == 9 || f.len() == 10)
        && host == format!("axis-{}", MAC.to_ascii_lowercase())
        && [
            "[ INFO    ] ",
            "[ WARNING ] ",
            "[ ERR     ] ",
            "[ DEBUG   ] ",
        ]
        .iter()
        .any(|t| rest.starts_with(t))
}

#[test]
fn logs_read_as_axis_logs_and_the_server_report_holds_no_secret() {
    let d = Daemon::with(DaemonOptions {
        config: format!(
            "[[sip.accounts]]\nid = \"sip_account_1\"\nuser = \"6001\"\npassword = \"{SIP_SECRET}\"\nregistrar = \"127.0.0.1:9\"\n"
        ),
        ..Default::default()
    });
    let admin = Auth::Digest(ADMIN.0, ADMIN.1);
    add(
        &d,
        "/api/v1/recipients",
        json!({"name": "vms", "template": "com.axis.recipient.http",
               "parameters": {"upload_url": "http://127.0.0.1:9/x", "login": "u",
                              "password": RECIPIENT_SECRET}}),
    );
    let user = d.url(&format!(
        "/axis-cgi/pwdgrp.cgi?action=add&user=desk&pwd={USER_SECRET}&grp=users&sgrp=viewer"
    ));
    assert_eq!(curl(admin, &[&user]).status, 200);
    assert_eq!(
        curl(
            Auth::Basic("desk", "wrong"),
            &[&d.url("/axis-cgi/stopclip.cgi")]
        )
        .status,
        401
    );

    let system = curl(admin, &[&d.url("/axis-cgi/systemlog.cgi")]);
    assert_eq!(system.status, 200);
    assert!(system
        .headers
        .to_ascii_lowercase()
        .contains("content-type: text/plain"));
    let text = system.text();
    assert!(text.starts_with("\n----- System log -----\n\n\n"), "{text}");
    let lines: Vec<&str> = text.lines().skip(4).collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| axis_line(l)), "{text}");
    assert!(
        text.contains("audio running"),
        "info records are kept: {text}"
    );
    // text= keeps only matching lines; anything but letters and digits is refused.
    let only = curl(admin, &[&d.url("/axis-cgi/systemlog.cgi?text=AUDIO")]).text();
    assert!(only
        .lines()
        .skip(4)
        .all(|l| l.to_ascii_lowercase().contains("audio")));
    assert!(only.lines().count() > 4);
    assert_eq!(
        curl(admin, &[&d.url("/axis-cgi/systemlog.cgi?text=a%20b")]).status,
        400
    );
    // Viewers may not read it.
    assert_eq!(
        curl(
            Auth::Digest("desk", USER_SECRET),
            &[&d.url("/axis-cgi/systemlog.cgi")]
        )
        .status,
        401
    );

    let access = curl(admin, &[&d.url("/axis-cgi/accesslog.cgi")]).text();
    assert!(access.starts_with("\n----- Access log -----\n\n\n"));
    assert!(access.lines().skip(4).all(axis_line), "{access}");
    assert!(
        access.contains("root \"GET /axis-cgi/systemlog.cgi\" 200"),
        "{access}"
    );
    assert!(
        access.contains("desk \"GET /axis-cgi/stopclip.cgi\" 401"),
        "{access}"
    );
    assert!(
        !access.contains(USER_SECRET),
        "a query string reached the access log"
    );
    // The system log is in the state directory too.
    let file = std::fs::read_to_string(d.data().join("logs/system.log")).expect("log file");
    assert!(file.contains("audio running"));

    let report = curl(admin, &[&d.url("/axis-cgi/serverreport.cgi")]);
    assert_eq!(report.status, 200);
    let report = report.text();
    for want in [
        MAC,
        env!("CARGO_PKG_VERSION"),
        "----- System log -----",
        "recipient 1: \"vms\"",
    ] {
        assert!(report.contains(want), "{want} missing");
    }
    let digests = std::fs::read_to_string(d.data().join("users.json")).expect("users");
    let digests: serde_json::Value = serde_json::from_str(&digests).expect("json");
    let mut secrets = vec![
        SIP_SECRET.to_string(),
        RECIPIENT_SECRET.into(),
        USER_SECRET.into(),
    ];
    for a in digests.as_array().expect("accounts") {
        secrets.push(a["ha1_md5"].as_str().expect("md5").into());
        secrets.push(a["ha1_sha256"].as_str().expect("sha").into());
    }
    for s in &secrets {
        assert!(
            !report.contains(s.as_str()),
            "the server report holds a secret"
        );
    }
    assert!(
        report.contains("password = \"*****\""),
        "the masked SIP password line"
    );

    // The same as a zip and as debug.tgz, with the system log file beside it.
    let zip = curl(admin, &[&d.url("/axis-cgi/serverreport.cgi?mode=zip")]);
    assert_eq!(zip.status, 200);
    let tgz = curl(admin, &[&d.url("/axis-cgi/debug/debug.tgz")]);
    assert_eq!(tgz.status, 200);
    let dir = tempfile::tempdir().expect("tmp");
    let (zip_file, tgz_file) = (dir.path().join("r.zip"), dir.path().join("d.tgz"));
    std::fs::write(&zip_file, &zip.body).expect("zip");
    std::fs::write(&tgz_file, &tgz.body).expect("tgz");
    let unzipped = run(std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.namelist()); \
             sys.stdout.write(z.read('serverreport.txt').decode())",
        ])
        .arg(&zip_file));
    let unzipped = String::from_utf8_lossy(&unzipped);
    assert!(unzipped.contains("'logs/system.log'"));
    assert!(unzipped.contains(MAC));
    let tar = run(std::process::Command::new("tar").arg("-tzf").arg(&tgz_file));
    let tar = String::from_utf8_lossy(&tar);
    assert!(
        tar.contains("debug/serverreport.txt") && tar.contains("debug/logs/system.log"),
        "{tar}"
    );
    for s in &secrets {
        assert!(
            !unzipped.contains(s.as_str()),
            "the zipped report holds a secret"
        );
    }
}

/// An RFC 5424 line from this device: `<PRI>1 TIMESTAMP axis-<mac> netamp PID - - MSG`.
fn rfc5424(message: &str, pri: u8) -> Option<String> {
    let rest = message.strip_prefix(&format!("<{pri}>1 "))?;
    let (time, rest) = rest.split_once(' ')?;
    chrono::DateTime::parse_from_rfc3339(time).ok()?;
    let host = format!("axis-{}", MAC.to_ascii_lowercase());
    let rest = rest.strip_prefix(&format!("{host} netamp "))?;
    let (pid, rest) = rest.split_once(' ')?;
    pid.parse::<u32>().ok()?;
    rest.strip_prefix("- - ").map(str::to_string)
}

#[test]
fn remote_syslog_sends_rfc5424_lines_over_udp_and_tls_from_the_chosen_severity() {
    use netamp_tests::peers::{ca_signed, syslog_receiver};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = ca_signed(dir.path());
    let receiver = syslog_receiver(&cert, &key);
    let (udp, tls) = (receiver.hello["udp"].clone(), receiver.hello["tls"].clone());
    let ca = std::fs::read_to_string(ca).expect("ca");
    let d = Daemon::with(DaemonOptions::default());
    let admin = Auth::Digest(ADMIN.0, ADMIN.1);
    let put = |servers: serde_json::Value| {
        let r = curl(
            admin,
            &[
                "-X",
                "PUT",
                "-d",
                &json!({ "servers": servers }).to_string(),
                &d.url("/api/v1/syslog"),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    // Waits for a message via `via` whose text contains `needle`.
    let expect = |via: &str, needle: &str| -> String {
        let until = Instant::now() + Duration::from_secs(10);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Some(m) = receiver.next(left) else { break };
            let text = m["message"].as_str().unwrap_or("").to_string();
            assert_ne!(m["via"], "tls-bad-frame", "{text}");
            if m["via"] == via && text.contains(needle) {
                return text;
            }
        }
        panic!("no {via} message with {needle:?} within 10 s");
    };
    put(json!([
        {"host": "127.0.0.1", "port": udp, "protocol": "udp"},
        {"host": "127.0.0.1", "port": tls, "protocol": "tls", "ca": ca},
    ]));
    // The PUT logs at info (user facility: 1 * 8 + 6).
    for via in ["udp", "tls"] {
        let m = expect(via, "remote syslog: 2 server(s) set");
        assert!(rfc5424(&m, 14).is_some(), "{m}");
    }
    // The test message (notice) reaches both.
    let r = curl(admin, &["-X", "POST", &d.url("/api/v1/syslog/test")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let results = r.json()["results"].clone();
    assert_eq!(results[0]["ok"], true, "{results}");
    assert_eq!(results[1]["ok"], true, "{results}");
    for via in ["udp", "tls"] {
        let m = expect(via, "remote syslog test message");
        assert!(rfc5424(&m, 13).is_some(), "{m}");
    }
    // Errors only to UDP from now on; TLS still gets info.
    put(json!([
        {"host": "127.0.0.1", "port": tls, "protocol": "tls", "ca": ca},
        {"host": "127.0.0.1", "port": udp, "protocol": "udp", "severity": "err"},
    ]));
    // Everything that arrives until 800 ms after TLS got the PUT's line: nothing by UDP.
    let mut seen = Vec::new();
    let mut tls_at: Option<Instant> = None;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until && tls_at.is_none_or(|t| t.elapsed() < Duration::from_millis(800))
    {
        if let Some(m) = receiver.next(Duration::from_millis(100)) {
            let text = m["message"].as_str().unwrap_or("");
            if m["via"] == "tls" && text.contains("remote syslog: 2 server(s) set") {
                tls_at = Some(Instant::now());
            }
            seen.push(m);
        }
    }
    assert!(tls_at.is_some(), "TLS did not get the line: {seen:?}");
    assert!(
        seen.iter().all(|m| m["via"] != "udp"),
        "an info line went to the err-only server: {seen:?}"
    );
    // A server whose certificate cannot be verified (no CA given, not in the system's
    // roots) fails the test with the reason; an unverified one passes.
    let r = curl(
        admin,
        &[
            "-d",
            &json!({"host": "127.0.0.1", "port": tls, "protocol": "tls"}).to_string(),
            &d.url("/api/v1/syslog/test"),
        ],
    );
    let result = r.json()["results"][0].clone();
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap_or("")
            .contains("certificate"),
        "{result}"
    );
    let r = curl(
        admin,
        &[
            "-d",
            &json!({"host": "127.0.0.1", "port": tls, "protocol": "tls", "verify": false})
                .to_string(),
            &d.url("/api/v1/syslog/test"),
        ],
    );
    assert_eq!(r.json()["results"][0]["ok"], true, "{}", r.text());
    // Settings survive a restart; bad ones are refused and change nothing.
    let bad = curl(
        admin,
        &[
            "-X",
            "PUT",
            "-d",
            r#"{"servers":[{"host":"x y"}]}"#,
            &d.url("/api/v1/syslog"),
        ],
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    let got = curl(admin, &[&d.url("/api/v1/syslog")]).json();
    assert_eq!(got["servers"][1]["severity"], "err", "{got}");
    assert!(
        got["status"]["servers"][0]["sent"].as_u64().unwrap_or(0) >= 1,
        "{got}"
    );
}
