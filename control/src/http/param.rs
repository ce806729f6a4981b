//! `param.cgi`: the legacy parameter API, a view over the typed state (never a copy).

use warp::http::StatusCode;

use super::{text, Reply, Request};
use crate::app::App;
use crate::users::Role;

/// Every parameter, names without `root.`, groups in alphabetical order.
pub fn all_params(app: &App) -> Vec<(String, String)> {
    let id = &app.identity;
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
    put("MediaClip.MaxGroups", app.clips.max_groups.to_string());
    put(
        "MediaClip.MaxUploadSize",
        app.clips.max_upload_mb.to_string(),
    );
    for c in app.clips.list() {
        put(&format!("MediaClip.M{}.Location", c.id), c.location());
        put(&format!("MediaClip.M{}.Name", c.id), c.name.clone());
        put(&format!("MediaClip.M{}.Type", c.id), "audio".into());
    }
    put("Properties.API.HTTP.Version", "3".into());
    // Home Assistant's `axis` library (v60) reads these two without a default.
    put("Properties.API.Metadata.Metadata", "no".into());
    put("Properties.API.Metadata.Version", "1.0".into());
    put("Properties.ApiDiscovery.ApiDiscovery", "yes".into());
    put("Properties.Audio.Audio", "yes".into());
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
    p
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
        if g.contains('*') {
            let hits: Vec<_> = params
                .iter()
                .filter(|(k, _)| wildcard_match(g, k))
                .collect();
            if hits.is_empty() {
                out.push_str(&format!(
                    "# Error: Error -1 getting param in group '{requested}'\n"
                ));
            }
            for (k, v) in hits {
                out.push_str(&format!("root.{k}={v}\n"));
            }
        } else if let Some((_, v)) = params.iter().find(|(k, _)| k == g) {
            // A leaf is answered with its name exactly as asked (Nx matches literally).
            out.push_str(&format!("{requested}={v}\n"));
        } else {
            let prefix = format!("{g}.");
            let hits: Vec<_> = params
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .collect();
            if hits.is_empty() {
                out.push_str(&format!(
                    "# Error: Error -1 getting param in group '{requested}'\n"
                ));
            }
            for (k, v) in hits {
                out.push_str(&format!("root.{k}={v}\n"));
            }
        }
    }
    out
}

/// Applies one `update` pair; false when the parameter cannot be written.
fn update_one(app: &App, name: &str, value: &str) -> bool {
    let name = strip_root(name);
    // MediaClip.M<n>.Name is the one writable parameter so far.
    if let Some(rest) = name.strip_prefix("MediaClip.M") {
        if let Some((n, "Name")) = rest.split_once('.') {
            if let Ok(id) = n.parse::<u32>() {
                return app.clips.rename(id, value).is_ok();
            }
        }
    }
    false
}

/// Handles `param.cgi` (GET or form POST).
pub async fn handle(app: &App, req: &mut Request) -> Reply {
    let args = match req.form_args(app.config.http.max_body_bytes).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let get = |k: &str| super::find_arg(&args, k);
    let action = get("action").unwrap_or("").to_ascii_lowercase();
    let role = if action == "list" {
        Role::Viewer
    } else {
        Role::Operator
    };
    if let Err(r) = app.require(req, role) {
        return r;
    }
    match action.as_str() {
        "list" => text(StatusCode::OK, &list(&all_params(app), get("group"))),
        "update" => {
            const RESERVED: [&str; 3] = ["action", "usergroup", "responseformat"];
            let pairs: Vec<_> = args
                .iter()
                .filter(|(k, _)| !RESERVED.iter().any(|r| k.eq_ignore_ascii_case(r)))
                .collect();
            if pairs.is_empty() {
                return text(StatusCode::OK, "# Error: No parameters to update\n");
            }
            for (k, v) in pairs {
                if !update_one(app, k, v) {
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
