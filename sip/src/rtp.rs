//! RTP packets (RFC 3550) through `rtp-rs` (the design card's choice): its `RtpReader`
//! checks the fixed header, CSRCs, extension and padding against the datagram's length
//! (it trusts none of them), its `RtpPacketBuilder` writes ours. netamp adds the size
//! limit and keeps the few fields it uses in [`RtpHeader`].

use rtp_rs::{RtpPacketBuilder, RtpReader, RtpReaderError, Seq};

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
    if packet.len() > MAX_PACKET {
        return Err(SipError::Limit(format!(
            "RTP packet of {} bytes",
            packet.len()
        )));
    }
    let r = RtpReader::new(packet).map_err(|e| {
        SipError::Malformed(format!(
            "RTP: {}",
            match e {
                RtpReaderError::BufferTooShort(_) => "shorter than its header",
                RtpReaderError::UnsupportedVersion(_) => "version is not 2",
                RtpReaderError::HeadersTruncated { .. } => "header longer than the packet",
                RtpReaderError::PaddingLengthInvalid(_) =>
                    "padding of zero bytes or longer than the packet",
            }
        ))
    })?;
    let header = RtpHeader {
        marker: r.mark(),
        payload_type: r.payload_type(),
        seq: u16::from(r.sequence_number()),
        timestamp: r.timestamp(),
        ssrc: r.ssrc(),
    };
    Ok((header, r.payload()))
}

/// Appends a packet with no CSRCs, extension or padding to `out`.
pub fn write(h: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    let b = RtpPacketBuilder::new()
        .payload_type(h.payload_type & 0x7F)
        .marked(h.marker)
        .sequence(Seq::from(h.seq))
        .timestamp(h.timestamp)
        .ssrc(h.ssrc)
        .payload(payload);
    let start = out.len();
    out.resize(start + b.target_length(), 0);
    // Only a payload type above 127 or more than 15 CSRCs fail: neither can happen here.
    let n = b.build_into(&mut out[start..]).unwrap_or(0);
    out.truncate(start + n);
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
