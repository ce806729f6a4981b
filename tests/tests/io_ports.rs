//! I/O over HTTP end to end: pulses, supervised inputs, monitor streams, bad input,
//! persistence, and Home Assistant's `axis` library switching an output.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netamp_tests::daemon::{Daemon, DaemonOptions, ADMIN};
use netamp_tests::flows::{admin, current_event};
use netamp_tests::http::{curl, Auth};
use netamp_tests::{ha_python, workspace_root};
use serde_json::{json, Value};

fn sim(d: &Daemon) -> Value {
    curl(admin(), &[&d.url("/api/v1/io/sim")]).json()
}

fn edges(d: &Daemon, port: u64) -> Vec<(String, u64)> {
    sim(d)["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["port"].as_u64() == Some(port))
        .map(|e| {
            (
                e["state"].as_str().unwrap_or("").to_string(),
                e["unix_ns"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn set_input(d: &Daemon, body: Value) -> Value {
    let r = curl(
        admin(),
        &[
            "-X",
            "POST",
            "-d",
            &body.to_string(),
            &d.url("/api/v1/io/sim"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn pm(d: &Daemon, auth: Auth<'_>, body: Value) -> Value {
    let r = curl(
        auth,
        &[
            "-d",
            &body.to_string(),
            &d.url("/axis-cgi/io/portmanagement.cgi"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn pulse_action_produces_the_recorded_edges() {
    let d = Daemon::start();
    // Port 5 (1-based) is an open-collector output, normally open.
    let before = edges(&d, 4).len();
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/io/port.cgi?action=5%3A%2F300%5C500%2F300%5C")],
    );
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    std::thread::sleep(Duration::from_millis(1500));
    let e = edges(&d, 4);
    let new = &e[before..];
    let states: Vec<&str> = new.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        states,
        ["closed", "open", "closed", "open"],
        "edges {new:?}"
    );
    let gaps: Vec<f64> = new
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) as f64 / 1e6)
        .collect();
    let errors: Vec<f64> = gaps
        .iter()
        .zip([300.0, 500.0, 300.0])
        .map(|(g, want)| g - want)
        .collect();
    eprintln!("pulse intervals {gaps:?} ms, errors {errors:?} ms");
    assert!(errors.iter().all(|e| e.abs() <= 20.0), "intervals {gaps:?}");
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/io/port.cgi?check=5&checkactive=5&checkdirection=5,2")],
    );
    assert_eq!(
        r.text(),
        "port5=0\nport5=inactive\nport5=output\nport2=input\n"
    );
}

#[test]
fn supervised_inputs_sweep_without_chatter_for_both_wirings() {
    // Port 1 keeps the default parallel-first wiring (22 kΩ / 4.7 kΩ: closed 4.7k, open
    // 26.7k); port 2 is configured serial-first with 2 × 2.2 kΩ (closed 2.2k, open 4.4k).
    let d = Daemon::with(DaemonOptions {
        config: "[[io.supervised]]\nport = 2\nwiring = \"serial-first\"\nohms = 2200\n".into(),
        ..Default::default()
    });
    for (port, top, thresholds) in [
        (1, 90_000.0, [2350.0, 11_202.0, 53_400.0]),
        (2, 15_000.0, [1100.0, 3111.3, 8800.0]),
    ] {
        let mut values: Vec<f64> = (0..=300).map(|i| i as f64 * top / 300.0).collect();
        // Dwell on each threshold with ±5 % noise: inside the hysteresis band.
        for t in thresholds {
            values.extend((0..40).map(|i| t * (1.0 + 0.05 * ((i as f64) * 1.3).sin())));
        }
        values.sort_by(|a, b| a.total_cmp(b));
        values.push(1e9);
        let mut seen: Vec<String> = Vec::new();
        for v in values {
            let r = set_input(&d, json!({"port": port, "ohms": v}));
            let s = r["loop"].as_str().expect("loop state").to_string();
            if seen.last() != Some(&s) {
                seen.push(s);
            }
        }
        assert_eq!(
            seen,
            ["shorted", "closed", "open", "cut"],
            "port {port} transitions"
        );
    }
    let sup = current_event(&d, "tns1:Device/tnsaxis:IO/SupervisedPort", "port", "1")
        .expect("supervised event");
    assert_eq!(sup["message"]["data"]["state"], "cut");
    // Back to closed: the IO/Port event says active (closed differs from normal open).
    set_input(&d, json!({"port": 1, "ohms": 4700}));
    let r = curl(admin(), &[&d.url("/axis-cgi/io/port.cgi?checkactive=2")]);
    assert_eq!(r.text(), "port2=active\n");
    // Digital readings are refused on a supervised input, loop values on a plain one.
    let r = curl(
        admin(),
        &[
            "-X",
            "POST",
            "-d",
            r#"{"port":1,"state":"closed"}"#,
            &d.url("/api/v1/io/sim"),
        ],
    );
    assert_eq!(r.status, 400);
    let r = curl(
        admin(),
        &[
            "-X",
            "POST",
            "-d",
            r#"{"port":7,"ohms":10}"#,
            &d.url("/api/v1/io/sim"),
        ],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn monitor_stream_reports_input_flips_and_keeps_alive() {
    let d = Daemon::start();
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "18",
            "--digest",
            "-u",
            &format!("{}:{}", ADMIN.0, ADMIN.1),
        ])
        .arg(d.url("/axis-cgi/io/port.cgi?monitor=8,5"))
        .args(["-D", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    std::thread::sleep(Duration::from_millis(500));
    set_input(&d, json!({"port": 7, "state": "closed"}));
    std::thread::sleep(Duration::from_millis(100));
    set_input(&d, json!({"port": 7, "state": "open"}));
    let t0 = Instant::now();
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let _ = child.wait();
    eprintln!("monitor output after {:?}:\n{out}", t0.elapsed());
    assert!(out
        .to_ascii_lowercase()
        .contains("content-type: multipart/x-mixed-replace; boundary=ioboundary"));
    assert!(out.contains("8I:L"), "initial state part missing");
    assert!(out.contains("5O:L"));
    let a = out.find("8I:/").expect("8I:/ part");
    let b = out.find("8I:\\").expect("8I:\\ part");
    assert!(a < b);
    // Idle for ~17 s after the flips: at least one empty keep-alive boundary.
    assert!(
        out.contains("--ioboundary\r\n--ioboundary") || out.ends_with("--ioboundary\r\n"),
        "no keep-alive boundary"
    );
}

#[test]
fn malformed_requests_get_errors_and_move_nothing() {
    let d = Daemon::start();
    let before = sim(&d)["edges"].as_array().expect("edges").len();
    for bad in [
        "2%3A%2F",
        "99%3A%2F",
        "5%3Ax",
        "5%3A%2F99999999%5C",
        "5%3A300",
        "0%3A%2F",
        "%3A",
    ] {
        let r = curl(
            admin(),
            &[&d.url(&format!("/axis-cgi/io/port.cgi?action={bad}"))],
        );
        assert_eq!(r.status, 400, "action={bad}: {}", r.text());
    }
    assert_eq!(
        curl(admin(), &[&d.url("/axis-cgi/io/port.cgi?check=42")]).status,
        400
    );
    assert_eq!(
        curl(admin(), &[&d.url("/axis-cgi/io/port.cgi")]).status,
        400
    );
    for (body, code) in [
        (r#"{nope"#.to_string(), 2101),
        (json!({"apiVersion":"1.0","method":"dance"}).to_string(), 2102),
        (json!({"apiVersion":"2.0","method":"getPorts"}).to_string(), 2100),
        (json!({"apiVersion":"1.0","method":"setPorts","params":{"ports":[{"port":"1","state":"closed"}]}}).to_string(), 2104),
        (json!({"apiVersion":"1.0","method":"setPorts","params":{"ports":[{"port":"4","state":"closed"},{"port":"77"}]}}).to_string(), 2104),
        (json!({"apiVersion":"1.0","method":"setPorts","params":{"ports":[{"port":"0","direction":"input"}]}}).to_string(), 2104),
        (json!({"apiVersion":"1.0","method":"setStateSequence","params":{"port":"4","sequence":[{"state":"closed","time":70000}]}}).to_string(), 2104),
        (json!({"apiVersion":"1.0","method":"setStateSequence","params":{"port":"1","sequence":[{"state":"closed","time":10}]}}).to_string(), 2104),
    ] {
        let r = curl(admin(), &["-d", &body, &d.url("/axis-cgi/io/portmanagement.cgi")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["error"]["code"].as_u64(), Some(code), "{body}: {}", r.text());
    }
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=99")],
    );
    assert!(
        r.text().contains("<ErrorCode>20</ErrorCode>"),
        "{}",
        r.text()
    );
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/virtualinput/activate.cgi?schemaversion=1")],
    );
    assert!(r.text().contains("<ErrorCode>10</ErrorCode>"));
    // A bad pair after a good one: nothing is applied.
    let r = curl(admin(), &[&d.url("/axis-cgi/param.cgi?action=update&IOPort.I3.Input.Name=Changed&IOPort.I0.Direction=input")]);
    assert!(r.text().starts_with("# Error"), "{}", r.text());
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=list&group=IOPort.I3.Input.Name")],
    );
    assert_eq!(
        r.text(),
        "IOPort.I3.Input.Name=I/O 1\n",
        "a partial update was applied"
    );
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/param.cgi?action=update&IOPort.I0.Direction=input")],
    );
    assert!(
        r.text().starts_with("# Error"),
        "relay direction changed: {}",
        r.text()
    );
    assert_eq!(
        sim(&d)["edges"].as_array().expect("edges").len(),
        before,
        "an output moved"
    );
    // A viewer may look but not switch.
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=v&pwd=v&grp=users&sgrp=viewer")],
    );
    assert_eq!(r.status, 200);
    let viewer = Auth::Digest("v", "v");
    assert_eq!(
        curl(viewer, &[&d.url("/axis-cgi/io/port.cgi?checkactive=1")]).status,
        200
    );
    assert_eq!(
        curl(viewer, &[&d.url("/axis-cgi/io/port.cgi?action=1%3A%2F")]).status,
        401
    );
    let r = pm(&d, viewer, json!({"apiVersion":"1.0","method":"getPorts"}));
    assert_eq!(r["data"]["numberOfPorts"].as_u64(), Some(9));
    let r = curl(viewer, &["-d", &json!({"apiVersion":"1.0","method":"setPorts","params":{"ports":[{"port":"4","state":"closed"}]}}).to_string(), &d.url("/axis-cgi/io/portmanagement.cgi")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        curl(
            viewer,
            &[&d.url("/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=1")]
        )
        .status,
        401
    );
    assert_eq!(
        sim(&d)["edges"].as_array().expect("edges").len(),
        before,
        "an output moved"
    );
}

#[test]
fn configuration_survives_restart_and_outputs_come_up_normal() {
    let mut d = Daemon::start();
    let r = pm(
        &d,
        admin(),
        json!({"apiVersion":"1.0","context":"x","method":"setPorts","params":{"ports":[
        {"port":"3","direction":"output","name":"Strobe","usage":"Light","normalState":"closed"},
        {"port":"5","state":"closed"}]}}),
    );
    assert_eq!(r["data"]["ports"], json!(["3", "5"]), "{r}");
    // The older bare-list form too.
    let r = pm(
        &d,
        admin(),
        json!({"apiVersion":"1.0","method":"setPorts","params":[{"port":"6","name":"Siren"}]}),
    );
    assert!(r.get("error").is_none(), "{r}");
    let r = curl(
        admin(),
        &[&d.url(
            "/axis-cgi/param.cgi?action=update&IOPort.I7.Input.Name=Door&IOPort.I7.Input.Trig=open",
        )],
    );
    assert_eq!(r.text(), "OK\n");
    let data = d.data().to_path_buf();
    d.stop();
    let d2 = Daemon::with(DaemonOptions {
        data_dir: Some(data),
        ..Default::default()
    });
    let ports = pm(
        &d2,
        admin(),
        json!({"apiVersion":"1.0","method":"getPorts"}),
    );
    let items = ports["data"]["items"].as_array().expect("items");
    assert_eq!(items[3]["name"], "Strobe");
    assert_eq!(items[3]["direction"], "output");
    assert_eq!(items[3]["normalState"], "closed");
    assert_eq!(
        items[3]["state"], "closed",
        "output did not come up in its normal state"
    );
    assert_eq!(
        items[5]["state"], "open",
        "output did not come up in its normal state"
    );
    assert_eq!(items[6]["name"], "Siren");
    assert_eq!(items[7]["name"], "Door");
    assert_eq!(items[7]["normalState"], "closed");
    let r = curl(
        admin(),
        &[&d2.url("/axis-cgi/param.cgi?action=list&group=IOPort.I3.Usage")],
    );
    assert_eq!(r.text(), "IOPort.I3.Usage=Light\n");
}

#[test]
fn state_sequence_and_virtual_inputs() {
    let d = Daemon::start();
    let r = pm(
        &d,
        admin(),
        json!({"apiVersion":"1.0","method":"setStateSequence","params":{"port":"5","sequence":[{"state":"closed","time":200},{"state":"open","time":100}]}}),
    );
    assert_eq!(r["data"]["port"], "5");
    let r = pm(
        &d,
        admin(),
        json!({"apiVersion":"1.0","method":"setStateSequence","params":{"port":"5","sequence":[{"state":"closed","time":100}]}}),
    );
    assert_eq!(r["error"]["code"].as_u64(), Some(2200), "{r}");
    std::thread::sleep(Duration::from_millis(500));
    let e = edges(&d, 5);
    let states: Vec<&str> = e.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["open", "closed", "open"]);

    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=7&duration=1")],
    );
    assert!(
        r.text().contains("<StateChanged>true</StateChanged>"),
        "{}",
        r.text()
    );
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=7")],
    );
    assert!(r.text().contains("<StateChanged>false</StateChanged>"));
    let state = |d: &Daemon| {
        current_event(d, "tns1:Device/tnsaxis:IO/VirtualInput", "port", "7")
            .map(|e| e["message"]["data"]["active"].clone())
    };
    assert_eq!(state(&d), Some(json!("1")));
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/virtualinput/deactivate.cgi?schemaversion=1&port=7")],
    );
    assert!(r.text().contains("<DeactivateSuccess>"));
    assert_eq!(state(&d), Some(json!("0")));
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=8&duration=1")],
    );
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(1300));
    let eight =
        current_event(&d, "tns1:Device/tnsaxis:IO/VirtualInput", "port", "8").expect("port 8");
    assert_eq!(
        eight["message"]["data"]["active"], "0",
        "duration did not end the activation"
    );
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/io/virtualinput.cgi?action=6%3A%2F200%5C")],
    );
    assert_eq!(r.status, 200);
}

fn ha_switch(d: &Daemon, output: &str) -> Value {
    let (host, port) = d.addr.rsplit_once(':').expect("addr");
    let out = Command::new(ha_python())
        .arg(workspace_root().join("tests/ha/ha_io.py"))
        .args([host, port, ADMIN.0, ADMIN.1, output])
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "axis library failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("json line")
}

#[test]
fn home_assistant_switches_an_output_through_port_management_and_port_cgi() {
    let d = Daemon::start();
    let v = ha_switch(&d, "4");
    assert_eq!(v["via"], "port_management", "{v}");
    assert_eq!(v["ports"].as_object().map(|o| o.len()), Some(9));
    let e = edges(&d, 4);
    let states: Vec<&str> = e.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["open", "closed", "open"], "{e:?}");

    let d = Daemon::with(DaemonOptions {
        config: "[io]\nport_management = false\n".into(),
        ..Default::default()
    });
    let v = ha_switch(&d, "5");
    assert_eq!(v["via"], "port_cgi", "{v}");
    let e = edges(&d, 5);
    let states: Vec<&str> = e.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(states, ["open", "closed", "open"], "{e:?}");
}

#[test]
fn websocket_event_stream_delivers_input_changes() {
    let d = Daemon::start();
    let (host, port) = d.addr.rsplit_once(':').expect("addr");
    let mut child = Command::new(ha_python())
        .arg(workspace_root().join("tests/ha/ws_events.py"))
        .args([
            host,
            port,
            ADMIN.0,
            ADMIN.1,
            "onvif:Device/axis:IO/Port",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python");
    std::thread::sleep(Duration::from_millis(1500));
    set_input(&d, json!({"port": 7, "state": "closed"}));
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    assert!(child.wait().expect("wait").success(), "{out}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(
        lines[0],
        json!({"apiVersion":"1.0","context":"netamp-test","method":"events:configure","data":{}})
    );
    let notes: Vec<&Value> = lines[1..]
        .iter()
        .map(|l| &l["params"]["notification"])
        .collect();
    assert!(
        notes
            .iter()
            .all(|n| n["topic"] == "tns1:Device/tnsaxis:IO/Port"),
        "{out}"
    );
    // The current state of all 9 ports first, then the flip of port 7 to active.
    assert!(notes.len() >= 10, "{out}");
    let last = notes.last().expect("notification");
    assert_eq!(last["message"]["source"]["port"], "7");
    assert_eq!(last["message"]["data"]["state"], "1");
    assert!(last["timestamp"].as_u64().is_some());
    // A token works once.
    let token = curl(admin(), &[&d.url("/axis-cgi/wssession.cgi")]).text();
    assert!(token.trim().chars().all(|c| c.is_ascii_digit()), "{token}");
}

#[test]
fn gpio_lines_on_a_missing_chip_stop_the_start_with_a_clear_error() {
    // This machine has no GPIO chip: the gpiocdev path runs up to opening it.
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |toml: &str| {
        let config = dir.path().join("netamp.toml");
        std::fs::write(&config, toml).expect("config");
        let out = Command::new(netamp_tests::daemon::netamp_bin())
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args([
                "--http",
                "127.0.0.1:0",
                "--audio-out",
                "null",
                "--audio-in",
                "none",
            ])
            .output()
            .expect("run netamp");
        assert!(!out.status.success(), "started with {toml}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr =
        start("[[io.lines]]\nport = 0\nchip = \"/dev/gpiochip-netamp-missing\"\nline = 17\n");
    assert!(
        stderr.contains("/dev/gpiochip-netamp-missing line 17 (port 0)"),
        "{stderr}"
    );
    let stderr = start("[[io.lines]]\nport = 42\nchip = \"/dev/gpiochip0\"\nline = 1\n");
    assert!(stderr.contains("port 42 does not exist"), "{stderr}");
    // The default build has no Raspberry Pi backend (cargo feature `rppal`).
    let stderr = start("[io]\ngpio = \"rppal\"\n");
    assert!(stderr.contains("cargo feature `rppal`"), "{stderr}");
}

#[test]
fn home_assistant_receives_input_changes_over_its_event_stream() {
    // axis 60 reads events from RTSP on port 554 of the device's host: give this daemon
    // its own loopback address so no other test's port matters.
    let d = Daemon::with(DaemonOptions {
        config: "[rtsp]\nlisten = \"127.0.0.77:554\"\n".into(),
        http: Some("127.0.0.77:0".into()),
        ..Default::default()
    });
    // Another process holding port 554 there would answer instead of this daemon.
    let rtsp = netamp_tests::flows::status(&d)["rtsp"].clone();
    assert_eq!(
        rtsp,
        json!("127.0.0.77:554"),
        "this daemon could not listen on 127.0.0.77:554"
    );
    let (host, port) = d.addr.rsplit_once(':').expect("addr");
    let mut child = Command::new(ha_python())
        .arg(workspace_root().join("tests/ha/ha_events.py"))
        .args([host, port, ADMIN.0, ADMIN.1, "20", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(first, "playing", "the RTSP event stream did not start");
    std::thread::sleep(Duration::from_millis(300));
    set_input(&d, json!({"port": 7, "state": "closed"}));
    let events: Vec<Value> = lines
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    let _ = child.wait();
    let port_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["topic"] == "tns1:Device/tnsaxis:IO/Port")
        .collect();
    assert!(
        port_events.iter().any(|e| e["operation"] == "Initialized"),
        "no initial state: {events:?}"
    );
    let flip = port_events
        .iter()
        .find(|e| e["id"] == "7" && e["operation"] == "Changed")
        .unwrap_or_else(|| panic!("no port 7 change in {events:?}"));
    assert_eq!(flip["tripped"], true, "{flip}");
}

#[test]
fn a_taken_rtsp_port_stops_the_start_with_a_clear_error_and_auto_falls_back() {
    // Someone else has the configured port: netamp says so and does not start.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(netamp_tests::daemon::netamp_bin())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--sip",
            "127.0.0.1:0",
            "--sip-tls",
            "",
        ])
        .args(["--audio-out", "null", "--audio-in", "none"])
        .args(["--rtsp", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("netamp");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("with the RTSP port taken: {} / {stderr}", out.status);
    assert!(
        !out.status.success(),
        "netamp started without its RTSP port"
    );
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    // `auto`: 554, or 8554 when this machine will not give 554 (taken here, or no
    // privileges); status says which.
    let hold_554 = std::net::TcpListener::bind("0.0.0.0:554");
    let d = Daemon::with(DaemonOptions {
        config: "[rtsp]\nlisten = \"auto\"\n".into(),
        ..Default::default()
    });
    let rtsp = netamp_tests::flows::status(&d)["rtsp"]
        .as_str()
        .unwrap_or("")
        .to_string();
    eprintln!(
        "auto with 554 held by the test ({}): {rtsp}",
        hold_554.is_ok()
    );
    assert_eq!(rtsp, "0.0.0.0:8554", "{rtsp}");
    drop(hold_554);
}

/// The event example of docs/api.md (`/api/v1/events/state`) is what netamp sends: the
/// same topics, source and data keys, and the supervised state's name.
#[test]
fn the_documented_events_are_the_events_sent() {
    use netamp_tests::audio::{make_clip, Format};
    let d = Daemon::start();
    let docs = std::fs::read_to_string(workspace_root().join("docs/api.md")).expect("docs");
    let at = docs
        .find("## `GET /api/v1/events/state`")
        .expect("the section");
    let block = &docs[at..];
    let start = block.find("```json\n").expect("the example") + 8;
    let end = start + block[start..].find("```").expect("its end");
    let documented: Value = serde_json::from_str(&block[start..end]).expect("the example parses");

    // Make both documented events happen: a clip plays, supervised input 1 is shorted.
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 8000, 1, 3.0);
    let id = netamp_tests::flows::upload_ok(&d, &clip);
    let r = curl(
        admin(),
        &[&d.url(&format!("/axis-cgi/mediaclip.cgi?action=play&clip={id}"))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    set_input(&d, json!({"port": 1, "ohms": 0}));
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    for doc in documented["events"].as_array().expect("events") {
        let topic = doc["topic"].as_str().expect("topic");
        let t0 = Instant::now();
        let sent = loop {
            let state = curl(admin(), &[&d.url("/api/v1/events/state")]).json();
            let found = state["events"].as_array().and_then(|a| {
                a.iter()
                    .find(|e| e["topic"] == topic && e["message"]["data"] == doc["message"]["data"])
                    .cloned()
            });
            if let Some(f) = found {
                break f;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{topic} as documented ({}) never came: {state}",
                doc["message"]
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            keys(&sent["message"]["source"]),
            keys(&doc["message"]["source"]),
            "{topic}"
        );
    }
}
