//! The request envelope and replies shared by the JSON CGIs whose errors are in the 2xxx
//! family (port management, audio device control): POST only, `context` echoed,
//! `method` required, an empty unauthenticated body challenged (curl `--digest` probes
//! with one).

use serde_json::{json, Map, Value};
use warp::http::Method;

use super::Gate;
use super::{json, Reply, Request};

/// A parsed request: the whole object, its `context` and `method`.
pub struct JsonCall {
    /// The request object.
    pub body: Map<String, Value>,
    /// `context`, echoed in the reply ("" when absent).
    pub context: String,
    /// `method`.
    pub method: String,
}

impl JsonCall {
    /// The reply carrying `data`.
    pub fn ok(&self, data: Value) -> Reply {
        ok(&self.context, &self.method, data)
    }

    /// The reply carrying an error.
    pub fn error(&self, code: u32, message: &str) -> Reply {
        error(&self.context, &self.method, code, message)
    }
}

/// An error reply.
pub fn error(context: &str, method: &str, code: u32, message: &str) -> Reply {
    json(
        &json!({"apiVersion": "1.0", "context": context, "method": method, "error": {"code": code, "message": message}}),
    )
}

/// A success reply.
pub fn ok(context: &str, method: &str, data: Value) -> Reply {
    json(&json!({"apiVersion": "1.0", "context": context, "method": method, "data": data}))
}

/// Reads the body and checks the envelope; `invalid` is the message for a body that is
/// not a JSON object (code 2101).
pub async fn read(gate: &Gate, req: &mut Request, invalid: &str) -> Result<JsonCall, Reply> {
    if req.method != Method::POST {
        return Err(error(
            "",
            "",
            2002,
            "HTTP request type not supported. Only POST is supported",
        ));
    }
    let raw = req.body_bytes(req.body_limit).await?;
    if raw.is_empty() && req.header("authorization").is_none() {
        return Err(gate.challenge(false));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&raw) else {
        return Err(error("", "", 2101, invalid));
    };
    let context = body
        .get("context")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(method) = body
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(error(
            &context,
            "",
            2103,
            "Required parameter missing: method",
        ));
    };
    Ok(JsonCall {
        body,
        context,
        method,
    })
}
