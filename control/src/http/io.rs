//! I/O over HTTP: `io/port.cgi`, `io/portmanagement.cgi`, virtual inputs, the manual
//! trigger, and netamp's `/api/v1/io/sim` for the simulated board.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use netamp_io::board::{ConfigPatch, Reading};
use netamp_io::{Circuit, Direction, IoError};
use serde_json::{json, Value};
use warp::http::{HeaderValue, Method, StatusCode};

use super::Gate;
use super::{bad_request, json, respond, text, Reply, Request};
use crate::events::Event;
use crate::events::EventBus;
use crate::io_service::IoService;
use crate::io_service::{TOPIC_OUTPUT_PORT, TOPIC_PORT};
use crate::users::Role;

/// Parses a comma list of 1-based port numbers into 0-based indices.
fn port_list(io: &IoService, list: &str) -> Result<Vec<usize>, Reply> {
    let n = io.board().len();
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(p) if (1..=n).contains(&p) => Ok(p - 1),
            _ => Err(bad_request(&format!("no such port: {s}"))),
        })
        .collect()
}

/// Handles `io/port.cgi`.
pub async fn port_cgi(gate: &Gate, io: &IoService, bus: &EventBus, req: &Request) -> Reply {
    let role = if req.arg("action").is_some() {
        Role::Operator
    } else {
        Role::Viewer
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    if let Some(a) = req.arg("action") {
        return match io.action(a, req.received) {
            Ok(()) => text(StatusCode::OK, ""),
            Err(e) => bad_request(&e.to_string()),
        };
    }
    if let Some(list) = req.arg("monitor") {
        return match port_list(io, list) {
            Ok(ports) => monitor(io, bus, ports),
            Err(r) => r,
        };
    }
    let mut out = String::new();
    for (arg, what) in [("check", 0), ("checkactive", 1), ("checkdirection", 2)] {
        let Some(list) = req.arg(arg) else { continue };
        let ports = match port_list(io, list) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let b = io.board();
        for p in ports {
            let Ok((_, c, s)) = b.port(p) else { continue };
            let v = match what {
                0 => {
                    if s.circuit == Circuit::Closed {
                        "1"
                    } else {
                        "0"
                    }
                }
                1 => {
                    if s.active(c.normal) {
                        "active"
                    } else {
                        "inactive"
                    }
                }
                _ => c.direction.as_str(),
            };
            out.push_str(&format!("port{}={v}\n", p + 1));
        }
    }
    if out.is_empty() {
        return bad_request(
            "one of action, check, checkactive, checkdirection or monitor is required",
        );
    }
    text(StatusCode::OK, &out)
}

/// The port, `I`/`O` and active flag an IO/Port or OutputPort event means, for `ports`.
fn monitor_label(ev: &Event, ports: &[usize]) -> Option<(usize, char, bool)> {
    let kind = match ev.topic.as_str() {
        TOPIC_PORT => 'I',
        TOPIC_OUTPUT_PORT => 'O',
        _ => return None,
    };
    let port: usize = ev.source.get("port")?.parse().ok()?;
    if !ports.contains(&port) {
        return None;
    }
    let active = match ev.data.get("state").map(String::as_str) {
        Some("1") | Some("high") => true,
        Some("0") | Some("low") => false,
        _ => return None,
    };
    Some((port, kind, active))
}

/// `port.cgi?monitor=`: a multipart stream of `<n><I|O>:<c>` parts, the current state
/// first (`H`/`L`), then `/` and `\` as ports change, and an empty boundary when idle.
fn monitor(io: &IoService, bus: &EventBus, ports: Vec<usize>) -> Reply {
    let keepalive = Duration::from_secs(io.config().monitor_keepalive_seconds.max(1));
    let (snapshot, mut rx) = bus.subscribe();
    let part = |body: &str| {
        Bytes::from(format!(
            "--ioboundary\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
        ))
    };
    let ports_task = ports.clone();
    let outputs: Vec<usize> = {
        let b = io.board();
        ports
            .iter()
            .copied()
            .filter(|p| {
                b.port(*p)
                    .is_ok_and(|(_, c, _)| c.direction == Direction::Output)
            })
            .collect()
    };
    let mut first = Vec::new();
    for ev in snapshot.iter().filter(|e| e.topic == TOPIC_PORT) {
        if let Some((port, _, active)) = monitor_label(ev, &ports) {
            let io = if outputs.contains(&port) { 'O' } else { 'I' };
            first.push(part(&format!(
                "{}{io}:{}",
                port + 1,
                if active { 'H' } else { 'L' }
            )));
        }
    }
    let (tx, mut out_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let ports = ports_task;
        for p in first {
            if tx.send(Ok(p)).await.is_err() {
                return;
            }
        }
        loop {
            let msg = tokio::time::timeout(keepalive, rx.recv()).await;
            let bytes = match msg {
                Err(_) => Bytes::from_static(b"--ioboundary\r\n"),
                Ok(Ok(ev)) => {
                    // Outputs are reported from OutputPort, inputs from IO/Port (each change
                    // once, although IO/Port carries both).
                    let Some((port, kind, active)) = monitor_label(&ev, &ports) else {
                        continue;
                    };
                    let is_output = outputs.contains(&port);
                    if (kind == 'O') != is_output {
                        continue;
                    }
                    part(&format!(
                        "{}{kind}:{}",
                        port + 1,
                        if active { '/' } else { '\\' }
                    ))
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(_)) => return,
            };
            if tx.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| out_rx.poll_recv(cx));
    let mut reply = warp::reply::Reply::into_response(warp::reply::stream(stream));
    reply.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("multipart/x-mixed-replace; boundary=ioboundary"),
    );
    reply
}

use super::json_cgi::{error as pm_error, ok as pm_ok};

fn port_id(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    }
}

/// The `getPorts` document.
pub fn ports_json(io: &IoService) -> Value {
    let b = io.board();
    let items: Vec<Value> = (0..b.len())
        .filter_map(|p| b.port(p).ok().map(|(d, c, s)| (p, d, c, s)))
        .map(|(p, d, c, s)| {
            json!({
                "port": p.to_string(),
                "configurable": d.configurable(),
                "readonly": c.direction == Direction::Input,
                "usage": c.usage,
                "direction": c.direction.as_str(),
                "name": c.name,
                "normalState": c.normal.as_str(),
                "state": s.circuit.as_str(),
            })
        })
        .collect();
    if items.is_empty() {
        json!({"numberOfPorts": 0})
    } else {
        json!({"numberOfPorts": items.len(), "items": items})
    }
}

/// One validated `setPorts` entry.
struct PortSet {
    port: usize,
    patch: ConfigPatch,
    state: Option<Circuit>,
}

fn parse_port_set(io: &IoService, v: &Value) -> Result<PortSet, String> {
    let obj = v.as_object().ok_or("each port must be an object")?;
    let port = obj
        .get("port")
        .and_then(port_id)
        .ok_or("port is required")?;
    if port >= io.board().len() {
        return Err(format!("no such port: {port}"));
    }
    let text = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= 64 => Ok(Some(s.clone())),
            Some(_) => Err(format!("invalid {k}")),
        }
    };
    let circuit = |k: &str| -> Result<Option<Circuit>, String> {
        text(k)?
            .map(|s| Circuit::parse(&s).ok_or(format!("invalid {k}: {s}")))
            .transpose()
    };
    let direction = text("direction")?
        .map(|s| Direction::parse(&s).ok_or(format!("invalid direction: {s}")))
        .transpose()?;
    let patch = ConfigPatch {
        name: text("name")?,
        usage: text("usage")?,
        direction,
        normal: circuit("normalState")?,
    };
    let state = circuit("state")?;
    io.check_patch(port, &patch).map_err(|e| e.to_string())?;
    if state.is_some() {
        let b = io.board();
        let dir = direction.unwrap_or(b.port(port).map_err(|e| e.to_string())?.1.direction);
        if dir != Direction::Output {
            return Err(format!("port {port} is an input; its state cannot be set"));
        }
    }
    Ok(PortSet { port, patch, state })
}

/// Handles `io/portmanagement.cgi`.
pub async fn port_management(gate: &Gate, io: &IoService, req: &mut Request) -> Reply {
    let call = match super::json_cgi::read(gate, req, "Invalid JSON").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v = &call.body;
    let (ctx, method) = (call.context.clone(), call.method.clone());
    if method == "getSupportedVersions" {
        return pm_ok(&ctx, &method, json!({"apiVersions": ["1.0"]}));
    }
    match v.get("apiVersion").and_then(Value::as_str) {
        Some(ver) if ver.split('.').next() == Some("1") => {}
        Some(_) => return pm_error(&ctx, &method, 2100, "API version not supported"),
        None => {
            return pm_error(
                &ctx,
                &method,
                2103,
                "Required parameter missing: apiVersion",
            )
        }
    }
    let role = match method.as_str() {
        "getPorts" => Role::Viewer,
        "setPorts" | "setStateSequence" => Role::Operator,
        _ => return pm_error(&ctx, &method, 2102, "Method not supported"),
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    let params = v.get("params").cloned().unwrap_or(Value::Null);
    match method.as_str() {
        "getPorts" => pm_ok(&ctx, &method, ports_json(io)),
        "setPorts" => {
            // Current form {"ports":[…]}; HA up to about v44 sent the bare list.
            let list = match &params {
                Value::Array(a) => a.clone(),
                Value::Object(o) => match o.get("ports") {
                    Some(Value::Array(a)) => a.clone(),
                    _ => return pm_error(&ctx, &method, 2103, "Required parameter missing: ports"),
                },
                _ => return pm_error(&ctx, &method, 2103, "Required parameter missing: ports"),
            };
            // All or nothing: validate every entry before changing any port.
            let mut sets = Vec::new();
            for entry in &list {
                match parse_port_set(io, entry) {
                    Ok(s) => sets.push(s),
                    Err(msg) => {
                        return pm_error(
                            &ctx,
                            &method,
                            2104,
                            &format!("Invalid parameter value: {msg}"),
                        )
                    }
                }
            }
            let mut done = Vec::new();
            for s in sets {
                let result = io.configure(s.port, &s.patch).and_then(|()| match s.state {
                    Some(c) => io.set_output(s.port, c),
                    None => Ok(()),
                });
                if let Err(e) = result {
                    return pm_error(&ctx, &method, 1100, &format!("Internal error: {e}"));
                }
                done.push(s.port.to_string());
            }
            pm_ok(&ctx, &method, json!({"ports": done}))
        }
        _ => {
            let Some(port) = params.get("port").and_then(port_id) else {
                return pm_error(&ctx, &method, 2103, "Required parameter missing: port");
            };
            let Some(seq) = params.get("sequence").and_then(Value::as_array) else {
                return pm_error(&ctx, &method, 2103, "Required parameter missing: sequence");
            };
            let mut steps = Vec::new();
            for s in seq {
                let state = s
                    .get("state")
                    .and_then(Value::as_str)
                    .and_then(Circuit::parse);
                let time = s.get("time").and_then(Value::as_u64);
                match (state, time) {
                    (Some(c), Some(t)) if t <= 65_535 => steps.push((c, t)),
                    _ => return pm_error(&ctx, &method, 2104, "Invalid parameter value: sequence steps need state open|closed and time 0-65535"),
                }
            }
            match io.sequence(port, &steps) {
                Ok(()) => pm_ok(&ctx, &method, json!({"port": port.to_string()})),
                Err(IoError::Busy(_)) => pm_error(
                    &ctx,
                    &method,
                    2200,
                    "A sequence is already running on this port",
                ),
                Err(e) => pm_error(
                    &ctx,
                    &method,
                    2104,
                    &format!("Invalid parameter value: {e}"),
                ),
            }
        }
    }
}

fn vi_xml(body: &str) -> Reply {
    respond(
        StatusCode::OK,
        "text/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<VirtualInputResponse xmlns=\"http://www.axis.com/vapix/http_cgi/virtualinput1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" SchemaVersion=\"1.1\" xsi:schemaLocation=\"http://www.axis.com/vapix/http_cgi/virtualinput1 http://www.axis.com/vapix/http_cgi/virtualinput1_0.xsd\">\n{body}\n</VirtualInputResponse>\n"
        ),
    )
}

fn vi_error(code: u32, description: &str) -> Reply {
    vi_xml(&format!(
        "  <Error>\n    <GeneralError>\n      <ErrorCode>{code}</ErrorCode>\n      <ErrorDescription>{description}</ErrorDescription>\n    </GeneralError>\n  </Error>"
    ))
}

/// Handles `virtualinput/activate.cgi` and `deactivate.cgi`.
pub fn virtual_input(gate: &Gate, io: &IoService, req: &Request, on: bool) -> Reply {
    if let Err(r) = gate.require(req, Role::Operator) {
        return r;
    }
    if let Some(v) = req.arg("schemaversion") {
        if v.trim().split('.').next() != Some("1") {
            return vi_error(30, "Bad Request");
        }
    }
    let Some(port) = req.arg("port") else {
        return vi_error(10, "Missing argument: port");
    };
    let port = match port.trim().parse::<usize>() {
        Ok(p) if (1..=crate::io_service::VIRTUAL_INPUTS).contains(&p) => p,
        _ => {
            return vi_error(
                20,
                &format!(
                    "Port must be an integer in the range [1..{}]",
                    crate::io_service::VIRTUAL_INPUTS
                ),
            )
        }
    };
    let duration = match req.arg("duration") {
        None => None,
        Some(d) => match d.trim().parse::<u64>() {
            Ok(d) if on && d <= 86_400 => Some(d),
            _ => return vi_error(50, "Invalid duration"),
        },
    };
    match io.set_virtual(port, on, duration) {
        Ok(changed) => {
            let tag = if on {
                "ActivateSuccess"
            } else {
                "DeactivateSuccess"
            };
            vi_xml(&format!("  <Success>\n    <{tag}>\n      <StateChanged>{changed}</StateChanged>\n    </{tag}>\n  </Success>"))
        }
        Err(e) => vi_error(40, &format!("Internal server error: {e}")),
    }
}

/// Handles `virtualinput/getschemaversions.cgi`.
pub fn schema_versions(gate: &Gate, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Operator) {
        return r;
    }
    respond(
        StatusCode::OK,
        "text/xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<VirtualInputSchemaVersions xmlns=\"http://www.axis.com/vapix/http_cgi/virtualinput1\">\n  <SchemaVersion>\n    <MajorVersion>1</MajorVersion>\n    <MinorVersion>1</MinorVersion>\n  </SchemaVersion>\n</VirtualInputSchemaVersions>\n",
    )
}

/// Handles `io/virtualinput.cgi?action=6:/2000\`, the manual trigger.
pub fn manual_trigger(gate: &Gate, io: &IoService, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    let Some(a) = req.arg("action") else {
        return bad_request("missing argument: action");
    };
    match io.manual_trigger(a) {
        Ok(()) => text(StatusCode::OK, ""),
        Err(e) => bad_request(&e.to_string()),
    }
}

/// Handles `/api/v1/io/sim`: GET the ports and recorded output edges; POST
/// `{"port":N,"state":"open|closed"}` or `{"port":N,"ohms":4700}` to set an input.
pub async fn sim(gate: &Gate, io: &IoService, req: &mut Request) -> Reply {
    let role = if req.method == Method::POST {
        Role::Operator
    } else {
        Role::Viewer
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    let err = |msg: String| {
        respond(
            StatusCode::BAD_REQUEST,
            "application/json",
            json!({"error": msg}).to_string(),
        )
    };
    if req.method == Method::POST {
        let body = match req.body_bytes(req.body_limit).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            return err("invalid JSON".into());
        };
        let Some(port) = v.get("port").and_then(port_id) else {
            return err("port is required".into());
        };
        let reading = match (v.get("state").and_then(Value::as_str), v.get("ohms")) {
            (Some(s), None) => match Circuit::parse(s) {
                Some(c) => Reading::Digital(c),
                None => return err(format!("invalid state {s}")),
            },
            (None, Some(Value::Number(n))) => Reading::Ohms(n.as_f64().unwrap_or(f64::INFINITY)),
            (None, Some(Value::String(s))) if s == "inf" => Reading::Ohms(f64::INFINITY),
            _ => return err("give state (open|closed) or ohms".into()),
        };
        if let Err(e) = io.input(port, reading) {
            return err(e.to_string());
        }
        let b = io.board();
        let loop_state = b.loop_state(port).map(|l| l.as_str());
        let circuit = b
            .port(port)
            .map(|(_, _, s)| s.circuit.as_str())
            .unwrap_or("open");
        return json(&json!({"ok": true, "port": port, "state": circuit, "loop": loop_state}));
    }
    let b = io.board();
    let edges: Vec<Value> = b
        .backend()
        .edges()
        .unwrap_or(&[])
        .iter()
        .map(|e| {
            let ns = e
                .wall
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            json!({"port": e.port, "state": e.circuit.as_str(), "unix_ns": ns})
        })
        .collect();
    let backend = b.backend().name();
    drop(b);
    json(&json!({"backend": backend, "ports": ports_json(io), "edges": edges}))
}

#[cfg(test)]
mod handler_tests {
    use super::*;
    use crate::http::testing::{gate, get, read};
    use std::sync::Arc;

    fn io(dir: &std::path::Path) -> (Arc<EventBus>, IoService) {
        let bus = Arc::new(EventBus::new());
        let io = IoService::new("combined", &Default::default(), dir, bus.clone()).expect("io");
        (bus, io)
    }

    /// port.cgi for `target` as `who`.
    async fn ask(
        gate: &Gate,
        io: &IoService,
        bus: &EventBus,
        target: &str,
        who: Option<&str>,
    ) -> Reply {
        port_cgi(gate, io, bus, &get(target, who)).await
    }

    #[tokio::test]
    async fn port_cgi_reads_for_viewers_and_switches_for_operators_only() {
        let dir = tempfile::tempdir().expect("dir");
        let (gate, (bus, io)) = (gate(dir.path()), io(dir.path()));

        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?checkactive=1,5",
            Some("view"),
        )
        .await;
        assert_eq!(
            read(r).await,
            (
                StatusCode::OK,
                "text/plain".into(),
                "port1=inactive\nport5=inactive\n".into()
            )
        );
        // A viewer may not switch: challenged, and the relay stays as it was.
        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?action=1:/",
            Some("view"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get_all("www-authenticate").iter().count() >= 2);
        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?checkactive=1",
            None,
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous reads are refused"
        );
        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?action=1:/",
            Some("op"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?checkactive=1",
            Some("view"),
        )
        .await;
        assert_eq!(read(r).await.2, "port1=active\n");
    }

    #[tokio::test]
    async fn port_cgi_refuses_bad_arguments_in_the_vapix_form_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let (gate, (bus, io)) = (gate(dir.path()), io(dir.path()));
        for (target, reason) in [
            ("/axis-cgi/io/port.cgi?check=0", "no such port: 0"),
            ("/axis-cgi/io/port.cgi?check=10", "no such port: 10"),
            (
                "/axis-cgi/io/port.cgi",
                "one of action, check, checkactive, checkdirection or monitor is required",
            ),
        ] {
            let r = ask(&gate, &io, &bus, target, Some("root")).await;
            assert_eq!(
                read(r).await,
                (
                    StatusCode::BAD_REQUEST,
                    "text/plain".into(),
                    format!("400 Bad Request\n{reason}\n")
                ),
                "{target}"
            );
        }
        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?action=1:/x",
            Some("root"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = ask(
            &gate,
            &io,
            &bus,
            "/axis-cgi/io/port.cgi?checkactive=1",
            Some("root"),
        )
        .await;
        assert_eq!(
            read(r).await.2,
            "port1=inactive\n",
            "a refused action switched"
        );
    }

    #[tokio::test]
    async fn virtual_inputs_need_an_operator_and_answer_in_xml() {
        let dir = tempfile::tempdir().expect("dir");
        let (gate, (_bus, io)) = (gate(dir.path()), io(dir.path()));
        let r = virtual_input(
            &gate,
            &io,
            &get(
                "/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=3",
                Some("view"),
            ),
            true,
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = virtual_input(
            &gate,
            &io,
            &get(
                "/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=3",
                Some("op"),
            ),
            true,
        );
        let (status, ct, body) = read(r).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.contains("xml"), "{ct}");
        assert!(body.contains("<StateChanged>true</StateChanged>"), "{body}");
        let r = virtual_input(
            &gate,
            &io,
            &get(
                "/axis-cgi/virtualinput/activate.cgi?schemaversion=1&port=3",
                Some("op"),
            ),
            true,
        );
        assert!(read(r)
            .await
            .2
            .contains("<StateChanged>false</StateChanged>"));
    }
}
