//! netamp's rules API, `/api/v1/rules` (operator and administrator, as on Axis devices):
//!
//! - `GET    /api/v1/rules` → every action configuration and rule, each rule with its
//!   state (`active`, `fired`, `last_fired_ms_ago`), and the templates netamp runs;
//! - `POST   /api/v1/rules/actions` with `{"name", "template", "parameters": {…}}` →
//!   `{"id": n}`; `DELETE /api/v1/rules/actions/<id>` (refused while a rule uses it);
//! - `POST   /api/v1/rules` with a rule (`name`, `enabled`, `trigger`, `conditions`,
//!   `wait_s`, `action`) → `{"id": n}`; `PUT /api/v1/rules/<id>`; `DELETE
//!   /api/v1/rules/<id>`.
//!
//! Refusals are JSON `{"error": {"code", "message"}}` with 400 (bad input), 404 (no such
//! id) or 409 (in use); nothing changes then.

use serde_json::{json, Map, Value};
use warp::http::{Method, StatusCode};

use super::Gate;
use super::{json, json_error as error, Reply, Request};
use crate::rules::action::TEMPLATES;
use crate::rules::service::RulesService;
use crate::rules::{ActionConfig, Rule, RuleError, Stored};
use crate::users::Role;

/// A refused change as JSON: 404 for an unknown id, 409 for one in use, else 400.
pub(super) fn refused(e: RuleError) -> Reply {
    let status = match e {
        RuleError::NoSuchRule(_) | RuleError::NoSuchRecipient(_) | RuleError::NoSuchSchedule(_) => {
            StatusCode::NOT_FOUND
        }
        RuleError::InUse(..) | RuleError::RecipientInUse(..) => StatusCode::CONFLICT,
        RuleError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    error(status, &e.to_string())
}

/// The request's JSON body, or a 400 saying why not.
pub(super) async fn body<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T, Reply> {
    let bytes = req.body_bytes(req.body_limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string()))
}

fn listing(rules: &RulesService) -> Reply {
    let (set, status) = rules.list();
    let mut out = Map::new();
    for (id, r) in &set.rules {
        let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
        if let (Some(obj), Some(s)) = (v.as_object_mut(), status.iter().find(|s| s.id == *id)) {
            obj.insert("active".into(), json!(s.active));
            obj.insert("fired".into(), json!(s.fired));
            obj.insert(
                "last_fired_ms_ago".into(),
                json!(s.last_fired.map(|t| t.elapsed().as_millis() as u64)),
            );
        }
        out.insert(id.to_string(), v);
    }
    let mut actions = set.actions.clone();
    for a in actions.values_mut() {
        crate::recipients::model::mask(&mut a.parameters);
    }
    json(&json!({
        "actions": actions,
        "rules": out,
        "templates": TEMPLATES,
    }))
}

/// `POST`: stores the body's `T`; `{"id": n}`.
pub(super) async fn add_from_body<T: Stored + serde::de::DeserializeOwned>(
    rules: &RulesService,
    req: &mut Request,
) -> Reply {
    match body::<T>(req).await {
        Ok(item) => match rules.add(item) {
            Ok(id) => json(&json!({"id": id})),
            Err(e) => refused(e),
        },
        Err(r) => r,
    }
}

/// `PUT <id>`: replaces `T` `id` (none: 404) with the body's.
pub(super) async fn replace_from_body<T: Stored + serde::de::DeserializeOwned>(
    rules: &RulesService,
    req: &mut Request,
    id: Option<u32>,
) -> Reply {
    let Some(n) = id else {
        return error(StatusCode::NOT_FOUND, "no such id");
    };
    match body::<T>(req).await {
        Ok(item) => match rules.replace(n, item) {
            Ok(()) => json(&json!({"id": n})),
            Err(e) => refused(e),
        },
        Err(r) => r,
    }
}

/// `DELETE <id>`: removes `T` `id`; 404 when there is none, 409 while it is used.
pub(super) fn remove_reply<T: Stored>(rules: &RulesService, id: Option<u32>) -> Reply {
    let Some(n) = id else {
        return error(StatusCode::NOT_FOUND, "no such id");
    };
    match rules.remove::<T>(n) {
        Ok(()) => json(&json!({"deleted": n})),
        Err(e) if e == T::missing(n) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => refused(e),
    }
}

/// A manual trigger: `{"port": 1–64, "active": true|false, "duration_s": n}`.
#[derive(serde::Deserialize)]
struct Trigger {
    port: usize,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    duration_s: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `{"enabled": bool}`.
#[derive(serde::Deserialize)]
struct Enabled {
    enabled: bool,
}

/// Handles every path under `/api/v1/rules`.
pub async fn handle(gate: &Gate, rules: &RulesService, req: &mut Request) -> Reply {
    let rest = req.path["/api/v1/rules".len()..]
        .trim_start_matches('/')
        .to_string();
    // A viewer may fire a manual trigger, as on Axis devices; the rest is operators'.
    let needs = if rest == "trigger" {
        Role::Viewer
    } else {
        Role::Operator
    };
    if let Err(r) = gate.require(req, needs) {
        return r;
    }
    let id = |s: &str| s.parse::<u32>().ok();
    match (req.method.clone(), rest.as_str()) {
        (Method::POST, "trigger") => match body::<Trigger>(req).await {
            Ok(t) => match rules.manual_trigger(t.port, t.active, t.duration_s) {
                Ok(changed) => json(&json!({"port": t.port, "changed": changed})),
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            },
            Err(r) => r,
        },
        (Method::POST, r) if r.ends_with("/enabled") => {
            match (
                id(r.trim_end_matches("/enabled")),
                body::<Enabled>(req).await,
            ) {
                (Some(n), Ok(e)) => match rules.set_enabled(n, e.enabled) {
                    Ok(()) => json(&json!({"id": n, "enabled": e.enabled})),
                    Err(e) => refused(e),
                },
                (None, _) => error(StatusCode::NOT_FOUND, "no such rule"),
                (_, Err(r)) => r,
            }
        }
        (Method::GET, "") => listing(rules),
        (Method::POST, "") => add_from_body::<Rule>(rules, req).await,
        (Method::POST, "actions") => add_from_body::<ActionConfig>(rules, req).await,
        (Method::DELETE, a) if a.starts_with("actions/") => {
            remove_reply::<ActionConfig>(rules, id(&a["actions/".len()..]))
        }
        (Method::PUT, r) => replace_from_body::<Rule>(rules, req, id(r)).await,
        (Method::DELETE, r) => remove_reply::<Rule>(rules, id(r)),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET, POST, PUT or DELETE as docs/api.md says",
        ),
    }
}
