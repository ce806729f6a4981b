//! Authentication and accounts: the role matrix, first-admin creation, Basic, persistence.

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions, MAC};
use netamp_tests::flows::{admin, upload, upload_ok};
use netamp_tests::http::{curl, Auth};
use sha2::Digest as _;

fn add_user(d: &Daemon, user: &str, sgrp: &str) {
    let r = curl(
        admin(),
        &[&d.url(&format!(
            "/axis-cgi/pwdgrp.cgi?action=add&user={user}&pwd={user}pw&grp=users&sgrp={sgrp}"
        ))],
    );
    assert_eq!(r.text(), format!("Created account {user}.\n"));
}

#[test]
fn role_matrix() {
    let d = Daemon::start();
    add_user(&d, "viewer", "viewer");
    add_user(&d, "oper", "viewer:operator");
    let viewer = Auth::Digest("viewer", "viewerpw");
    let oper = Auth::Digest("oper", "operpw");
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 16000, 1, 0.2);

    // Anonymous: 401 with the Digest challenge in the realm AXIS_<MAC>.
    let r = curl(Auth::Anonymous, &[&d.url("/axis-cgi/playclip.cgi?clip=0")]);
    assert_eq!(r.status, 401);
    assert!(
        r.headers.contains(&format!("Digest realm=\"AXIS_{MAC}\"")),
        "{}",
        r.headers
    );
    assert!(r.headers.contains("qop=\"auth\""));
    assert!(r
        .headers
        .to_ascii_lowercase()
        .contains("content-type: text/html; charset=iso-8859-1"));

    // Operator may upload; viewer may not upload or remove, but may play and stop.
    assert_eq!(upload(&d, &clip, viewer).status, 401);
    let id = upload_ok(&d, &clip);
    let r = upload(&d, &clip, oper);
    assert_eq!(r.status, 200, "operator upload: {}", r.text());
    assert_eq!(
        curl(
            viewer,
            &[&d.url(&format!("/axis-cgi/playclip.cgi?clip={id}"))]
        )
        .status,
        200
    );
    assert_eq!(
        curl(viewer, &[&d.url("/axis-cgi/stopclip.cgi")]).text(),
        "OK\nstopping\n"
    );
    assert_eq!(
        curl(
            viewer,
            &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=remove&clip={id}"))]
        )
        .status,
        401
    );
    assert_eq!(
        curl(
            viewer,
            &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"))]
        )
        .status,
        401
    );
    assert_eq!(
        curl(
            oper,
            &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"))]
        )
        .status,
        200
    );

    // Only an admin manages users.
    let add = d.url("/axis-cgi/pwdgrp.cgi?action=add&user=eve&pwd=x&grp=users&sgrp=viewer");
    assert_eq!(curl(oper, &[&add]).status, 401);
    assert_eq!(curl(admin(), &[&add]).text(), "Created account eve.\n");
    let r = curl(admin(), &[&d.url("/axis-cgi/pwdgrp.cgi?action=get")]);
    assert_eq!(
        r.text(),
        "admin=\"root\"\r\noperator=\"root,oper\"\r\nviewer=\"root,viewer,oper,eve\"\r\nptz=\"root\"\r\ndigusers=\"root,viewer,oper,eve\"\r\n"
    );
    assert_eq!(
        curl(
            admin(),
            &[&d.url("/axis-cgi/pwdgrp.cgi?action=update&user=eve&pwd=y")]
        )
        .text(),
        "Modified account eve.\n"
    );
    assert_eq!(
        curl(
            Auth::Digest("eve", "y"),
            &[&d.url("/axis-cgi/usergroup.cgi")]
        )
        .text(),
        "eve\nviewer\n"
    );
    assert_eq!(
        curl(
            admin(),
            &[&d.url("/axis-cgi/pwdgrp.cgi?action=remove&user=eve")]
        )
        .text(),
        "Removed account eve.\n"
    );
    // Root is never removed nor demoted, as the manual says (another administrator or not).
    assert_eq!(
        curl(
            admin(),
            &[&d.url("/axis-cgi/pwdgrp.cgi?action=remove&user=root")]
        )
        .text(),
        "Error: the root account cannot be removed or demoted, consult the system log file.\n"
    );
    assert!(curl(
        admin(),
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=update&user=root&sgrp=viewer")]
    )
    .text()
    .starts_with("Error: the root account"));
    assert!(curl(
        admin(),
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=bad%20name&pwd=x&sgrp=viewer")]
    )
    .text()
    .starts_with("Error:"));
    assert_eq!(
        curl(admin(), &[&d.url("/axis-cgi/usergroup.cgi")]).text(),
        "root\nroot admin operator viewer ptz\n"
    );

    // Basic, pre-emptive, works everywhere; a wrong password does not.
    assert_eq!(
        curl(
            Auth::Basic("oper", "operpw"),
            &[&d.url("/axis-cgi/param.cgi?action=list&group=Brand.Brand")]
        )
        .text(),
        "Brand.Brand=netamp\n"
    );
    assert_eq!(
        curl(
            Auth::Basic("oper", "nope"),
            &[&d.url("/axis-cgi/param.cgi?action=list")]
        )
        .status,
        401
    );
    // SHA-256 Digest, answered by hand to the second challenge (curl picks MD5).
    let r = curl(Auth::Anonymous, &[&d.url("/api/v1/status")]);
    let sha = r
        .headers
        .lines()
        .find(|l| l.contains("algorithm=SHA-256"))
        .expect("SHA-256 challenge")
        .to_string();
    let nonce = sha
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce");
    let h = |s: String| -> String {
        sha2::Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let ha1 = h(format!("root:AXIS_{MAC}:pass"));
    let ha2 = h("GET:/api/v1/status".to_string());
    let resp = h(format!("{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}"));
    let hdr = format!("Authorization: Digest username=\"root\", realm=\"AXIS_{MAC}\", nonce=\"{nonce}\", uri=\"/api/v1/status\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{resp}\"");
    assert_eq!(
        curl(Auth::Anonymous, &["-H", &hdr, &d.url("/api/v1/status")]).status,
        200
    );
    // The same answer again is a replay: refused, with stale=true so a real client asks
    // for a fresh nonce; the next count on the same nonce is fine.
    let replay = curl(Auth::Anonymous, &["-H", &hdr, &d.url("/api/v1/status")]);
    assert_eq!(replay.status, 401);
    assert!(replay.headers.contains("stale=true"), "{}", replay.headers);
    let resp2 = h(format!("{ha1}:{nonce}:00000002:0a4f113b:auth:{ha2}"));
    let hdr2 = hdr
        .replace("nc=00000001", "nc=00000002")
        .replace(&resp, &resp2);
    assert_eq!(
        curl(Auth::Anonymous, &["-H", &hdr2, &d.url("/api/v1/status")]).status,
        200
    );

    // Anonymous endpoints.
    let r = curl(
        Auth::Anonymous,
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"apiVersion":"1.0","context":"c","method":"getApiList"}"#,
            &d.url("/axis-cgi/apidiscovery.cgi"),
        ],
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["context"], "c");
    let ids: Vec<&str> = v["data"]["apiList"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "api-discovery",
            "audio-device-control",
            "audio-mixer",
            "audio-streaming-capabilities",
            "basic-device-info",
            "event-streaming-over-websocket",
            "io-port-management",
            "mediaclip",
            "param-cgi",
            "user-management"
        ]
    );
    let r = curl(
        Auth::Anonymous,
        &[
            "-d",
            r#"{"apiVersion":"1.1","method":"getAllUnrestrictedProperties"}"#,
            &d.url("/axis-cgi/basicdeviceinfo.cgi"),
        ],
    );
    assert_eq!(r.json()["data"]["propertyList"]["SerialNumber"], MAC);
    let r = curl(
        Auth::Anonymous,
        &[
            "-d",
            r#"{"apiVersion":"1.1","method":"getAllProperties"}"#,
            &d.url("/axis-cgi/basicdeviceinfo.cgi"),
        ],
    );
    assert_eq!(r.status, 401);
    let r = curl(
        admin(),
        &["-d", "{nope", &d.url("/axis-cgi/basicdeviceinfo.cgi")],
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_u64()),
        (200, Some(4000))
    );
    let r = curl(
        admin(),
        &[
            "-d",
            r#"{"apiVersion":"1.1","context":"x","method":"dance"}"#,
            &d.url("/axis-cgi/basicdeviceinfo.cgi"),
        ],
    );
    assert_eq!(r.json()["error"]["code"].as_u64(), Some(2004));
    assert_eq!(r.json()["context"], "x");
}

#[test]
fn first_admin_only_while_no_account_exists_and_state_survives_restart() {
    let mut d = Daemon::with(DaemonOptions {
        no_admin: true,
        ..Default::default()
    });
    let r = curl(
        Auth::Anonymous,
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=get")],
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "Error: initial admin user must be created first.\n")
    );
    let r = curl(
        Auth::Anonymous,
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=joe&pwd=x&grp=users&sgrp=viewer")],
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "Error: not a valid initial admin user.\n")
    );
    let r = curl(Auth::Anonymous, &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=root&pwd=pass&grp=root&sgrp=admin:operator:viewer:ptz")]);
    assert_eq!(r.text(), "Created account root.\n");
    let r = curl(
        Auth::Anonymous,
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=eve&pwd=x&grp=users&sgrp=admin")],
    );
    assert_eq!(r.status, 401, "a second anonymous admin was accepted");
    let clip = make_clip(d.dir.path(), Format::Flac, 44100, 2, 0.3);
    let id = upload_ok(&d, &clip);
    let users = std::fs::read_to_string(d.data().join("users.json")).expect("users");
    assert!(!users.contains("\"pass\""), "password stored in clear");

    let data = d.data().to_path_buf();
    d.stop();
    let d2 = Daemon::with(DaemonOptions {
        no_admin: true,
        data_dir: Some(data),
        ..Default::default()
    });
    let r = curl(
        admin(),
        &[&d2.url("/axis-cgi/param.cgi?action=list&group=MediaClip")],
    );
    assert!(
        r.text().contains(&format!("root.MediaClip.M{id}.Name=")),
        "{}",
        r.text()
    );
    let r = curl(
        admin(),
        &[&d2.url(&format!("/axis-cgi/playclip.cgi?clip={id}"))],
    );
    assert_eq!(r.text(), format!("OK\nplaying={id}\n"));
}

/// A GET with Basic credentials on a connection of its own, as fast as a script would
/// send them (curl's start-up would stretch twenty tries past a second on a busy
/// machine); the status.
fn basic_get(d: &Daemon, path: &str, user: &str, pwd: &str) -> u16 {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&d.addr).expect("connect");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pwd}"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("status line");
    String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0)
}

#[test]
fn repeated_failures_block_the_address() {
    // Device level: the 21st failure within a second is refused, and then everything.
    let d = Daemon::with(DaemonOptions {
        config: "[auth]\nmax_failures_per_s_page = 100\nmax_failures_per_s_device = 20\n".into(),
        ..Default::default()
    });
    let statuses: Vec<u16> = (0..21)
        .map(|i| {
            let page = if i % 2 == 0 {
                "/axis-cgi/usergroup.cgi"
            } else {
                "/api/v1/status"
            };
            basic_get(&d, page, "root", "wrong")
        })
        .collect();
    assert_eq!(&statuses[..20], &[401; 20]);
    assert_eq!(statuses[20], 429);
    assert_eq!(
        basic_get(&d, "/axis-cgi/usergroup.cgi", "root", "pass"),
        429
    );
    // The anonymous API list evaluates a JSON body; a blocked address must not
    // get even that far.
    let discovery = curl(
        Auth::Anonymous,
        &[
            "-X",
            "POST",
            "--data",
            r#"{"apiVersion":"1.0","method":"getApiList"}"#,
            &d.url("/axis-cgi/apidiscovery.cgi"),
        ],
    );
    assert_eq!(discovery.status, 429);

    // Page level: one CGI only.
    let d = Daemon::with(DaemonOptions {
        config: "[auth]\nmax_failures_per_s_page = 5\nmax_failures_per_s_device = 100\n".into(),
        ..Default::default()
    });
    let statuses: Vec<u16> = (0..6)
        .map(|_| basic_get(&d, "/axis-cgi/usergroup.cgi", "root", "wrong"))
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    assert_eq!(basic_get(&d, "/axis-cgi/param.cgi", "root", "pass"), 200);
    assert_eq!(
        basic_get(&d, "/axis-cgi/usergroup.cgi", "root", "pass"),
        429
    );

    // Blocking off: as many failures as anyone likes, and the right password still works.
    let d = Daemon::with(DaemonOptions {
        config: "[auth]\nblocking = false\nmax_failures_per_s_device = 2\n".into(),
        ..Default::default()
    });
    for _ in 0..10 {
        assert_eq!(
            basic_get(&d, "/axis-cgi/usergroup.cgi", "root", "wrong"),
            401
        );
    }
    assert_eq!(
        basic_get(&d, "/axis-cgi/usergroup.cgi", "root", "pass"),
        200
    );
}

#[test]
fn anonymous_viewing_lets_anyone_do_what_a_viewer_may_and_nothing_more() {
    let d = Daemon::with(DaemonOptions {
        config: "[auth]\nanonymous_viewing = true\n".into(),
        ..Default::default()
    });
    let file = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 0.2);
    let clip = upload_ok(&d, &file);
    let anon = |path: &str| curl(Auth::Anonymous, &[&d.url(path)]).status;
    // Viewer rights without credentials: play and stop a clip, read ports and status.
    assert_eq!(anon(&format!("/axis-cgi/playclip.cgi?clip={clip}")), 200);
    assert_eq!(anon("/axis-cgi/stopclip.cgi"), 200);
    assert_eq!(anon("/axis-cgi/io/port.cgi?checkactive=1"), 200);
    assert_eq!(anon("/api/v1/status"), 200);
    // Nothing an operator or administrator may.
    assert_eq!(anon("/axis-cgi/io/port.cgi?action=4:/"), 401);
    assert_eq!(
        anon(&format!(
            "/axis-cgi/mediaclip.cgi?action=remove&clip={clip}"
        )),
        401
    );
    assert_eq!(anon("/axis-cgi/pwdgrp.cgi?action=get"), 401);
    // The status's security overview says so, and names the account with a password
    // anybody would try ("pass").
    let security = curl(Auth::Anonymous, &[&d.url("/api/v1/status")]).json()["security"].clone();
    assert_eq!(security["anonymous_viewing"], true);
    assert_eq!(security["brute_force_blocking"], true);
    assert_eq!(security["https"], false);
    assert_eq!(
        security["default_password_accounts"],
        serde_json::json!(["root"])
    );
    // Off by default.
    let closed = Daemon::start();
    assert_eq!(
        curl(Auth::Anonymous, &[&closed.url("/axis-cgi/stopclip.cgi")]).status,
        401
    );
}
