//! The websocket event stream `/vapix/ws-data-stream` and its `wssession.cgi` tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use warp::http::StatusCode;
use warp::ws::{Message, WebSocket};

use super::{text, Reply, Request};
use crate::app::App;
use crate::event_filter::Subscription;
use crate::events::Event;
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
pub fn wssession(app: &App, req: &Request) -> Reply {
    match app.require(req, Role::Viewer) {
        Ok(Some(account)) => text(StatusCode::OK, &app.ws_sessions.issue(account.role())),
        Ok(None) => app.challenge(false),
        Err(r) => r,
    }
}

/// Checks the upgrade's credentials: a `wssession` token or HTTP auth.
pub fn authorize(app: &App, req: &Request) -> Result<Role, Reply> {
    if let Some(token) = req.arg("wssession") {
        return app
            .ws_sessions
            .redeem(token)
            .ok_or_else(|| app.challenge(false));
    }
    match app.require(req, Role::Viewer)? {
        Some(account) => Ok(account.role()),
        None => Err(app.challenge(false)),
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
pub async fn session(app: Arc<App>, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let (_, mut events) = app.bus.subscribe();
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
                    let (snapshot, _) = app.bus.subscribe();
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
