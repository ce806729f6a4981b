//! netamp's schedules API, `/api/v1/schedules` (operator and administrator):
//!
//! - `GET    /api/v1/schedules` → every schedule with `active` (an interval in schedule
//!   now; pulses are never active) and `pulse`;
//! - `POST   /api/v1/schedules` with `{"name", "ical"}` → `{"id": n}`;
//!   `PUT /api/v1/schedules/<id>`; `DELETE /api/v1/schedules/<id>`.
//!
//! `ical` holds `DTSTART`, optional `DTEND` (an interval) and `RRULE` lines; refusals are
//! JSON errors (400 with the reason, 404).

use serde_json::{json, Map};
use warp::http::{Method, StatusCode};

use super::rules::{add_from_body, remove_reply, replace_from_body};
use super::Gate;
use super::{json, json_error as error, Reply, Request};
use crate::rules::schedule::{Recurrence, Schedule};
use crate::rules::service::RulesService;
use crate::users::Role;

/// Handles every path under `/api/v1/schedules`.
pub async fn handle(gate: &Gate, rules: &RulesService, req: &mut Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Operator) {
        return r;
    }
    let rest = req.path["/api/v1/schedules".len()..]
        .trim_start_matches('/')
        .to_string();
    let id = rest.parse::<u32>().ok();
    match (req.method.clone(), id) {
        (Method::GET, None) if rest.is_empty() => {
            let (set, _) = rules.list();
            let list: Map<_, _> = set
                .schedules
                .iter()
                .map(|(id, s)| {
                    (
                        id.to_string(),
                        json!({"name": s.name, "ical": s.ical,
                               "pulse": Recurrence::parse(&s.ical, rrule::Tz::UTC)
                                   .is_ok_and(|r| r.is_pulse()),
                               "active": rules.in_schedule(*id)}),
                    )
                })
                .collect();
            json(&json!({ "schedules": list }))
        }
        (Method::POST, None) if rest.is_empty() => add_from_body::<Schedule>(rules, req).await,
        (Method::PUT, Some(_)) => replace_from_body::<Schedule>(rules, req, id).await,
        (Method::DELETE, Some(_)) => remove_reply::<Schedule>(rules, id),
        (Method::GET | Method::POST | Method::PUT | Method::DELETE, _) => {
            error(StatusCode::NOT_FOUND, "no such schedule")
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET, POST, PUT or DELETE as docs/api.md says",
        ),
    }
}
