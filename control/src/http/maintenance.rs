//! `restart.cgi`, `factorydefault.cgi`, `hardfactorydefault.cgi` (administrator): 200
//! `text/html` whose head carries `restartMessage` / `factoryMessage` (what Axis tools
//! look for), then the daemon restarts ([`crate::maintenance`]).

use warp::http::StatusCode;

use super::{respond, Gate, Reply, Request};
use crate::maintenance::{Maintenance, Reset};
use crate::users::Role;

fn page(meta: &str, text: &str) -> String {
    format!(
        "<html><head><meta name=\"{meta}\" content=\"{text}\"><title>{meta}</title></head>\
         <body>{text}</body></html>\n"
    )
}

/// Handles the three maintenance CGIs; `what` says which.
pub fn handle(gate: &Gate, maintenance: &Maintenance, req: &Request, what: Reset) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    let body = match what {
        Reset::Factory => page(
            "factoryMessage",
            "Settings are back to factory defaults (accounts and certificates kept). Restarting.",
        ),
        Reset::Hard => page(
            "factoryMessage",
            "Everything is back to factory defaults. Restarting: create the first administrator again.",
        ),
        Reset::Restart | Reset::None => page("restartMessage", "Restarting."),
    };
    maintenance.request(what);
    respond(StatusCode::OK, "text/html", body)
}
