//! The system log and the access log that `systemlog.cgi` and `accesslog.cgi` show, in the
//! Axis line format (`<RFC 3339 ms+offset> axis-<mac> [ LEVEL   ] <process>: <text>`):
//! a tracing layer ([`RingLayer`]) keeps the daemon's own records in a bounded ring and
//! appends them to a rotating file in the state directory (`logs/system.log`, 1 MiB, one
//! older generation kept) once that is known; the HTTP layer adds one access line per
//! request ([`access`]). Query strings are never logged (`pwdgrp.cgi` carries passwords
//! in them).
//!
//! No crate does Axis's format or the ring; tracing-subscriber's layer trait is what this
//! builds on. Nothing here runs on a real-time thread (they never log).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, OnceLock};

use chrono::{DateTime, Local};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines each ring keeps.
pub const RING_LINES: usize = 2000;
/// Size at which the log file is rotated.
const FILE_BYTES: u64 = 1024 * 1024;

struct Entry {
    at: DateTime<Local>,
    level: Level,
    process: &'static str,
    text: String,
}

/// A bounded ring of log lines.
struct Ring(Mutex<VecDeque<Entry>>);

impl Ring {
    fn push(&self, e: Entry) {
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() >= RING_LINES {
            lines.pop_front();
        }
        lines.push_back(e);
    }
}

static SYSTEM: LazyLock<Ring> = LazyLock::new(|| Ring(Mutex::new(VecDeque::new())));
static ACCESS: LazyLock<Ring> = LazyLock::new(|| Ring(Mutex::new(VecDeque::new())));
static HOST: OnceLock<String> = OnceLock::new();
static FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Names the device in every line (`axis-<mac lower>`), as Axis devices do.
pub fn set_host(mac: &str) {
    let _ = HOST.set(format!("axis-{}", mac.to_ascii_lowercase()));
}

/// The device's name in every line (`axis-<mac lower>`).
pub fn host() -> String {
    HOST.get()
        .map_or("axis-000000000000", String::as_str)
        .to_string()
}

/// Appends the system log to `<dir>/logs/system.log` from now on (what the ring holds
/// already is written first).
pub fn open_file(dir: &Path) -> std::io::Result<()> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let path = logs.join("system.log");
    let mut text = String::new();
    {
        let lines = SYSTEM.0.lock().unwrap_or_else(|p| p.into_inner());
        for e in lines.iter() {
            line(&mut text, e);
        }
    }
    append(&path, &text)?;
    *FILE.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    Ok(())
}

/// The system log's files, newest first (none before [`open_file`]).
pub fn files() -> Vec<PathBuf> {
    let Some(path) = FILE.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
        return Vec::new();
    };
    let older = path.with_extension("log.1");
    [path, older].into_iter().filter(|p| p.exists()).collect()
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) > FILE_BYTES {
        std::fs::rename(path, path.with_extension("log.1"))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// The Axis level tag, padded as Axis pads it.
fn tag(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERR     ",
        Level::WARN => "WARNING ",
        Level::INFO => "INFO    ",
        Level::DEBUG | Level::TRACE => "DEBUG   ",
    }
}

/// One entry as Axis writes it, with its line end.
fn line(out: &mut String, e: &Entry) {
    let host = HOST.get().map_or("axis-000000000000", String::as_str);
    let _ = writeln!(
        out,
        "{} {host} [ {}] {}[{}]: {}",
        e.at.format("%Y-%m-%dT%H:%M:%S%.3f%:z"),
        tag(e.level),
        e.process,
        std::process::id(),
        e.text
    );
}

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The daemon's own records.
    System,
    /// One line per HTTP request.
    Access,
}

/// The log as `systemlog.cgi` / `accesslog.cgi` return it; only lines containing
/// `filter` (case-insensitive) when given.
pub fn render(which: Log, filter: Option<&str>) -> String {
    let (ring, title) = match which {
        Log::System => (&*SYSTEM, "System log"),
        Log::Access => (&*ACCESS, "Access log"),
    };
    let filter = filter.map(str::to_ascii_lowercase);
    let mut out = format!("\n----- {title} -----\n\n\n");
    let lines = ring.0.lock().unwrap_or_else(|p| p.into_inner());
    let mut one = String::new();
    for e in lines.iter() {
        one.clear();
        line(&mut one, e);
        if filter
            .as_deref()
            .is_none_or(|f| one.to_ascii_lowercase().contains(f))
        {
            out.push_str(&one);
        }
    }
    out
}

/// Notes one HTTP request in the access log: who, what (the path, never the query), the
/// answer.
pub fn access(
    remote: Option<std::net::SocketAddr>,
    user: &str,
    method: &str,
    path: &str,
    status: u16,
) {
    let who = remote.map_or_else(|| "-".to_string(), |a| a.ip().to_string());
    let level = if status == 429 || status == 401 {
        Level::WARN
    } else {
        Level::INFO
    };
    ACCESS.push(Entry {
        at: Local::now(),
        level,
        process: "httpd",
        text: format!("{who} {user} \"{method} {path}\" {status}"),
    });
}

/// The user name an `Authorization` header claims (not checked: the status says whether
/// it was right), or `-`.
pub fn claimed_user(authorization: Option<&str>) -> String {
    let Some(h) = authorization.map(str::trim) else {
        return "-".into();
    };
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let name = if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, _)| u.to_string()))
    } else if scheme.eq_ignore_ascii_case("digest") {
        crate::auth::parse_params(rest).remove("username")
    } else {
        None
    };
    // Printable and short: the name is the client's word, not ours.
    name.filter(|n| !n.is_empty())
        .map(|n| {
            n.chars()
                .filter(|c| c.is_ascii_graphic())
                .take(32)
                .collect()
        })
        .unwrap_or_else(|| "-".into())
}

/// The tracing layer that feeds the system log.
pub struct RingLayer;

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut text = Text(format!("{}: ", meta.target()));
        event.record(&mut text);
        let entry = Entry {
            at: Local::now(),
            level: *meta.level(),
            process: "netamp",
            text: text.0,
        };
        let path = FILE.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(path) = path {
            let mut one = String::new();
            line(&mut one, &entry);
            // A full disk must not stop the daemon: the ring keeps the line.
            let _ = append(&path, &one);
        }
        crate::syslog::offer(|| crate::syslog::Line {
            at: entry.at,
            severity: crate::syslog::Severity::of(entry.level),
            app: entry.process,
            text: entry.text.clone(),
        });
        SYSTEM.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_axis_lines_and_the_ring_is_bounded() {
        set_host("ACCC8EC43707");
        let mut out = String::new();
        line(
            &mut out,
            &Entry {
                at: Local::now(),
                level: Level::WARN,
                process: "netamp",
                text: "x: y".into(),
            },
        );
        // 2020-09-12T10:04:36.471-05:00 axis-accc8ef7de6b [ WARNING ] netamp[12]: x: y
        let (time, rest) = out.split_once(' ').expect("time");
        assert!(DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        assert_eq!(
            time.split('.').nth(1).map(|f| &f[..3]).map(str::len),
            Some(3)
        );
        assert!(
            rest.starts_with("axis-accc8ec43707 [ WARNING ] netamp["),
            "{rest}"
        );
        assert!(rest.ends_with("]: x: y\n"), "{rest}");
        for i in 0..RING_LINES + 10 {
            access(None, "-", "GET", &format!("/p{i}"), 200);
        }
        let text = render(Log::Access, None);
        assert!(text.starts_with("\n----- Access log -----\n\n\n"));
        assert_eq!(
            text.lines().filter(|l| l.contains("httpd[")).count(),
            RING_LINES
        );
        assert!(!text.contains("\"GET /p0\""));
        assert_eq!(render(Log::Access, Some("P2009")).lines().count(), 4 + 1);
        assert_eq!(claimed_user(Some("Basic cm9vdDpwYXNz")), "root");
        assert_eq!(
            claimed_user(Some("Digest username=\"op\", realm=\"r\"")),
            "op"
        );
        assert_eq!(claimed_user(None), "-");
    }
}
