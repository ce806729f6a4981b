//! Incremental Ogg demuxing (bytes in as they arrive, whole packets out) and the
//! matching page writer for streaming Opus out.
//!
//! Only what a live Ogg Opus body needs: one logical stream, pages in order. Packets
//! that span pages are joined; the page CRC is not checked (TCP already did) but every
//! length is, and a packet larger than [`MAX_PACKET`] is refused.

use crate::EngineError;

/// Largest packet accepted (an Opus packet is at most 1275 bytes × 48 frames).
pub const MAX_PACKET: usize = 64 * 1024;
/// Bytes scanned for a page boundary before the stream is declared not Ogg.
const MAX_RESYNC: usize = 64 * 1024;

/// Splits an Ogg byte stream into packets.
#[derive(Default)]
pub struct OggPackets {
    buf: Vec<u8>,
    partial: Vec<u8>,
}

impl OggPackets {
    /// Adds bytes and appends every packet they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), EngineError> {
        self.buf.extend_from_slice(bytes);
        let mut pos = 0;
        loop {
            let rest = &self.buf[pos..];
            if rest.len() < 27 {
                break;
            }
            if &rest[..4] != b"OggS" {
                // Not at a page: find the next capture pattern.
                match rest.windows(4).position(|w| w == b"OggS") {
                    Some(skip) => {
                        pos += skip;
                        continue;
                    }
                    None if rest.len() > MAX_RESYNC => {
                        return Err(EngineError::Corrupt("no Ogg page in the stream".into()))
                    }
                    None => {
                        pos += rest.len() - 3;
                        break;
                    }
                }
            }
            if rest[4] != 0 {
                return Err(EngineError::Unsupported(format!("Ogg version {}", rest[4])));
            }
            let segments = usize::from(rest[26]);
            if rest.len() < 27 + segments {
                break;
            }
            let table = &rest[27..27 + segments];
            let body_len: usize = table.iter().map(|&l| usize::from(l)).sum();
            if rest.len() < 27 + segments + body_len {
                break;
            }
            let mut body = &rest[27 + segments..27 + segments + body_len];
            for &lace in table {
                let (part, tail) = body.split_at(usize::from(lace));
                body = tail;
                if self.partial.len() + part.len() > MAX_PACKET {
                    return Err(EngineError::Limit(format!(
                        "Ogg packet larger than {MAX_PACKET} bytes"
                    )));
                }
                self.partial.extend_from_slice(part);
                // A lacing value below 255 ends the packet.
                if lace < 255 {
                    out.push(std::mem::take(&mut self.partial));
                }
            }
            pos += 27 + segments + body_len;
        }
        self.buf.drain(..pos);
        Ok(())
    }
}

/// The Ogg page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, initial 0.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04C1_1DB7
                } else {
                    r << 1
                };
            }
            *e = r;
        }
        t
    });
    data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ table[((crc >> 24) as usize ^ usize::from(b)) & 0xFF]
    })
}

/// The granule position of the last whole, checksum-valid page in `bytes`, which may
/// start and end anywhere in a stream (the tail of a file cut off by a crash).
pub fn last_granule(bytes: &[u8]) -> Option<u64> {
    let mut end = bytes.len();
    while let Some(pos) = bytes[..end].windows(4).rposition(|w| w == b"OggS") {
        end = pos;
        let Some(head) = bytes.get(pos..pos + 27) else {
            continue;
        };
        let segs = usize::from(head[26]);
        let Some(table) = bytes.get(pos + 27..pos + 27 + segs) else {
            continue;
        };
        let len = 27 + segs + table.iter().map(|&l| usize::from(l)).sum::<usize>();
        let Some(page) = bytes.get(pos..pos + len) else {
            continue;
        };
        let mut check = page.to_vec();
        check[22..26].fill(0);
        if crc32(&check) != u32::from_le_bytes([page[22], page[23], page[24], page[25]]) {
            continue;
        }
        let mut g = [0u8; 8];
        g.copy_from_slice(&page[6..14]);
        return Some(u64::from_le_bytes(g));
    }
    None
}

/// Writes one logical Ogg stream, one packet per page (lowest latency for live audio).
pub struct OggWriter {
    serial: u32,
    sequence: u32,
    started: bool,
}

impl OggWriter {
    /// A writer for the stream `serial`.
    pub fn new(serial: u32) -> Self {
        Self {
            serial,
            sequence: 0,
            started: false,
        }
    }

    /// Appends a page holding `packet` to `out`. `granule` is the stream position after
    /// the packet (48 kHz samples for Opus); header packets pass 0.
    pub fn page(&mut self, packet: &[u8], granule: u64, last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(b"OggS\0");
        let mut flags = 0u8;
        if !self.started {
            flags |= 0x02;
            self.started = true;
        }
        if last {
            flags |= 0x04;
        }
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        self.sequence = self.sequence.wrapping_add(1);
        let mut lacing = Vec::with_capacity(packet.len() / 255 + 1);
        let mut n = packet.len();
        while n >= 255 {
            lacing.push(255u8);
            n -= 255;
        }
        lacing.push(n as u8);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        out.extend_from_slice(packet);
        let crc = crc32(&out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(packets: &[&[u8]]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            let mut n = p.len();
            while n >= 255 {
                table.push(255u8);
                n -= 255;
            }
            table.push(n as u8);
            body.extend_from_slice(p);
        }
        let mut page = b"OggS\0\0".to_vec();
        page.extend_from_slice(&[0; 20]);
        page.push(table.len() as u8);
        page.extend_from_slice(&table);
        page.extend_from_slice(&body);
        page
    }

    #[test]
    fn packets_come_out_whatever_the_split() {
        let big = vec![7u8; 600];
        let mut stream = page(&[b"OpusHead", b"OpusTags"]);
        stream.extend(page(&[&big, b"x"]));
        for step in [1, 3, 27, 100, 10_000] {
            let mut d = OggPackets::default();
            let mut out = Vec::new();
            for c in stream.chunks(step) {
                d.push(c, &mut out).unwrap();
            }
            assert_eq!(out.len(), 4, "step {step}");
            assert_eq!(out[0], b"OpusHead");
            assert_eq!(out[2], big);
            assert_eq!(out[3], b"x");
        }
    }

    #[test]
    fn written_pages_read_back_and_carry_the_reference_checksum() {
        // The CRC of "OggS" pages must match libogg's; this is its check value.
        assert_eq!(crc32(b"123456789"), 0x89A1_897F);
        let mut w = OggWriter::new(7);
        let mut bytes = Vec::new();
        w.page(b"OpusHead-ish", 0, false, &mut bytes);
        w.page(&[3u8; 700], 960, true, &mut bytes);
        let mut d = OggPackets::default();
        let mut out = Vec::new();
        d.push(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], vec![3u8; 700]);
    }

    #[test]
    fn last_granule_is_that_of_the_last_whole_valid_page() {
        let mut w = OggWriter::new(1);
        let mut bytes = Vec::new();
        w.page(b"head", 0, false, &mut bytes);
        w.page(&[1; 50], 960, false, &mut bytes);
        w.page(b"OggS inside a payload", 1920, false, &mut bytes);
        assert_eq!(last_granule(&bytes), Some(1920));
        assert_eq!(
            last_granule(&bytes[..bytes.len() - 10]),
            Some(960),
            "cut off"
        );
        assert_eq!(last_granule(&bytes[5..]), Some(1920), "starts mid-page");
        assert_eq!(last_granule(b"garbage OggS"), None);
    }

    #[test]
    fn garbage_is_refused_not_buffered_forever() {
        let mut d = OggPackets::default();
        let mut out = Vec::new();
        let junk = vec![0u8; 100_000];
        assert!(d.push(&junk, &mut out).is_err());
    }
}
