//! The HTTP layer's door: credentials checked against the accounts, the 401 challenge,
//! and the counters `/metrics` reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use warp::http::{HeaderValue, StatusCode};

use super::{respond, text, Reply, Request};
use crate::auth::{AuthOutcome, Authenticator};
use crate::users::{Account, Role};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Sum of handling time, microseconds.
    pub micros_total: AtomicU64,
    /// Requests that failed authentication.
    pub auth_failures: AtomicU64,
}

const UNAUTHORIZED_HTML: &str = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>401 Unauthorized</title>\n</head><body>\n<h1>Unauthorized</h1>\n<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>\n</body></html>\n";

/// Checks each request's credentials for a role; every handler goes through it.
#[derive(Clone)]
pub struct Gate {
    auth: Arc<Authenticator>,
    stats: Arc<HttpStats>,
}

impl Gate {
    /// A gate over `auth`, counting into `stats`.
    pub fn new(auth: Arc<Authenticator>, stats: Arc<HttpStats>) -> Self {
        Self { auth, stats }
    }

    /// The accounts and nonces behind the gate.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// The HTTP counters.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// A 401 with the Digest and Basic challenges.
    pub fn challenge(&self, stale: bool) -> Reply {
        let mut r = respond(
            StatusCode::UNAUTHORIZED,
            "text/html; charset=iso-8859-1",
            UNAUTHORIZED_HTML,
        );
        for c in self.auth.challenges(stale, SystemTime::now()) {
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().append("www-authenticate", v);
            }
        }
        r
    }

    /// Checks the request's credentials: the account (None for anonymous access to an
    /// anonymous endpoint), or the reply to send instead.
    pub fn require(&self, req: &Request, role: Role) -> Result<Option<Account>, Reply> {
        let outcome = self.auth.authenticate(
            req.method.as_str(),
            &req.path,
            req.header("authorization"),
            req.remote.map(|a| a.ip()),
            SystemTime::now(),
        );
        match outcome {
            AuthOutcome::Blocked => Err(text(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed logins from this address; try again later.\n",
            )),
            AuthOutcome::User(account) => {
                if let Some(ip) = req.remote.map(|a| a.ip()) {
                    self.auth.forgive(ip);
                }
                if account.role() >= role {
                    Ok(Some(account))
                } else {
                    Err(self.challenge(false))
                }
            }
            AuthOutcome::Anonymous if role == Role::Anonymous => Ok(None),
            // "Allow anonymous viewing" ([auth] anonymous_viewing), off by default.
            AuthOutcome::Anonymous if role == Role::Viewer && self.auth.anonymous_viewing() => {
                Ok(None)
            }
            AuthOutcome::Anonymous => Err(self.challenge(false)),
            AuthOutcome::Failed { stale } => {
                self.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
                if role == Role::Anonymous && !stale {
                    // Wrong credentials on an open endpoint still get challenged, as Apache does.
                    Err(self.challenge(false))
                } else {
                    Err(self.challenge(stale))
                }
            }
        }
    }
}
