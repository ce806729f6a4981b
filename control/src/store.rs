//! State files, written so a crash or a concurrent writer can never leave one unreadable,
//! and read so a damaged one never stops the daemon.
//!
//! A write goes to a temp file of its own beside the target (unique name, mode 0600,
//! fsynced), the current file is kept as `<name>.prev` (a hard link: the previous good
//! generation), the temp file is renamed over the target and the directory fsynced. Each
//! owner holds its own lock from the snapshot it saves to the rename, so the file on
//! disk is always the state last acknowledged.
//!
//! A file that is empty, does not parse or fails its owner's check at start is moved
//! aside as `<name>.bad-<unix s>` and replaced by the previous generation if that one is
//! good, or by the owner's defaults for that file alone; the recovery is logged at error
//! level and listed in `/api/v1/status` (`state_recovered`). Temp files a killed process
//! left are removed when the file is loaded.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ControlError;

/// One state file that was found damaged at start and what was used instead.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recovery {
    /// The damaged file.
    pub file: PathBuf,
    /// Why it could not be used.
    pub problem: String,
    /// `previous` (the previous generation) or `defaults`.
    pub used: &'static str,
    /// Where the damaged file was kept, when it could be moved.
    pub kept_as: Option<PathBuf>,
}

static RECOVERIES: Mutex<Vec<Recovery>> = Mutex::new(Vec::new());

/// The recoveries made since the process started.
pub fn recoveries() -> Vec<Recovery> {
    RECOVERIES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Where the previous generation of `path` is kept.
pub fn prev_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".prev");
    path.with_file_name(name)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("state")
        .to_string()
}

/// Replaces `path` with `bytes` so a crash leaves either the old or the new file, and
/// keeps the old one as [`prev_path`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ControlError> {
    let err = |source| ControlError::State {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(".{}.", file_name(path));
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    if path.exists() {
        // The current file becomes the previous generation: linked under a unique name,
        // then renamed, so `path` itself exists throughout.
        let link = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".prev")
            .make_in(dir, |p| {
                std::fs::hard_link(path, p).or_else(|_| copy(path, p))
            })
            .map_err(err)?;
        let link_path = link.path().to_owned();
        link.persist(prev_path(path)).map_err(|e| err(e.error))?;
        // rename(2) between two links of one file does nothing and succeeds (another
        // writer linked the same generation first): the temporary name must still go.
        let _ = std::fs::remove_file(link_path);
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    sync_dir(dir)
}

/// A copy for file systems without hard links.
fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::copy(from, to).map(|_| ())
}

/// Fsyncs a directory so a rename in it survives power loss.
pub fn sync_dir(dir: &Path) -> Result<(), ControlError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ControlError::State {
            path: dir.to_owned(),
            source,
        })
}

/// The claim of one process on a state directory: the daemon holds it while it runs, and
/// the offline `netamp user` commands take it too, so they never rewrite `users.json`
/// under a daemon that would overwrite their change with its own copy.
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Takes the lock of `dir` (`netamp.lock`), or says who holds it.
    pub fn take(dir: &Path) -> Result<Self, ControlError> {
        let path = dir.join("netamp.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ControlError::State {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ControlError::Busy(dir.to_owned())),
            Err(std::fs::TryLockError::Error(source)) => Err(ControlError::State { path, source }),
        }
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ControlError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| ControlError::CorruptState(path.to_owned(), e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads JSON state; a missing file gives `None`, and so does a damaged one without a
/// good previous generation (see the module doc).
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ControlError> {
    load_json_checked(path, |_: &T| Ok(()))
}

/// [`load_json`] with the owner's own check: a file that parses but fails `check` is
/// damaged too.
pub fn load_json_checked<T: DeserializeOwned>(
    path: &Path,
    check: impl Fn(&T) -> Result<(), String>,
) -> Result<Option<T>, ControlError> {
    remove_stale_temps(path);
    let problem = match read(path, &check)? {
        Read::Good(v, _) => return Ok(Some(v)),
        Read::Missing => return Ok(None),
        Read::Bad(problem) => problem,
    };
    let kept_as = set_aside(path);
    let prev = prev_path(path);
    let (value, used) = match read(&prev, &check)? {
        Read::Good(v, bytes) => {
            // The good generation becomes the current file again, byte for byte.
            write_atomic(path, &bytes)?;
            (Some(v), "previous")
        }
        Read::Missing | Read::Bad(_) => (None, "defaults"),
    };
    tracing::error!(
        "state file {} is damaged ({problem}): using the {} instead; the damaged file is kept as {}",
        path.display(),
        if used == "previous" {
            "previous generation"
        } else {
            "defaults"
        },
        kept_as
            .as_ref()
            .map_or("(could not be moved)".into(), |p| p.display().to_string())
    );
    RECOVERIES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Recovery {
            file: path.to_owned(),
            problem,
            used,
            kept_as,
        });
    Ok(value)
}

enum Read<T> {
    Good(T, Vec<u8>),
    Missing,
    Bad(String),
}

fn read<T: DeserializeOwned>(
    path: &Path,
    check: &impl Fn(&T) -> Result<(), String>,
) -> Result<Read<T>, ControlError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
        Err(source) => {
            return Err(ControlError::State {
                path: path.to_owned(),
                source,
            })
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Read::Bad("empty".into()));
    }
    Ok(match serde_json::from_slice::<T>(&bytes) {
        Ok(v) => match check(&v) {
            Ok(()) => Read::Good(v, bytes),
            Err(m) => Read::Bad(m),
        },
        Err(e) => Read::Bad(e.to_string()),
    })
}

/// Removes temp files of `path` that a killed process left (only ever called at start,
/// before any writer of `path` runs).
fn remove_stale_temps(path: &Path) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(".{}.", file_name(path));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && (name.ends_with(".tmp") || name.ends_with(".prev")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Moves a damaged file aside; where it went, if it could.
fn set_aside(path: &Path) -> Option<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = path.with_file_name(format!("{}.bad-{secs}", file_name(path)));
    std::fs::rename(path, &aside).ok().map(|()| aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn round_trip_keeps_one_previous_generation_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        save_json(&p, &vec![1, 2, 3]).unwrap();
        save_json(&p, &vec![4]).unwrap();
        save_json(&p, &vec![5]).unwrap();
        assert_eq!(load_json::<Vec<i32>>(&p).unwrap(), Some(vec![5]));
        assert_eq!(
            load_json::<Vec<i32>>(&prev_path(&p)).unwrap(),
            Some(vec![4])
        );
        assert_eq!(names(dir.path()), ["s.json", "s.json.prev"]);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            load_json::<Vec<i32>>(&dir.path().join("none.json")).unwrap(),
            None
        );
    }

    #[test]
    fn concurrent_writers_never_share_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        std::thread::scope(|s| {
            for i in 0..16 {
                let p = &p;
                s.spawn(move || {
                    for k in 0..20 {
                        save_json(p, &vec![i, k]).expect("every write succeeds");
                    }
                });
            }
        });
        assert!(load_json::<Vec<i32>>(&p).unwrap().is_some());
        assert_eq!(names(dir.path()), ["s.json", "s.json.prev"]);
    }

    #[test]
    fn a_damaged_file_falls_back_to_the_previous_generation_then_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        save_json(&p, &vec![1]).unwrap();
        save_json(&p, &vec![2]).unwrap();
        std::fs::write(&p, b"").unwrap();
        assert_eq!(load_json::<Vec<i32>>(&p).unwrap(), Some(vec![1]));
        // The good generation is the current file again; the empty one is kept aside.
        assert_eq!(load_json::<Vec<i32>>(&p).unwrap(), Some(vec![1]));
        assert!(names(dir.path())
            .iter()
            .any(|n| n.starts_with("s.json.bad-")));
        let r = recoveries();
        assert!(
            r.iter().any(|r| r.file == p && r.used == "previous"),
            "{r:?}"
        );

        // Garbage now and garbage before: the owner's defaults.
        let q = dir.path().join("q.json");
        std::fs::write(&q, b"{{{not json").unwrap();
        std::fs::write(prev_path(&q), b"\0\0\0").unwrap();
        assert_eq!(load_json::<Vec<i32>>(&q).unwrap(), None);
        assert!(recoveries()
            .iter()
            .any(|r| r.file == q && r.used == "defaults"));

        // A file that parses but fails its owner's check is damaged too.
        let c = dir.path().join("c.json");
        save_json(&c, &vec![7]).unwrap();
        save_json(&c, &vec![-1]).unwrap();
        let positive = |v: &Vec<i32>| {
            if v.iter().all(|x| *x > 0) {
                Ok(())
            } else {
                Err("negative".to_string())
            }
        };
        assert_eq!(load_json_checked(&c, positive).unwrap(), Some(vec![7]));
    }
}
