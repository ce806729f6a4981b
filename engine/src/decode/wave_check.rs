//! A check of WAVE headers before symphonia reads them.
//!
//! symphonia-format-riff 0.6.1 (the latest) "fixes" a WAVE_FORMAT_EXTENSIBLE channel mask
//! that has fewer bits set than the file has channels by shifting ones in above its
//! highest bit: with the mask's top bit set, or 32 or more channels missing, the shift
//! overflows (a panic with overflow checks on, as in debug builds and the fuzzers; a
//! wrong mask otherwise); it also multiplies the channel count by the sample size in
//! 16 bits before checking either (overflow with tens of thousands of channels). Both
//! found by `scripts/fuzz clip_file`. Until symphonia changes, netamp refuses such
//! files as corrupt before symphonia sees them: masks that overflow, more than 64
//! channels or 64 bits per sample. The scan reads the whole file, so it runs in
//! [`super::probe`] (every upload's full decode), not in [`super::open`] (every play). symphonia's probe
//! looks for the `RIFF` marker past leading metadata (ID3 tags), so every `RIFF…WAVE`
//! in the file is checked, read a window at a time.

use std::io::{Read, Seek, SeekFrom};

use crate::EngineError;

/// WAVE_FORMAT_EXTENSIBLE.
const EXTENSIBLE: u16 = 0xFFFE;
/// Bytes read per step of the scan.
const WINDOW: usize = 64 * 1024;
/// Most channels a WAVE header may declare here (netamp plays at most 8; symphonia maps
/// at most 32 positions).
const MAX_CHANNELS: u16 = 64;
/// Most bits per sample a WAVE header may declare here (32-bit PCM, 64-bit float).
const MAX_BITS: u16 = 64;
/// Chunks walked per RIFF header before giving up on finding `fmt `.
const MAX_CHUNKS: usize = 64;

/// Whether symphonia's channel-mask fix would overflow for these fields.
fn mask_fix_overflows(channels: u16, mask: u32) -> bool {
    let ones = mask.count_ones();
    let missing = u32::from(channels).saturating_sub(ones);
    missing > 0 && (missing >= 32 || mask & 0x8000_0000 != 0)
}

/// Refuses a file any of whose WAVE headers symphonia would overflow on.
pub fn check<R: Read + Seek>(file: &mut R) -> Result<(), EngineError> {
    let mut window = vec![0u8; WINDOW + 12];
    let mut base = 0u64;
    let mut carry = 0usize;
    loop {
        file.seek(SeekFrom::Start(base + carry as u64))
            .map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let n = read_full(file, &mut window[carry..])?;
        let filled = carry + n;
        let mut at = 0;
        while let Some(p) = find(&window[at..filled], b"RIFF") {
            let pos = at + p;
            if window.get(pos + 8..pos + 12) == Some(b"WAVE") {
                check_wave(file, base + pos as u64)?;
            }
            at = pos + 1;
        }
        if n == 0 || filled < 12 {
            return Ok(());
        }
        // Keep the last 11 bytes: a marker may straddle two windows.
        let keep = 11.min(filled);
        window.copy_within(filled - keep..filled, 0);
        base += (filled - keep) as u64;
        carry = keep;
    }
}

fn read_full<R: Read>(file: &mut R, buf: &mut [u8]) -> Result<usize, EngineError> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(EngineError::Corrupt(e.to_string())),
        }
    }
    Ok(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Walks the chunks of the RIFF header at `riff` to its `fmt ` chunk.
fn check_wave<R: Read + Seek>(file: &mut R, riff: u64) -> Result<(), EngineError> {
    let mut pos = riff + 12;
    for _ in 0..MAX_CHUNKS {
        let mut head = [0u8; 8];
        if file.seek(SeekFrom::Start(pos)).is_err() || read_full(file, &mut head)? < 8 {
            return Ok(());
        }
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if &head[..4] == b"fmt " {
            let mut fmt = [0u8; 24];
            let n = read_full(file, &mut fmt)?;
            if n < 16 || len < 16 {
                return Ok(());
            }
            let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
            let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
            let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
            // symphonia multiplies these in u16 (block alignment, frame length) before it
            // checks them.
            if channels > MAX_CHANNELS || bits > MAX_BITS {
                return Err(EngineError::Corrupt(format!(
                    "WAVE header: {channels} channels of {bits} bits"
                )));
            }
            let mask = u32::from_le_bytes([fmt[20], fmt[21], fmt[22], fmt[23]]);
            if tag == EXTENSIBLE && n == 24 && len >= 40 && mask_fix_overflows(channels, mask) {
                return Err(EngineError::Corrupt(format!(
                    "WAVE channel mask {mask:#010x} does not fit {channels} channels"
                )));
            }
            return Ok(());
        }
        pos += 8 + u64::from(len) + u64::from(len & 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAVE_FORMAT_EXTENSIBLE header with `channels` and `mask`, after `lead` bytes.
    fn wave(lead: usize, channels: u16, mask: u32) -> Vec<u8> {
        let mut f = vec![b'x'; lead];
        f.extend_from_slice(b"RIFF\x00\x01\x00\x00WAVE");
        f.extend_from_slice(b"LIST\x04\x00\x00\x00abcd");
        f.extend_from_slice(b"fmt \x28\x00\x00\x00");
        f.extend_from_slice(&EXTENSIBLE.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&8000u32.to_le_bytes());
        f.extend_from_slice(&16000u32.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&mask.to_le_bytes());
        f.extend_from_slice(&[0u8; 16]);
        f
    }

    #[test]
    fn masks_symphonia_overflows_on_are_refused_wherever_the_header_is() {
        let ok = |b: Vec<u8>| check(&mut std::io::Cursor::new(b)).is_ok();
        assert!(ok(wave(0, 2, 0b11)));
        assert!(ok(wave(0, 3, 0b1)), "a short mask symphonia can fix");
        assert!(!ok(wave(0, 2, 0x8000_0000)), "top bit set, one missing");
        assert!(!ok(wave(0, 40, 0)), "32 or more missing");
        // Behind metadata, and across the scan's window edge.
        assert!(!ok(wave(100, 2, 0x8000_0000)));
        for lead in WINDOW - 12..WINDOW + 2 {
            assert!(!ok(wave(lead, 2, 0x8000_0000)), "at {lead}");
        }
        // Channel counts and sample sizes symphonia multiplies in 16 bits.
        let mut huge = wave(0, 2, 0b11);
        huge[34..36].copy_from_slice(&0xA402u16.to_le_bytes());
        assert!(!ok(huge));
        assert!(ok(b"RIFF".to_vec()));
        assert!(ok(Vec::new()));
    }
}
