//! The websocket event stream `/vapix/ws-data-stream` and its `wssession.cgi` tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use warp::http::StatusCode;
use warp::ws::{Message, WebSocket};

use super::{text, Gate, Reply, Request};
use crate::event_filter::Subscription;
use crate::events::{Event, EventBus};
use crate::users::Role;

/// How long a `wssession.cgi` token may be used.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15);
/// Most tokens outstanding (older ones are dropped first).
const MAX_TOKENS: usize = 1024;
/// Most filters in one `events:configure`.
const MAX_FILTERS: usize = 64;

/// Outstanding single-use websocket tokens.
#[derive(Default)]
pub struct WsSessions {
    tokens: Mutex<HashMap<String, (Instant, Role)>>,
}

impl WsSessions {
    /// Issues a token for a user of `role`.
    pub fn issue(&self, role: Role) -> String {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        t.retain(|_, (at, _)| now.duration_since(*at) < TOKEN_LIFETIME);
        if t.len() >= MAX_TOKENS {
            if let Some(oldest) = t
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                t.remove(&oldest);
            }
        }
        // Digits only: some clients parse the token as a JSON number.
        let token = format!(
            "{}",
            rand::random_range(1_000_000_000_000_000_000u64..10_000_000_000_000_000_000u64)
        );
        t.insert(token.clone(), (now, role));
        token
    }

    /// Redeems a token once.
    pub fn redeem(&self, token: &str) -> Option<Role> {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let (at, role) = t.remove(token.trim())?;
        (at.elapsed() < TOKEN_LIFETIME).then_some(role)
    }
}

/// Handles `GET /axis-cgi/wssession.cgi`: a token for the websocket, valid 15 s.
pub fn wssession(gate: &Gate, sessions: &WsSessions, req: &Request) -> Reply {
    match gate.require(req, Role::Viewer) {
        Ok(Some(account)) => text(StatusCode::OK, &sessions.issue(account.role())),
        Ok(None) => gate.challenge(false),
        Err(r) => r,
    }
}

/// Checks the upgrade's credentials: a `wssession` token or HTTP auth.
pub fn authorize(gate: &Gate, sessions: &WsSessions, req: &Request) -> Result<Role, Reply> {
    if let Some(token) = req.arg("wssession") {
        return sessions.redeem(token).ok_or_else(|| gate.challenge(false));
    }
    match gate.require(req, Role::Viewer)? {
        Some(account) => Ok(account.role()),
        None => Err(gate.challenge(false)),
    }
}

fn notify(ev: &Event) -> String {
    json!({
        "apiVersion": "1.0",
        "method": "events:notify",
        "params": {"notification": {
            "timestamp": ev.timestamp_ms,
            "topic": ev.topic,
            "message": {"source": ev.source, "key": ev.key, "data": ev.data},
        }},
    })
    .to_string()
}

/// Parses an `events:configure` request: the reply, and the new subscriptions on success.
fn configure(v: &Value) -> (String, Option<Vec<Subscription>>) {
    let ctx = v.get("context").cloned();
    let reply = |body: Value| {
        let mut obj = json!({"apiVersion": "1.0", "method": "events:configure"});
        if let Some(c) = &ctx {
            obj["context"] = c.clone();
        }
        if let (Value::Object(o), Value::Object(b)) = (&mut obj, body) {
            o.extend(b);
        }
        obj.to_string()
    };
    let err = |code: u32, msg: &str| reply(json!({"error": {"code": code, "message": msg}}));
    if v.get("method").and_then(Value::as_str) != Some("events:configure") {
        return (err(2102, "Method not supported"), None);
    }
    let Some(list) = v
        .pointer("/params/eventFilterList")
        .and_then(Value::as_array)
    else {
        return (
            err(2103, "Required parameter missing: params.eventFilterList"),
            None,
        );
    };
    if list.is_empty() {
        return (
            err(
                2104,
                "Invalid event datasource payload: eventFilterList is empty",
            ),
            None,
        );
    }
    if list.len() > MAX_FILTERS {
        return (err(2107, "Request too large: too many filters"), None);
    }
    let mut subs = Vec::new();
    for f in list {
        let topic = f.get("topicFilter").and_then(Value::as_str);
        let content = f.get("contentFilter").and_then(Value::as_str);
        match Subscription::new(topic, content) {
            Ok(s) => subs.push(s),
            Err(e) => return (err(2104, &format!("Invalid parameter value: {e}")), None),
        }
    }
    (reply(json!({"data": {}})), Some(subs))
}

/// One websocket session: configure, then notifications for every matching event.
pub async fn session(bus: Arc<EventBus>, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let (_, mut events) = bus.subscribe();
    let mut subs: Vec<Subscription> = Vec::new();
    loop {
        tokio::select! {
            msg = rx.next() => {
                let Some(Ok(msg)) = msg else { return };
                if msg.is_close() {
                    return;
                }
                let Ok(text) = msg.to_str() else { continue };
                let (reply, new) = match serde_json::from_str::<Value>(text) {
                    Ok(v) => configure(&v),
                    Err(_) => (json!({"apiVersion": "1.0", "error": {"code": 2101, "message": "Invalid JSON"}}).to_string(), None),
                };
                if tx.send(Message::text(reply)).await.is_err() {
                    return;
                }
                if let Some(new) = new {
                    subs = new;
                    // Stateful topics give their current state to a new subscription.
                    let (snapshot, _) = bus.subscribe();
                    for ev in &snapshot {
                        for _ in subs.iter().filter(|s| s.matches(ev)) {
                            if tx.send(Message::text(notify(ev))).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                // Each matching filter entry is its own subscription: double matches go twice.
                for _ in subs.iter().filter(|s| s.matches(&ev)) {
                    if tx.send(Message::text(notify(&ev))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{gate, get, read};

    #[tokio::test]
    async fn a_session_token_is_digits_and_opens_the_stream_once() {
        let dir = tempfile::tempdir().expect("dir");
        let (gate, sessions) = (gate(dir.path()), WsSessions::default());
        let r = wssession(&gate, &sessions, &get("/axis-cgi/wssession.cgi", None));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let (status, _, token) = read(wssession(
            &gate,
            &sessions,
            &get("/axis-cgi/wssession.cgi", Some("view")),
        ))
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            token.len() >= 19 && token.bytes().all(|b| b.is_ascii_digit()),
            "{token}"
        );
        let upgrade = get(&format!("/vapix/ws-data-stream?wssession={token}"), None);
        assert_eq!(
            authorize(&gate, &sessions, &upgrade).ok(),
            Some(Role::Viewer)
        );
        let again = authorize(&gate, &sessions, &upgrade);
        assert_eq!(
            again.err().map(|r| r.status()),
            Some(StatusCode::UNAUTHORIZED),
            "a token was accepted twice"
        );
        let r = authorize(&gate, &sessions, &get("/vapix/ws-data-stream", Some("op")));
        assert_eq!(r.ok(), Some(Role::Operator));
    }

    #[test]
    fn configure_answers_each_malformed_request_with_its_vapix_code() {
        let code = |v: Value| {
            let (reply, subs) = configure(&v);
            let r: Value = serde_json::from_str(&reply).expect("json");
            (
                r.pointer("/error/code").and_then(Value::as_u64),
                subs.map(|s| s.len()),
            )
        };
        assert_eq!(code(json!({"method": "events:other"})), (Some(2102), None));
        assert_eq!(
            code(json!({"method": "events:configure"})),
            (Some(2103), None)
        );
        assert_eq!(
            code(json!({"method": "events:configure", "params": {"eventFilterList": []}})),
            (Some(2104), None)
        );
        let many: Vec<Value> = (0..=MAX_FILTERS)
            .map(|_| json!({"topicFilter": "tns1:Device"}))
            .collect();
        assert_eq!(
            code(json!({"method": "events:configure", "params": {"eventFilterList": many}})),
            (Some(2107), None)
        );
        assert_eq!(
            code(
                json!({"method": "events:configure", "params": {"eventFilterList": [{"topicFilter": "tns1:Device//."}]}})
            ),
            (None, Some(1))
        );
    }
}
