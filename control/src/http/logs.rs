//! `systemlog.cgi`, `accesslog.cgi` and `serverreport.cgi` (administrator), as
//! `../shared/reference/vapix.md` §2.5 describes them: `text/plain`, the logs in the Axis
//! line format, `text=` keeping only lines that contain it (letters and digits only).
//! The server report is what support asks for: identity, version, uptime, the status
//! document, the configuration file and the rules with every secret masked, and the recent
//! system and access log; `mode=text` (the default) is that text, `mode=zip` a zip of it
//! with the system log files, and `debug/debug.tgz` the same as a gzipped tar.

use warp::http::StatusCode;

use super::{respond, status, text, Gate, HttpState, Reply, Request};
use crate::logs::{self, Log};
use crate::services::Services;
use crate::users::Role;

/// Handles `systemlog.cgi` and `accesslog.cgi`.
pub fn log(gate: &Gate, req: &Request, which: Log) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    let filter = req.arg("text").filter(|t| !t.is_empty());
    if filter.is_some_and(|t| !t.chars().all(|c| c.is_ascii_alphanumeric())) {
        return text(
            StatusCode::BAD_REQUEST,
            "Error: text may hold letters and digits only.\n",
        );
    }
    respond(StatusCode::OK, "text/plain", logs::render(which, filter))
}

/// Handles `serverreport.cgi` (`mode=text|zip`).
pub fn server_report(gate: &Gate, app: &Services, http: &HttpState, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    match req.arg("mode").unwrap_or("text") {
        "text" => respond(StatusCode::OK, "text/plain", report(app, http)),
        "zip" => match zip_archive(&report(app, http)) {
            Ok(bytes) => respond(StatusCode::OK, "application/zip", bytes),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("Error: {e}\n")),
        },
        other => text(
            StatusCode::BAD_REQUEST,
            &format!("Error: mode {other:?} is not supported (text, zip).\n"),
        ),
    }
}

/// Handles `debug/debug.tgz`: the report and the log files as a gzipped tar.
pub fn debug_archive(gate: &Gate, app: &Services, http: &HttpState, req: &Request) -> Reply {
    if let Err(r) = gate.require(req, Role::Admin) {
        return r;
    }
    match tgz_archive(&report(app, http)) {
        Ok(bytes) => respond(StatusCode::OK, "application/x-gzip", bytes),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("Error: {e}\n")),
    }
}

/// The files an archive holds besides the report: the system log's files.
fn log_files() -> Vec<(String, Vec<u8>)> {
    crate::logs::files()
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((format!("logs/{name}"), std::fs::read(&p).ok()?))
        })
        .collect()
}

fn zip_archive(report: &str) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), String> {
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(bytes).map_err(|e| e.to_string())
    };
    add("serverreport.txt", report.as_bytes())?;
    for (name, bytes) in log_files() {
        add(&name, &bytes)?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

fn tgz_archive(report: &str) -> Result<Vec<u8>, String> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), String> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .map_err(|e| e.to_string())
    };
    add("debug/serverreport.txt", report.as_bytes())?;
    for (name, bytes) in log_files() {
        add(&format!("debug/{name}"), &bytes)?;
    }
    let gz = tar.into_inner().map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// The report's text.
fn report(app: &Services, http: &HttpState) -> String {
    let id = &app.identity;
    let mut out = format!(
        "----- netamp server report -----\n\nProduct: {} ({})\nVersion: {}\nBuild date: {}\n\
         Serial number: {}\nUptime: {} s\n\n",
        id.prod_type(),
        id.prod_nbr(),
        id.version,
        id.build_date,
        id.serial(),
        app.started.elapsed().as_secs()
    );
    out.push_str("----- Status -----\n\n");
    out.push_str(&serde_json::to_string_pretty(&status::document(app, http)).unwrap_or_default());
    out.push_str("\n\n----- Configuration file (secrets masked) -----\n\n");
    out.push_str(&app.config_report);
    out.push_str("\n----- Rules, actions and recipients (secrets masked) -----\n\n");
    let (set, _) = app.rules.list();
    for (n, r) in &set.rules {
        out.push_str(&format!(
            "rule {n}: {:?} {}\n",
            r.name,
            if r.enabled { "enabled" } else { "disabled" }
        ));
    }
    for (n, a) in &set.actions {
        out.push_str(&format!("action {n}: {:?} {}\n", a.name, a.template));
    }
    for (n, r) in &set.recipients {
        let masked = r.masked();
        out.push_str(&format!(
            "recipient {n}: {:?} {} {}\n",
            masked.name,
            masked.template,
            serde_json::to_string(&masked.parameters).unwrap_or_default()
        ));
    }
    out.push('\n');
    out.push_str(&logs::render(Log::System, None));
    out.push('\n');
    out.push_str(&logs::render(Log::Access, None));
    out
}
