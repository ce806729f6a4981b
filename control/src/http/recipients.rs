//! netamp's recipients API, `/api/v1/recipients` (operator and administrator):
//!
//! - `GET    /api/v1/recipients` → every recipient (secrets as `*****`) and the
//!   recipient templates;
//! - `POST   /api/v1/recipients` with `{"name", "template", "parameters": {…}}` →
//!   `{"id": n}`; `PUT /api/v1/recipients/<id>` (a secret sent back as `*****` keeps its
//!   value); `DELETE /api/v1/recipients/<id>` (refused while an action uses it);
//! - `POST   /api/v1/recipients/<id>/test` → sends a test message to the stored
//!   recipient; `POST /api/v1/recipients/test` with a recipient → the same before it is
//!   saved. Both answer `{"ok": true, "answer": "<peer's status>"}`, or 502 with the
//!   reason when the peer could not be reached or refused.

use serde_json::{json, Map};
use warp::http::{Method, StatusCode};

use super::rules::{add_from_body, body, remove_reply, replace_from_body};
use super::Gate;
use super::{json, json_error as error, Reply, Request};
use crate::recipients::{RecipientConfig, RECIPIENT_TEMPLATES};
use crate::rules::service::RulesService;
use crate::users::Role;

async fn test(rules: &RulesService, r: RecipientConfig, stored: Option<u32>) -> Reply {
    match rules.test_recipient(r, stored).await {
        Ok(answer) => json(&json!({"ok": true, "answer": answer})),
        Err(crate::recipients::NotifyError::Parameters(e)) => error(StatusCode::BAD_REQUEST, &e),
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// Handles every path under `/api/v1/recipients`.
pub async fn handle(gate: &Gate, rules: &RulesService, req: &mut Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Operator) {
        return r;
    }
    let rest = req.path["/api/v1/recipients".len()..]
        .trim_start_matches('/')
        .to_string();
    let id = |s: &str| s.parse::<u32>().ok();
    let (set, _) = rules.list();
    match (req.method.clone(), rest.as_str()) {
        (Method::GET, "") => {
            let list: Map<_, _> = set
                .recipients
                .iter()
                .map(|(id, r)| (id.to_string(), json!(r.masked())))
                .collect();
            json(&json!({"recipients": list, "templates": RECIPIENT_TEMPLATES}))
        }
        (Method::POST, "") => add_from_body::<RecipientConfig>(rules, req).await,
        (Method::POST, "test") => match body::<RecipientConfig>(req).await {
            Ok(r) => test(rules, r, None).await,
            Err(r) => r,
        },
        (Method::POST, t) if t.ends_with("/test") => {
            match id(t.trim_end_matches("/test")).and_then(|n| Some((n, set.recipients.get(&n)?))) {
                Some((n, r)) => test(rules, r.clone(), Some(n)).await,
                None => error(StatusCode::NOT_FOUND, "no such recipient"),
            }
        }
        (Method::PUT, r) => replace_from_body::<RecipientConfig>(rules, req, id(r)).await,
        (Method::DELETE, r) => remove_reply::<RecipientConfig>(rules, id(r)),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET, POST, PUT or DELETE as docs/api.md says",
        ),
    }
}
