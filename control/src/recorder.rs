//! Continuous recording of the live input, in segments under `<data>/recordings/`.
//!
//! Container and codec: Ogg Opus, 16 kHz mono at 24 kbit/s (about 11 MB an hour). Ogg
//! because every page carries its own CRC and granule position: a file cut off by a
//! crash or power loss is still playable up to its last whole page, and its length is
//! read back from that page without any index. Each 20 ms packet gets its own page and
//! pages reach the kernel every second, so a crash loses at most a second of the open
//! segment; a closed segment is fsynced. (FLAC would be lossless but ten times larger,
//! and no maintained pure-Rust FLAC encoder is among netamp's dependencies.)
//!
//! A segment is named after the Unix time in milliseconds of its first sample. Whether
//! recording is on is state (`recording.json`), so a recording that was running resumes
//! after a restart. Oldest segments go first when the retention limit is exceeded.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netamp_engine::capture::Capture;
use netamp_engine::live::{Coding, LiveDecoder, LiveEncoder, LiveFormat, OutCodec};
use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::store;

/// Rate of recorded audio.
const RATE: u32 = 16_000;
/// How often captured audio is encoded and handed to the kernel.
const FLUSH: Duration = Duration::from_secs(1);

/// Recording settings from netamp.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingConfig {
    /// Length of one segment, seconds.
    pub segment_seconds: u64,
    /// Most bytes all segments may take; the oldest are deleted beyond it.
    pub retention_mb: u64,
    /// Most audio one export may hold, seconds (it is built in memory).
    pub max_export_seconds: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            segment_seconds: 300,
            retention_mb: 1024,
            max_export_seconds: 3600,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RecordingState {
    recording: bool,
}

/// One stored segment.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// The id (its start, Unix ms).
    pub id: u64,
    /// Unix ms of its first sample.
    pub start_ms: u64,
    /// Unix ms just past its last sample.
    pub end_ms: u64,
    /// Size of the file.
    pub bytes: u64,
    /// True while it is being written.
    pub open: bool,
}

/// The recorder: a thread that writes segments while recording is on.
pub struct Recorder {
    dir: PathBuf,
    state_path: PathBuf,
    config: RecordingConfig,
    on: Arc<AtomicBool>,
    /// Held from saving `recording.json` to setting `on`, so the file and the flag agree.
    set_lock: Mutex<()>,
    open_segment: Arc<Mutex<Option<u64>>>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Recorder {
    /// Prepares `<data>/recordings` and reads whether recording was on.
    pub fn load(data_dir: &Path, config: RecordingConfig) -> Result<Self, ControlError> {
        let dir = data_dir.join("recordings");
        std::fs::create_dir_all(&dir).map_err(|source| ControlError::State {
            path: dir.clone(),
            source,
        })?;
        let state_path = data_dir.join("recording.json");
        let state: RecordingState = store::load_json(&state_path)?.unwrap_or_default();
        Ok(Self {
            dir,
            state_path,
            config,
            on: Arc::new(AtomicBool::new(state.recording)),
            set_lock: Mutex::new(()),
            open_segment: Arc::new(Mutex::new(None)),
        })
    }

    /// `[recording]` as the operator started it.
    pub fn config(&self) -> &RecordingConfig {
        &self.config
    }

    /// Starts the recording thread (it idles while recording is off).
    pub fn start(&self, capture: &Capture) {
        let tap = capture.subscribe(3000);
        let dir = self.dir.clone();
        let on = self.on.clone();
        let open = self.open_segment.clone();
        let cfg = self.config.clone();
        let spawned = std::thread::Builder::new()
            .name("netamp-recorder".into())
            .spawn(move || run(tap, dir, on, open, cfg));
        if let Err(e) = spawned {
            tracing::error!("recorder thread: {e}");
        }
    }

    /// True while recording.
    pub fn is_recording(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Turns recording on or off and stores the choice.
    pub fn set_recording(&self, on: bool) -> Result<(), ControlError> {
        let _set = self.set_lock.lock().unwrap_or_else(|p| p.into_inner());
        store::save_json(&self.state_path, &RecordingState { recording: on })?;
        self.on.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Segments overlapping `[from_ms, to_ms)`, oldest first.
    pub fn list(&self, from_ms: u64, to_ms: u64) -> Vec<Segment> {
        let open = *self.open_segment.lock().unwrap_or_else(|p| p.into_inner());
        segments(&self.dir, open)
            .into_iter()
            .filter(|s| s.end_ms > from_ms && s.start_ms < to_ms)
            .collect()
    }

    /// Deletes a closed segment; false when there is none with that id.
    pub fn delete(&self, id: u64) -> Result<bool, String> {
        if *self.open_segment.lock().unwrap_or_else(|p| p.into_inner()) == Some(id) {
            return Err("the segment is being written".into());
        }
        let path = segment_path(&self.dir, id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Milliseconds of recorded audio within `[from_ms, to_ms)`.
    pub fn covered_ms(&self, from_ms: u64, to_ms: u64) -> u64 {
        self.list(from_ms, to_ms)
            .iter()
            .map(|s| s.end_ms.min(to_ms).saturating_sub(s.start_ms.max(from_ms)))
            .sum()
    }

    /// The audio of `[from_ms, to_ms)` as one Ogg Opus stream (gaps between segments are
    /// left out, not filled). Refused beyond `max_export_seconds` of audio.
    pub fn export(&self, from_ms: u64, to_ms: u64) -> Result<Vec<u8>, String> {
        let covered = self.covered_ms(from_ms, to_ms);
        let limit = self.config.max_export_seconds.saturating_mul(1000);
        if covered > limit {
            return Err(format!(
                "the range holds {} s of audio; one export takes at most {} s",
                covered / 1000,
                self.config.max_export_seconds
            ));
        }
        let mut enc = LiveEncoder::new(OutCodec::OggOpus, RATE).map_err(|e| e.to_string())?;
        let mut units = Vec::new();
        for seg in self.list(from_ms, to_ms) {
            let bytes =
                std::fs::read(segment_path(&self.dir, seg.id)).map_err(|e| e.to_string())?;
            let mut dec = LiveDecoder::new(LiveFormat {
                coding: Coding::OggOpus,
                rate: 48_000,
                channels: 1,
            });
            let mut pcm = Vec::new();
            // A segment cut off by a crash ends in a partial page: keep what decoded.
            let _ = dec.push(&bytes, &mut pcm);
            let _ = dec.finish(&mut pcm);
            let skip = from_ms.saturating_sub(seg.start_ms).saturating_mul(48) as usize;
            let keep = to_ms.saturating_sub(seg.start_ms).saturating_mul(48) as usize;
            let slice = &pcm[skip.min(pcm.len())..keep.min(pcm.len())];
            for chunk in slice.chunks(480) {
                enc.push(chunk, &mut units).map_err(|e| e.to_string())?;
            }
        }
        if units.is_empty() {
            enc.push(&[], &mut units).map_err(|e| e.to_string())?;
        }
        Ok(units.concat())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.opus"))
}

/// Every segment in `dir`, its end read from its last page's granule position.
fn segments(dir: &Path, open: Option<u64>) -> Vec<Segment> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Segment> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id: u64 = name.strip_suffix(".opus")?.parse().ok()?;
            let bytes = e.metadata().ok()?.len();
            let granule = segment_samples(&e.path()).ok()?;
            Some(Segment {
                id,
                start_ms: id,
                end_ms: id.saturating_add(granule / 48),
                bytes,
                open: open == Some(id),
            })
        })
        .collect();
    out.sort_by_key(|s| s.id);
    out
}

/// Bytes read from the end of a segment to find its length: many 20 ms pages.
const TAIL: u64 = 64 * 1024;

/// A segment's length in 48 kHz samples, from the granule of its last whole page; only
/// its tail is read, so listing costs the same whatever the segments' size.
fn segment_samples(path: &Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::with_capacity(TAIL as usize);
    f.read_to_end(&mut tail)?;
    Ok(netamp_engine::live::last_granule(&tail).unwrap_or(0))
}

/// Deletes the oldest closed segments while the total exceeds the limit.
fn enforce_retention(dir: &Path, limit_bytes: u64, open: Option<u64>) {
    let segs = segments(dir, open);
    let mut total: u64 = segs.iter().map(|s| s.bytes).sum();
    for s in segs.iter().filter(|s| !s.open) {
        if total <= limit_bytes {
            break;
        }
        if std::fs::remove_file(segment_path(dir, s.id)).is_ok() {
            total -= s.bytes;
            tracing::info!(segment = s.id, "recording retention: deleted");
        }
    }
}

struct OpenSegment {
    id: u64,
    file: File,
    encoder: LiveEncoder,
    opened: Instant,
    last_sync: Instant,
}

impl OpenSegment {
    fn create(dir: &Path) -> std::io::Result<Self> {
        let id = unix_ms();
        let file = File::create(segment_path(dir, id))?;
        let encoder = LiveEncoder::new(OutCodec::OggOpus, RATE)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        store::sync_dir(dir).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self {
            id,
            file,
            encoder,
            opened: Instant::now(),
            last_sync: Instant::now(),
        })
    }

    fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        let mut units = Vec::new();
        self.encoder
            .push(samples, &mut units)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        for u in units {
            self.file.write_all(&u)?;
        }
        if self.last_sync.elapsed() >= Duration::from_secs(5) {
            self.file.sync_data()?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    fn close(self) {
        if let Err(e) = self.file.sync_all() {
            tracing::warn!("recording segment {}: {e}", self.id);
        }
    }
}

fn run(
    mut tap: netamp_engine::capture::CaptureTap,
    dir: PathBuf,
    on: Arc<AtomicBool>,
    open: Arc<Mutex<Option<u64>>>,
    cfg: RecordingConfig,
) {
    let mut current: Option<OpenSegment> = None;
    let mut samples = Vec::new();
    let set_open = |id: Option<u64>| *open.lock().unwrap_or_else(|p| p.into_inner()) = id;
    loop {
        std::thread::sleep(FLUSH);
        samples.clear();
        tap.read(&mut samples);
        if !on.load(Ordering::Relaxed) {
            if let Some(seg) = current.take() {
                seg.close();
                set_open(None);
            }
            continue;
        }
        let roll = current
            .as_ref()
            .is_some_and(|s| s.opened.elapsed() >= Duration::from_secs(cfg.segment_seconds.max(1)));
        if roll {
            if let Some(seg) = current.take() {
                seg.close();
            }
        }
        if current.is_none() {
            match OpenSegment::create(&dir) {
                Ok(seg) => {
                    set_open(Some(seg.id));
                    current = Some(seg);
                    enforce_retention(
                        &dir,
                        cfg.retention_mb * 1024 * 1024,
                        *open.lock().unwrap_or_else(|p| p.into_inner()),
                    );
                }
                Err(e) => {
                    tracing::error!("recording: cannot open a segment: {e}");
                    continue;
                }
            }
        }
        if let Some(seg) = current.as_mut() {
            if let Err(e) = seg.write(&samples) {
                tracing::error!("recording: {e}; the segment is closed");
                if let Some(seg) = current.take() {
                    seg.close();
                }
                set_open(None);
            }
        }
    }
}
