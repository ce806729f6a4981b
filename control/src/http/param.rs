//! `param.cgi`: the legacy parameter API, a view over the typed state (never a copy).

use warp::http::StatusCode;

use super::Gate;
use super::{text, Reply, Request};
use crate::audio::AudioService;
use crate::clips::ClipLibrary;
use crate::identity::Identity;
use crate::io_service::IoService;
use crate::services::Services;
use crate::users::Role;

/// The settings `param.cgi` shows and writes: views over these services' own state.
pub struct Model<'a> {
    /// Device identity.
    pub identity: &'a Identity,
    /// Stored clips (`MediaClip.*`).
    pub clips: &'a ClipLibrary,
    /// Audio settings (`AudioSource.*`, `AudioOutput.*`).
    pub audio: &'a AudioService,
    /// Ports (`IOPort.*`).
    pub io: &'a IoService,
}

impl<'a> Model<'a> {
    /// The model over the daemon's services.
    pub fn of(svc: &'a Services) -> Self {
        Self {
            identity: &svc.identity,
            clips: &svc.clips,
            audio: &svc.audio,
            io: &svc.io,
        }
    }
}

/// Every parameter, names without `root.`, groups in alphabetical order.
pub fn all_params(m: &Model<'_>) -> Vec<(String, String)> {
    let id = &m.identity;
    let mut p: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| p.push((k.to_string(), v));
    put("Brand.Brand", "netamp".into());
    put(
        "Brand.ProdFullName",
        format!("netamp {} {}", id.prod_type(), id.prod_nbr()),
    );
    put("Brand.ProdNbr", id.prod_nbr());
    put("Brand.ProdShortName", format!("netamp {}", id.prod_nbr()));
    put("Brand.ProdType", id.prod_type().into());
    put("Brand.ProdVariant", String::new());
    put("Brand.WebURL", "https://github.com/netamp/netamp".into());
    {
        let b = m.io.board();
        let mut inputs = 0;
        let mut outputs = 0;
        for port in 0..b.len() {
            let Ok((def, c, _)) = b.port(port) else {
                continue;
            };
            let g = format!("IOPort.I{port}");
            let yes_no = |v: bool| if v { "yes" } else { "no" }.to_string();
            // The triggering / active circuit is the one that differs from normal.
            let active = c.normal.flip().as_str().to_string();
            put(&format!("{g}.Configurable"), yes_no(def.configurable()));
            put(&format!("{g}.Direction"), c.direction.as_str().into());
            put(&format!("{g}.Input.Name"), c.name.clone());
            put(&format!("{g}.Input.Trig"), active.clone());
            put(&format!("{g}.Output.Active"), active);
            put(&format!("{g}.Output.Button"), "none".into());
            put(&format!("{g}.Output.DelayTime"), "0".into());
            put(&format!("{g}.Output.Mode"), "bistable".into());
            put(&format!("{g}.Output.Name"), c.name.clone());
            put(&format!("{g}.Output.PulseTime"), "0".into());
            put(&format!("{g}.Usage"), c.usage.clone());
            match c.direction {
                netamp_io::Direction::Input => inputs += 1,
                netamp_io::Direction::Output => outputs += 1,
            }
        }
        put("Input.NbrOfInputs", inputs.to_string());
        put("Output.NbrOfOutputs", outputs.to_string());
    }
    put("MediaClip.MaxGroups", m.clips.max_groups.to_string());
    put("MediaClip.MaxUploadSize", m.clips.max_upload_mb.to_string());
    for c in m.clips.list() {
        put(&format!("MediaClip.M{}.Location", c.id), c.location());
        put(&format!("MediaClip.M{}.Name", c.id), c.name.clone());
        put(&format!("MediaClip.M{}.Type", c.id), "audio".into());
    }
    let audio = &m.audio.config;
    put("Audio.DSCP", "0".into());
    put("Audio.DuplexMode", "full".into());
    put("Audio.MaxListeners", audio.max_listeners.to_string());
    put("Audio.NbrOfConfigs", "1".into());
    put(
        "Audio.ReceiverBuffer",
        audio.transmit_buffer_min_ms.to_string(),
    );
    put(
        "Audio.ReceiverTimeout",
        audio.receiver_timeout_ms.to_string(),
    );
    put("Audio.A0.Enabled", "yes".into());
    put("Audio.A0.HTTPMessageType", "singlepart".into());
    put("Audio.A0.Name", "Audio".into());
    put("Audio.A0.NbrOfChannels", "1".into());
    put("Audio.A0.Source", "0".into());
    let settings = m.audio.settings();
    put("AudioSource.NbrOfSources", "1".into());
    put(
        "AudioSource.A0.AlarmLevel",
        settings.alarm_level.to_string(),
    );
    put("AudioSource.A0.AudioEncoding", "g711".into());
    put("AudioSource.A0.AudioSupport", "yes".into());
    put(
        "AudioSource.A0.InputGain",
        if settings.input_mute {
            "mute".into()
        } else {
            settings.input_gain_db.to_string()
        },
    );
    put("AudioSource.A0.InputType", "mic".into());
    put("AudioSource.A0.Name", "Audio".into());
    put("AudioSource.A0.NbrOfChannels", "1".into());
    put(
        "AudioSource.A0.OutputGain",
        settings.output_gain_db.to_string(),
    );
    put("AudioSource.A0.SampleRate", "8000".into());
    put("Properties.API.HTTP.Version", "3".into());
    // Home Assistant's `axis` library (v60) reads these two without a default.
    put("Properties.API.Metadata.Metadata", "no".into());
    put("Properties.API.Metadata.Version", "1.0".into());
    // The SOAP services at /vapix/services (action1, event1) [inferred name].
    put("Properties.API.WebService.WebService", "yes".into());
    put("Properties.ApiDiscovery.ApiDiscovery", "yes".into());
    put("Properties.Audio.Audio", "yes".into());
    // Nx reads DuplexMode for "may send" (full, half, get) and "has audio" (full, half, post).
    put("Properties.Audio.DuplexMode", "full,half,post,get".into());
    put(
        "Properties.Audio.Decoder.Format",
        "g711,axis-mulaw-128,g726,opus,lpcm".into(),
    );
    put("Properties.Audio.Format", "g711,lpcm,opus".into());
    put("Properties.Audio.InputType", "mic".into());
    put("Properties.Audio.Source.A0.Input", "yes".into());
    put("Properties.Audio.Source.A0.Output", "yes".into());
    put(
        "Properties.AudioClip.Format",
        "au,wav,mp3,opus,vorbis,flac".into(),
    );
    put(
        "Properties.AudioClip.PlayOptions",
        "repeat,volume,location,audiodeviceid,audiooutputid".into(),
    );
    put("Properties.AudioClip.StopClip", "yes".into());
    put("Properties.Firmware.BuildDate", id.build_date.clone());
    put("Properties.Firmware.BuildNumber", "1".into());
    put("Properties.Firmware.Version", id.version.clone());
    put("Properties.System.Architecture", id.architecture.clone());
    put("Properties.System.HardwareID", "NA1".into());
    put("Properties.System.Language", "English".into());
    put("Properties.System.SerialNumber", id.serial().to_string());
    put("Properties.VirtualInput.VirtualInput", "yes".into());
    // Groups sorted alphabetically, as devices list them (IOPort < Input < MediaClip …).
    p.sort_by(|a, b| group_of(&a.0).cmp(group_of(&b.0)));
    p
}

fn group_of(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn strip_root(name: &str) -> &str {
    name.strip_prefix("root.").unwrap_or(name)
}

/// Segment-wise match with `*` standing for one whole segment.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    let nam: Vec<&str> = name.split('.').collect();
    pat.len() == nam.len() && pat.iter().zip(&nam).all(|(p, n)| *p == "*" || p == n)
}

/// The body of a `list` request.
pub fn list(params: &[(String, String)], groups: Option<&str>) -> String {
    let mut out = String::new();
    let Some(groups) = groups.filter(|g| !g.trim().is_empty()) else {
        for (k, v) in params {
            out.push_str(&format!("root.{k}={v}\n"));
        }
        return out;
    };
    for requested in groups.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let g = strip_root(requested);
        if let Some((_, v)) = params.iter().find(|(k, _)| k == g) {
            // A leaf is answered with its name exactly as asked (Nx matches literally).
            out.push_str(&format!("{requested}={v}\n"));
            continue;
        }
        // A group: every parameter under it, or the `*` pattern's matches.
        let prefix = format!("{g}.");
        let in_group = |k: &str| {
            if g.contains('*') {
                wildcard_match(g, k)
            } else {
                k.starts_with(&prefix)
            }
        };
        let hits: Vec<_> = params.iter().filter(|(k, _)| in_group(k)).collect();
        if hits.is_empty() {
            out.push_str(&format!(
                "# Error: Error -1 getting param in group '{requested}'\n"
            ));
        }
        for (k, v) in hits {
            out.push_str(&format!("root.{k}={v}\n"));
        }
    }
    out
}

/// One validated `update` pair.
enum ParamWrite {
    /// `MediaClip.M<n>.Name`.
    ClipName(u32, String),
    /// `IOPort.I<n>.<field>`.
    Port(usize, netamp_io::board::ConfigPatch),
    /// `AudioSource.A0.AlarmLevel` / `InputGain` / `OutputGain`, as a patch applied to
    /// the settings current when it is applied (several may come in one request).
    Audio(fn(&mut crate::audio_settings::Settings, i32), i32),
    /// A fixed parameter written with the value it already has.
    Unchanged,
}

/// Parses and checks one `update` pair without changing anything; None when the
/// parameter does not exist, is read-only, or the value is invalid.
fn parse_write(m: &Model<'_>, name: &str, value: &str) -> Option<ParamWrite> {
    let name = strip_root(name);
    if value.len() > 64 {
        return None;
    }
    if let Some(rest) = name.strip_prefix("IOPort.I") {
        return parse_ioport_write(m, rest, value);
    }
    if let Some(field) = name.strip_prefix("AudioSource.A0.") {
        type Patch = fn(&mut crate::audio_settings::Settings, i32);
        let (patch, v): (Patch, i32) = match field {
            "AlarmLevel" => (|s, v| s.alarm_level = v as u8, value.trim().parse().ok()?),
            // `mute` is carried as a gain below the range.
            "InputGain" if value == "mute" => (|s, _| s.input_mute = true, 0),
            "InputGain" => (
                |s, v| {
                    s.input_gain_db = v;
                    s.input_mute = false;
                },
                value.trim().parse().ok()?,
            ),
            "OutputGain" => (|s, v| s.output_gain_db = v, value.trim().parse().ok()?),
            _ => return None,
        };
        if field == "AlarmLevel" && !(0..=100).contains(&v) {
            return None;
        }
        let mut check = m.audio.settings();
        patch(&mut check, v);
        return check.is_valid().then_some(ParamWrite::Audio(patch, v));
    }
    let (n, field) = name.strip_prefix("MediaClip.M")?.split_once('.')?;
    let id = n.parse::<u32>().ok()?;
    (field == "Name" && m.clips.get(id).is_some())
        .then(|| ParamWrite::ClipName(id, value.to_string()))
}

/// `IOPort.I<n>.<field>=<value>`, as a patch of the port model.
fn parse_ioport_write(m: &Model<'_>, rest: &str, value: &str) -> Option<ParamWrite> {
    use netamp_io::board::ConfigPatch;
    use netamp_io::{Circuit, Direction};
    let (n, field) = rest.split_once('.')?;
    let port = n.parse::<usize>().ok()?;
    let patch = match field {
        "Direction" => ConfigPatch {
            direction: Some(Direction::parse(value)?),
            ..Default::default()
        },
        "Usage" => ConfigPatch {
            usage: Some(value.to_string()),
            ..Default::default()
        },
        "Input.Name" | "Output.Name" => ConfigPatch {
            name: Some(value.to_string()),
            ..Default::default()
        },
        // The triggering / active circuit is the one that differs from normal.
        "Input.Trig" | "Output.Active" => ConfigPatch {
            normal: Some(Circuit::parse(value)?.flip()),
            ..Default::default()
        },
        "Output.Button" => return (value == "none").then_some(ParamWrite::Unchanged),
        "Output.Mode" => return (value == "bistable").then_some(ParamWrite::Unchanged),
        "Output.PulseTime" | "Output.DelayTime" => {
            return (value == "0").then_some(ParamWrite::Unchanged)
        }
        _ => return None,
    };
    m.io.check_patch(port, &patch).ok()?;
    Some(ParamWrite::Port(port, patch))
}

fn apply_write(m: &Model<'_>, w: ParamWrite) -> bool {
    match w {
        ParamWrite::ClipName(id, name) => m.clips.rename(id, &name).is_ok(),
        ParamWrite::Port(port, patch) => m.io.configure(port, &patch).is_ok(),
        ParamWrite::Audio(patch, v) => {
            let mut s = m.audio.settings();
            patch(&mut s, v);
            m.audio.set_settings(s).is_ok()
        }
        ParamWrite::Unchanged => true,
    }
}

/// Handles `param.cgi` (GET or form POST).
pub async fn handle(gate: &Gate, m: &Model<'_>, req: &mut Request) -> Reply {
    let args = match req.form_args(req.body_limit).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let get = |k: &str| super::find_arg(&args, k);
    let action = get("action").unwrap_or("").to_ascii_lowercase();
    let for_action = if action == "list" {
        Role::Viewer
    } else {
        Role::Operator
    };
    // The path names the least role too, as on Axis devices: `admin/param.cgi` is for
    // administrators whatever the action.
    let for_path = match req.path.as_str() {
        "/axis-cgi/admin/param.cgi" => Role::Admin,
        "/axis-cgi/operator/param.cgi" => Role::Operator,
        _ => Role::Viewer,
    };
    let role = for_action.max(for_path);
    if let Err(r) = gate.require(req, role) {
        return r;
    }
    match action.as_str() {
        "list" => text(StatusCode::OK, &list(&all_params(m), get("group"))),
        "update" => {
            const RESERVED: [&str; 3] = ["action", "usergroup", "responseformat"];
            let pairs: Vec<_> = args
                .iter()
                .filter(|(k, _)| !RESERVED.iter().any(|r| k.eq_ignore_ascii_case(r)))
                .collect();
            if pairs.is_empty() {
                return text(StatusCode::OK, "# Error: No parameters to update\n");
            }
            // All or nothing: every pair is checked before any is applied.
            let mut writes = Vec::with_capacity(pairs.len());
            for (k, v) in &pairs {
                match parse_write(m, k, v) {
                    Some(w) => writes.push(w),
                    None => {
                        return text(
                            StatusCode::OK,
                            &format!("# Error: Error setting '{k}' to '{v}'!\n"),
                        )
                    }
                }
            }
            for ((k, v), w) in pairs.iter().zip(writes) {
                if !apply_write(m, w) {
                    return text(
                        StatusCode::OK,
                        &format!("# Error: Error setting '{k}' to '{v}'!\n"),
                    );
                }
            }
            text(StatusCode::OK, "OK\n")
        }
        "add" | "remove" => text(
            StatusCode::OK,
            &format!("# Request failed: action={action} is not supported for these groups\n"),
        ),
        "listdefinitions" => text(
            StatusCode::OK,
            "# Error: listdefinitions is not supported\n",
        ),
        "" => text(StatusCode::OK, "# Error: No action specified\n"),
        other => text(
            StatusCode::OK,
            &format!("# Error: Unknown action '{other}'\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        vec![
            ("Brand.Brand".into(), "netamp".into()),
            ("MediaClip.M0.Name".into(), "a".into()),
            ("MediaClip.M3.Name".into(), "b".into()),
            ("Properties.Firmware.Version".into(), "0.1.0".into()),
        ]
    }

    #[test]
    fn list_forms() {
        let p = params();
        assert_eq!(list(&p, Some("root.Brand")), "root.Brand.Brand=netamp\n");
        assert_eq!(list(&p, Some("Brand")), "root.Brand.Brand=netamp\n");
        assert_eq!(
            list(&p, Some("Properties.Firmware.Version")),
            "Properties.Firmware.Version=0.1.0\n"
        );
        assert_eq!(
            list(&p, Some("root.Properties.Firmware.Version")),
            "root.Properties.Firmware.Version=0.1.0\n"
        );
        assert_eq!(
            list(&p, Some("MediaClip.*.Name")),
            "root.MediaClip.M0.Name=a\nroot.MediaClip.M3.Name=b\n"
        );
        assert_eq!(
            list(&p, Some("root.Brand,root.Nope")),
            "root.Brand.Brand=netamp\n# Error: Error -1 getting param in group 'root.Nope'\n"
        );
        assert_eq!(list(&p, None).lines().count(), 4);
        // "Brand" must not match "BrandX.Y"-style prefixes without the dot.
        assert!(list(&p, Some("Bra")).starts_with("# Error"));
    }
}

#[cfg(test)]
mod handler_tests {
    use super::*;
    use crate::http::testing::{gate, get, read};

    #[tokio::test]
    async fn viewers_list_operators_update_and_one_bad_pair_changes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let identity = Identity::new("ACCC8EC43707".into(), None, "combined");
        let clips = ClipLibrary::load(dir.path(), 10, 10, 100, Default::default()).expect("clips");
        let audio = crate::audio::tests::service(dir.path());
        let bus = std::sync::Arc::new(crate::events::EventBus::new());
        let io = IoService::new("combined", &Default::default(), dir.path(), bus).expect("io");
        let m = Model {
            identity: &identity,
            clips: &clips,
            audio: &audio,
            io: &io,
        };
        let r = handle(
            &gate,
            &m,
            &mut get(
                "/axis-cgi/param.cgi?action=list&group=AudioSource.A0.AlarmLevel",
                Some("view"),
            ),
        )
        .await;
        assert_eq!(
            read(r).await,
            (
                StatusCode::OK,
                "text/plain".into(),
                "AudioSource.A0.AlarmLevel=50\n".into()
            )
        );
        let update = "/axis-cgi/param.cgi?action=update&AudioSource.A0.AlarmLevel=70";
        let r = handle(&gate, &m, &mut get(update, Some("view"))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = handle(
            &gate,
            &m,
            &mut get(
                &format!("{update}&AudioSource.A0.AlarmLevel=900"),
                Some("op"),
            ),
        )
        .await;
        assert_eq!(
            read(r).await.2,
            "# Error: Error setting 'AudioSource.A0.AlarmLevel' to '900'!\n"
        );
        assert_eq!(
            audio.settings().alarm_level,
            50,
            "a refused update changed a value"
        );
        let r = handle(&gate, &m, &mut get(update, Some("op"))).await;
        assert_eq!(read(r).await.2, "OK\n");
        assert_eq!(audio.settings().alarm_level, 70);
        let r = handle(
            &gate,
            &m,
            &mut get("/axis-cgi/param.cgi?action=explode", Some("op")),
        )
        .await;
        assert_eq!(read(r).await.2, "# Error: Unknown action 'explode'\n");
    }
}
