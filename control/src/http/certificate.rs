//! netamp's certificate APIs.
//!
//! `/api/v1/https/certificate`, the certificate HTTPS and SIP over TLS present:
//! - `GET` (viewer) → the certificate in use with its chain, PEM: what clients are given to
//!   trust the device;
//! - `PUT` (administrator) with `{"certificate": "<PEM chain>", "key": "<PEM key>"}`, or
//!   with `{"pkcs12": "<base64 of a .pfx/.p12>", "password": "…"}` → stored in the
//!   certificate store (under `id`, default `uploaded`) and used from the next TLS
//!   handshake on, without a restart; `{"id": "<stored id>"}` alone picks a stored one.
//!   What does not work (a key that is not the certificate's, a wrong PKCS#12 password,
//!   an unknown id) is refused with 400 or 404 and changes nothing. Keys are stored 0600
//!   and never returned. 404 while neither HTTPS nor SIP over TLS is on.
//!
//! `/api/v1/certificates` (administrator), the certificate store ([`crate::certstore`]):
//! - `GET` → `{"server": [entry…], "ca": [entry…]}`; `GET …/server/<id>`,
//!   `GET …/ca/<id>` → the entry with its `pem` (and a pending request's `csr`);
//! - `PUT …/server/<id>` with a certificate and key, a PKCS#12 archive, or a certificate
//!   alone for the key of the request made for `<id>`; `PUT …/ca/<id>` with
//!   `{"certificate": "<PEM>"}`;
//! - `POST …/server/<id>/csr` with `{"common_name", "names"?, "organization"?,
//!   "country"?}` → `{"csr": "<PEM>"}`: a new key waits in the store for the certificate
//!   a CA signs;
//! - `DELETE …/server/<id>`, `DELETE …/ca/<id>`; the certificate in use cannot go (409).

use serde::Deserialize;
use serde_json::json;
use warp::http::{Method, StatusCode};

use super::rules::body;
use super::{json, json_error as error, respond, Gate, Reply, Request};
use crate::certstore::{CertError, CertStore, CsrSubject, Kind};
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
    /// The store entry: where an upload goes, or alone, the one to use.
    id: Option<String>,
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

/// The certificate chain and key (PEM) of an upload; the key may be missing only where
/// `key_optional` (a certificate for the key of a signing request).
fn pem_parts(u: Upload, key_optional: bool) -> Result<(String, Option<String>), String> {
    match u {
        Upload {
            certificate: Some(c),
            key,
            pkcs12: None,
            password: None,
            ..
        } if key.is_some() || key_optional => Ok((c, key)),
        Upload {
            certificate: None,
            key: None,
            pkcs12: Some(archive),
            password,
            ..
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
            Ok((certs, Some(pem("PRIVATE KEY", chain.key().as_der()))))
        }
        _ => Err("send certificate and key (PEM), or pkcs12 and password".into()),
    }
}

/// A store refusal as its HTTP answer.
fn refused(e: CertError) -> Reply {
    let status = match e {
        CertError::NotFound(_) => StatusCode::NOT_FOUND,
        CertError::InUse(_) | CertError::Full(_) => StatusCode::CONFLICT,
        CertError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        CertError::BadId(_) | CertError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    error(status, &e.to_string())
}

/// Handles `/api/v1/https/certificate`.
pub async fn handle(
    gate: &Gate,
    tls: Option<&TlsState>,
    store: &CertStore,
    req: &mut Request,
) -> Reply {
    let role = if req.method == Method::GET {
        Role::Viewer
    } else {
        Role::Admin
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    let Some(tls) = tls else {
        return error(
            StatusCode::NOT_FOUND,
            "HTTPS and SIP over TLS are off ([http] https_listen, [sip] tls_listen)",
        );
    };
    match req.method {
        Method::GET => match tls.certificate_pem() {
            Ok(pem) => respond(StatusCode::OK, "application/x-pem-file", pem),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        },
        Method::PUT => {
            let u = match body::<Upload>(req).await {
                Ok(u) => u,
                Err(r) => return r,
            };
            let picked = u.certificate.is_none() && u.pkcs12.is_none() && u.key.is_none();
            let id = u.id.clone().unwrap_or_else(|| "uploaded".into());
            let pair = if picked {
                store.server_pair(&id)
            } else {
                match pem_parts(u, false) {
                    // The entry is replaced even when it is the one in use: it is used
                    // next either way.
                    Ok((c, Some(k))) => store.put_server(&id, &c, Some(&k), None).map(|()| (c, k)),
                    Ok((_, None)) => Err(CertError::Invalid("no key".into())),
                    Err(e) => Err(CertError::Invalid(e)),
                }
            };
            match pair.and_then(|(c, k)| tls.replace(&c, &k).map_err(CertError::Invalid)) {
                Ok(()) => {
                    tracing::info!("HTTPS: certificate {id:?} is in use");
                    json(&json!({"ok": true, "id": id}))
                }
                Err(e) => refused(e),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "GET or PUT"),
    }
}

/// A signing request's subject, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsrBody {
    common_name: String,
    #[serde(default)]
    names: Vec<String>,
    organization: Option<String>,
    country: Option<String>,
}

/// A CA certificate upload.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaBody {
    certificate: String,
}

/// What a store path names.
enum Target<'a> {
    /// The whole store.
    List,
    /// One entry.
    Entry(Kind, &'a str),
    /// A signing request for a server entry.
    Csr(&'a str),
}

/// Handles `/api/v1/certificates[/…]`.
pub async fn store_api(
    gate: &Gate,
    tls: Option<&TlsState>,
    store: &CertStore,
    req: &mut Request,
) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    let in_use = tls.and_then(|t| t.certificate_pem().ok());
    let in_use = in_use.as_deref();
    let rest = req
        .path
        .trim_start_matches("/api/v1/certificates")
        .to_string();
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let target = match parts.as_slice() {
        [] => Some(Target::List),
        ["server", id] => Some(Target::Entry(Kind::Server, id)),
        ["ca", id] => Some(Target::Entry(Kind::Ca, id)),
        ["server", id, "csr"] => Some(Target::Csr(id)),
        _ => None,
    };
    let done = |r: Result<(), CertError>| match r {
        Ok(()) => json(&json!({"ok": true})),
        Err(e) => refused(e),
    };
    match (req.method.clone(), target) {
        (Method::GET, Some(Target::List)) => json(&json!({
            "server": store.list(Kind::Server, in_use),
            "ca": store.list(Kind::Ca, None),
        })),
        (Method::GET, Some(Target::Entry(k, id))) => {
            let Some(entry) = store.entry(k, id, in_use) else {
                return refused(CertError::NotFound(id.to_string()));
            };
            let mut v = serde_json::to_value(entry).unwrap_or_default();
            if let Ok(pem) = store.certificate_pem(k, id) {
                v["pem"] = json!(pem);
            }
            if let Some(csr) = (k == Kind::Server).then(|| store.csr_pem(id).ok()).flatten() {
                v["csr"] = json!(csr);
            }
            json(&v)
        }
        (Method::PUT, Some(Target::Entry(Kind::Server, id))) => match body::<Upload>(req).await {
            Ok(u) => match pem_parts(u, true) {
                Ok((c, k)) => done(store.put_server(id, &c, k.as_deref(), in_use)),
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            },
            Err(r) => r,
        },
        (Method::PUT, Some(Target::Entry(Kind::Ca, id))) => match body::<CaBody>(req).await {
            Ok(b) => done(store.put_ca(id, &b.certificate)),
            Err(r) => r,
        },
        (Method::POST, Some(Target::Csr(id))) => match body::<CsrBody>(req).await {
            Ok(b) => {
                let subject = CsrSubject {
                    common_name: b.common_name,
                    names: b.names,
                    organization: b.organization,
                    country: b.country,
                };
                match store.create_csr(id, &subject) {
                    Ok(csr) => json(&json!({"id": id, "csr": csr})),
                    Err(e) => refused(e),
                }
            }
            Err(r) => r,
        },
        (Method::DELETE, Some(Target::Entry(k, id))) => done(store.delete(k, id, in_use)),
        (_, Some(_)) => error(StatusCode::METHOD_NOT_ALLOWED, "not with this method"),
        _ => error(
            StatusCode::NOT_FOUND,
            "GET /api/v1/certificates, GET|PUT|DELETE …/server/<id> and …/ca/<id>, POST …/server/<id>/csr",
        ),
    }
}
