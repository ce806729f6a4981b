//! netamp's recording API, `/api/v1/recordings` (operator):
//!
//! - `GET  /api/v1/recordings[?from=<unix ms>&to=<unix ms>]` → whether recording is on
//!   and the segments overlapping the range;
//! - `POST /api/v1/recordings` with `{"recording": true|false}` → starts or stops (kept
//!   across restarts);
//! - `GET  /api/v1/recordings/export?from=&to=` → that range as one Ogg Opus file;
//! - `DELETE /api/v1/recordings/<id>` → deletes a closed segment.

use serde_json::{json, Value};
use warp::http::{Method, StatusCode};

use super::Gate;
use super::{json, json_error as error, respond, Reply, Request};
use crate::recorder::Recorder;
use crate::users::Role;

fn range(req: &Request) -> Result<(u64, u64), Reply> {
    let parse = |k: &str, default: u64| match req.arg(k) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("{k} must be Unix milliseconds"),
            )
        }),
    };
    let (from, to) = (parse("from", 0)?, parse("to", u64::MAX)?);
    if from >= to {
        return Err(error(StatusCode::BAD_REQUEST, "from must be before to"));
    }
    Ok((from, to))
}

/// Handles every path under `/api/v1/recordings`.
pub async fn handle(gate: &Gate, recorder: &Recorder, req: &mut Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Operator) {
        return r;
    }
    let rest = req.path["/api/v1/recordings".len()..]
        .trim_start_matches('/')
        .to_string();
    match (req.method.clone(), rest.as_str()) {
        (Method::GET, "") => {
            let (from, to) = match range(req) {
                Ok(r) => r,
                Err(r) => return r,
            };
            json(&json!({
                "recording": recorder.is_recording(),
                "segments": recorder.list(from, to),
            }))
        }
        (Method::POST, "") => {
            let body = match req.body_bytes(req.body_limit).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(on) = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("recording").and_then(Value::as_bool))
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "body must be {\"recording\": true|false}",
                );
            };
            match recorder.set_recording(on) {
                Ok(()) => json(&json!({"recording": on})),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        (Method::GET, "export") => {
            let (from, to) = match range(req) {
                Ok(r) => r,
                Err(r) => return r,
            };
            let limit_ms = recorder.config().max_export_seconds.saturating_mul(1000);
            if recorder.covered_ms(from, to) > limit_ms {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "at most {} s of audio per export; narrow from/to",
                        recorder.config().max_export_seconds
                    ),
                );
            }
            match tokio::task::block_in_place(|| recorder.export(from, to)) {
                Ok(bytes) => respond(StatusCode::OK, "audio/ogg", bytes),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
            }
        }
        (Method::DELETE, id) => {
            let Ok(id) = id.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "no such segment");
            };
            match recorder.delete(id) {
                Ok(true) => json(&json!({"deleted": id})),
                Ok(false) => error(StatusCode::NOT_FOUND, "no such segment"),
                Err(e) => error(StatusCode::CONFLICT, &e),
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "see docs/api.md for /api/v1/recordings",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{gate, get, read, request};

    #[tokio::test]
    async fn recordings_need_an_operator_and_a_bad_switch_changes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let recorder = Recorder::load(dir.path(), Default::default()).expect("recorder");
        let r = handle(
            &gate,
            &recorder,
            &mut get("/api/v1/recordings", Some("view")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let (status, ct, body) =
            read(handle(&gate, &recorder, &mut get("/api/v1/recordings", Some("op"))).await).await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["recording"], false);
        let mut bad = request(
            Method::POST,
            "/api/v1/recordings",
            Some("op"),
            Some(b"{\"recording\": 3}"),
        );
        let r = handle(&gate, &recorder, &mut bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(!recorder.is_recording());
        let mut on = request(
            Method::POST,
            "/api/v1/recordings",
            Some("op"),
            Some(b"{\"recording\": true}"),
        );
        assert_eq!(
            handle(&gate, &recorder, &mut on).await.status(),
            StatusCode::OK
        );
        assert!(recorder.is_recording());
    }
}
