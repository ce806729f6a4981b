//! HTTP through curl, the real client scripts use.

use std::process::Command;

/// Credentials for a request.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// None.
    Anonymous,
    /// HTTP Digest (curl negotiates MD5 or SHA-256).
    Digest(&'a str, &'a str),
    /// Pre-emptive Basic.
    Basic(&'a str, &'a str),
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Raw header block.
    pub headers: String,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Runs curl with `args` (URL included) and the given credentials.
pub fn curl(auth: Auth<'_>, args: &[&str]) -> Response {
    curl_in(Command::new("curl"), auth, args)
}

/// [`curl`] started by `cmd` (`curl` itself, or `ip netns exec <ns> curl` to reach a
/// daemon inside a network namespace).
pub fn curl_in(mut cmd: Command, auth: Auth<'_>, args: &[&str]) -> Response {
    crate::require_tool("curl");
    let dir = tempfile::tempdir().expect("tempdir");
    let head = dir.path().join("h");
    let body = dir.path().join("b");
    cmd.args(["-sS", "--max-time", "60", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    match auth {
        Auth::Anonymous => {}
        Auth::Digest(u, p) => {
            cmd.args(["--digest", "-u", &format!("{u}:{p}")]);
        }
        Auth::Basic(u, p) => {
            cmd.args(["--basic", "-u", &format!("{u}:{p}")]);
        }
    }
    cmd.args(args);
    let out = cmd.output().expect("run curl");
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let headers = std::fs::read_to_string(&head).unwrap_or_default();
    // With Digest, curl writes both the 401 and the final headers; keep the last block.
    let headers = headers
        .rsplit("HTTP/")
        .next()
        .map(|h| format!("HTTP/{h}"))
        .unwrap_or_default();
    Response {
        status: code.parse().unwrap_or(0),
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

/// GET as the test administrator.
pub fn admin_get(url: &str) -> Response {
    curl(
        Auth::Digest(crate::daemon::ADMIN.0, crate::daemon::ADMIN.1),
        &[url],
    )
}
