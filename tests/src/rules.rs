//! Rules, recipients and inputs through netamp's JSON API, for the rule tests.

use std::time::Duration;

use serde_json::{json, Value};

use crate::daemon::Daemon;
use crate::flows::admin;
use crate::http::curl;

/// The input topic.
pub const PORT: &str = "tns1:Device/tnsaxis:IO/Port";
/// The action-failed topic.
pub const ACTION_FAILED: &str = "tns1:Device/tnsaxis:SystemMessage/tnsaxis:ActionFailed";

/// A JSON request as the administrator: (status, body).
pub fn call(d: &Daemon, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut args = vec!["-X", method];
    if !body.is_empty() {
        args.extend(["-H", "Content-Type: application/json", "--data", &body]);
    }
    let url = d.url(path);
    args.push(&url);
    let r = curl(admin(), &args);
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

/// POSTs `body` to `path` and returns the new id.
pub fn add(d: &Daemon, path: &str, body: Value) -> u64 {
    let (status, v) = call(d, "POST", path, Some(body));
    assert_eq!(status, 200, "{v}");
    v["id"].as_u64().expect("id")
}

/// Sets simulated input `port` (0-based) closed or open.
pub fn set_input(d: &Daemon, port: u64, closed: bool) {
    let state = if closed { "closed" } else { "open" };
    let (status, v) = call(
        d,
        "POST",
        "/api/v1/io/sim",
        Some(json!({"port": port, "state": state})),
    );
    assert_eq!(status, 200, "{v}");
}

/// The content filter "port `port` is in `state`".
pub fn port_state(port: u64, state: &str) -> String {
    format!(
        r#"boolean(//SimpleItem[@Name="port" and @Value="{port}"]) and boolean(//SimpleItem[@Name="state" and @Value="{state}"])"#
    )
}

/// An output action: port `port` (0-based) high for `duration` seconds (`Some`: the
/// fixed template) or while its rule is active (`None`: the unlimited one); its id.
pub fn toggle(d: &Daemon, port: u64, duration: Option<&str>) -> u64 {
    let mut parameters = json!({"port": port.to_string(), "state": "high"});
    let template = match duration {
        Some(s) => {
            parameters["duration"] = json!(s);
            "com.axis.action.fixed.io.toggle"
        }
        None => "com.axis.action.unlimited.io.toggle",
    };
    add(
        d,
        "/api/v1/rules/actions",
        json!({"name": format!("toggle {port}"), "template": template, "parameters": parameters}),
    )
}

/// A rule: input `port` closes → `action`.
pub fn on_input(d: &Daemon, port: u64, action: u64) -> u64 {
    add(
        d,
        "/api/v1/rules",
        json!({"name": format!("input {port} → {action}"), "enabled": true,
               "trigger": {"topic": PORT, "content": port_state(port, "1")},
               "action": action}),
    )
}

/// Recent events of `topic`.
pub fn recent(d: &Daemon, topic: &str) -> Vec<Value> {
    let (_, v) = call(
        d,
        "GET",
        &format!("/api/v1/events/recent?topic={topic}"),
        None,
    );
    v["events"].as_array().cloned().unwrap_or_default()
}

/// Waits (at most `within`) until `topic` has at least `n` recent events.
pub fn wait_events(d: &Daemon, topic: &str, n: usize, within: Duration) -> Vec<Value> {
    let t0 = std::time::Instant::now();
    loop {
        let e = recent(d, topic);
        if e.len() >= n || t0.elapsed() > within {
            return e;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The recorded output edges of `port` (0-based), as states.
pub fn edges(d: &Daemon, port: u64) -> Vec<String> {
    let (_, v) = call(d, "GET", "/api/v1/io/sim", None);
    v["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|e| e["port"].as_u64() == Some(port))
        .map(|e| e["state"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Waits until `port` has `n` edges after `from` (at most 3 s), and returns them.
pub fn wait_edges(d: &Daemon, port: u64, from: usize, n: usize) -> Vec<String> {
    let t0 = std::time::Instant::now();
    loop {
        let e = edges(d, port);
        if e.len() >= from + n || t0.elapsed() > Duration::from_secs(3) {
            return e[from.min(e.len())..].to_vec();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
