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
