//! `POST /vapix/services`: VAPIX's SOAP services (action1, event1; `crate::soap`). Any
//! account may read the event declarations and fire a manual trigger; operators and
//! administrators manage rules, recipients and schedules. Replies are SOAP 1.2,
//! `application/soap+xml`; a fault has status 400 (the request) or 500 (netamp).

use warp::http::{Method, StatusCode};

use super::{respond, Gate, Reply, Request};
use crate::io_service::IoService;
use crate::rules::service::RulesService;
use crate::soap::{self, action1, event1, Fault, Needs};
use crate::users::Role;

const SOAP_TYPE: &str = "application/soap+xml; charset=utf-8";

fn fault(f: &Fault) -> Reply {
    let status = StatusCode::from_u16(f.status()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, SOAP_TYPE, f.envelope())
}

/// Handles `/vapix/services`.
pub async fn handle(gate: &Gate, rules: &RulesService, io: &IoService, req: &mut Request) -> Reply {
    let account = match gate.require(req, Role::Viewer) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if req.method != Method::POST {
        return fault(&Fault::invalid("POST a SOAP 1.2 envelope"));
    }
    // A SOAP request is small; 1 MiB is far more than any rule set needs.
    let bytes = match req.body_bytes(req.body_limit.min(1 << 20)).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return fault(&Fault::invalid("the body is not UTF-8"));
    };
    let op = match soap::operation(text) {
        Ok(op) => op,
        Err(f) => return fault(&f),
    };
    let service = match op.ns.as_str() {
        soap::ACTION1_NS => action1::needs(&op.name).map(|n| (n, true)),
        soap::EVENT1_NS => event1::needs(&op.name).map(|n| (n, false)),
        _ => None,
    };
    let Some((needs, is_action1)) = service else {
        return fault(&Fault::not_supported(format!(
            "no operation {} in namespace {:?}",
            op.name, op.ns
        )));
    };
    let role = account.map_or(Role::Anonymous, |a| a.role());
    if needs == Needs::Operator && role < Role::Operator {
        return gate.challenge(false);
    }
    let result = if is_action1 {
        action1::run(&op, rules)
    } else {
        event1::run(&op, rules, io)
    };
    match result {
        Ok(body) => respond(StatusCode::OK, SOAP_TYPE, soap::envelope(&body)),
        Err(f) => fault(&f),
    }
}
