//! `/vapix/call`: the call service (reference/vapix.md §7.1).
//!
//! `POST` with `{"axcall:<Command>": {…}}`, or `GET ?format=simple&action=axcall:<Command>`
//! with the arguments in the query, answered as `key=value` lines (nesting joined by `_`,
//! list items `_<index>_`). Failures are SOAP-like faults: `400` with
//! `{"Fault": "env:Sender", "FaultCode": "ter:InvalidArgVal", "FaultMsg": …}` (or the same
//! three lines in the simple format).

use serde_json::{json, Map, Value};
use warp::http::{Method, StatusCode};

use super::Gate;
use super::{json, respond, Reply, Request};
use crate::sip_service::CallService;
use crate::users::Role;

/// A fault: the SOAP-style code pair and a message.
struct Fault {
    code: &'static str,
    sub: &'static str,
    message: String,
}

fn invalid(message: impl Into<String>) -> Fault {
    Fault {
        code: "env:Sender",
        sub: "ter:InvalidArgVal",
        message: message.into(),
    }
}

fn not_supported(message: impl Into<String>) -> Fault {
    Fault {
        code: "env:Receiver",
        sub: "ter:ActionNotSupported",
        message: message.into(),
    }
}

/// What the call commands use: the calls service.
struct CallCtx<'a> {
    calls: &'a CallService,
}

/// Handles `/vapix/call`.
pub async fn handle(gate: &Gate, calls: &CallService, req: &mut Request) -> Reply {
    let cx = &CallCtx { calls };
    let simple = req.arg("format") == Some("simple");
    let (command, args) = if req.method == Method::POST && !simple {
        let raw = match req.body_bytes(req.body_limit).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if raw.is_empty() && req.header("authorization").is_none() {
            return gate.challenge(false);
        }
        match serde_json::from_slice::<Map<String, Value>>(&raw) {
            Ok(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().unwrap_or_default();
                (k, v.as_object().cloned().unwrap_or_default())
            }
            _ => {
                return fault(
                    false,
                    invalid("the body must be one {\"axcall:<Command>\": {…}} object"),
                )
            }
        }
    } else {
        let Some(action) = req.arg("action") else {
            return fault(simple, invalid("action=axcall:<Command> is required"));
        };
        let args: Map<String, Value> = req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("action") && !k.eq_ignore_ascii_case("format"))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        (action.to_string(), args)
    };
    let Some(name) = command.strip_prefix("axcall:") else {
        return fault(simple, invalid(format!("unknown command {command:?}")));
    };
    let role = if name.starts_with("Get") {
        Role::Viewer
    } else if matches!(name, "Call" | "TerminateCall" | "AnswerCall") {
        Role::Operator
    } else {
        Role::Admin
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    match run(cx, name, &args).await {
        Ok(v) if simple => respond(StatusCode::OK, "text/plain", flatten(&v)),
        Ok(v) => json(&v),
        Err(f) => fault(simple, f),
    }
}

async fn run(cx: &CallCtx<'_>, name: &str, args: &Map<String, Value>) -> Result<Value, Fault> {
    let sip = &cx.calls.config;
    let ua = cx.calls.ua();
    let call_id = || {
        args.get("CallId")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("CallId is required"))
    };
    match name {
        "GetSIPConfiguration" => Ok(json!({ "SIPConfiguration": sip_configuration(cx) })),
        "SetSIPConfiguration" => set_configuration(cx, args),
        "GetSIPAccounts" => {
            let stored = cx.calls.accounts.list();
            let default_is_p2p = !sip.accounts.iter().chain(&stored).any(|a| a.default);
            let p2p = cx.calls.settings.get().peer_to_peer;
            let mut list: Vec<Value> = p2p
                .then(|| {
                    json!({
                        "Id": crate::sip_service::P2P_ACCOUNT,
                        "Name": "Peer to peer",
                        "Username": "",
                        "Registrar": "",
                        "IsDefault": default_is_p2p,
                        "Transport": "udp",
                        "AutoAnswer": cx.calls.settings.get().auto_answer,
                        "PreAnnouncementClip": sip.pre_announcement_clip,
                    })
                })
                .into_iter()
                .collect();
            list.extend(sip.accounts.iter().chain(stored.iter()).map(|a| {
                json!({
                    "Id": a.id,
                    "Name": a.id,
                    "Username": a.user,
                    "AuthenticationName": a.auth_user,
                    "Registrar": a.registrar,
                    "SecondaryRegistrar": a.secondary_registrar,
                    "OutboundProxy": a.outbound_proxy,
                    "RegistrationExpires": a.expires,
                    "IsDefault": a.default,
                    "Transport": a.transport.to_ascii_lowercase(),
                    "VerifyServerCertificate": a.verify_server_certificate,
                    "AutoAnswer": a.auto_answer.unwrap_or(cx.calls.settings.get().auto_answer),
                })
            }));
            Ok(json!({ "SIPAccounts": list }))
        }
        "GetSIPAccountStatus" => {
            let p2p = cx.calls.settings.get().peer_to_peer;
            let mut list: Vec<Value> = p2p
                .then(|| {
                    json!({
                        "Id": crate::sip_service::P2P_ACCOUNT,
                        "Status": if ua.is_some() { "Ready" } else { "Disabled" },
                    })
                })
                .into_iter()
                .collect();
            for (id, status) in ua.map(|u| u.accounts()).unwrap_or_default() {
                list.push(match status {
                    netamp_sip::register::RegStatus::Registering => {
                        json!({"Id": id, "Status": "Registering"})
                    }
                    netamp_sip::register::RegStatus::Registered {
                        server,
                        expires,
                        contact,
                    } => {
                        json!({"Id": id, "Status": "Registered", "Registrar": server, "Expires": expires, "Contact": contact})
                    }
                    netamp_sip::register::RegStatus::Failed { reason } => {
                        json!({"Id": id, "Status": "Failed", "Reason": reason})
                    }
                });
            }
            Ok(json!({ "SIPAccountStatus": list }))
        }
        "GetSupportedAudioCodecs" | "GetAudioCodecs" | "GetDefaultAudioCodecs" => {
            let list: &[String] = if name == "GetSupportedAudioCodecs" {
                &["opus", "G722", "PCMU", "PCMA", "L16"].map(String::from)
            } else {
                &sip.codecs
            };
            Ok(json!({"AudioCodecs": list.iter().map(|c| {
                let rate = match c.to_ascii_uppercase().as_str() {
                    "OPUS" => 48000,
                    "G722" => 16000,
                    _ => 8000,
                };
                json!({"Name": c, "SampleRate": rate, "Options": {}})
            }).collect::<Vec<_>>()}))
        }
        "GetCallStatus" => {
            let ua = ua.ok_or_else(|| not_supported("SIP is disabled"))?;
            let calls = ua.calls();
            let status = |c: &netamp_sip::CallInfo| {
                json!({
                    "CallId": c.id,
                    "CallState": c.state.as_str(),
                    "CallType": "SIP",
                    "Direction": if c.incoming { "Incoming" } else { "Outgoing" },
                    "RemoteURI": c.remote_uri,
                    "Transport": c.transport,
                    "MediaEncryption": if c.srtp { "SRTP" } else { "None" },
                    "Codec": c.codec.map(|k| k.name()),
                    "StartTime": c.started_ms,
                    "RTCPSent": c.rtcp.0,
                    "RTCPReceived": c.rtcp.1,
                    "SpoofedRTP": c.spoofed.0,
                    "SpoofedRTCP": c.spoofed.1,
                    "JitterBufferMs": c.receive.map(|r| r.target_delay_ms),
                    "ConcealedFrames": c.receive.map(|r| r.concealed),
                    "ClockDriftPpm": c.receive.map(|r| r.drift_ppm),
                })
            };
            match args.get("CallId").and_then(Value::as_str) {
                Some(id) => {
                    let c = calls
                        .iter()
                        .find(|c| c.id == id)
                        .ok_or_else(|| invalid(format!("no call {id}")))?;
                    Ok(json!({"CallStatus": status(c)}))
                }
                None => Ok(json!({"CallStatus": calls.iter().map(status).collect::<Vec<_>>()})),
            }
        }
        "Call" => {
            ua.ok_or_else(|| not_supported("SIP is disabled"))?;
            let to = args
                .get("To")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("To is required"))?;
            let account = args.get("SIPAccountId").and_then(Value::as_str);
            let id = cx.calls.place(to, account).await.map_err(invalid)?;
            Ok(json!({"CallId": id}))
        }
        "SetSIPAccount" => set_account(cx, args).await,
        "SetSIPAccounts" => {
            let list = args
                .get("SIPAccounts")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("SIPAccounts (a list) is required"))?;
            let mut ids = Vec::new();
            for a in list {
                let a = a
                    .as_object()
                    .ok_or_else(|| invalid("an account is an object"))?;
                ids.push(set_account(cx, a).await?["SIPAccountId"].clone());
            }
            Ok(json!({ "SIPAccountIds": ids }))
        }
        "RemoveSIPAccount" | "RemoveSIPAccounts" => {
            let ids: Vec<String> = match args.get("SIPAccountIds").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                None => vec![args
                    .get("SIPAccountId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("SIPAccountId is required"))?
                    .to_string()],
            };
            // All or nothing: the peer-to-peer account goes only while another account is
            // the default, and that default stays while the peer-to-peer one is gone.
            let p2p = crate::sip_service::P2P_ACCOUNT;
            let defaults: Vec<String> = all_accounts(cx)
                .into_iter()
                .filter(|a| a.default && !ids.contains(&a.id))
                .map(|a| a.id)
                .collect();
            let p2p_stays = cx.calls.settings.get().peer_to_peer && !ids.iter().any(|i| i == p2p);
            if defaults.is_empty() && !p2p_stays {
                return Err(invalid(
                    "sip_account_0 (peer to peer) may be removed only while another account is the default, which then stays",
                ));
            }
            if ids.iter().any(|i| i == p2p) {
                set_peer_to_peer(cx, false)?;
            }
            // Unknown ids are ignored, as the reference says.
            for id in ids.into_iter().filter(|i| i != p2p) {
                let removed = cx
                    .calls
                    .accounts
                    .remove(&id)
                    .map_err(|e| invalid(e.to_string()))?;
                if removed {
                    if let Some(ua) = ua {
                        ua.remove_account(&id);
                    }
                }
            }
            Ok(json!({}))
        }
        "TerminateCall" => {
            let ua = ua.ok_or_else(|| not_supported("SIP is disabled"))?;
            ua.hangup(call_id()?)
                .await
                .map_err(|e| invalid(e.to_string()))?;
            Ok(json!({}))
        }
        "AnswerCall" => {
            let ua = ua.ok_or_else(|| not_supported("SIP is disabled"))?;
            ua.answer(call_id()?).map_err(|e| invalid(e.to_string()))?;
            Ok(json!({}))
        }
        other => Err(not_supported(format!("axcall:{other} is not supported"))),
    }
}

/// What `GetSIPConfiguration` answers: `[sip]` with the call handling in force.
fn sip_configuration(cx: &CallCtx<'_>) -> Value {
    let sip = &cx.calls.config;
    let now = cx.calls.settings.get();
    json!({
        "SIPEnabled": sip.enabled,
        "AllowIncomingCalls": now.allow_incoming,
        "ApplyUserAuthentication": false,
        "AllowedUsers": [],
        "ApplyAllowedURIs": false,
        "AllowedURIs": [],
        "SIPPort": cx.calls.ua().map(|u| u.local_addr().port()).unwrap_or(sip.listen.port()),
        "SIPTLSPort": 5061,
        "ICEEnabled": false,
        "STUNEnabled": false,
        "STUNServers": [],
        "TURNEnabled": false,
        "TURNServers": [],
        "MaxCalls": now.max_calls,
        "AutoAnswer": now.auto_answer,
        "RingTimeout": now.ring_timeout_s,
        "EndCallsAfter": now.end_calls_after_min,
        "RTPPortStart": sip.rtp_port_start,
        "RTPPortCount": sip.rtp_port_count,
    })
}

/// `SetSIPConfiguration`: the call handling changes at once and is kept; what is fixed at
/// start (SIP on/off, ports) and what netamp does not do (user and URI filters, ICE,
/// STUN, TURN) may be sent back as `GetSIPConfiguration` gave it, never changed. All or
/// nothing: one bad field changes nothing.
fn set_configuration(cx: &CallCtx<'_>, args: &Map<String, Value>) -> Result<Value, Fault> {
    let fields = match args.get("SIPConfiguration") {
        Some(Value::Object(o)) => o,
        Some(_) => return Err(invalid("SIPConfiguration is an object")),
        None => args,
    };
    let current = sip_configuration(cx);
    let mut next = cx.calls.settings.get();
    for (key, value) in fields {
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| invalid(format!("{key}: true or false")))
        };
        let number = || {
            value
                .as_u64()
                .ok_or_else(|| invalid(format!("{key}: a whole number")))
        };
        match key.as_str() {
            "AllowIncomingCalls" => next.allow_incoming = flag()?,
            "AutoAnswer" => next.auto_answer = flag()?,
            "MaxCalls" => next.max_calls = usize::try_from(number()?).unwrap_or(usize::MAX),
            "RingTimeout" => next.ring_timeout_s = number()?,
            "EndCallsAfter" => next.end_calls_after_min = number()?,
            fixed if current.get(fixed).is_some() => {
                if current[fixed] != *value {
                    return Err(invalid(format!(
                        "{fixed} cannot be changed here (netamp.toml [sip], or not supported)"
                    )));
                }
            }
            unknown => return Err(invalid(format!("unknown setting {unknown}"))),
        }
    }
    next.check().map_err(invalid)?;
    apply_settings(cx, next)?;
    Ok(json!({}))
}

/// Stores call settings and hands the user agent the policy they make.
fn apply_settings(cx: &CallCtx<'_>, next: crate::sip_settings::CallSettings) -> Result<(), Fault> {
    cx.calls
        .settings
        .set(next)
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(ua) = cx.calls.ua() {
        ua.set_policy(next.policy(&cx.calls.config));
    }
    Ok(())
}

/// `SetSIPAccount`: stores the account and (re)starts its registration.
async fn set_account(cx: &CallCtx<'_>, a: &Map<String, Value>) -> Result<Value, Fault> {
    let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = match text("Id") {
        id if !id.is_empty() => id,
        _ => {
            // The next free sip_account_<n>.
            let taken: Vec<String> = cx
                .calls
                .config
                .accounts
                .iter()
                .chain(cx.calls.accounts.list().iter())
                .map(|a| a.id.clone())
                .collect();
            (1..)
                .map(|n| format!("sip_account_{n}"))
                .find(|id| !taken.contains(id))
                .unwrap_or_default()
        }
    };
    if id == crate::sip_service::P2P_ACCOUNT {
        // The peer-to-peer account has no settings of its own: setting it brings it back.
        set_peer_to_peer(cx, true)?;
        return Ok(json!({ "SIPAccountId": id }));
    }
    let transport = match text("Transport").to_ascii_lowercase().as_str() {
        "" => "udp".to_string(),
        t @ ("udp" | "tcp" | "tls") => t.to_string(),
        other => return Err(invalid(format!("Transport {other}: udp, tcp or tls"))),
    };
    let verify_server_certificate = match a.get("VerifyServerCertificate") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_bool()
                .ok_or_else(|| invalid("VerifyServerCertificate: true or false"))?,
        ),
    };
    let account = crate::config::SipAccountConfig {
        id: id.clone(),
        user: text("Username"),
        password: text("Password"),
        auth_user: text("AuthenticationName"),
        registrar: text("Registrar"),
        secondary_registrar: text("SecondaryRegistrar"),
        outbound_proxy: text("OutboundProxy"),
        expires: a
            .get("RegistrationExpires")
            .and_then(Value::as_u64)
            .map_or(3600, |e| e.min(u64::from(u32::MAX)) as u32),
        timeout_s: 5,
        default: a.get("IsDefault").and_then(Value::as_bool).unwrap_or(false),
        auto_answer: match a.get("AutoAnswer") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| invalid("AutoAnswer: true or false"))?,
            ),
        },
        transport,
        verify_server_certificate,
    };
    if !account.default && !cx.calls.settings.get().peer_to_peer {
        let others = all_accounts(cx)
            .into_iter()
            .any(|a| a.default && a.id != account.id);
        if !others {
            return Err(invalid(
                "the default account stays while sip_account_0 (peer to peer) is removed: set sip_account_0 first",
            ));
        }
    }
    let checked = cx
        .calls
        .accounts
        .set(&cx.calls.config, account)
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(ua) = cx.calls.ua() {
        ua.add_account(checked);
    }
    Ok(json!({ "SIPAccountId": id }))
}

/// The accounts of `netamp.toml` and those set through the API.
fn all_accounts(cx: &CallCtx<'_>) -> Vec<crate::config::SipAccountConfig> {
    cx.calls
        .config
        .accounts
        .iter()
        .cloned()
        .chain(cx.calls.accounts.list())
        .collect()
}

/// Removes or brings back the peer-to-peer account (kept with the call settings).
fn set_peer_to_peer(cx: &CallCtx<'_>, on: bool) -> Result<(), Fault> {
    let mut next = cx.calls.settings.get();
    next.peer_to_peer = on;
    apply_settings(cx, next)
}

fn fault(simple: bool, f: Fault) -> Reply {
    if simple {
        respond(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!(
                "Fault={}\nFaultCode={}\nFaultMsg={}\n",
                f.code, f.sub, f.message
            ),
        )
    } else {
        respond(
            StatusCode::BAD_REQUEST,
            "application/json",
            json!({"Fault": f.code, "FaultCode": f.sub, "FaultMsg": f.message}).to_string(),
        )
    }
}

/// `key=value` lines: nesting joined by `_`, list items `_<index>_`.
fn flatten(v: &Value) -> String {
    fn walk(prefix: &str, v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}_{k}")
                    };
                    walk(&p, v, out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{prefix}_{i}"), v, out);
                }
            }
            Value::String(s) => out.push_str(&format!("{prefix}={s}\n")),
            Value::Null => out.push_str(&format!("{prefix}=\n")),
            other => out.push_str(&format!("{prefix}={other}\n")),
        }
    }
    let mut out = String::new();
    walk("", v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{gate, get, read, request};
    use crate::sip_service::AccountStore;
    use crate::sip_settings::SettingsStore;

    fn service(dir: &std::path::Path) -> CallService {
        let config = crate::config::SipConfig::default();
        CallService::disabled(
            config.clone(),
            AccountStore::load(dir).expect("accounts"),
            SettingsStore::load(dir, &config).expect("settings"),
        )
    }

    #[tokio::test]
    async fn viewers_read_the_configuration_and_only_admins_change_it_all_or_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let calls = service(dir.path());
        let r = handle(
            &gate,
            &calls,
            &mut get(
                "/vapix/call?action=axcall:GetSIPConfiguration",
                Some("view"),
            ),
        )
        .await;
        let (status, ct, body) = read(r).await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
        let v: Value = serde_json::from_str(&body).expect("json");
        let ring = v["SIPConfiguration"]["RingTimeout"].clone();
        assert!(ring.is_u64(), "{body}");

        let set = |timeout: &str| {
            format!(
                r#"{{"axcall:SetSIPConfiguration": {{"RingTimeout": {timeout}, "MaxCalls": 1}}}}"#
            )
        };
        let post =
            |body: String, who| request(Method::POST, "/vapix/call", who, Some(body.as_bytes()));
        let r = handle(&gate, &calls, &mut post(set("30"), Some("op"))).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "an operator changed call handling"
        );
        let r = handle(&gate, &calls, &mut post(set("\"soon\""), Some("root"))).await;
        let (status, _, body) = read(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fault: Value = serde_json::from_str(&body).expect("fault json");
        assert_eq!(fault["Fault"], "env:Sender", "{body}");
        assert_eq!(
            calls.settings.get().ring_timeout_s.to_string(),
            ring.to_string(),
            "a refused set changed state"
        );
        let r = handle(&gate, &calls, &mut post(set("30"), Some("root"))).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(calls.settings.get().ring_timeout_s, 30);
    }

    #[tokio::test]
    async fn simple_format_faults_are_text_and_unknown_commands_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let calls = service(dir.path());
        let r = handle(
            &gate,
            &calls,
            &mut get(
                "/vapix/call?action=axcall:Explode&format=simple",
                Some("root"),
            ),
        )
        .await;
        let (status, ct, body) = read(r).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::BAD_REQUEST, "text/plain")
        );
        assert!(body.starts_with("Fault=env:"), "{body}");
        let r = handle(
            &gate,
            &calls,
            &mut get("/vapix/call?action=Call", Some("root")),
        )
        .await;
        let body = read(r).await.2;
        assert!(body.contains("unknown command"), "{body}");
        // Without SIP there is no call to end.
        let r = handle(
            &gate,
            &calls,
            &mut get(
                "/vapix/call?action=axcall:TerminateCall&CallId=x",
                Some("op"),
            ),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn simple_format_flattens_nesting_and_lists() {
        let v = json!({"CallStatus": [{"CallId": "a", "Open": true}], "N": 3, "X": null});
        assert_eq!(
            flatten(&v),
            "CallStatus_0_CallId=a\nCallStatus_0_Open=true\nN=3\nX=\n"
        );
    }
}
