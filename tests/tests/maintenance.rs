//! Maintenance: `restart.cgi` brings the daemon back in place (same process, same ports)
//! with its state; `factorydefault.cgi` keeps accounts and certificates and resets the
//! rest; `hardfactorydefault.cgi` keeps nothing.

use std::time::{Duration, Instant};

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN};
use netamp_tests::flows::{admin, system_ready, upload_ok};
use netamp_tests::http::{curl, Auth};
use netamp_tests::peers::free_port;
use netamp_tests::rules::{call, on_input, toggle};

/// Waits until the daemon answers with a boot id other than `before`.
fn back(d: &Daemon, before: &str) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        if let Some(v) = system_ready(d) {
            if v["bootid"] != before {
                return v;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "not back within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fixed_port_daemon(no_admin: bool, https: bool) -> Daemon {
    Daemon::with(DaemonOptions {
        http: Some(format!("127.0.0.1:{}", free_port())),
        https: https.then(|| format!("127.0.0.1:{}", free_port())),
        no_admin,
        ..Default::default()
    })
}

fn clips(d: &Daemon) -> String {
    curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=list&group=MediaClip")],
    )
    .text()
}

fn rule_count(d: &Daemon) -> usize {
    let (_, v) = call(d, "GET", "/api/v1/rules", None);
    v["rules"].as_object().map_or(0, |m| m.len())
}

#[test]
fn restart_comes_back_in_the_same_process_on_the_same_port_with_its_state() {
    let d = fixed_port_daemon(false, false);
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 0.3);
    upload_ok(&d, &clip);
    let add = d.url("/axis-cgi/pwdgrp.cgi?action=add&user=desk&pwd=pw&grp=users&sgrp=viewer");
    assert_eq!(curl(admin(), &[&add]).status, 200);
    let action = toggle(&d, 3, Some("1"));
    on_input(&d, 6, action);
    let rules = rule_count(&d);
    let pid = d.pid();
    let before = system_ready(&d).expect("ready")["bootid"]
        .as_str()
        .expect("bootid")
        .to_string();

    // Only an administrator may.
    assert_eq!(
        curl(
            Auth::Digest("desk", "pw"),
            &[&d.url("/axis-cgi/restart.cgi")]
        )
        .status,
        401
    );
    let r = curl(admin(), &[&d.url("/axis-cgi/restart.cgi")]);
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    assert!(r.text().contains("restartMessage"), "{}", r.text());
    back(&d, &before);
    assert_eq!(d.pid(), pid, "the same process runs again");
    assert!(clips(&d).contains("MediaClip.M0.Name"), "{}", clips(&d));
    assert_eq!(
        curl(
            Auth::Digest("desk", "pw"),
            &[&d.url("/axis-cgi/stopclip.cgi")]
        )
        .status,
        200
    );
    assert_eq!(rule_count(&d), rules);
}

#[test]
fn factory_default_keeps_accounts_and_certificates_and_hard_factory_default_keeps_nothing() {
    let d = fixed_port_daemon(true, true);
    // The first administrator, as a new device gets it.
    let first = d.url(&format!(
        "/axis-cgi/pwdgrp.cgi?action=add&user={}&pwd={}&grp=root&sgrp=admin:operator:viewer:ptz",
        ADMIN.0, ADMIN.1
    ));
    assert_eq!(curl(Auth::Anonymous, &[&first]).status, 200);
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 0.3);
    upload_ok(&d, &clip);
    let action = toggle(&d, 3, Some("1"));
    on_input(&d, 6, action);
    let cert = std::fs::read_to_string(d.data().join("certs/https.crt")).expect("cert");
    let fresh_rules = {
        let (_, v) = call(&d, "GET", "/api/v1/rules", None);
        v["rules"].as_object().map_or(0, |m| m.len()) - 1
    };

    let before = system_ready(&d).expect("ready")["bootid"]
        .as_str()
        .expect("id")
        .to_string();
    let r = curl(admin(), &[&d.url("/axis-cgi/factorydefault.cgi")]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("factoryMessage"), "{}", r.text());
    let now = back(&d, &before);
    assert_eq!(now["needsetup"], "no", "accounts are kept");
    assert!(!clips(&d).contains("MediaClip.M0.Name"), "clips are reset");
    assert_eq!(
        rule_count(&d),
        fresh_rules,
        "rules are back to the pre-configured ones"
    );
    assert_eq!(
        std::fs::read_to_string(d.data().join("certs/https.crt")).expect("cert"),
        cert,
        "the certificate is kept"
    );

    let before = now["bootid"].as_str().expect("id").to_string();
    let r = curl(admin(), &[&d.url("/axis-cgi/hardfactorydefault.cgi")]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("factoryMessage"));
    let now = back(&d, &before);
    assert_eq!(now["needsetup"], "yes", "no account is left");
    assert_ne!(
        std::fs::read_to_string(d.data().join("certs/https.crt")).expect("cert"),
        cert,
        "a new certificate"
    );
    // The first-administrator flow again.
    assert_eq!(curl(Auth::Anonymous, &[&first]).status, 200);
    assert_eq!(
        curl(admin(), &[&d.url("/axis-cgi/usergroup.cgi")]).status,
        200
    );
}
