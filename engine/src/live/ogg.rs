//! Incremental Ogg demuxing: bytes in as they arrive, whole packets out.
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
    fn garbage_is_refused_not_buffered_forever() {
        let mut d = OggPackets::default();
        let mut out = Vec::new();
        let junk = vec![0u8; 100_000];
        assert!(d.push(&junk, &mut out).is_err());
    }
}
