//! The role matrix, generated from the route table (`netamp routes`): every route and
//! every method it answers is asked by anonymous, a viewer, an operator and an
//! administrator, and each must get what [`MATRIX`] says: refused with 401 below the
//! route's role, served (any answer but 401/403/405; a 404 is the resource's) from it up. A route in the table
//! without a row here fails the test, as does a method the table does not list that gets
//! anything but 405. The maintenance routes run last, as the administrator's requests
//! really restart and reset the daemon.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use netamp_tests::daemon::{netamp_bin, Daemon, DaemonOptions, ADMIN};
use netamp_tests::flows::system_ready;
use netamp_tests::http::{curl, Auth};
use netamp_tests::peers::free_port;

/// Who may: the least role served, or `Any` for a reply that is the same for everyone
/// (a JSON API's "only POST" error: nothing is disclosed or done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Viewer,
    Operator,
    Admin,
    Any,
}

use Who::*;

const SOAP_EVENTS: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetEventInstances xmlns="http://www.axis.com/vapix/ws/event1"/></s:Body></s:Envelope>"#;

/// (method, target, body, who may). Targets use arguments that change nothing (or what
/// is put back), so the matrix can run every identity against one daemon.
const MATRIX: &[(&str, &str, &str, Who)] = &[
    (
        "GET",
        "/axis-cgi/param.cgi?action=list&group=root.Brand",
        "",
        Viewer,
    ),
    (
        "POST",
        "/axis-cgi/param.cgi",
        "action=list&group=root.Brand",
        Viewer,
    ),
    (
        "GET",
        "/axis-cgi/param.cgi?action=update&root.NoSuch.Param=1",
        "",
        Operator,
    ),
    (
        "GET",
        "/axis-cgi/admin/param.cgi?action=list&group=root.Brand",
        "",
        Admin,
    ),
    (
        "POST",
        "/axis-cgi/admin/param.cgi",
        "action=list&group=root.Brand",
        Admin,
    ),
    (
        "GET",
        "/axis-cgi/operator/param.cgi?action=list&group=root.Brand",
        "",
        Operator,
    ),
    (
        "POST",
        "/axis-cgi/operator/param.cgi",
        "action=list&group=root.Brand",
        Operator,
    ),
    (
        "GET",
        "/axis-cgi/view/param.cgi?action=list&group=root.Brand",
        "",
        Viewer,
    ),
    (
        "POST",
        "/axis-cgi/view/param.cgi",
        "action=list&group=root.Brand",
        Viewer,
    ),
    (
        "GET",
        "/axis-cgi/view/param.cgi?action=update&root.NoSuch.Param=1",
        "",
        Operator,
    ),
    ("GET", "/axis-cgi/pwdgrp.cgi?action=get", "", Admin),
    ("POST", "/axis-cgi/pwdgrp.cgi", "action=get", Admin),
    ("GET", "/axis-cgi/usergroup.cgi", "", Viewer),
    ("POST", "/axis-cgi/usergroup.cgi", "", Viewer),
    ("GET", "/axis-cgi/mediaclip.cgi?action=stop", "", Operator),
    ("POST", "/axis-cgi/mediaclip.cgi?action=stop", "", Operator),
    ("GET", "/axis-cgi/playclip.cgi?clip=99", "", Viewer),
    ("POST", "/axis-cgi/playclip.cgi?clip=99", "", Viewer),
    ("GET", "/axis-cgi/stopclip.cgi", "", Viewer),
    ("POST", "/axis-cgi/stopclip.cgi", "", Viewer),
    ("GET", "/axis-cgi/io/port.cgi?checkactive=1", "", Viewer),
    ("POST", "/axis-cgi/io/port.cgi?checkactive=1", "", Viewer),
    ("GET", "/axis-cgi/io/port.cgi?action=99:/", "", Operator),
    ("GET", "/axis-cgi/io/portmanagement.cgi", "", Any),
    (
        "POST",
        "/axis-cgi/io/portmanagement.cgi",
        r#"{"apiVersion":"1.0","method":"getPorts"}"#,
        Viewer,
    ),
    (
        "POST",
        "/axis-cgi/io/portmanagement.cgi",
        r#"{"apiVersion":"1.0","method":"setPorts","params":{"ports":[]}}"#,
        Operator,
    ),
    (
        "GET",
        "/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=99",
        "",
        Operator,
    ),
    (
        "POST",
        "/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=99",
        "",
        Operator,
    ),
    (
        "GET",
        "/axis-cgi/virtualinput/deactivate.cgi?schemaversion=1&port=99",
        "",
        Operator,
    ),
    (
        "POST",
        "/axis-cgi/virtualinput/deactivate.cgi?schemaversion=1&port=99",
        "",
        Operator,
    ),
    (
        "GET",
        "/axis-cgi/virtualinput/getschemaversions.cgi",
        "",
        Operator,
    ),
    (
        "POST",
        "/axis-cgi/virtualinput/getschemaversions.cgi",
        "",
        Operator,
    ),
    (
        "GET",
        "/axis-cgi/io/virtualinput.cgi?action=99:/",
        "",
        Viewer,
    ),
    (
        "POST",
        "/axis-cgi/io/virtualinput.cgi?action=99:/",
        "",
        Viewer,
    ),
    ("POST", "/axis-cgi/audio/transmit.cgi", "", Viewer),
    (
        "GET",
        "/axis-cgi/audio/receive.cgi?audiocodec=none",
        "",
        Viewer,
    ),
    ("GET", "/axis-cgi/audiodevicecontrol.cgi", "", Any),
    (
        "POST",
        "/axis-cgi/audiodevicecontrol.cgi",
        r#"{"apiVersion":"1.0","method":"getDevicesSettings"}"#,
        Viewer,
    ),
    (
        "POST",
        "/axis-cgi/audiodevicecontrol.cgi",
        r#"{"apiVersion":"1.0","method":"setDevicesSettings","params":{"devices":[]}}"#,
        Operator,
    ),
    ("GET", "/axis-cgi/audiomixer.cgi", "", Any),
    (
        "POST",
        "/axis-cgi/audiomixer.cgi",
        r#"{"apiVersion":"1.0","method":"getPluginsSettings"}"#,
        Viewer,
    ),
    ("GET", "/api/v1/recordings", "", Operator),
    ("POST", "/api/v1/recordings", "{}", Operator),
    ("DELETE", "/api/v1/recordings/none", "", Operator),
    ("GET", "/api/v1/recipients", "", Operator),
    ("POST", "/api/v1/recipients", "{}", Operator),
    ("PUT", "/api/v1/recipients/none", "{}", Operator),
    ("DELETE", "/api/v1/recipients/none", "", Operator),
    ("GET", "/api/v1/schedules", "", Operator),
    ("POST", "/api/v1/schedules", "{}", Operator),
    ("PUT", "/api/v1/schedules/none", "{}", Operator),
    ("DELETE", "/api/v1/schedules/none", "", Operator),
    ("GET", "/api/v1/rules", "", Operator),
    ("POST", "/api/v1/rules", "{}", Operator),
    ("PUT", "/api/v1/rules/none", "{}", Operator),
    ("DELETE", "/api/v1/rules/none", "", Operator),
    ("POST", "/api/v1/rules/trigger", r#"{"port":99}"#, Viewer),
    ("GET", "/axis-cgi/wssession.cgi", "", Viewer),
    ("POST", "/axis-cgi/wssession.cgi", "", Viewer),
    ("GET", "/api/v1/io/sim", "", Viewer),
    ("POST", "/api/v1/io/sim", "{}", Operator),
    ("GET", "/axis-cgi/basicdeviceinfo.cgi", "", Any),
    (
        "POST",
        "/axis-cgi/basicdeviceinfo.cgi",
        r#"{"apiVersion":"1.1","method":"getAllUnrestrictedProperties"}"#,
        Anonymous,
    ),
    (
        "POST",
        "/axis-cgi/basicdeviceinfo.cgi",
        r#"{"apiVersion":"1.1","method":"getAllProperties"}"#,
        Viewer,
    ),
    ("GET", "/axis-cgi/apidiscovery.cgi", "", Any),
    (
        "POST",
        "/axis-cgi/apidiscovery.cgi",
        r#"{"apiVersion":"1.0","method":"getApiList"}"#,
        Anonymous,
    ),
    ("GET", "/api/v1/status", "", Viewer),
    ("GET", "/api/v1/events/state", "", Viewer),
    ("GET", "/api/v1/events/recent", "", Viewer),
    (
        "GET",
        "/vapix/call?action=axcall:GetSIPAccounts",
        "",
        Viewer,
    ),
    (
        "POST",
        "/vapix/call",
        r#"{"axcall:GetSIPAccounts":{}}"#,
        Viewer,
    ),
    (
        "POST",
        "/vapix/call",
        r#"{"axcall:TerminateCall":{"CallId":"none"}}"#,
        Operator,
    ),
    (
        "POST",
        "/vapix/call",
        r#"{"axcall:RemoveSIPAccount":{"Id":"none"}}"#,
        Admin,
    ),
    ("GET", "/vapix/services", "", Viewer),
    ("POST", "/vapix/services", SOAP_EVENTS, Viewer),
    ("GET", "/metrics", "", Viewer),
    ("GET", "/api/v1/https/certificate", "", Viewer),
    ("PUT", "/api/v1/https/certificate", "{}", Admin),
    ("GET", "/api/v1/certificates", "", Admin),
    ("PUT", "/api/v1/certificates/ca/x", "{}", Admin),
    ("POST", "/api/v1/certificates/server/x/csr", "{}", Admin),
    ("DELETE", "/api/v1/certificates/ca/none", "", Admin),
    ("GET", "/api/v1/syslog", "", Admin),
    ("PUT", "/api/v1/syslog", r#"{"servers":[]}"#, Admin),
    ("POST", "/api/v1/syslog/test", "", Admin),
    ("GET", "/axis-cgi/systemlog.cgi", "", Admin),
    ("POST", "/axis-cgi/systemlog.cgi", "", Admin),
    ("GET", "/axis-cgi/accesslog.cgi", "", Admin),
    ("POST", "/axis-cgi/accesslog.cgi", "", Admin),
    ("GET", "/axis-cgi/serverreport.cgi", "", Admin),
    ("POST", "/axis-cgi/serverreport.cgi", "", Admin),
    ("GET", "/axis-cgi/admin/serverreport.cgi", "", Admin),
    ("POST", "/axis-cgi/admin/serverreport.cgi", "", Admin),
    ("GET", "/axis-cgi/debug/debug.tgz", "", Admin),
    ("POST", "/axis-cgi/debug/debug.tgz", "", Admin),
    ("GET", "/axis-cgi/systemready.cgi", "", Any),
    (
        "POST",
        "/axis-cgi/systemready.cgi",
        r#"{"apiVersion":"1.0","method":"systemready"}"#,
        Anonymous,
    ),
    ("GET", "/healthz", "", Anonymous),
    // Last: the administrator's requests restart and reset the daemon.
    ("GET", "/axis-cgi/restart.cgi", "", Admin),
    ("POST", "/axis-cgi/restart.cgi", "", Admin),
    ("GET", "/axis-cgi/factorydefault.cgi", "", Admin),
    ("POST", "/axis-cgi/factorydefault.cgi", "", Admin),
    ("GET", "/axis-cgi/hardfactorydefault.cgi", "", Admin),
    ("POST", "/axis-cgi/hardfactorydefault.cgi", "", Admin),
];

/// One row of `netamp routes`.
struct Row {
    path: String,
    methods: Vec<String>,
}

fn route_table() -> Vec<Row> {
    let out = std::process::Command::new(netamp_bin())
        .arg("routes")
        .output()
        .expect("netamp routes");
    assert!(out.status.success(), "netamp routes failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            Row {
                path: v["path"].as_str().expect("path").to_string(),
                methods: v["methods"]
                    .as_array()
                    .expect("methods")
                    .iter()
                    .filter_map(|m| m.as_str().map(String::from))
                    .collect(),
            }
        })
        .collect()
}

/// Whether `target`'s path is served by `row` (`/x/*`: `/x` and below).
fn matches(row: &Row, target: &str) -> bool {
    let path = target.split('?').next().unwrap_or(target);
    match row.path.strip_suffix("/*") {
        Some(base) => path == base || path.starts_with(&format!("{base}/")),
        None => path == row.path,
    }
}

const PASSWORD: &str = "matrix-pw1";

fn ask(d: &Daemon, auth: Auth<'_>, method: &str, target: &str, body: &str) -> u16 {
    let url = d.url(target);
    let mut args = vec!["--max-time", "10", "-X", method];
    if !body.is_empty() || method != "GET" {
        args.extend(["--data-binary", body]);
    }
    if body.starts_with('<') {
        args.extend(["-H", "Content-Type: application/soap+xml"]);
    }
    args.push(&url);
    curl(auth, &args).status
}

/// Waits for the daemon to answer again after a restart.
fn back(d: &Daemon) {
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    while system_ready(d).is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "not back within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_route_and_method_answers_each_role_as_the_matrix_says() {
    let table = route_table();
    // Every route and every method it answers has a row here.
    let mut missing = Vec::new();
    for row in &table {
        for m in &row.methods {
            if !MATRIX
                .iter()
                .any(|(mm, t, _, _)| mm == m && matches(row, t))
            {
                missing.push(format!("{m} {}", row.path));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a matrix row: {missing:?}"
    );
    for (m, t, _, _) in MATRIX {
        assert!(
            table
                .iter()
                .any(|r| matches(r, t) && r.methods.iter().any(|x| x == m)),
            "matrix row {m} {t} is not in the route table"
        );
    }

    // Fixed ports: restart.cgi brings the daemon back on them.
    let d = Daemon::with(DaemonOptions {
        http: Some(format!("127.0.0.1:{}", free_port())),
        https: Some(format!("127.0.0.1:{}", free_port())),
        ..Default::default()
    });
    let admin = Auth::Digest(ADMIN.0, ADMIN.1);
    for (user, sgrp) in [("op", "operator:viewer"), ("view", "viewer")] {
        let add = d.url(&format!(
            "/axis-cgi/pwdgrp.cgi?action=add&user={user}&pwd={PASSWORD}&grp=users&sgrp={sgrp}"
        ));
        assert_eq!(curl(admin, &[&add]).status, 200);
    }
    let identities = [
        (Anonymous, Auth::Anonymous),
        (Viewer, Auth::Digest("view", PASSWORD)),
        (Operator, Auth::Digest("op", PASSWORD)),
        (Admin, admin),
    ];
    let mut wrong = Vec::new();
    let mut asked = 0;
    for (method, target, body, who) in MATRIX {
        let path = target.split('?').next().unwrap_or(target);
        let maintenance = path.ends_with("restart.cgi") || path.ends_with("factorydefault.cgi");
        let mut first = None;
        for (role, auth) in identities {
            // After the first hard factory default the viewer and operator accounts are
            // gone (their 401 is still the expected refusal); the administrator is the one
            // `--admin` makes at every start.
            let status = ask(&d, auth, method, target, body);
            asked += 1;
            let served = !matches!(status, 0 | 401 | 403 | 405);
            let ok = match who {
                Any => {
                    let same = *first.get_or_insert(status) == status;
                    served && same
                }
                least => (role >= *least) == served && (served || status == 401),
            };
            if !ok {
                wrong.push(format!(
                    "{method} {target} as {role:?}: {status} (expected {who:?})"
                ));
            }
            if maintenance && role == Admin && served {
                back(&d);
            }
        }
    }
    // A method a route does not list is 405 with Allow, even for the administrator.
    let admin = Auth::Digest(ADMIN.0, ADMIN.1);
    for row in &table {
        let target = row.path.replace("/*", "/x");
        let url = d.url(&target);
        let r = curl(admin, &["--max-time", "10", "-X", "PATCH", &url]);
        if r.status != 405 || !r.headers.to_ascii_lowercase().contains("allow:") {
            wrong.push(format!(
                "PATCH {target}: {} (expected 405 with Allow)",
                r.status
            ));
        }
    }
    let unknown = curl(admin, &[&d.url("/axis-cgi/nosuch.cgi")]).status;
    assert_eq!(unknown, 404);
    assert!(
        wrong.is_empty(),
        "{} of {asked} answers differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let routes: BTreeSet<&str> = table.iter().map(|r| r.path.as_str()).collect();
    eprintln!("{asked} requests over {} routes", routes.len());
}
