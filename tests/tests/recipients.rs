//! Recipients end to end, against real peers the test starts: a second netamp as a
//! camera's HTTP recipient (Digest), an HTTPS server with a self-signed certificate, a
//! TCP listener and an SMTP server (aiosmtpd) with STARTTLS and AUTH.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use netamp_tests::audio::{align, ffmpeg_reference, make_clip, read_capture, Format};
use netamp_tests::daemon::{Daemon, ADMIN};
use netamp_tests::flows::{frames, upload_ok, wait_played};
use netamp_tests::peers::{free_port, http_recorder, self_signed, smtp_server};
use netamp_tests::rules::{add, call, on_input, set_input, wait_events, ACTION_FAILED};
use serde_json::json;

const HTTP: &str = "com.axis.action.fixed.notification.http";

#[test]
fn a_camera_recipient_on_one_netamp_plays_a_clip_on_another_through_digest() {
    // The speaker (A) has the clip; the "camera" (B) has the input and the rule.
    let speaker = Daemon::start();
    let file = make_clip(speaker.dir.path(), Format::WavPcm16, 48000, 1, 1.0);
    let clip = upload_ok(&speaker, &file);
    let camera = Daemon::start();
    let recipient = add(
        &camera,
        "/api/v1/recipients",
        json!({"name": "speaker", "template": "com.axis.recipient.http",
               "parameters": {"upload_url": speaker.url("/axis-cgi/mediaclip.cgi"),
                              "login": ADMIN.0, "password": ADMIN.1}}),
    );
    let action = add(
        &camera,
        "/api/v1/rules/actions",
        json!({"name": "play on the speaker", "template": HTTP,
               "parameters": {"recipient": recipient.to_string(),
                              "parameters": format!("action=play&clip={clip}")}}),
    );
    on_input(&camera, 7, action);

    let f0 = frames(&speaker);
    set_input(&camera, 7, true);
    wait_played(&speaker, 0, 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(100));
    let capture = read_capture(&speaker.capture, f0.saturating_sub(4800));
    let a = align(&ffmpeg_reference(&file), &capture);
    assert!(a.correlation > 0.95, "the speaker played the clip: {a:?}");
    assert!(
        wait_events(&camera, ACTION_FAILED, 1, Duration::from_millis(300)).is_empty(),
        "nothing failed"
    );
}

#[test]
fn https_tcp_and_smtp_recipients_deliver_and_a_bad_certificate_is_refused() {
    let d = Daemon::start();
    let (cert, key) = self_signed(d.dir.path());
    let https = http_recorder(Some((&cert, &key)));
    let url = format!("https://127.0.0.1:{}/notify", https.port());
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
    let smtp_port = free_port();
    let smtp = smtp_server(smtp_port, &cert, &key, "amp", "mail-s3cret");

    // The test operation answers with the peer's word.
    let trusting = add(
        &d,
        "/api/v1/recipients",
        json!({"name": "vms", "template": "com.axis.recipient.https",
               "parameters": {"upload_url": url, "validate_server_cert": "0"}}),
    );
    let (status, v) = call(
        &d,
        "POST",
        &format!("/api/v1/recipients/{trusting}/test"),
        None,
    );
    assert_eq!((status, v["answer"].as_str()), (200, Some("200 OK")), "{v}");
    let got = https
        .next(Duration::from_secs(5))
        .expect("the test message");
    assert!(
        got["path"]
            .as_str()
            .unwrap_or("")
            .contains("Message=netamp%20test%20message"),
        "{got}"
    );
    let validating = add(
        &d,
        "/api/v1/recipients",
        json!({"name": "vms checked", "template": "com.axis.recipient.https",
               "parameters": {"upload_url": url}}),
    );
    let (status, v) = call(
        &d,
        "POST",
        &format!("/api/v1/recipients/{validating}/test"),
        None,
    );
    assert_eq!(status, 502, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("certificate"),
        "{v}"
    );

    let email = add(
        &d,
        "/api/v1/recipients",
        json!({"name": "guard", "template": "com.axis.recipient.smtp",
               "parameters": {"host": "127.0.0.1", "port": smtp_port.to_string(),
                              "encryption": "starttls", "validate_server_cert": "0",
                              "login": "amp", "password": "mail-s3cret",
                              "email_from": "amp@example.org", "email_to": "guard@example.org"}}),
    );
    let tcp_port = tcp.local_addr().expect("addr").port();
    let actions = [
        json!({"name": "tell the VMS", "template": "com.axis.action.fixed.notification.https",
               "parameters": {"recipient": trusting.to_string(), "method": "POST",
                              "message": "input 8 on #n", "parameters": "site=lobby&day=%F",
                              "http_headers": "X-Netamp-Test: yes", "body": "{\"mac\":\"#M\"}"}}),
        json!({"name": "refused", "template": "com.axis.action.fixed.notification.https",
               "parameters": {"recipient": validating.to_string(), "message": "never"}}),
        json!({"name": "tcp", "template": "com.axis.action.fixed.notification.tcp",
               "parameters": {"host": "127.0.0.1", "port": tcp_port.to_string(),
                              "message": "input 8 closed on #n"}}),
        json!({"name": "mail", "template": "com.axis.action.fixed.notification.smtp",
               "parameters": {"recipient": email.to_string(),
                              "subject": "Input 8 cut", "message": "Check the door at #n."}}),
    ];
    for a in actions {
        let id = add(&d, "/api/v1/rules/actions", a);
        on_input(&d, 7, id);
    }
    set_input(&d, 7, true);

    let got = https
        .next(Duration::from_secs(5))
        .expect("the HTTPS notification");
    assert_eq!(got["method"], "POST", "{got}");
    let path = got["path"].as_str().unwrap_or("");
    assert!(path.starts_with("/notify?site=lobby&day=20"), "{got}");
    assert!(path.ends_with("&Message=input%208%20on%20netamp"), "{got}");
    assert_eq!(got["headers"]["x-netamp-test"], "yes", "{got}");
    assert_eq!(got["body"], r#"{"mac":"AC:CC:8E:C4:37:07"}"#, "{got}");

    tcp.set_nonblocking(false).expect("blocking");
    let (mut conn, _) = tcp.accept().expect("the TCP notification");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut text = String::new();
    conn.read_to_string(&mut text).expect("read");
    assert_eq!(text, "input 8 closed on netamp");

    let mail = smtp.next(Duration::from_secs(10)).expect("the e-mail");
    assert_eq!(
        (mail["tls"].as_bool(), mail["auth"].as_bool()),
        (Some(true), Some(true)),
        "{mail}"
    );
    assert_eq!(mail["to"], json!(["guard@example.org"]), "{mail}");
    let data = mail["data"].as_str().unwrap_or("");
    assert!(data.contains("Subject: Input 8 cut"), "{data}");
    assert!(data.contains("Check the door at netamp."), "{data}");

    let failed = wait_events(&d, ACTION_FAILED, 1, Duration::from_secs(5));
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["message"]["data"]["Reason"]
            .as_str()
            .unwrap_or("")
            .contains("certificate"),
        "{failed:?}"
    );

    // Secrets: masked on every read, kept by a masked write, stored 0600.
    let (_, list) = call(&d, "GET", "/api/v1/recipients", None);
    let guard = &list["recipients"][email.to_string()]["parameters"];
    assert_eq!(guard["password"], "*****", "{list}");
    let mut edited = list["recipients"][email.to_string()].clone();
    edited["name"] = json!("night guard");
    let (status, _) = call(
        &d,
        "PUT",
        &format!("/api/v1/recipients/{email}"),
        Some(edited),
    );
    assert_eq!(status, 200);
    let (status, v) = call(
        &d,
        "POST",
        &format!("/api/v1/recipients/{email}/test"),
        None,
    );
    assert_eq!(status, 200, "the stored password still works: {v}");
    assert!(smtp.next(Duration::from_secs(10)).is_some());
    let file = d.data_dir.join("rules.json");
    let mode = std::fs::metadata(&file)
        .expect("rules.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file)
        .expect("read")
        .contains("mail-s3cret"));

    // Refusals: unknown template, a recipient in use, too many recipients.
    let (status, _) = call(
        &d,
        "POST",
        "/api/v1/recipients",
        Some(json!({"name": "x", "template": "com.axis.recipient.ftp"})),
    );
    assert_eq!(status, 400);
    let (status, _) = call(&d, "DELETE", &format!("/api/v1/recipients/{email}"), None);
    assert_eq!(status, 409);
    for i in 3..20 {
        add(
            &d,
            "/api/v1/recipients",
            json!({"name": format!("r{i}"), "template": "com.axis.recipient.tcp",
                   "parameters": {"host": "127.0.0.1", "port": "9"}}),
        );
    }
    let (status, v) = call(
        &d,
        "POST",
        "/api/v1/recipients",
        Some(json!({"name": "21st", "template": "com.axis.recipient.tcp",
                    "parameters": {"host": "127.0.0.1", "port": "9"}})),
    );
    assert_eq!(status, 400, "{v}");
}
