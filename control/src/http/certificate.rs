//! netamp's HTTPS certificate API, `/api/v1/https/certificate`:
//!
//! - `GET` (viewer) → the certificate in use with its chain, PEM: what clients are given to
//!   trust the device;
//! - `PUT` (administrator) with `{"certificate": "<PEM chain>", "key": "<PEM key>"}` → used
//!   from the next TLS handshake on, without a restart; a pair that does not work is
//!   refused with 400 and changes nothing. The key is stored 0600 and never returned.
//!
//! 404 while HTTPS is off.

use serde::Deserialize;
use serde_json::json;
use warp::http::{Method, StatusCode};

use super::rules::body;
use super::{json, json_error as error, respond, Gate, Reply, Request};
use crate::tls::TlsState;
use crate::users::Role;

/// A new server certificate.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    /// The certificate, then its chain, PEM.
    certificate: String,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    key: String,
}

/// Handles `/api/v1/https/certificate`.
pub async fn handle(gate: &Gate, tls: Option<&TlsState>, req: &mut Request) -> Reply {
    let role = if req.method == Method::GET {
        Role::Viewer
    } else {
        Role::Admin
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    let Some(tls) = tls else {
        return error(StatusCode::NOT_FOUND, "HTTPS is off ([http] https_listen)");
    };
    match req.method {
        Method::GET => match tls.certificate_pem() {
            Ok(pem) => respond(StatusCode::OK, "application/x-pem-file", pem),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        },
        Method::PUT => match body::<Upload>(req).await {
            Ok(u) => match tls.replace(&u.certificate, &u.key) {
                Ok(()) => {
                    tracing::info!("HTTPS: a new server certificate is in use");
                    json(&json!({"ok": true}))
                }
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            },
            Err(r) => r,
        },
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "GET or PUT"),
    }
}
