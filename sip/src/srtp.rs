//! SRTP with SDES keys (RFC 3711, RFC 4568): the `a=crypto` lines of an offer and an
//! answer, the keys netamp makes, and the per-direction contexts that protect and check
//! RTP and RTCP. The cipher work is `rtc-srtp` (webrtc-rs, sans-IO) on aws-lc-rs, the
//! crypto the rest of netamp's TLS uses; this module only speaks SDP and owns buffers.
//!
//! Suites: `AES_CM_128_HMAC_SHA1_80` (preferred) and `AES_CM_128_HMAC_SHA1_32`; no MKI,
//! no key lifetime other than the default. SDES sends the keys in the SDP, so the user
//! agent uses SRTP only on calls signalled over TLS.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use rtc_srtp::context::Context;
use rtc_srtp::crypto::RTCCryptoProvider;
use rtc_srtp::protection_profile::ProtectionProfile;

use crate::SipError;

/// Bytes of a master key and salt (16 + 14).
pub const KEY_LEN: usize = 30;

/// A crypto suite netamp speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// AES counter mode, 80-bit HMAC-SHA1 tag.
    AesCm128Sha1_80,
    /// AES counter mode, 32-bit HMAC-SHA1 tag.
    AesCm128Sha1_32,
}

impl Suite {
    /// The suite's name in `a=crypto`.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128Sha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128Sha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn of(name: &str) -> Option<Self> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(Suite::AesCm128Sha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Suite::AesCm128Sha1_32),
            _ => None,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Suite::AesCm128Sha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Suite::AesCm128Sha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

/// One `a=crypto` line.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Its tag (the answer repeats the chosen offer's).
    pub tag: u32,
    /// The suite.
    pub suite: Suite,
    /// Master key then master salt.
    pub key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Crypto {
    // Keys never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crypto({} {}, key hidden)", self.tag, self.suite.name())
    }
}

impl Crypto {
    /// Parses the value of an `a=crypto:` attribute: `None` for a suite, key method or
    /// parameter netamp does not do (an offer may carry several; the others are skipped).
    pub fn parse(value: &str) -> Option<Self> {
        let mut f = value.split_whitespace();
        let tag = f.next()?.parse().ok()?;
        let suite = Suite::of(f.next()?)?;
        // `inline:<key||salt>[|lifetime][|MKI:length]`; more key params are not done.
        let params = f.next()?;
        let inline = params.strip_prefix("inline:")?;
        let mut parts = inline.split('|');
        let b64 = parts.next()?;
        for p in parts {
            if p.contains(':') {
                // An MKI: every packet would carry it, which netamp does not write.
                return None;
            }
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .filter(|k| k.len() == KEY_LEN)?;
        let mut key = [0; KEY_LEN];
        key.copy_from_slice(&raw);
        Some(Self { tag, suite, key })
    }

    /// A new line of `suite` with a fresh random key.
    pub fn fresh(tag: u32, suite: Suite) -> Result<Self, SipError> {
        let mut key = [0; KEY_LEN];
        provider()?
            .random()
            .fill(&mut key)
            .map_err(|e| SipError::Unsupported(format!("SRTP key: {e}")))?;
        Ok(Self { tag, suite, key })
    }

    /// The attribute's value (after `a=crypto:`).
    pub fn attribute(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.suite.name(),
            base64::engine::general_purpose::STANDARD.encode(self.key)
        )
    }
}

/// Picks the suite netamp prefers among an offer's lines.
pub fn choose(offered: &[Crypto]) -> Option<&Crypto> {
    [Suite::AesCm128Sha1_80, Suite::AesCm128Sha1_32]
        .iter()
        .find_map(|s| offered.iter().find(|c| c.suite == *s))
}

/// The manual's "media encryption": whether calls use SRTP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MediaEncryption {
    /// Never: an SRTP offer is refused (488), best-effort crypto lines are ignored.
    Off,
    /// On calls signalled over TLS when the caller offers it; plain RTP otherwise.
    #[default]
    Optional,
    /// Every call: over TLS with SRTP, anything else refused (488).
    Required,
}

impl std::str::FromStr for MediaEncryption {
    type Err = SipError;

    fn from_str(s: &str) -> Result<Self, SipError> {
        match s {
            "off" | "none" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" | "srtp" => Ok(Self::Required),
            other => Err(SipError::Unsupported(format!(
                "media encryption {other:?}: off, optional or required"
            ))),
        }
    }
}

impl MediaEncryption {
    /// Its name in the configuration and the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// Whether an offered call uses SRTP: our key line for it (`Some`), plain RTP (`None`),
/// or why it is refused. SDES keys cross the signalling in clear, so SRTP is only taken on
/// a call that came over TLS.
pub fn decide(
    policy: MediaEncryption,
    over_tls: bool,
    offer_secure: bool,
    offered: &[Crypto],
) -> Result<Option<Crypto>, SipError> {
    let refuse = |why: &str| Err(SipError::Unsupported(why.into()));
    let usable = choose(offered);
    match policy {
        MediaEncryption::Off if offer_secure => refuse("media encryption is off"),
        MediaEncryption::Off => Ok(None),
        MediaEncryption::Required if !over_tls => {
            refuse("media encryption is required: call over TLS (sips:, transport=tls)")
        }
        MediaEncryption::Required if usable.is_none() => {
            refuse("media encryption is required: offer SRTP (AES_CM_128_HMAC_SHA1_80)")
        }
        MediaEncryption::Optional if offer_secure && !over_tls => {
            refuse("SRTP only over TLS: SDES keys would cross the network in clear")
        }
        MediaEncryption::Optional if !over_tls => Ok(None),
        MediaEncryption::Optional | MediaEncryption::Required => match usable {
            Some(c) => Crypto::fresh(c.tag, c.suite).map(Some),
            None if offer_secure => {
                refuse("no crypto suite netamp does (AES_CM_128_HMAC_SHA1_80/32)")
            }
            None => Ok(None),
        },
    }
}

/// The keys of one SRTP call: ours (what we send with) and the peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The line of our SDP.
    pub local: Crypto,
    /// The line of the peer's SDP.
    pub remote: Crypto,
}

fn provider() -> Result<&'static Arc<dyn RTCCryptoProvider>, SipError> {
    static PROVIDER: OnceLock<Option<Arc<dyn RTCCryptoProvider>>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| rtc_srtp::crypto::default_provider().ok())
        .as_ref()
        .ok_or_else(|| SipError::Unsupported("no SRTP crypto provider".into()))
}

/// One direction of one stream (RTP or RTCP): protects what we send, or checks and
/// decrypts what the peer sends (authentication and replay).
pub struct Srtp {
    ctx: Context,
}

impl Srtp {
    /// A context for `line`'s key.
    pub fn new(line: &Crypto) -> Result<Self, SipError> {
        let (key, salt) = line.key.split_at(16);
        let ctx = Context::new(
            key,
            salt,
            line.suite.profile(),
            // A replayed packet (one already accepted) is refused: a window of 128 as
            // libsrtp keeps, wide enough for any reordering a call sees.
            Some(rtc_srtp::option::srtp_replay_protection(128)),
            Some(rtc_srtp::option::srtcp_replay_protection(128)),
            provider()?.crypto(),
        )
        .map_err(|e| SipError::Unsupported(format!("SRTP: {e}")))?;
        Ok(Self { ctx })
    }

    /// Protects an RTP packet into `out`.
    pub fn protect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), Rejected> {
        copy(self.ctx.encrypt_rtp(packet), out)
    }

    /// Checks and decrypts an SRTP packet into `out`; `Err` for a forged, replayed or
    /// malformed one.
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), Rejected> {
        copy(self.ctx.decrypt_rtp(packet), out)
    }

    /// Protects an RTCP compound packet into `out`.
    pub fn protect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), Rejected> {
        copy(self.ctx.encrypt_rtcp(packet), out)
    }

    /// Checks and decrypts an SRTCP packet into `out`.
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), Rejected> {
        copy(self.ctx.decrypt_rtcp(packet), out)
    }
}

/// A packet SRTP would not protect, or refused as forged, replayed or malformed. No
/// detail is kept: the media thread only counts these, and a flood of forged packets
/// must not cost an allocation each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected;

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SRTP: packet rejected")
    }
}

impl std::error::Error for Rejected {}

/// The context's result into `out`.
fn copy<E>(r: Result<impl AsRef<[u8]>, E>, out: &mut Vec<u8>) -> Result<(), Rejected> {
    let p = r.map_err(|_| Rejected)?;
    out.clear();
    out.extend_from_slice(p.as_ref());
    Ok(())
}

/// The four contexts of a call: RTP and RTCP, each way.
pub struct CallSrtp {
    /// What we send, RTP.
    pub rtp_out: Srtp,
    /// What the peer sends, RTP.
    pub rtp_in: Srtp,
    /// What we send, RTCP.
    pub rtcp_out: Srtp,
    /// What the peer sends, RTCP.
    pub rtcp_in: Srtp,
}

impl CallSrtp {
    /// The contexts for `keys`.
    pub fn new(keys: &Keys) -> Result<Self, SipError> {
        Ok(Self {
            rtp_out: Srtp::new(&keys.local)?,
            rtp_in: Srtp::new(&keys.remote)?,
            rtcp_out: Srtp::new(&keys.local)?,
            rtcp_in: Srtp::new(&keys.remote)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_lines_round_trip_and_unusable_ones_are_skipped() {
        let line = Crypto::fresh(1, Suite::AesCm128Sha1_80).expect("key");
        let parsed = Crypto::parse(&line.attribute()).expect("parse");
        assert_eq!(parsed, line);
        assert_ne!(
            Crypto::fresh(1, Suite::AesCm128Sha1_80).expect("key").key,
            line.key
        );
        // RFC 4568's example (a lifetime and an MKI): the MKI is refused.
        assert!(Crypto::parse(
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
        )
        .is_none());
        let lifetime = Crypto::parse(
            "2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20",
        )
        .expect("lifetime is fine");
        assert_eq!(lifetime.suite, Suite::AesCm128Sha1_32);
        for bad in [
            "",
            "x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!",
            "1 AES_CM_128_HMAC_SHA1_80",
        ] {
            assert!(Crypto::parse(bad).is_none(), "{bad:?}");
        }
        let offered = [lifetime.clone(), parsed.clone()];
        assert_eq!(choose(&offered), Some(&parsed));
        assert!(!format!("{parsed:?}").contains("inline"));
    }

    #[test]
    fn the_policy_takes_srtp_only_over_tls() {
        use MediaEncryption::*;
        let line = Crypto::fresh(7, Suite::AesCm128Sha1_32).expect("key");
        let offered = [line.clone()];
        // (policy, over TLS, SAVP, lines) → SRTP, plain, or refused.
        let ours = decide(Optional, true, true, &offered)
            .expect("srtp")
            .expect("key");
        assert_eq!((ours.tag, ours.suite), (7, Suite::AesCm128Sha1_32));
        assert_ne!(ours.key, line.key);
        assert!(decide(Optional, true, false, &offered)
            .expect("best effort")
            .is_some());
        assert!(decide(Optional, true, false, &[]).expect("plain").is_none());
        assert!(decide(Optional, false, false, &offered)
            .expect("plain")
            .is_none());
        assert!(decide(Optional, false, true, &offered).is_err());
        assert!(decide(Optional, true, true, &[]).is_err());
        assert!(decide(Required, true, true, &offered)
            .expect("srtp")
            .is_some());
        assert!(decide(Required, true, false, &[]).is_err());
        assert!(decide(Required, false, true, &offered).is_err());
        assert!(decide(Off, true, true, &offered).is_err());
        assert!(decide(Off, true, false, &offered).expect("plain").is_none());
        assert_eq!("required".parse::<MediaEncryption>().ok(), Some(Required));
        assert!("maybe".parse::<MediaEncryption>().is_err());
    }

    #[test]
    fn protected_packets_decrypt_once_and_forgeries_fail() {
        let keys = Keys {
            local: Crypto::fresh(1, Suite::AesCm128Sha1_80).expect("key"),
            remote: Crypto::fresh(1, Suite::AesCm128Sha1_80).expect("key"),
        };
        let mut a = CallSrtp::new(&keys).expect("a");
        let mut b = CallSrtp::new(&Keys {
            local: keys.remote.clone(),
            remote: keys.local.clone(),
        })
        .expect("b");
        let mut plain = vec![0x80, 0, 0, 7, 0, 0, 0, 160, 1, 2, 3, 4];
        plain.extend_from_slice(&[0x55; 160]);
        let (mut wire, mut back) = (Vec::new(), Vec::new());
        a.rtp_out.protect_rtp(&plain, &mut wire).expect("protect");
        assert_eq!(wire.len(), plain.len() + 10);
        assert_ne!(&wire[12..172], &plain[12..]);
        b.rtp_in.unprotect_rtp(&wire, &mut back).expect("unprotect");
        assert_eq!(back, plain);
        // The same packet again is a replay; a flipped bit fails authentication.
        assert!(b.rtp_in.unprotect_rtp(&wire, &mut back).is_err());
        plain[3] = 8;
        a.rtp_out.protect_rtp(&plain, &mut wire).expect("protect");
        wire[20] ^= 1;
        assert!(b.rtp_in.unprotect_rtp(&wire, &mut back).is_err());
        // RTCP: a receiver report.
        let rr = [0x80, 201, 0, 1, 1, 2, 3, 4];
        a.rtcp_out
            .protect_rtcp(&rr, &mut wire)
            .expect("protect rtcp");
        b.rtcp_in
            .unprotect_rtcp(&wire, &mut back)
            .expect("unprotect rtcp");
        assert_eq!(back, rr);
        assert!(b.rtp_in.unprotect_rtp(&[0x80, 0, 0], &mut back).is_err());
    }
}
