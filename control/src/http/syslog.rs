//! netamp's remote syslog API (administrator):
//!
//! - `GET /api/v1/syslog` → `{"servers": [...], "status": {...}}`: the settings and, per
//!   server, lines sent, lines dropped and the last error;
//! - `PUT /api/v1/syslog` with `{"servers": [...]}` → used from the next line on and kept
//!   across a restart; settings that do not check are refused with 400 and change
//!   nothing;
//! - `POST /api/v1/syslog/test` → one test message to each server set (or, with a server
//!   object as the body, to that one, unsaved), answered with what happened to each.

use serde_json::json;
use warp::http::{Method, StatusCode};

use super::rules::body;
use super::{json, json_error as error, Gate, Reply, Request};
use crate::syslog::{RemoteSyslog, Server, Settings};
use crate::users::Role;

/// Handles `/api/v1/syslog` and `/api/v1/syslog/test`.
pub async fn handle(gate: &Gate, syslog: &RemoteSyslog, req: &mut Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    match (req.path.as_str(), &req.method) {
        ("/api/v1/syslog", &Method::GET) => {
            json(&json!({"servers": syslog.settings().servers, "status": syslog.report()}))
        }
        ("/api/v1/syslog", &Method::PUT) => match body::<Settings>(req).await {
            Ok(new) => match syslog.set(new) {
                Ok(()) => {
                    tracing::info!(
                        "remote syslog: {} server(s) set",
                        syslog.settings().servers.len()
                    );
                    json(&json!({"ok": true}))
                }
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            },
            Err(r) => r,
        },
        ("/api/v1/syslog/test", &Method::POST) => {
            let servers = match req.body_bytes(req.body_limit).await {
                Ok(b) if b.iter().all(u8::is_ascii_whitespace) => syslog.settings().servers,
                Ok(b) => match serde_json::from_slice::<Server>(&b) {
                    Ok(s) => vec![s],
                    Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
                },
                Err(r) => return r,
            };
            if servers.is_empty() {
                return error(StatusCode::BAD_REQUEST, "no syslog server is set");
            }
            let mut results = Vec::new();
            for s in &servers {
                results.push(match syslog.test(s).await {
                    Ok(()) => json!({"host": s.host, "port": s.port(), "ok": true}),
                    Err(e) => json!({"host": s.host, "port": s.port(), "ok": false, "error": e}),
                });
            }
            json(&json!({ "results": results }))
        }
        ("/api/v1/syslog", _) => error(StatusCode::METHOD_NOT_ALLOWED, "GET or PUT"),
        ("/api/v1/syslog/test", _) => error(StatusCode::METHOD_NOT_ALLOWED, "POST"),
        _ => error(StatusCode::NOT_FOUND, "no such syslog resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{gate, read, request};
    use super::*;

    #[tokio::test]
    async fn administrators_only_and_bad_settings_change_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let g = gate(dir.path());
        let certs = crate::certstore::CertStore::open(&dir.path().join("certs")).expect("certs");
        let rs = RemoteSyslog::load(dir.path(), "axis-x".into(), std::sync::Arc::new(certs))
            .expect("load");
        for user in [None, Some("view"), Some("op")] {
            let mut req = request(Method::GET, "/api/v1/syslog", user, None);
            let (status, _, _) = read(handle(&g, &rs, &mut req).await).await;
            assert!(status == 401 || status == 403, "{user:?}: {status}");
        }
        let good = br#"{"servers":[{"host":"127.0.0.1","port":5514,"format":"rfc3164"}]}"#;
        let mut req = request(Method::PUT, "/api/v1/syslog", Some("root"), Some(good));
        let (status, _, text) = read(handle(&g, &rs, &mut req).await).await;
        assert_eq!(status, 200, "{text}");
        let bad = br#"{"servers":[{"host":"127.0.0.1","protocol":"smoke"}]}"#;
        let mut req = request(Method::PUT, "/api/v1/syslog", Some("root"), Some(bad));
        let (status, _, text) = read(handle(&g, &rs, &mut req).await).await;
        assert_eq!(status, 400, "{text}");
        let mut req = request(Method::GET, "/api/v1/syslog", Some("root"), None);
        let (status, _, text) = read(handle(&g, &rs, &mut req).await).await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["servers"][0]["port"], 5514, "{text}");
        assert_eq!(v["servers"][0]["format"], "rfc3164", "{text}");
        assert_eq!(v["status"]["servers"][0]["sent"], 0, "{text}");
    }
}
