//! The clip library: validated audio files in the data directory and their metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use netamp_engine::decode::{self, ClipInfo, DecodeLimits};
use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::store;
use crate::wildcard::{Pattern, PatternTooLong};

/// Where real Axis devices keep clips; `location=` arguments may name it.
pub const AXIS_CLIP_DIR: &str = "/etc/audioclips/";

/// One stored clip.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Clip {
    /// The `#` of `MediaClip.M#`.
    pub id: u32,
    /// `MediaClip.M#.Name`.
    pub name: String,
    /// File name inside the clip directory.
    pub file: String,
    /// The file's own sample rate.
    pub sample_rate: u32,
    /// The file's channel count.
    pub channels: usize,
    /// Frames at the file's own rate.
    pub frames: u64,
}

impl Clip {
    /// `MediaClip.M#.Location` as clients expect it.
    pub fn location(&self) -> String {
        format!("{AXIS_CLIP_DIR}{}", self.file)
    }
}

/// Why a clip operation was refused; each becomes a `400` with this text.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The upload is not playable audio.
    #[error("invalid audio file: {0}")]
    Invalid(#[from] netamp_engine::EngineError),
    /// The upload is larger than `MediaClip.MaxUploadSize`.
    #[error("file too large: the limit is {0} MB")]
    TooLarge(u32),
    /// Every clip slot is taken.
    #[error("no free clip slot: all {0} clips (MediaClip.MaxGroups) are in use")]
    Full(u32),
    /// No clip with that id.
    #[error("no clip {0}")]
    NoSuchClip(u32),
    /// The request named no file part.
    #[error("no file in the upload")]
    NoFile,
    /// The upload body is malformed.
    #[error("malformed upload: {0}")]
    Malformed(String),
    /// Saving failed.
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<ControlError> for ClipError {
    fn from(e: ControlError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Clips on disk plus their index `clips.json`.
pub struct ClipLibrary {
    dir: PathBuf,
    index: PathBuf,
    clips: RwLock<BTreeMap<u32, Clip>>,
    /// `MediaClip.MaxGroups`.
    pub max_groups: u32,
    /// `MediaClip.MaxUploadSize`, MB.
    pub max_upload_mb: u32,
    /// Highest `volume=` a play request may ask for (`[clips] max_volume`).
    pub max_volume: u32,
    limits: DecodeLimits,
    /// Uploads being received now, and how many may be (`[clips] max_concurrent_uploads`).
    uploading: std::sync::atomic::AtomicU32,
    max_uploads: u32,
}

/// One upload's place among those at once; given back when dropped.
pub struct UploadSlot<'a>(&'a ClipLibrary);

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        self.0
            .uploading
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Uploads received at once unless configured otherwise.
pub const DEFAULT_MAX_UPLOADS: u32 = 2;

/// Reduces an uploaded file name to `[A-Za-z0-9._-]`, at most 64 characters.
pub fn sanitize_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    s = s.trim_start_matches('.').to_string();
    if s.len() > 64 {
        let ext = s
            .rsplit_once('.')
            .map(|(_, e)| e.to_string())
            .filter(|e| e.len() <= 8);
        s.truncate(55);
        if let Some(ext) = ext {
            s = format!("{s}.{ext}");
        }
    }
    if s.is_empty() || s.chars().all(|c| c == '_' || c == '.') {
        "clip".into()
    } else {
        s
    }
}

impl ClipLibrary {
    /// Loads the library; entries whose file vanished are dropped, stale uploads removed.
    pub fn load(
        data_dir: &Path,
        max_groups: u32,
        max_upload_mb: u32,
        max_volume: u32,
        limits: DecodeLimits,
    ) -> Result<Self, ControlError> {
        let dir = data_dir.join("clips");
        std::fs::create_dir_all(&dir).map_err(|source| ControlError::State {
            path: dir.clone(),
            source,
        })?;
        let index = data_dir.join("clips.json");
        let list: Vec<Clip> = store::load_json(&index)?.unwrap_or_default();
        let mut clips = BTreeMap::new();
        for c in list {
            if dir.join(&c.file).is_file() {
                clips.insert(c.id, c);
            } else {
                tracing::warn!(clip = c.id, file = %c.file, "clip file is missing; dropping the clip");
            }
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".upload-") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Self {
            dir,
            index,
            clips: RwLock::new(clips),
            max_groups,
            max_upload_mb,
            max_volume,
            limits,
            uploading: std::sync::atomic::AtomicU32::new(0),
            max_uploads: DEFAULT_MAX_UPLOADS,
        })
    }

    /// The same library taking at most `n` uploads at once (each holds a file being
    /// written and then a whole decode).
    pub fn with_max_uploads(mut self, n: u32) -> Self {
        self.max_uploads = n;
        self
    }

    /// A place for one more upload, if fewer than the maximum are being received.
    pub fn upload_slot(&self) -> Option<UploadSlot<'_>> {
        use std::sync::atomic::Ordering;
        self.uploading
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_uploads).then_some(n + 1)
            })
            .ok()
            .map(|_| UploadSlot(self))
    }

    /// How many uploads may be received at once.
    pub fn max_uploads(&self) -> u32 {
        self.max_uploads
    }

    /// The decoder limits clips are read with.
    pub fn limits(&self) -> DecodeLimits {
        self.limits
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Clip>> {
        self.clips.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, Clip>> {
        self.clips.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Largest upload in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        u64::from(self.max_upload_mb) * 1024 * 1024
    }

    /// All clips by id.
    pub fn list(&self) -> Vec<Clip> {
        self.read().values().cloned().collect()
    }

    /// One clip.
    pub fn get(&self, id: u32) -> Option<Clip> {
        self.read().get(&id).cloned()
    }

    /// The file of a clip.
    pub fn path(&self, clip: &Clip) -> PathBuf {
        self.dir.join(&clip.file)
    }

    /// Resolves a `location=` argument: file name or clip name, relative or under
    /// `/etc/audioclips/`, wildcards (`*`, `?`) picking one match at random.
    pub fn find_location(&self, location: &str) -> Result<Option<Clip>, PatternTooLong> {
        let loc = location.trim();
        let loc = loc
            .strip_prefix(AXIS_CLIP_DIR)
            .or_else(|| loc.strip_prefix(&AXIS_CLIP_DIR[1..]))
            .unwrap_or(loc);
        let pattern = Pattern::new(loc)?;
        let clips = self.read();
        let matches: Vec<&Clip> = clips
            .values()
            .filter(|c| pattern.matches(&c.file) || pattern.matches(&c.name))
            .collect();
        if matches.is_empty() {
            return Ok(None);
        }
        let pick = rand::random_range(0..matches.len());
        Ok(Some(matches[pick].clone()))
    }

    /// A temp path for an upload in progress (same directory, so the final rename is atomic).
    pub fn upload_path(&self) -> PathBuf {
        self.dir
            .join(format!(".upload-{:016x}", rand::random::<u64>()))
    }

    /// Validates an upload by a full decode (blocking); the caller removes `temp` on error.
    pub fn probe(&self, temp: &Path, file_name: &str) -> Result<ClipInfo, ClipError> {
        // The decoder picks a demuxer by content; the extension is only a hint.
        let hinted = temp.with_extension(
            Path::new(file_name)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("bin"),
        );
        std::fs::rename(temp, &hinted).map_err(|e| ClipError::Storage(e.to_string()))?;
        let result = decode::probe(&hinted, self.limits);
        std::fs::rename(&hinted, temp).map_err(|e| ClipError::Storage(e.to_string()))?;
        Ok(result?)
    }

    /// Stores a validated upload under a free id.
    pub fn commit(
        &self,
        temp: &Path,
        file_name: &str,
        name: Option<&str>,
        info: ClipInfo,
    ) -> Result<u32, ClipError> {
        let mut clips = self.write();
        let id = (0..self.max_groups)
            .find(|i| !clips.contains_key(i))
            .ok_or(ClipError::Full(self.max_groups))?;
        let mut file = sanitize_file_name(file_name);
        let (stem, ext) = match file.rsplit_once('.') {
            Some((s, e)) => (s.to_string(), format!(".{e}")),
            None => (file.clone(), String::new()),
        };
        let mut n = 1;
        while self.dir.join(&file).exists() || clips.values().any(|c| c.file == file) {
            n += 1;
            file = format!("{stem}-{n}{ext}");
        }
        let name = name
            .map(str::to_string)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| stem.clone());
        let clip = Clip {
            id,
            name,
            file: file.clone(),
            sample_rate: info.sample_rate,
            channels: info.channels,
            frames: info.frames,
        };
        std::fs::rename(temp, self.dir.join(&file))
            .map_err(|e| ClipError::Storage(e.to_string()))?;
        store::sync_dir(&self.dir)?;
        let mut next = clips.clone();
        next.insert(id, clip);
        if let Err(e) = self.save(&next) {
            let _ = std::fs::remove_file(self.dir.join(&file));
            return Err(e);
        }
        *clips = next;
        Ok(id)
    }

    fn save(&self, clips: &BTreeMap<u32, Clip>) -> Result<(), ClipError> {
        let list: Vec<&Clip> = clips.values().collect();
        store::save_json(&self.index, &list)?;
        Ok(())
    }

    /// Renames a clip (`MediaClip.M#.Name`).
    pub fn rename(&self, id: u32, name: &str) -> Result<(), ClipError> {
        let mut clips = self.write();
        let mut next = clips.clone();
        next.get_mut(&id).ok_or(ClipError::NoSuchClip(id))?.name = name.to_string();
        self.save(&next)?;
        *clips = next;
        Ok(())
    }

    /// Deletes a clip and its file.
    pub fn remove(&self, id: u32) -> Result<Clip, ClipError> {
        let mut clips = self.write();
        let mut next = clips.clone();
        let clip = next.remove(&id).ok_or(ClipError::NoSuchClip(id))?;
        self.save(&next)?;
        *clips = next;
        if let Err(e) = std::fs::remove_file(self.dir.join(&clip.file)) {
            tracing::warn!(clip = id, "removing {}: {e}", clip.file);
        }
        Ok(clip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("C:\\x\\door bell.mp3"), "door_bell.mp3");
        assert_eq!(sanitize_file_name("..."), "clip");
        assert_eq!(sanitize_file_name(".hidden.wav"), "hidden.wav");
        assert!(sanitize_file_name(&"a".repeat(300)).len() <= 64);
    }
}
