//! `audiodevicecontrol.cgi`: input and output gain and mute as the Audio device control
//! API's device tree (one device `"0"`, input `"0"` the microphone, output `"0"` the
//! speaker, connection `internal`, signalling `unbalanced`, channel `0`; gain in dB).
//!
//! `setDevicesSettings` takes partial trees and string or integer ids, as Home
//! Assistant sends them (`"id":"0"` for a channel); every path is checked before
//! anything changes.

use serde_json::{json, Value};

use super::Gate;
use super::{Reply, Request};
use crate::audio::AudioService;
use crate::audio_settings::{Settings, INPUT_GAIN_DB, OUTPUT_GAIN_DB};
use crate::users::Role;

/// An id given as a string or an integer.
fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn port_tree(name: &str, gain: i32, mute: bool, power: bool) -> Value {
    let mut signaling =
        json!({"id": "unbalanced", "channels": [{"id": 0, "gain": gain, "mute": mute}]});
    if power {
        signaling["powerType"] = json!("Off");
    }
    json!({
        "id": "0",
        "name": name,
        "connectionTypeSelected": "internal",
        "connectionTypes": [{
            "id": "internal",
            "signalingTypeSelected": "unbalanced",
            "signalingTypes": [signaling],
        }],
    })
}

fn settings_tree(s: &Settings) -> Value {
    json!({"devices": [{
        "id": "0",
        "name": "netamp Audio Device",
        "inputs": [port_tree("Microphone", s.input_gain_db, s.input_mute, true)],
        "outputs": [port_tree("Speaker", s.output_gain_db, s.output_mute, false)],
    }]})
}

fn capabilities() -> Value {
    let port = |name: &str, range: (i32, i32), power: bool| {
        let mut signaling = json!({
            "id": "unbalanced",
            "gainRange": {"min": range.0, "max": range.1, "unit": "dB"},
            "mute": true,
        });
        if power {
            signaling["powerTypes"] = json!(["Off"]);
        }
        json!({
            "id": "0",
            "name": name,
            "connectionTypes": [{"id": "internal", "signalingTypes": [signaling]}],
        })
    };
    json!({"devices": [{
        "id": "0",
        "name": "netamp Audio Device",
        "inputs": [port("Microphone", INPUT_GAIN_DB, true)],
        "outputs": [port("Speaker", OUTPUT_GAIN_DB, false)],
    }]})
}

/// Walks a (partial) settings tree into `s`; the reason when a path or value is wrong.
fn merge(params: &Value, s: &mut Settings) -> Result<(), String> {
    let devices = params
        .get("devices")
        .and_then(Value::as_array)
        .ok_or("params.devices is required")?;
    for dev in devices {
        if id_of(dev).as_deref() != Some("0") {
            return Err(format!(
                "unknown device {}",
                dev.get("id").unwrap_or(&Value::Null)
            ));
        }
        for (list, is_input) in [("inputs", true), ("outputs", false)] {
            let Some(ports) = dev.get(list) else { continue };
            for port in ports.as_array().ok_or(format!("{list} must be a list"))? {
                if id_of(port).as_deref() != Some("0") {
                    return Err(format!("unknown {list} id"));
                }
                let Some(conns) = port.get("connectionTypes") else {
                    continue;
                };
                for conn in conns.as_array().ok_or("connectionTypes must be a list")? {
                    if id_of(conn).as_deref() != Some("internal") {
                        return Err("unknown connection type".into());
                    }
                    let Some(sigs) = conn.get("signalingTypes") else {
                        continue;
                    };
                    for sig in sigs.as_array().ok_or("signalingTypes must be a list")? {
                        if id_of(sig).as_deref() != Some("unbalanced") {
                            return Err("unknown signaling type".into());
                        }
                        let Some(chans) = sig.get("channels") else {
                            continue;
                        };
                        for ch in chans.as_array().ok_or("channels must be a list")? {
                            if id_of(ch).as_deref() != Some("0") {
                                return Err("unknown channel".into());
                            }
                            if let Some(g) = ch.get("gain") {
                                let g = g
                                    .as_i64()
                                    .or_else(|| g.as_f64().map(|f| f.round() as i64))
                                    .ok_or("gain must be a number")?;
                                let g = i32::try_from(g).map_err(|_| "gain out of range")?;
                                if is_input {
                                    s.input_gain_db = g;
                                } else {
                                    s.output_gain_db = g;
                                }
                            }
                            if let Some(m) = ch.get("mute") {
                                let m = m.as_bool().ok_or("mute must be true or false")?;
                                if is_input {
                                    s.input_mute = m;
                                } else {
                                    s.output_mute = m;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if !s.is_valid() {
        return Err("gain out of range".into());
    }
    Ok(())
}

/// Handles `POST /axis-cgi/audiodevicecontrol.cgi`.
pub async fn handle(gate: &Gate, audio: &AudioService, req: &mut Request) -> Reply {
    let call = match super::json_cgi::read(gate, req, "The provided JSON input was invalid.").await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    let method = call.method.as_str();
    let role = match method {
        "getSupportedVersions" | "getDevicesSettings" => Role::Viewer,
        "getDevicesCapabilities" | "setDevicesSettings" | "getHazardousSettings" => Role::Operator,
        _ => return call.error(2102, "The requested method is not supported."),
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    match method {
        "getSupportedVersions" => call.ok(json!({"apiVersions": ["1.0"]})),
        "getDevicesSettings" => call.ok(settings_tree(&audio.settings())),
        "getDevicesCapabilities" => call.ok(capabilities()),
        "getHazardousSettings" => call.ok(json!({"powerTypes": []})),
        _ => {
            let mut s = audio.settings();
            let params = call.body.get("params").cloned().unwrap_or(Value::Null);
            if let Err(why) = merge(&params, &mut s) {
                tracing::debug!("setDevicesSettings refused: {why}");
                return call.error(2101, "The provided JSON input was invalid.");
            }
            match audio.set_settings(s) {
                Ok(()) => call.ok(json!({})),
                Err(e) => call.error(1100, &e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_assistant_partial_tree_with_string_ids() {
        let p = json!({"devices":[{"id":"0","outputs":[{"id":"0","connectionTypes":[{"id":"internal","signalingTypes":[{"id":"unbalanced","channels":[{"id":"0","gain":-12,"mute":true}]}]}]}]}]});
        let mut s = Settings::default();
        merge(&p, &mut s).unwrap();
        assert_eq!((s.output_gain_db, s.output_mute), (-12, true));
        assert_eq!(s.input_gain_db, 0, "inputs untouched");
    }

    #[test]
    fn integer_ids_and_input_gain() {
        let p = json!({"devices":[{"id":0,"inputs":[{"id":0,"connectionTypes":[{"id":"internal","signalingTypes":[{"id":"unbalanced","channels":[{"id":0,"gain":12}]}]}]}]}]});
        let mut s = Settings::default();
        merge(&p, &mut s).unwrap();
        assert_eq!(s.input_gain_db, 12);
    }

    #[test]
    fn bad_paths_and_values_are_refused() {
        for p in [
            json!({}),
            json!({"devices":[{"id":"1"}]}),
            json!({"devices":[{"id":"0","outputs":[{"id":"0","connectionTypes":[{"id":"internal","signalingTypes":[{"id":"unbalanced","channels":[{"id":"0","gain":10}]}]}]}]}]}),
            json!({"devices":[{"id":"0","outputs":[{"id":"0","connectionTypes":[{"id":"internal","signalingTypes":[{"id":"unbalanced","channels":[{"id":"0","mute":"yes"}]}]}]}]}]}),
            json!({"devices":[{"id":"0","outputs":[{"id":"0","connectionTypes":[{"id":"xlr"}]}]}]}),
        ] {
            let mut s = Settings::default();
            assert!(merge(&p, &mut s).is_err(), "{p}");
        }
    }
}
