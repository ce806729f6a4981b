//! HTTPS: the self-signed certificate made at first start, the same routes with Digest,
//! TLS 1.0 and 1.1 refused, a certificate replaced live, Home Assistant's `axis` library
//! over HTTPS.

use std::process::{Command, Stdio};

use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN, MAC};
use netamp_tests::http::{curl, Auth};
use netamp_tests::peers::{ca_signed, http_recorder, self_signed};
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

/// An administrator's JSON request: (status, body as JSON or null).
fn api(
    d: &Daemon,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = d.url(path);
    let body = body.map(|b| b.to_string());
    let mut args = vec!["-X", method, "-H", "Content-Type: application/json"];
    if let Some(b) = &body {
        args.extend(["-d", b.as_str()]);
    }
    args.push(&url);
    let r = curl(Auth::Digest(ADMIN.0, ADMIN.1), &args);
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or_default(),
    )
}

#[test]
fn the_certificate_store_signs_requests_switches_https_live_and_its_cas_are_trusted_by_recipients()
{
    require_tool("openssl");
    let d = https_daemon();
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, server_pem, server_key) = ca_signed(dir.path());

    // The self-signed certificate of the first start is the store's `default`, in use.
    let (status, list) = api(&d, "GET", "/api/v1/certificates", None);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["server"][0]["id"], "default", "{list}");
    assert_eq!(list["server"][0]["in_use"], true, "{list}");
    assert_eq!(list["ca"], serde_json::json!([]));

    // A signing request: the key stays in the device, an outside CA (openssl) signs.
    let (status, v) = api(
        &d,
        "POST",
        "/api/v1/certificates/server/amp1/csr",
        Some(
            serde_json::json!({"common_name": "amp1", "names": ["127.0.0.1", "localhost"], "organization": "Site"}),
        ),
    );
    assert_eq!(status, 200, "{v}");
    let csr = dir.path().join("amp1.csr");
    std::fs::write(&csr, v["csr"].as_str().expect("csr")).expect("write");
    let (_, pending) = api(&d, "GET", "/api/v1/certificates/server/amp1", None);
    assert_eq!(pending["state"], "pending", "{pending}");
    let signed = dir.path().join("amp1.pem");
    run(Command::new("openssl")
        .args([
            "x509",
            "-req",
            "-days",
            "1",
            "-copy_extensions",
            "copy",
            "-CAcreateserial",
        ])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(dir.path().join("ca.key"))
        .arg("-out")
        .arg(&signed)
        .stderr(Stdio::null()));
    let signed = std::fs::read_to_string(&signed).expect("signed");
    let (status, v) = api(
        &d,
        "PUT",
        "/api/v1/certificates/server/amp1",
        Some(serde_json::json!({"certificate": signed})),
    );
    assert_eq!(status, 200, "{v}");
    let (_, entry) = api(&d, "GET", "/api/v1/certificates/server/amp1", None);
    assert_eq!(
        (&entry["state"], &entry["in_use"]),
        (&serde_json::json!("ready"), &serde_json::json!(false)),
        "{entry}"
    );
    assert_eq!(
        entry["certificate"]["names"],
        serde_json::json!(["127.0.0.1", "localhost"])
    );
    assert!(!entry.to_string().contains("PRIVATE KEY"), "{entry}");

    // Picked: the next handshake presents it, and curl verifies it with the CA alone.
    let info = format!("https://{}/axis-cgi/basicdeviceinfo.cgi", d.https);
    let verified = |ca: &std::path::Path| {
        curl(
            Auth::Digest(ADMIN.0, ADMIN.1),
            &["--cacert", ca.to_str().expect("path"), &info],
        )
        .status
    };
    assert_eq!(verified(&ca), 0, "not yet: the self-signed one is in use");
    let (status, v) = api(
        &d,
        "PUT",
        "/api/v1/https/certificate",
        Some(serde_json::json!({"id": "amp1"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(presented(&d.https).trim(), signed.trim());
    assert_eq!(verified(&ca), 200);
    // The one in use cannot be deleted; the one before it can. Unknown ids: 404.
    assert_eq!(
        api(&d, "DELETE", "/api/v1/certificates/server/amp1", None).0,
        409
    );
    assert_eq!(
        api(&d, "DELETE", "/api/v1/certificates/server/default", None).0,
        200
    );
    assert_eq!(
        api(
            &d,
            "PUT",
            "/api/v1/https/certificate",
            Some(serde_json::json!({"id": "default"}))
        )
        .0,
        404
    );
    assert_eq!(presented(&d.https).trim(), signed.trim());

    // A validating HTTPS recipient whose server's CA is only in the store.
    let https = http_recorder(Some((&server_pem, &server_key)));
    let (status, v) = api(
        &d,
        "POST",
        "/api/v1/recipients",
        Some(
            serde_json::json!({"name": "vms", "template": "com.axis.recipient.https",
               "parameters": {"upload_url": format!("https://127.0.0.1:{}/n", https.port())}}),
        ),
    );
    assert_eq!(status, 200, "{v}");
    let test = format!("/api/v1/recipients/{}/test", v["id"]);
    assert_eq!(api(&d, "POST", &test, None).0, 502, "unknown CA");
    // Bad uploads change nothing.
    for (id, body) in [
        ("site", serde_json::json!({"certificate": "junk"})),
        (
            "a%20b",
            serde_json::json!({"certificate": std::fs::read_to_string(&ca).expect("ca")}),
        ),
        ("site", serde_json::json!({"cert": "x"})),
    ] {
        let (status, v) = api(
            &d,
            "PUT",
            &format!("/api/v1/certificates/ca/{id}"),
            Some(body),
        );
        assert_eq!(status, 400, "{id}: {v}");
    }
    assert_eq!(
        api(&d, "GET", "/api/v1/certificates", None).1["ca"],
        serde_json::json!([])
    );
    let (status, v) = api(
        &d,
        "PUT",
        "/api/v1/certificates/ca/site",
        Some(serde_json::json!({"certificate": std::fs::read_to_string(&ca).expect("ca")})),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = api(&d, "POST", &test, None);
    assert_eq!((status, v["answer"].as_str()), (200, Some("200 OK")), "{v}");
    assert_eq!(
        api(&d, "DELETE", "/api/v1/certificates/ca/site", None).0,
        200
    );
    assert_eq!(api(&d, "POST", &test, None).0, 502, "trusted no more");
}
