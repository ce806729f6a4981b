//! `systemlog.cgi`, `accesslog.cgi` and `serverreport.cgi` (administrator), as
//! `../shared/reference/vapix.md` §2.5 describes them: `text/plain`, the logs in the Axis
//! line format, `text=` keeping only lines that contain it (letters and digits only).
//! The server report (`mode=text`, the default) is what support asks for: identity,
//! version, uptime, the status document, the configuration file and the rules with every
//! secret masked, and the recent system and access log.

use warp::http::StatusCode;

use super::{respond, status, text, Gate, HttpState, Reply, Request};
use crate::logs::{self, Log};
use crate::services::Services;
use crate::users::Role;

/// Handles `systemlog.cgi` and `accesslog.cgi`.
pub fn log(gate: &Gate, req: &Request, which: Log) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    let filter = req.arg("text").filter(|t| !t.is_empty());
    if filter.is_some_and(|t| !t.chars().all(|c| c.is_ascii_alphanumeric())) {
        return text(
            StatusCode::BAD_REQUEST,
            "Error: text may hold letters and digits only.\n",
        );
    }
    respond(StatusCode::OK, "text/plain", logs::render(which, filter))
}

/// Handles `serverreport.cgi`.
pub fn server_report(gate: &Gate, app: &Services, http: &HttpState, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    match req.arg("mode").unwrap_or("text") {
        "text" => {}
        other => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Error: mode {other:?} is not supported (text).\n"),
            )
        }
    }
    let id = &app.identity;
    let mut out = format!(
        "----- netamp server report -----\n\nProduct: {} ({})\nVersion: {}\nBuild date: {}\n\
         Serial number: {}\nUptime: {} s\n\n",
        id.prod_type(),
        id.prod_nbr(),
        id.version,
        id.build_date,
        id.serial(),
        app.started.elapsed().as_secs()
    );
    out.push_str("----- Status -----\n\n");
    out.push_str(&serde_json::to_string_pretty(&status::document(app, http)).unwrap_or_default());
    out.push_str("\n\n----- Configuration file (secrets masked) -----\n\n");
    out.push_str(&app.config_report);
    out.push_str("\n----- Rules, actions and recipients (secrets masked) -----\n\n");
    let (set, _) = app.rules.list();
    for (n, r) in &set.rules {
        out.push_str(&format!(
            "rule {n}: {:?} {}\n",
            r.name,
            if r.enabled { "enabled" } else { "disabled" }
        ));
    }
    for (n, a) in &set.actions {
        out.push_str(&format!("action {n}: {:?} {}\n", a.name, a.template));
    }
    for (n, r) in &set.recipients {
        let masked = r.masked();
        out.push_str(&format!(
            "recipient {n}: {:?} {} {}\n",
            masked.name,
            masked.template,
            serde_json::to_string(&masked.parameters).unwrap_or_default()
        ));
    }
    out.push('\n');
    out.push_str(&logs::render(Log::System, None));
    out.push('\n');
    out.push_str(&logs::render(Log::Access, None));
    respond(StatusCode::OK, "text/plain", out)
}
