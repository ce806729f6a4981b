//! netamp's HTTPS certificate API, `/api/v1/https/certificate`:
//!
//! - `GET` (viewer) → the certificate in use with its chain, PEM: what clients are given to
//!   trust the device;
//! - `PUT` (administrator) with `{"certificate": "<PEM chain>", "key": "<PEM key>"}`, or
//!   with `{"pkcs12": "<base64 of a .pfx/.p12>", "password": "…"}` → used from the next
//!   TLS handshake on, without a restart; what does not work (a key that is not the
//!   certificate's, a wrong PKCS#12 password) is refused with 400 and changes nothing.
//!   The key is stored 0600 and never returned.
//!
//! 404 while HTTPS is off.

use serde::Deserialize;
use serde_json::json;
use warp::http::{Method, StatusCode};

use super::rules::body;
use super::{json, json_error as error, respond, Gate, Reply, Request};
use crate::tls::TlsState;
use crate::users::Role;

/// A new server certificate: PEM, or a PKCS#12 archive.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    /// The certificate, then its chain, PEM.
    certificate: Option<String>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    key: Option<String>,
    /// A PKCS#12 (PFX) archive, base64.
    pkcs12: Option<String>,
    /// The archive's password.
    password: Option<String>,
}

/// PEM text of one DER object.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The certificate chain and key (PEM) of an upload.
fn pem_pair(u: Upload) -> Result<(String, String), String> {
    match u {
        Upload {
            certificate: Some(c),
            key: Some(k),
            pkcs12: None,
            password: None,
        } => Ok((c, k)),
        Upload {
            certificate: None,
            key: None,
            pkcs12: Some(archive),
            password,
        } => {
            use base64::Engine as _;
            let der = base64::engine::general_purpose::STANDARD
                .decode(archive.trim())
                .map_err(|e| format!("pkcs12 is not base64: {e}"))?;
            let store = p12_keystore::KeyStore::from_pkcs12(
                &der,
                password.as_deref().unwrap_or(""),
                p12_keystore::Pkcs12ImportPolicy::Strict,
            )
            .map_err(|e| format!("PKCS#12: {e}"))?;
            let (_, chain) = store
                .private_key_chain()
                .ok_or("the PKCS#12 archive holds no key with its certificate")?;
            let certs: String = chain
                .certs()
                .iter()
                .map(|c| pem("CERTIFICATE", c.as_der()))
                .collect();
            Ok((certs, pem("PRIVATE KEY", chain.key().as_der())))
        }
        _ => Err("send certificate and key (PEM), or pkcs12 and password".into()),
    }
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
            Ok(u) => match pem_pair(u).and_then(|(c, k)| tls.replace(&c, &k)) {
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
