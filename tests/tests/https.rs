//! HTTPS: the self-signed certificate made at first start, the same routes with Digest,
//! TLS 1.0 and 1.1 refused, a certificate replaced live, Home Assistant's `axis` library
//! over HTTPS.

use std::process::{Command, Stdio};

use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN, MAC};
use netamp_tests::http::{curl, Auth};
use netamp_tests::peers::self_signed;
use netamp_tests::{ha_python, require_tool, run, workspace_root};

fn https_daemon() -> Daemon {
    Daemon::with(DaemonOptions {
        https: Some("127.0.0.1:0".into()),
        ..Default::default()
    })
}

/// The certificate the server presents now, PEM (openssl s_client).
fn presented(addr: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-showcerts"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = text.find("-----END CERTIFICATE-----").expect("its end") + 25;
    text[begin..end].to_string()
}

/// Whether a handshake with only this TLS version succeeds.
fn handshake(addr: &str, version: &str) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, version])
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !text.contains("Cipher is (NONE)")
}

#[test]
fn https_serves_the_same_api_with_a_verifiable_certificate_and_only_tls_1_2_and_1_3() {
    require_tool("openssl");
    let d = https_daemon();
    assert!(!d.https.is_empty(), "no HTTPS line");
    let ca = d.data().join("certs/https.crt");
    let info = format!("https://{}/axis-cgi/basicdeviceinfo.cgi", d.https);
    let body = r#"{"apiVersion":"1.1","method":"getAllProperties"}"#;
    // curl checks the chain and the name (127.0.0.1 is among the certificate's names).
    let r = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &["--cacert", ca.to_str().expect("path"), "-d", body, &info],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["propertyList"]["SerialNumber"], MAC);
    // Without the CA curl refuses the self-signed certificate (status 0: no exchange).
    assert_eq!(
        curl(Auth::Digest(ADMIN.0, ADMIN.1), &["-d", body, &info]).status,
        0
    );

    assert!(handshake(&d.https, "-tls1_2"));
    assert!(handshake(&d.https, "-tls1_3"));
    // openssl may not even offer the old versions (its security level): then the client
    // refuses by itself; either way no TLS 1.0/1.1 session comes about.
    assert!(!handshake(&d.https, "-tls1_1"));
    assert!(!handshake(&d.https, "-tls1"));

    // The key stays private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.data().join("certs/https.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &[&d.url("/api/v1/https/certificate")],
    );
    assert_eq!(pem.status, 200);
    assert!(pem.text().contains("BEGIN CERTIFICATE") && !pem.text().contains("PRIVATE KEY"));
}

#[test]
fn an_uploaded_certificate_is_presented_at_the_next_https_and_sip_handshake_and_a_bad_one_changes_nothing(
) {
    require_tool("openssl");
    // SIP over TLS too: it presents the same certificate, replaced the same way.
    let d = Daemon::with(DaemonOptions {
        https: Some("127.0.0.1:0".into()),
        sip_tls: Some("127.0.0.1:0".into()),
        ..Default::default()
    });
    let before = presented(&d.https);
    assert_eq!(presented(&d.sip_tls), before);
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = self_signed(dir.path());
    let cert = std::fs::read_to_string(cert).expect("cert");
    let key = std::fs::read_to_string(key).expect("key");
    let put = |body: &serde_json::Value, auth| {
        curl(
            auth,
            &[
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/json",
                "-d",
                &body.to_string(),
                &d.url("/api/v1/https/certificate"),
            ],
        )
    };
    // A key that is not the certificate's: refused, nothing changes.
    let other = tempfile::tempdir().expect("tmp");
    let (_, wrong_key) = self_signed(other.path());
    let wrong = put(
        &serde_json::json!({"certificate": cert, "key": std::fs::read_to_string(wrong_key).expect("key")}),
        Auth::Digest(ADMIN.0, ADMIN.1),
    );
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(presented(&d.https), before);
    // An operator may not.
    let op = d.url("/axis-cgi/pwdgrp.cgi?action=add&user=op&pwd=op&grp=users&sgrp=operator:viewer");
    assert_eq!(curl(Auth::Digest(ADMIN.0, ADMIN.1), &[&op]).status, 200);
    let refused = put(
        &serde_json::json!({"certificate": cert, "key": key}),
        Auth::Digest("op", "op"),
    );
    // As VAPIX answers a role that is too low: a new challenge.
    assert_eq!(refused.status, 401);

    let ok = put(
        &serde_json::json!({"certificate": cert, "key": key}),
        Auth::Digest(ADMIN.0, ADMIN.1),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    // No restart: the next handshake presents the new certificate, which now verifies.
    let now = presented(&d.https);
    assert_ne!(now, before);
    assert_eq!(now.trim(), cert.trim());
    assert_eq!(presented(&d.sip_tls).trim(), cert.trim());
    let ca = dir.path().join("cert.pem");
    let r = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &[
            "--cacert",
            ca.to_str().expect("path"),
            &format!(
                "https://{}/axis-cgi/param.cgi?action=list&group=Brand",
                d.https
            ),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        std::fs::read_to_string(d.data().join("certs/https.crt"))
            .expect("crt")
            .trim(),
        cert.trim()
    );
}

#[test]
fn home_assistant_sets_up_over_https_without_verifying_the_certificate() {
    let d = https_daemon();
    let (host, port) = d.https.rsplit_once(':').expect("addr");
    let out = run(Command::new(ha_python())
        .arg(workspace_root().join("tests/ha/ha_setup.py"))
        .args([host, port, ADMIN.0, ADMIN.1, MAC, "https"]));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out).trim()).expect("json line");
    assert_eq!(v["serial"], MAC);
}

#[test]
fn https_only_redirects_plain_http_but_for_the_paths_cameras_call() {
    let d = Daemon::with(DaemonOptions {
        https: Some("127.0.0.1:0".into()),
        config: "[http]\naccess = \"https\"\n".into(),
        ..Default::default()
    });
    let port = d.https.rsplit(':').next().expect("port");
    // Plain HTTP to the API: 301 to the same path and query over HTTPS, before any
    // credentials are asked for.
    let r = curl(
        Auth::Anonymous,
        &[&d.url("/axis-cgi/param.cgi?action=list&group=Brand")],
    );
    assert_eq!(r.status, 301);
    let location = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("location")
        .trim()
        .to_string();
    assert_eq!(
        location,
        format!("https://127.0.0.1:{port}/axis-cgi/param.cgi?action=list&group=Brand")
    );
    // Followed, it works (curl sends credentials to the other port when trusted to).
    let ca = d.data().join("certs/https.crt");
    let followed = curl(
        Auth::Digest(ADMIN.0, ADMIN.1),
        &[
            "--location-trusted",
            "--cacert",
            ca.to_str().expect("path"),
            &d.url("/axis-cgi/param.cgi?action=list&group=Brand"),
        ],
    );
    assert_eq!(followed.status, 200);
    // A camera's HTTP recipient still plays a clip over plain HTTP.
    assert_eq!(
        curl(
            Auth::Digest(ADMIN.0, ADMIN.1),
            &[&d.url("/axis-cgi/stopclip.cgi")]
        )
        .status,
        200
    );
    // "both" (the default) serves plain HTTP.
    let both = https_daemon();
    assert_eq!(
        curl(
            Auth::Digest(ADMIN.0, ADMIN.1),
            &[&both.url("/axis-cgi/param.cgi?action=list&group=Brand")]
        )
        .status,
        200
    );
}

#[test]
fn an_uploaded_pkcs12_archive_replaces_the_certificate_and_a_wrong_password_changes_nothing() {
    require_tool("openssl");
    let d = https_daemon();
    let before = presented(&d.https);
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = self_signed(dir.path());
    let pfx = dir.path().join("server.pfx");
    // OpenSSL 3's defaults: PBES2 with AES-256 and PBKDF2.
    run(Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:pfx-pass", "-in"])
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .arg("-out")
        .arg(&pfx));
    let archive = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&pfx).expect("pfx"))
    };
    let put = |password: &str| {
        curl(
            Auth::Digest(ADMIN.0, ADMIN.1),
            &[
                "-X",
                "PUT",
                "-d",
                &serde_json::json!({"pkcs12": archive, "password": password}).to_string(),
                &d.url("/api/v1/https/certificate"),
            ],
        )
    };
    let wrong = put("not-it");
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(presented(&d.https), before);
    let ok = put("pfx-pass");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cert = std::fs::read_to_string(&cert).expect("cert");
    assert_eq!(presented(&d.https).trim(), cert.trim());
}
