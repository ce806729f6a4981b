//! `audiomixer.cgi`: the capture chain's automatic gain control and noise suppression as
//! the Audio mixer API's plug-ins, a view of the audio settings model.
//!
//! The reference names the methods and the plug-ins (`automaticGainControl {enabled,
//! target, dynamicRange}`, `voiceEnhancer {enabled, noiseSuppression}`) but not the
//! exact tree, so the settings are `{"plugins": {"<plug-in>": {"<field>": value}}}`.
//! `enabled` switches AGC2; `voiceEnhancer` is the noise suppressor (`enabled` and
//! `noiseSuppression` both turn it on or off). AGC2 adapts its own target, so `target`
//! and `dynamicRange` are refused rather than stored without effect.

use serde_json::{json, Map, Value};

use super::json_cgi::{self, JsonCall};
use super::Gate;
use super::{Reply, Request};
use crate::audio::AudioService;
use crate::audio_settings::Settings;
use crate::users::Role;

fn plugins(audio: &AudioService) -> Value {
    let stages = audio.capture.stages();
    json!({
        "automaticGainControl": { "enabled": stages.agc },
        "voiceEnhancer": {
            "enabled": stages.noise_suppression,
            "noiseSuppression": stages.noise_suppression,
        },
    })
}

fn schema() -> Value {
    let flag = json!({"type": "boolean"});
    json!({"plugins": {
        "automaticGainControl": {"enabled": flag},
        "voiceEnhancer": {"enabled": flag, "noiseSuppression": flag},
    }})
}

/// Applies a partial plug-in tree to `s`; the reason when a name or value is wrong.
fn merge(tree: &Map<String, Value>, s: &mut Settings) -> Result<(), String> {
    for (plugin, fields) in tree {
        let fields = fields
            .as_object()
            .ok_or_else(|| format!("{plugin} must be an object"))?;
        for (field, value) in fields {
            let flag = || {
                value
                    .as_bool()
                    .ok_or_else(|| format!("{plugin}.{field} must be true or false"))
            };
            match (plugin.as_str(), field.as_str()) {
                ("automaticGainControl", "enabled") => s.agc = Some(flag()?),
                ("voiceEnhancer", "enabled" | "noiseSuppression") => {
                    s.noise_suppression = Some(flag()?)
                }
                ("automaticGainControl", "target" | "dynamicRange") => {
                    return Err(format!("{plugin}.{field} is not adjustable"))
                }
                _ => return Err(format!("unknown setting {plugin}.{field}")),
            }
        }
    }
    Ok(())
}

fn set(audio: &AudioService, call: &JsonCall) -> Reply {
    let Some(tree) = call
        .body
        .get("params")
        .and_then(|p| p.get("plugins"))
        .and_then(Value::as_object)
    else {
        return call.error(2101, "params.plugins is required");
    };
    let mut s = audio.settings();
    if let Err(why) = merge(tree, &mut s) {
        return call.error(2101, &why);
    }
    match audio.set_settings(s) {
        // No `data` on success.
        Ok(()) => super::json(
            &json!({"apiVersion": "1.0", "context": call.context, "method": call.method}),
        ),
        Err(e) => call.error(1100, &e),
    }
}

/// Handles `POST /axis-cgi/audiomixer.cgi`.
pub async fn handle(gate: &Gate, audio: &AudioService, req: &mut Request) -> Reply {
    let call = match json_cgi::read(gate, req, "The provided JSON input was invalid.").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let role = match call.method.as_str() {
        "getSupportedVersions" | "getPluginSchema" | "getPluginsSettings" => Role::Viewer,
        "setPluginsSettings" => Role::Operator,
        _ => return call.error(2102, "The requested method is not supported."),
    };
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    match call.method.as_str() {
        "getSupportedVersions" => call.ok(json!({"apiVersions": ["1.0"]})),
        "getPluginSchema" => call.ok(schema()),
        "getPluginsSettings" => call.ok(json!({"plugins": plugins(audio)})),
        _ => set(audio, &call),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn partial_trees_switch_the_stages() {
        let mut s = Settings::default();
        merge(
            &tree(json!({"automaticGainControl": {"enabled": true}})),
            &mut s,
        )
        .unwrap();
        assert_eq!((s.agc, s.noise_suppression), (Some(true), None));
        merge(
            &tree(json!({"voiceEnhancer": {"noiseSuppression": true}})),
            &mut s,
        )
        .unwrap();
        assert_eq!(s.noise_suppression, Some(true));
    }

    #[test]
    fn unknown_or_unsupported_settings_are_refused() {
        for t in [
            json!({"automaticGainControl": {"target": -20}}),
            json!({"simpleEq": {"band0": 1}}),
            json!({"automaticGainControl": {"enabled": "yes"}}),
            json!({"voiceEnhancer": 1}),
        ] {
            let mut s = Settings::default();
            assert!(merge(&tree(t.clone()), &mut s).is_err(), "{t}");
        }
    }
}
