//! Atomic state files: write a temp file, fsync, rename, fsync the directory.

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ControlError;

/// Replaces `path` with `bytes` so a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ControlError> {
    let err = |source| ControlError::State {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    sync_dir(dir)
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

/// Writes `value` as pretty JSON, atomically.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ControlError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| ControlError::CorruptState(path.to_owned(), e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads JSON state; a missing file gives `None`.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ControlError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ControlError::CorruptState(path.to_owned(), e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ControlError::State {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_temp_left() {
        let dir = std::env::temp_dir().join(format!("netamp-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.json");
        save_json(&p, &vec![1, 2, 3]).unwrap();
        save_json(&p, &vec![4]).unwrap();
        assert_eq!(load_json::<Vec<i32>>(&p).unwrap(), Some(vec![4]));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert_eq!(load_json::<Vec<i32>>(&dir.join("none.json")).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
