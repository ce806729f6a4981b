//! The JSON CGIs: `basicdeviceinfo.cgi` and `apidiscovery.cgi` (VAPIX envelope, HTTP 200
//! even for errors, `context` echoed, older error code set).

use serde_json::{json, Map, Value};
use warp::http::Method;

use super::param::Model;
use super::Gate;
use super::{json, Reply, Request};
use crate::config::IoConfig;
use crate::services::Services;
use crate::users::Role;
use crate::wildcard::Pattern;

/// The APIs netamp implements, exactly as API discovery lists them.
pub const APIS: &[(&str, &str, &str)] = &[
    ("api-discovery", "1.0", "API Discovery Service"),
    ("audio-device-control", "1.0", "Audio Device Control"),
    ("audio-mixer", "1.0", "Audio Mixer"),
    (
        "audio-streaming-capabilities",
        "1.0",
        "Audio Streaming Capabilities",
    ),
    ("basic-device-info", "1.1", "Basic Device Information"),
    (
        "event-streaming-over-websocket",
        "1.0",
        "Event streaming over WebSocket",
    ),
    ("io-port-management", "1.0", "IO Port Management"),
    ("mediaclip", "1.0", "Media Clip"),
    ("param-cgi", "1.0", "Legacy Parameter Handling"),
    ("user-management", "1.0", "User Management"),
];

struct Envelope {
    api_version: String,
    context: String,
    method: String,
    params: Value,
}

fn error(
    env_version: &str,
    context: &str,
    method: Option<&str>,
    code: u32,
    message: &str,
) -> Reply {
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(env_version));
    obj.insert("context".into(), json!(context));
    if let Some(m) = method {
        obj.insert("method".into(), json!(m));
    }
    obj.insert("error".into(), json!({"code": code, "message": message}));
    json(&Value::Object(obj))
}

fn success(api_version: &str, context: &str, method: &str, data: Value) -> Reply {
    json(&json!({"apiVersion": api_version, "context": context, "method": method, "data": data}))
}

/// Reads and checks the envelope; the error reply uses `default_version`.
async fn envelope(
    gate: &Gate,
    req: &mut Request,
    default_version: &str,
) -> Result<Envelope, Reply> {
    if req.method != Method::POST {
        return Err(error(
            default_version,
            "",
            None,
            2002,
            "HTTP request type not supported. Only POST is supported",
        ));
    }
    let body = req.body_bytes(req.body_limit).await?;
    if body.is_empty() && req.header("authorization").is_none() {
        // curl --digest probes with an empty POST and sends the body only after a
        // challenge; answering the probe with a JSON error would leave it unauthenticated.
        return Err(gate.challenge(false));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| error(default_version, "", None, 4000, "Invalid JSON"))?;
    let Value::Object(obj) = v else {
        return Err(error(default_version, "", None, 4000, "Invalid JSON"));
    };
    let context = obj
        .get("context")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let method = obj
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(method) = method else {
        return Err(error(
            default_version,
            &context,
            None,
            4002,
            "Required parameter missing or invalid: method",
        ));
    };
    let api_version = match obj.get("apiVersion") {
        None if method == "getSupportedVersions" => default_version.to_string(),
        None => {
            return Err(error(
                default_version,
                &context,
                Some(&method),
                4002,
                "Required parameter missing or invalid: apiVersion",
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(error(
                default_version,
                &context,
                Some(&method),
                4002,
                "Required parameter missing or invalid: apiVersion",
            ))
        }
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    Ok(Envelope {
        api_version,
        context,
        method,
        params,
    })
}

fn major(v: &str) -> Option<&str> {
    v.split('.').next()
}

/// Reads the envelope and answers what every JSON API answers the same way:
/// `getSupportedVersions` (`version` is the one supported) and unsupported major versions.
async fn open(gate: &Gate, req: &mut Request, version: &str) -> Result<Envelope, Reply> {
    let env = envelope(gate, req, version).await?;
    if env.method == "getSupportedVersions" {
        return Err(success(
            version,
            &env.context,
            &env.method,
            json!({"apiVersions": [version]}),
        ));
    }
    if major(&env.api_version) != major(version) {
        return Err(error(
            &env.api_version,
            &env.context,
            Some(&env.method),
            2003,
            "The requested API version is not supported",
        ));
    }
    Ok(env)
}

/// The 14 properties Home Assistant requires.
fn properties(m: &Model<'_>) -> Map<String, Value> {
    let id = m.identity;
    let p = super::param::all_params(m);
    let get = |k: &str| {
        p.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut m = Map::new();
    m.insert("Architecture".into(), json!(id.architecture));
    m.insert("Brand".into(), json!(get("Brand.Brand")));
    m.insert("BuildDate".into(), json!(id.build_date));
    m.insert(
        "HardwareID".into(),
        json!(get("Properties.System.HardwareID")),
    );
    m.insert("ProdFullName".into(), json!(get("Brand.ProdFullName")));
    m.insert("ProdNbr".into(), json!(get("Brand.ProdNbr")));
    m.insert("ProdShortName".into(), json!(get("Brand.ProdShortName")));
    m.insert("ProdType".into(), json!(get("Brand.ProdType")));
    m.insert("ProdVariant".into(), json!(get("Brand.ProdVariant")));
    m.insert("SerialNumber".into(), json!(id.serial()));
    m.insert("Soc".into(), json!(std::env::consts::ARCH));
    m.insert("SocSerialNumber".into(), json!(""));
    m.insert("Version".into(), json!(id.version));
    m.insert("WebURL".into(), json!(get("Brand.WebURL")));
    m
}

const UNRESTRICTED: [&str; 11] = [
    "Brand",
    "BuildDate",
    "HardwareID",
    "ProdFullName",
    "ProdNbr",
    "ProdShortName",
    "ProdType",
    "ProdVariant",
    "SerialNumber",
    "Version",
    "WebURL",
];

/// Handles `basicdeviceinfo.cgi`.
pub async fn basic_device_info(gate: &Gate, m: &Model<'_>, req: &mut Request) -> Reply {
    const VERSION: &str = "1.1";
    let env = match open(gate, req, VERSION).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let (ctx, method) = (env.context.as_str(), env.method.as_str());
    let role = if method == "getAllUnrestrictedProperties" {
        Role::Anonymous
    } else {
        Role::Viewer
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    let all = properties(m);
    let v = env.api_version.as_str();
    match method {
        "getAllProperties" => success(v, ctx, method, json!({"propertyList": all})),
        "getAllUnrestrictedProperties" => {
            let m: Map<String, Value> = all
                .into_iter()
                .filter(|(k, _)| UNRESTRICTED.contains(&k.as_str()))
                .collect();
            success(v, ctx, method, json!({"propertyList": m}))
        }
        "getProperties" => {
            let Some(list) = env.params.get("propertyList").and_then(Value::as_array) else {
                return error(
                    v,
                    ctx,
                    Some(method),
                    4002,
                    "Required parameter missing or invalid: propertyList",
                );
            };
            let mut m = Map::new();
            for p in list {
                let Some(name) = p.as_str() else {
                    return error(
                        v,
                        ctx,
                        Some(method),
                        4002,
                        "Required parameter missing or invalid: propertyList",
                    );
                };
                match all.get(name) {
                    Some(val) => {
                        m.insert(name.to_string(), val.clone());
                    }
                    None => {
                        return error(
                            v,
                            ctx,
                            Some(method),
                            1000,
                            &format!("Property not supported: {name}"),
                        )
                    }
                }
            }
            success(v, ctx, method, json!({"propertyList": m}))
        }
        other => error(v, ctx, Some(other), 2004, "Method not supported"),
    }
}

/// Handles `apidiscovery.cgi`.
pub async fn api_discovery(gate: &Gate, io: &IoConfig, req: &mut Request) -> Reply {
    const VERSION: &str = "1.0";
    // Open to anyone, as on Axis devices, but not to an address blocked for failed logins.
    if let Err(r) = gate.require(req, Role::Anonymous) {
        return r;
    }
    let env = match open(gate, req, VERSION).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let (ctx, method) = (env.context.as_str(), env.method.as_str());
    match method {
        "getApiList" => {
            let pattern = |key: &str| {
                let p = env.params.get(key).and_then(Value::as_str).unwrap_or("*");
                Pattern::new(p).map_err(|e| {
                    error(
                        &env.api_version,
                        ctx,
                        Some(method),
                        1000,
                        &format!("Invalid parameter value: {key}: {e}"),
                    )
                })
            };
            let (id_pat, ver_pat) = match (pattern("id"), pattern("version")) {
                (Ok(i), Ok(v)) => (i, v),
                (Err(r), _) | (_, Err(r)) => return r,
            };
            let port_management = io.port_management;
            let list: Vec<Value> = APIS
                .iter()
                .filter(|(id, _, _)| port_management || *id != "io-port-management")
                .filter(|(id, ver, _)| id_pat.matches(id) && ver_pat.matches(ver))
                .map(|(id, ver, name)| json!({"id": id, "version": ver, "name": name, "docLink": "", "status": "released"}))
                .collect();
            success(&env.api_version, ctx, method, json!({"apiList": list}))
        }
        other => error(
            &env.api_version,
            ctx,
            Some(other),
            2004,
            "Method not supported",
        ),
    }
}

/// Handles `systemready.cgi` (anonymous, as on Axis devices): whether the device is up,
/// whether it still needs its first administrator, its uptime and a boot id that changes
/// with every start, which installers' tools poll after a restart.
pub async fn system_ready(gate: &Gate, svc: &Services, req: &mut Request) -> Reply {
    const VERSION: &str = "1.1";
    if let Err(r) = gate.require(req, Role::Anonymous) {
        return r;
    }
    let env = match open(gate, req, VERSION).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let (v, ctx, method) = (
        env.api_version.as_str(),
        env.context.as_str(),
        env.method.as_str(),
    );
    match method {
        "systemready" => success(
            v,
            ctx,
            method,
            json!({
                // HTTP answers only once every service has started.
                "systemready": "yes",
                "needsetup": if svc.auth.users().is_empty() { "yes" } else { "no" },
                "uptime": svc.started.elapsed().as_secs().to_string(),
                "bootid": svc.boot_id,
            }),
        ),
        other => error(v, ctx, Some(other), 2004, "Method not supported"),
    }
}

#[cfg(test)]
mod handler_tests {
    use super::*;
    use crate::http::testing::{gate, read, request};
    use warp::http::{Method, StatusCode};

    #[tokio::test]
    async fn api_discovery_is_open_and_lists_port_management_only_when_enabled() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let body = br#"{"apiVersion":"1.0","context":"c1","method":"getApiList"}"#;
        let ids = |reply: String| -> Vec<String> {
            let v: Value = serde_json::from_str(&reply).expect("json");
            v["data"]["apiList"]
                .as_array()
                .expect("list")
                .iter()
                .filter_map(|a| a["id"].as_str().map(String::from))
                .collect()
        };
        let mut io = IoConfig::default();
        let mut req = request(Method::POST, "/axis-cgi/apidiscovery.cgi", None, Some(body));
        let (status, _, reply) = read(api_discovery(&gate, &io, &mut req).await).await;
        assert_eq!(status, StatusCode::OK);
        assert!(reply.contains("\"context\":\"c1\""), "{reply}");
        assert!(ids(reply).iter().any(|i| i == "io-port-management"));
        io.port_management = false;
        let mut req = request(Method::POST, "/axis-cgi/apidiscovery.cgi", None, Some(body));
        let (_, _, reply) = read(api_discovery(&gate, &io, &mut req).await).await;
        assert!(!ids(reply).iter().any(|i| i == "io-port-management"));
    }
}
