//! Handler tests without a daemon: a gate over accounts in a temporary directory,
//! requests built by hand, and a reply read back to its status, headers and bytes.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{parse_query, Body, Gate, HttpStats, Reply, Request};
use crate::auth::Authenticator;
use crate::users::UserStore;

/// Password of every test account.
pub const PASSWORD: &str = "secret-1";

/// A gate with `root` (admin), `op` (operator) and `view` (viewer), stored in `dir`.
pub fn gate(dir: &std::path::Path) -> Gate {
    let users =
        Arc::new(UserStore::load(dir.join("users.json"), "test-realm".into()).expect("users"));
    users
        .add("root", PASSWORD, "root", "admin:operator:viewer:ptz", "")
        .expect("root");
    users
        .add("op", PASSWORD, "users", "operator:viewer", "")
        .expect("op");
    users
        .add("view", PASSWORD, "users", "viewer", "")
        .expect("view");
    Gate::new(
        Arc::new(Authenticator::new(users, Default::default())),
        Arc::new(HttpStats::default()),
    )
}

/// A request for `target` (`/path?query`) from 127.0.0.1, with Basic credentials of
/// `user` when given, and `body` when given.
pub fn request(method: Method, target: &str, user: Option<&str>, body: Option<&[u8]>) -> Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = HeaderMap::new();
    if let Some(u) = user {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{PASSWORD}"));
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
        );
    }
    let body: Option<Body> = body.map(|b| {
        let bytes = Bytes::copy_from_slice(b);
        Box::pin(futures_util::stream::iter([Ok(bytes)])) as Body
    });
    Request {
        method,
        path: path.to_string(),
        query: parse_query(query),
        headers,
        remote: Some(([127, 0, 0, 1], 40_000).into()),
        received: Instant::now(),
        body,
        body_limit: 64 * 1024,
    }
}

/// A GET with `user`'s credentials.
pub fn get(target: &str, user: Option<&str>) -> Request {
    request(Method::GET, target, user, None)
}

/// The reply's status, content type and body as text.
pub async fn read(reply: Reply) -> (StatusCode, String, String) {
    let status = reply.status();
    let content_type = reply
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = reply.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}
