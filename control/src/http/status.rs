//! `GET /api/v1/status` (JSON) and `/metrics` (Prometheus text).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde_json::json;
use warp::http::StatusCode;

use super::{json, respond, Reply, Request};
use super::{Gate, HttpState};
use crate::events::EventBus;
use crate::services::Services;
use crate::users::Role;
use netamp_engine::device::rt_priority::RtPriority;

/// Resident set size of this process, bytes (Linux).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Passwords the security overview counts as defaults.
const WELL_KNOWN_PASSWORDS: [&str; 7] = [
    "pass", "root", "admin", "password", "1234", "12345", "123456",
];

/// The status document.
pub fn document(app: &Services, http: &HttpState) -> serde_json::Value {
    let s = app.audio.engine.stats();
    let cfg = app.audio.engine.config();
    let lat = app.player.latency();
    let period_ns = cfg.period_frames as f64 * 1e9 / f64::from(netamp_engine::SAMPLE_RATE);
    let load = if s.blocks > 0 {
        s.render_ns_total as f64 / s.blocks as f64 / period_ns
    } else {
        0.0
    };
    json!({
        "version": app.identity.version,
        "name": app.identity.name,
        "serial": app.identity.serial(),
        "uptime_s": app.started.elapsed().as_secs(),
        "audio": {
            "output": {
                "spec": app.audio.config.output,
                "device": app.audio.output_device(),
                "period_frames": cfg.period_frames,
                "sample_rate": netamp_engine::SAMPLE_RATE,
                "frames_rendered": s.frames_rendered,
                "started_unix_ns": s.started_unix_ns,
                "xruns": s.xruns,
                "render_scheduling": match s.rt_priority {
                    RtPriority::Realtime => "fifo",
                    RtPriority::Refused => "normal (real-time refused)",
                    RtPriority::NotAsked => "normal",
                },
            },
            "input": {
                "spec": app.audio.input_device(),
                "frames": app.audio.capture.frames(),
                "lost_frames": app.audio.capture.lost_frames(),
                "device_errors": app.audio.capture.device_errors(),
                "level_dbfs": app.audio.capture.level_dbfs(),
                "started_unix_ns": app.audio.capture.started_unix_ns(),
                "listeners": http.listeners.load(std::sync::atomic::Ordering::Relaxed),
                "processing": {
                    "echo_cancel": app.audio.capture.stages().echo_cancel,
                    "echo_reference": app.audio.echo_reference(),
                    "noise_suppression": app.audio.capture.stages().noise_suppression,
                    "agc": app.audio.capture.stages().agc,
                },
            },
            "avc_gain_db": app.audio.engine.avc_handle().gain_db(),
            "underruns": s.underruns,
            "active_sources": s.active_sources,
            "render_ns_max": s.render_ns_max,
            "render_load": load,
            "limiter_engaged_samples": s.limiter_engaged,
        },
        "sip": app.calls.ua().map(|ua| {
            let (g, c) = (ua.guard_stats(), ua.stats());
            let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            json!({
                "listen": ua.local_addr().to_string(),
                "active": ua.calls().len(),
                "answered": n(&c.answered),
                "refused": n(&c.refused),
                "ended": n(&c.ended),
                "malformed_answered": n(&g.rejected),
                "malformed_dropped": n(&g.dropped),
            })
        }),
        "clips": {
            "count": app.clips.list().len(),
            "playing": app.player.playing(),
            "plays": app.player.plays(),
            "trigger_latency_us": lat,
        },
        "rtsp": app.rtsp_addr.map(|a| a.to_string()),
        "io": {
            "backend": app.io.board().backend().name(),
            "ports": app.io.board().len(),
            "action_latency_us": app.io.action_latency(),
        },
        "security": {
            "https": app.tls.is_some(),
            "https_only": http.https_only.is_some(),
            "anonymous_viewing": app.auth.anonymous_viewing(),
            "brute_force_blocking": app.auth.blocking(),
            // Accounts whose password is one anybody would try first.
            "default_password_accounts": app
                .auth
                .users()
                .all()
                .iter()
                .filter(|a| {
                    WELL_KNOWN_PASSWORDS
                        .iter()
                        .any(|p| app.auth.users().check_password(&a.name, p).is_some())
                })
                .map(|a| a.name.clone())
                .collect::<Vec<_>>(),
        },
        // Who is connected now: HTTP(S) clients by address, and the peers of SIP calls.
        "clients": {
            "http": super::server::clients(),
            "sip": app.calls.ua().map(|ua| {
                let port = ua.local_addr().port();
                let tls_port = ua.tls_addr().map(|a| a.port());
                ua.calls()
                    .iter()
                    .map(|c| {
                        let tls = c.transport.eq_ignore_ascii_case("tls");
                        json!({
                            "address": c.remote_addr,
                            "protocol": format!("sip/{}", c.transport.to_ascii_lowercase()),
                            "port": if tls { tls_port.unwrap_or(port) } else { port },
                            "state": c.state.as_str(),
                            "call": c.id,
                            "srtp": c.srtp,
                        })
                    })
                    .collect::<Vec<_>>()
            }).unwrap_or_default(),
        },
        "process": { "rss_bytes": rss_bytes() },
        "state_recovered": crate::store::recoveries(),
    })
}

/// Handles `GET /api/v1/status`.
pub fn status(gate: &Gate, app: &Services, http: &HttpState, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    json(&document(app, http))
}

/// How long the output may render no frame before `/healthz` reports it.
const RENDER_STALL: std::time::Duration = std::time::Duration::from_secs(2);

/// Handles `/healthz` (anonymous: probes carry no credentials): 200 `ok` while the
/// output renders, 503 when it has rendered nothing for [`RENDER_STALL`] between two
/// probes.
pub fn healthz(app: &Services) -> Reply {
    static LAST: std::sync::Mutex<Option<(u64, std::time::Instant)>> = std::sync::Mutex::new(None);
    let frames = app.audio.engine.stats().frames_rendered;
    let now = std::time::Instant::now();
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let stalled = match *last {
        Some((f, at)) if f == frames => now.duration_since(at) > RENDER_STALL,
        _ => {
            *last = Some((frames, now));
            false
        }
    };
    if stalled {
        super::text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the audio output renders no frames\n",
        )
    } else {
        super::text(StatusCode::OK, "ok\n")
    }
}

/// Handles `GET /metrics`.
pub fn metrics(gate: &Gate, app: &Services, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    let s = app.audio.engine.stats();
    let lat = app.player.latency();
    let h = gate.stats();
    let mut out = String::new();
    let id = &app.identity;
    let _ = writeln!(
        out,
        "# HELP netamp_build_info The running build.\n# TYPE netamp_build_info gauge\n\
         netamp_build_info{{version=\"{}\",arch=\"{}\",profile=\"{}\"}} 1",
        id.version, id.architecture, id.profile
    );
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "netamp_frames_rendered_total",
        "counter",
        "Frames written to the output device.",
        s.frames_rendered.to_string(),
    );
    metric(
        "netamp_http_connections_refused_total",
        "counter",
        "HTTP connections closed at once because [http] max_connections were open.",
        super::server::REFUSED
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_string(),
    );
    metric(
        "netamp_render_realtime",
        "gauge",
        "1 while the render thread runs with real-time (SCHED_FIFO) priority.",
        u8::from(s.rt_priority == RtPriority::Realtime).to_string(),
    );
    metric(
        "netamp_xruns_total",
        "counter",
        "Output device xruns.",
        s.xruns.to_string(),
    );
    metric(
        "netamp_underruns_total",
        "counter",
        "Source ring underruns.",
        s.underruns.to_string(),
    );
    metric(
        "netamp_active_sources",
        "gauge",
        "Sources in the mixer.",
        s.active_sources.to_string(),
    );
    metric(
        "netamp_render_seconds_total",
        "counter",
        "Time spent rendering blocks.",
        format!("{:.9}", s.render_ns_total as f64 / 1e9),
    );
    metric(
        "netamp_render_seconds_max",
        "gauge",
        "Longest block render.",
        format!("{:.9}", s.render_ns_max as f64 / 1e9),
    );
    metric(
        "netamp_clip_trigger_latency_p50_seconds",
        "gauge",
        "Clip request to first sample, median.",
        format!("{:.6}", lat.p50_us as f64 / 1e6),
    );
    metric(
        "netamp_clip_trigger_latency_p99_seconds",
        "gauge",
        "Clip request to first sample, 99th percentile.",
        format!("{:.6}", lat.p99_us as f64 / 1e6),
    );
    metric(
        "netamp_calls_active",
        "gauge",
        "Active SIP calls.",
        app.calls.ua().map_or(0, |ua| ua.calls().len()).to_string(),
    );
    metric(
        "netamp_http_requests_total",
        "counter",
        "HTTP requests answered.",
        h.requests.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "netamp_http_request_seconds_total",
        "counter",
        "Time spent handling HTTP requests.",
        format!("{:.6}", h.micros_total.load(Ordering::Relaxed) as f64 / 1e6),
    );
    metric(
        "netamp_http_auth_failures_total",
        "counter",
        "Requests with wrong credentials.",
        h.auth_failures.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "netamp_process_resident_bytes",
        "gauge",
        "Resident memory.",
        rss_bytes().to_string(),
    );
    respond(StatusCode::OK, "text/plain; version=0.0.4", out)
}

/// Handles `GET /api/v1/events/recent[?topic=…]`: the last events published, oldest
/// first, stateless ones included.
pub fn event_recent(gate: &Gate, bus: &EventBus, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    let topic = req.arg("topic");
    let list: Vec<_> = bus
        .recent()
        .iter()
        .filter(|e| topic.is_none_or(|t| e.topic == t))
        .map(|e| json!({"topic": e.topic, "timestamp": e.timestamp_ms, "message": {"source": e.source, "key": e.key, "data": e.data}}))
        .collect();
    json(&json!({ "events": list }))
}

/// Handles `GET /api/v1/events/state`: the current value of every stateful topic.
pub fn event_state(gate: &Gate, bus: &EventBus, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Viewer) {
        return r;
    }
    let (snapshot, _) = bus.subscribe();
    let list: Vec<_> = snapshot
        .iter()
        .map(|e| json!({"topic": e.topic, "timestamp": e.timestamp_ms, "message": {"source": e.source, "key": e.key, "data": e.data}}))
        .collect();
    json(&json!({ "events": list }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::http::testing::{gate, get, read};

    #[tokio::test]
    async fn event_state_holds_stateful_topics_and_recent_filters_by_topic() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let bus = EventBus::new();
        bus.publish(Event::new(
            "tns1:Device/IO/Port",
            &[("port", "0")],
            &[("state", "1")],
            true,
        ));
        bus.publish(Event::new(
            "tnsaxis:Call/DTMF",
            &[("DTMFEventId", "digit")],
            &[("Digit", "5")],
            false,
        ));
        let r = event_state(&gate, &bus, &get("/api/v1/events/state", None));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let (_, ct, body) = read(event_state(
            &gate,
            &bus,
            &get("/api/v1/events/state", Some("view")),
        ))
        .await;
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let topics: Vec<_> = v["events"]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| e["topic"].clone())
            .collect();
        assert_eq!(topics, [json!("tns1:Device/IO/Port")]);
        let (_, _, body) = read(event_recent(
            &gate,
            &bus,
            &get(
                "/api/v1/events/recent?topic=tnsaxis:Call/DTMF",
                Some("view"),
            ),
        ))
        .await;
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["events"][0]["message"]["data"]["Digit"], "5");
        assert_eq!(v["events"].as_array().map(Vec::len), Some(1));
    }
}
