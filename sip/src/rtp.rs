//! RTP packets (RFC 3550): the fixed header, CSRCs, an extension and padding, parsed
//! without trusting any length in the packet.

use crate::SipError;

/// Largest RTP packet accepted (an Ethernet frame).
pub const MAX_PACKET: usize = 1500;

/// The fields netamp uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Splits a datagram into its header and payload.
pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), SipError> {
    let bad = |why: &str| SipError::Malformed(format!("RTP: {why}"));
    if packet.len() > MAX_PACKET {
        return Err(SipError::Limit(format!(
            "RTP packet of {} bytes",
            packet.len()
        )));
    }
    if packet.len() < 12 {
        return Err(bad("shorter than its header"));
    }
    if packet[0] >> 6 != 2 {
        return Err(bad("version is not 2"));
    }
    let padding = packet[0] & 0x20 != 0;
    let extension = packet[0] & 0x10 != 0;
    let csrcs = usize::from(packet[0] & 0x0F);
    let header = RtpHeader {
        marker: packet[1] & 0x80 != 0,
        payload_type: packet[1] & 0x7F,
        seq: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    };
    let mut start = 12 + 4 * csrcs;
    if extension {
        let ext = packet
            .get(start + 2..start + 4)
            .ok_or_else(|| bad("extension header cut off"))?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = packet.len();
    if padding {
        let pad = usize::from(*packet.last().unwrap_or(&0));
        if pad == 0 {
            return Err(bad("padding of zero bytes"));
        }
        end = end
            .checked_sub(pad)
            .ok_or_else(|| bad("padding longer than the packet"))?;
    }
    if start > end {
        return Err(bad("header longer than the packet"));
    }
    Ok((header, &packet[start..end]))
}

/// Writes a packet with no CSRCs, extension or padding.
pub fn write(h: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80);
    out.push(u8::from(h.marker) << 7 | (h.payload_type & 0x7F));
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.timestamp.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            seq: 65_535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 42,
        };
        let mut p = Vec::new();
        write(&h, b"abc", &mut p);
        assert_eq!(parse(&p).unwrap(), (h, &b"abc"[..]));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut p = vec![0x80 | 0x20 | 0x10 | 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // two CSRCs
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one-word extension
        p.extend_from_slice(b"pay");
        p.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let (_, payload) = parse(&p).unwrap();
        assert_eq!(payload, b"pay");
    }

    proptest::proptest! {
        /// Any bytes, and any bytes that claim to be RTP version 2: an answer, never a panic.
        #[test]
        fn any_datagram_is_parsed_or_refused(mut p in proptest::collection::vec(proptest::num::u8::ANY, 0..1600)) {
            let _ = parse(&p);
            if let Some(b) = p.first_mut() {
                *b = 0x80 | (*b & 0x3F);
            }
            let _ = parse(&p);
        }

        /// What `write` builds, `parse` reads back exactly.
        #[test]
        fn written_packets_read_back(
            marker: bool,
            payload_type in 0u8..128,
            seq: u16,
            timestamp: u32,
            ssrc: u32,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 1..1200),
        ) {
            let h = RtpHeader { marker, payload_type, seq, timestamp, ssrc };
            let mut p = Vec::new();
            write(&h, &payload, &mut p);
            proptest::prop_assert_eq!(parse(&p).ok(), Some((h, &payload[..])));
        }
    }

    #[test]
    fn hostile_packets_are_errors_not_panics() {
        assert!(parse(&[0x80; 11]).is_err());
        assert!(parse(&[0x40; 20]).is_err(), "version 1");
        let mut p = vec![0xA0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 200];
        assert!(parse(&p).is_err(), "padding longer than the packet");
        p[12] = 0;
        assert!(parse(&p).is_err(), "zero padding");
        assert!(parse(&vec![0x80; 2000]).is_err(), "too long");
    }
}
