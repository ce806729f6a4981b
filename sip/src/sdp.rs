//! SDP offer/answer for one audio stream (RFC 3264, RFC 4566), small and ours.
//!
//! The offer is parsed leniently (unknown lines are skipped, `\n` or `\r\n`) but every
//! value netamp relies on is checked. The answer picks the first codec of netamp's own
//! priority list that the offer carries, keeps the offer's payload type numbers (dynamic
//! ones included), adds telephone-event when offered, and mirrors the direction.

use std::net::IpAddr;

use crate::srtp::{self, Crypto, Keys};
use crate::SipError;

/// Largest SDP body accepted.
pub const MAX_SDP: usize = 16 * 1024;

/// Codecs netamp can negotiate, by encoding name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (RTP clock 8000, audio 16 kHz).
    G722,
    /// Opus, 48 kHz.
    Opus,
    /// 16-bit linear, 8 kHz mono.
    L16,
}

impl AudioCodec {
    /// The encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU",
            AudioCodec::Pcma => "PCMA",
            AudioCodec::G722 => "G722",
            AudioCodec::Opus => "opus",
            AudioCodec::L16 => "L16",
        }
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            AudioCodec::Opus => 48_000,
            _ => 8000,
        }
    }

    /// The static payload type, where there is one.
    fn static_pt(self) -> Option<u8> {
        match self {
            AudioCodec::Pcmu => Some(0),
            AudioCodec::Pcma => Some(8),
            AudioCodec::G722 => Some(9),
            _ => None,
        }
    }

    fn from_rtpmap(name: &str, rate: u32) -> Option<Self> {
        let c = match name.to_ascii_uppercase().as_str() {
            "PCMU" => AudioCodec::Pcmu,
            "PCMA" => AudioCodec::Pcma,
            "G722" => AudioCodec::G722,
            "OPUS" => AudioCodec::Opus,
            "L16" => AudioCodec::L16,
            _ => return None,
        };
        (c.clock_rate() == rate).then_some(c)
    }
}

/// Media direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// Only towards the offerer.
    SendOnly,
    /// Only from the offerer.
    RecvOnly,
    /// On hold both ways.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The answer's direction to an offer in `self`, limited by what netamp allows.
    fn answer(self, local: Direction) -> Direction {
        let (offer_sends, offer_recvs) = match self {
            Direction::SendRecv => (true, true),
            Direction::SendOnly => (true, false),
            Direction::RecvOnly => (false, true),
            Direction::Inactive => (false, false),
        };
        let (we_send, we_recv) = match local {
            Direction::SendRecv => (true, true),
            Direction::SendOnly => (true, false),
            Direction::RecvOnly => (false, true),
            Direction::Inactive => (false, false),
        };
        match (we_send && offer_recvs, we_recv && offer_sends) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// What an offer says about its audio stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Where the offerer wants RTP.
    pub addr: IpAddr,
    /// Its RTP port (0 = stream rejected).
    pub port: u16,
    /// Payload types in the offerer's order with what they are (None: unknown to netamp).
    pub formats: Vec<(u8, Option<AudioCodec>)>,
    /// The telephone-event payload type at 8000 Hz, if offered.
    pub telephone_event: Option<u8>,
    /// `a=ptime`, ms.
    pub ptime: Option<u32>,
    /// Direction.
    pub direction: Direction,
    /// The stream's profile is SRTP (`RTP/SAVP`, `RTP/SAVPF`).
    pub secure: bool,
    /// Its `a=crypto` lines netamp can use (SDES; best-effort SRTP offers them on
    /// `RTP/AVP` too).
    pub crypto: Vec<Crypto>,
}

/// Parses the audio stream of an offer.
pub fn parse_offer(sdp: &str) -> Result<Offer, SipError> {
    let bad = |why: String| SipError::Malformed(format!("SDP: {why}"));
    if sdp.len() > MAX_SDP {
        return Err(SipError::Limit(format!("SDP of {} bytes", sdp.len())));
    }
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut port = 0u16;
    let mut pts: Vec<u8> = Vec::new();
    let mut maps: Vec<(u8, String, u32)> = Vec::new();
    let mut ptime = None;
    let mut direction = Direction::SendRecv;
    let mut secure = false;
    let mut crypto = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                in_audio = false;
                let mut f = value.split_whitespace();
                if f.next() == Some("audio") && !seen_audio {
                    seen_audio = true;
                    in_audio = true;
                    port = f
                        .next()
                        .and_then(|p| p.split('/').next())
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| bad(format!("bad m= line {value:?}")))?;
                    let proto = f.next().unwrap_or("");
                    secure = match proto {
                        "RTP/AVP" | "RTP/AVPF" => false,
                        "RTP/SAVP" | "RTP/SAVPF" => true,
                        _ => return Err(SipError::Unsupported(format!("transport {proto}"))),
                    };
                    for pt in f {
                        let pt: u8 = pt
                            .parse()
                            .map_err(|_| bad(format!("payload type {pt:?}")))?;
                        if pt > 127 {
                            return Err(bad(format!("payload type {pt}")));
                        }
                        pts.push(pt);
                    }
                }
            }
            "c" => {
                let addr = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .ok_or_else(|| bad(format!("bad c= line {value:?}")))?;
                if in_audio {
                    media_addr = Some(addr);
                } else if !seen_audio {
                    session_addr = Some(addr);
                }
            }
            "a" if in_audio || !seen_audio => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                match name {
                    "rtpmap" if in_audio => {
                        let (pt, enc) = arg
                            .split_once(' ')
                            .ok_or_else(|| bad(format!("bad rtpmap {arg:?}")))?;
                        let pt: u8 = pt
                            .trim()
                            .parse()
                            .map_err(|_| bad(format!("rtpmap {arg:?}")))?;
                        let mut e = enc.trim().split('/');
                        let name = e.next().unwrap_or("").to_string();
                        let rate: u32 = e
                            .next()
                            .and_then(|r| r.parse().ok())
                            .ok_or_else(|| bad(format!("rtpmap rate {arg:?}")))?;
                        maps.push((pt, name, rate));
                    }
                    "ptime" if in_audio => ptime = arg.trim().parse().ok(),
                    // Bounded: an offer lists a handful of suites.
                    "crypto" if in_audio && crypto.len() < 16 => {
                        crypto.extend(Crypto::parse(arg));
                    }
                    "sendrecv" => direction = Direction::SendRecv,
                    "sendonly" => direction = Direction::SendOnly,
                    "recvonly" => direction = Direction::RecvOnly,
                    "inactive" => direction = Direction::Inactive,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !seen_audio {
        return Err(SipError::Unsupported("no audio stream in the offer".into()));
    }
    let addr = media_addr
        .or(session_addr)
        .ok_or_else(|| bad("no connection address".into()))?;
    let mut telephone_event = None;
    let formats = pts
        .iter()
        .map(|&pt| {
            let map = maps.iter().find(|(p, _, _)| *p == pt);
            let codec = match map {
                Some((_, name, rate)) => {
                    if name.eq_ignore_ascii_case("telephone-event") && *rate == 8000 {
                        telephone_event = telephone_event.or(Some(pt));
                    }
                    AudioCodec::from_rtpmap(name, *rate)
                }
                // Static payload types need no rtpmap.
                None => match pt {
                    0 => Some(AudioCodec::Pcmu),
                    8 => Some(AudioCodec::Pcma),
                    9 => Some(AudioCodec::G722),
                    _ => None,
                },
            };
            (pt, codec)
        })
        .collect();
    Ok(Offer {
        addr,
        port,
        formats,
        telephone_event,
        ptime,
        direction,
        secure,
        crypto,
    })
}

/// netamp's side of the negotiation.
#[derive(Debug, Clone)]
pub struct Local {
    /// Address in `c=` and `o=`.
    pub addr: IpAddr,
    /// RTP port.
    pub port: u16,
    /// Codecs in netamp's order of preference.
    pub codecs: Vec<AudioCodec>,
    /// Directions netamp allows.
    pub direction: Direction,
    /// Packet time, ms.
    pub ptime: u32,
    /// `o=` session id and version.
    pub session: (u64, u64),
    /// Our SRTP key line when the call is to be SRTP (its tag and suite the offer's
    /// chosen line's, see [`srtp::choose`]); `None`: plain RTP.
    pub crypto: Option<Crypto>,
}

/// The negotiated stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Negotiated {
    /// The codec and its payload type (the offer's number).
    pub codec: AudioCodec,
    /// Its payload type.
    pub payload_type: u8,
    /// telephone-event payload type, when both sides have it.
    pub telephone_event: Option<u8>,
    /// Direction of the answer.
    pub direction: Direction,
    /// Where to send RTP.
    pub remote: (IpAddr, u16),
    /// The SRTP keys, when the stream is SRTP.
    pub srtp: Option<Keys>,
}

/// Builds the answer to `offer`; `Err` (→ 488) when no codec is common, or when one side
/// wants SRTP and the other cannot (an `RTP/SAVP` offer without `local.crypto`, or
/// `local.crypto` for an offer without a usable `a=crypto` line).
pub fn answer(offer: &Offer, local: &Local) -> Result<(Negotiated, String), SipError> {
    let srtp = match (&local.crypto, srtp::choose(&offer.crypto)) {
        (Some(ours), Some(theirs)) if ours.tag == theirs.tag && ours.suite == theirs.suite => {
            Some(Keys {
                local: ours.clone(),
                remote: theirs.clone(),
            })
        }
        (Some(_), _) => {
            return Err(SipError::Unsupported(
                "SRTP is required and the offer has no usable a=crypto line".into(),
            ))
        }
        (None, _) if offer.secure => {
            return Err(SipError::Unsupported("SRTP offered and not allowed".into()))
        }
        (None, _) => None,
    };
    let (codec, pt) = local
        .codecs
        .iter()
        .find_map(|c| {
            offer
                .formats
                .iter()
                .find(|(_, oc)| *oc == Some(*c))
                .map(|(pt, _)| (*c, *pt))
        })
        .ok_or_else(|| SipError::Unsupported("no codec in common".into()))?;
    let direction = offer.direction.answer(local.direction);
    let ip = |a: IpAddr| match a {
        IpAddr::V4(v) => format!("IN IP4 {v}"),
        IpAddr::V6(v) => format!("IN IP6 {v}"),
    };
    let mut fmts = vec![pt.to_string()];
    if let Some(te) = offer.telephone_event {
        fmts.push(te.to_string());
    }
    // The offer's profile, SRTP or not (best-effort SRTP keeps RTP/AVP).
    let proto = if offer.secure { "RTP/SAVP" } else { "RTP/AVP" };
    let mut sdp = format!(
        "v=0\r\no=netamp {} {} {}\r\ns=netamp\r\nc={}\r\nt=0 0\r\nm=audio {} {proto} {}\r\n",
        local.session.0,
        local.session.1,
        ip(local.addr),
        ip(local.addr),
        local.port,
        fmts.join(" ")
    );
    if let Some(k) = &srtp {
        sdp.push_str(&format!("a=crypto:{}\r\n", k.local.attribute()));
    }
    let channels = if codec == AudioCodec::Opus { "/2" } else { "" };
    sdp.push_str(&format!(
        "a=rtpmap:{pt} {}/{}{channels}\r\n",
        codec.name(),
        codec.clock_rate()
    ));
    if codec.static_pt() != Some(pt) && codec == AudioCodec::Opus {
        sdp.push_str(&format!("a=fmtp:{pt} useinbandfec=1\r\n"));
    }
    if let Some(te) = offer.telephone_event {
        sdp.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    sdp.push_str(&format!(
        "a=ptime:{}\r\na={}\r\n",
        local.ptime,
        direction.attr()
    ));
    Ok((
        Negotiated {
            codec,
            payload_type: pt,
            telephone_event: offer.telephone_event,
            direction,
            remote: (offer.addr, offer.port),
            srtp,
        },
        sdp,
    ))
}

/// Payload type netamp offers telephone-event on.
pub const OFFER_TELEPHONE_EVENT: u8 = 101;

/// Builds an offer for an outgoing call: every codec of `local` (static types where they
/// exist, 96 up otherwise) plus telephone-event. Returns the SDP and what each type means.
pub fn offer(local: &Local) -> (String, Vec<(u8, AudioCodec)>) {
    let mut dynamic = 96u8;
    let types: Vec<(u8, AudioCodec)> = local
        .codecs
        .iter()
        .map(|c| {
            let pt = c.static_pt().unwrap_or_else(|| {
                dynamic += 1;
                dynamic - 1
            });
            (pt, *c)
        })
        .collect();
    let ip = match local.addr {
        IpAddr::V4(v) => format!("IN IP4 {v}"),
        IpAddr::V6(v) => format!("IN IP6 {v}"),
    };
    let fmts: Vec<String> = types
        .iter()
        .map(|(pt, _)| pt.to_string())
        .chain([OFFER_TELEPHONE_EVENT.to_string()])
        .collect();
    let proto = if local.crypto.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let mut sdp = format!(
        "v=0\r\no=netamp {} {} {ip}\r\ns=netamp\r\nc={ip}\r\nt=0 0\r\nm=audio {} {proto} {}\r\n",
        local.session.0,
        local.session.1,
        local.port,
        fmts.join(" ")
    );
    if let Some(k) = &local.crypto {
        sdp.push_str(&format!("a=crypto:{}\r\n", k.attribute()));
    }
    for (pt, c) in &types {
        let channels = if *c == AudioCodec::Opus { "/2" } else { "" };
        sdp.push_str(&format!(
            "a=rtpmap:{pt} {}/{}{channels}\r\n",
            c.name(),
            c.clock_rate()
        ));
        if *c == AudioCodec::Opus {
            sdp.push_str(&format!("a=fmtp:{pt} useinbandfec=1\r\n"));
        }
    }
    sdp.push_str(&format!(
        "a=rtpmap:{OFFER_TELEPHONE_EVENT} telephone-event/8000\r\na=fmtp:{OFFER_TELEPHONE_EVENT} 0-16\r\na=ptime:{}\r\na={}\r\n",
        local.ptime,
        local.direction.attr()
    ));
    (sdp, types)
}

/// Reads the answer to our [`offer`]: the first payload type it kept that we offered, and
/// with our key line `ours` (an SRTP offer) the answer's line of the same tag and suite.
pub fn from_answer(
    answer: &Offer,
    offered: &[(u8, AudioCodec)],
    ours: Option<&Crypto>,
) -> Result<Negotiated, SipError> {
    let (payload_type, codec) = answer
        .formats
        .iter()
        .find_map(|(pt, known)| {
            offered
                .iter()
                .find(|(opt, oc)| opt == pt && known.is_none_or(|k| k == *oc))
                .copied()
        })
        .ok_or_else(|| SipError::Unsupported("the answer kept no codec we offered".into()))?;
    let direction = match answer.direction {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        d => d,
    };
    let srtp = match (ours, answer.secure) {
        (None, false) => None,
        // A plain offer answered with SRTP is not an answer to it.
        (None, true) => {
            return Err(SipError::Unsupported(
                "an SRTP answer to a plain offer".into(),
            ))
        }
        (Some(_), false) => {
            return Err(SipError::Unsupported(
                "a plain RTP answer to an SRTP offer".into(),
            ))
        }
        (Some(ours), true) => {
            let theirs = answer
                .crypto
                .iter()
                .find(|c| c.suite == ours.suite)
                .ok_or_else(|| {
                    SipError::Unsupported(
                        "the SRTP answer has no a=crypto line of our suite".into(),
                    )
                })?;
            Some(Keys {
                local: ours.clone(),
                remote: theirs.clone(),
            })
        }
    };
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: answer.telephone_event,
        direction,
        remote: (answer.addr, answer.port),
        srtp,
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn our_offer_reads_back_and_an_answer_picks_from_it() {
        let l = local(vec![AudioCodec::Opus, AudioCodec::Pcmu, AudioCodec::L16]);
        let (sdp, types) = offer(&l);
        assert_eq!(
            types,
            vec![
                (96, AudioCodec::Opus),
                (0, AudioCodec::Pcmu),
                (97, AudioCodec::L16)
            ]
        );
        let parsed = parse_offer(&sdp).unwrap();
        assert_eq!(parsed.telephone_event, Some(101));
        assert_eq!(parsed.formats[0], (96, Some(AudioCodec::Opus)));
        // The peer answers with PCMU only, sendonly from its side.
        let answer = parse_offer(&SIPP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")).unwrap();
        let n = from_answer(&answer, &types, None).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.direction),
            (AudioCodec::Pcmu, 0, Direction::RecvOnly)
        );
        let none = parse_offer(
            &SIPP
                .replace("RTP/AVP 0", "RTP/AVP 18")
                .replace("0 PCMU", "18 G729"),
        )
        .unwrap();
        assert!(from_answer(&none, &types, None).is_err());
    }
    use super::*;

    proptest::proptest! {
        /// Any text as an offer, and a real offer with any line changed: an answer or an
        /// error, never a panic.
        #[test]
        fn any_sdp_is_read_or_refused(text in "(?s).{0,2000}", line: usize, with in "[ -~]{0,80}") {
            let _ = parse_offer(&text);
            let mut lines: Vec<&str> = SIPP.split("\r\n").collect();
            let i = line % lines.len();
            lines[i] = &with;
            let changed = lines.join("\r\n");
            if let Ok(o) = parse_offer(&changed) {
                let _ = answer(&o, &local(vec![AudioCodec::Opus, AudioCodec::Pcmu]));
            }
        }
    }

    /// What SIPp's default uac scenario sends.
    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// A baresip-style offer: Opus first, dynamic types, telephone-event, media-level c=.
    const BARESIP: &str = "v=0\no=- 1 2 IN IP4 10.0.0.2\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\nm=audio 10000 RTP/AVP 96 0 8 101\nc=IN IP4 127.0.0.1\na=rtpmap:96 opus/48000/2\na=fmtp:96 stereo=1\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv\n";

    fn local(codecs: Vec<AudioCodec>) -> Local {
        Local {
            addr: "127.0.0.1".parse().unwrap(),
            port: 4000,
            codecs,
            direction: Direction::SendRecv,
            ptime: 20,
            session: (1, 1),
            crypto: None,
        }
    }

    #[test]
    fn an_srtp_offer_of_ours_takes_an_srtp_answer_and_refuses_a_plain_one() {
        let mut ours = local(vec![AudioCodec::Pcmu]);
        let key = Crypto::fresh(1, srtp::Suite::AesCm128Sha1_80).unwrap();
        ours.crypto = Some(key.clone());
        let (sdp, types) = offer(&ours);
        assert!(sdp.contains("RTP/SAVP") && sdp.contains(&format!("a=crypto:{}", key.attribute())));
        // The peer answers it as netamp itself answers an SRTP offer over TLS.
        let parsed = parse_offer(&sdp).unwrap();
        let theirs = srtp::decide(
            srtp::MediaEncryption::Optional,
            true,
            parsed.secure,
            &parsed.crypto,
        )
        .unwrap();
        let mut peer = local(vec![AudioCodec::Pcmu]);
        peer.crypto = theirs.clone();
        let (_, answer_sdp) = answer(&parsed, &peer).unwrap();
        let n = from_answer(&parse_offer(&answer_sdp).unwrap(), &types, Some(&key)).unwrap();
        let keys = n.srtp.expect("SRTP");
        assert_eq!((keys.local, Some(keys.remote)), (key.clone(), theirs));
        // A plain answer to it is not an answer.
        assert!(from_answer(&parse_offer(SIPP).unwrap(), &types, Some(&key)).is_err());
    }

    #[test]
    fn sipp_pcmu() {
        let o = parse_offer(SIPP).unwrap();
        assert_eq!(o.port, 6000);
        let (n, sdp) = answer(&o, &local(vec![AudioCodec::Pcma, AudioCodec::Pcmu])).unwrap();
        assert_eq!((n.codec, n.payload_type), (AudioCodec::Pcmu, 0));
        assert!(sdp.contains("m=audio 4000 RTP/AVP 0\r\n"), "{sdp}");
        assert!(sdp.contains("a=sendrecv"));
    }

    #[test]
    fn baresip_opus_with_dtmf_and_media_level_address() {
        let o = parse_offer(BARESIP).unwrap();
        assert_eq!(o.addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(o.telephone_event, Some(101));
        assert_eq!(o.ptime, Some(20));
        let (n, sdp) = answer(&o, &local(vec![AudioCodec::Opus, AudioCodec::Pcmu])).unwrap();
        assert_eq!((n.codec, n.payload_type), (AudioCodec::Opus, 96));
        assert!(sdp.contains("m=audio 4000 RTP/AVP 96 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:96 opus/48000/2"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000"));
        // netamp prefers PCMA, which is offered as a static type without rtpmap.
        let (n, _) = answer(&o, &local(vec![AudioCodec::Pcma])).unwrap();
        assert_eq!((n.codec, n.payload_type), (AudioCodec::Pcma, 8));
    }

    #[test]
    fn directions_mirror() {
        let hold = SIPP.replace(
            "a=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:0 PCMU/8000\r\na=sendonly\r\n",
        );
        let (n, sdp) =
            answer(&parse_offer(&hold).unwrap(), &local(vec![AudioCodec::Pcmu])).unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        assert!(sdp.contains("a=recvonly"));
        let mut l = local(vec![AudioCodec::Pcmu]);
        l.direction = Direction::RecvOnly;
        let (n, _) = answer(&parse_offer(SIPP).unwrap(), &l).unwrap();
        assert_eq!(
            n.direction,
            Direction::RecvOnly,
            "a speaker-only endpoint never sends"
        );
    }

    #[test]
    fn an_srtp_offer_gets_an_srtp_answer_with_our_key() {
        let theirs = crate::srtp::Crypto::fresh(3, crate::srtp::Suite::AesCm128Sha1_80).unwrap();
        let offer_text = SIPP.replace("RTP/AVP", "RTP/SAVP")
            + &format!(
                "a=crypto:1 F8_128_HMAC_SHA1_80 inline:x\r\na=crypto:{}\r\n",
                theirs.attribute()
            );
        let offer = parse_offer(&offer_text).unwrap();
        assert!(offer.secure);
        assert_eq!(offer.crypto, vec![theirs.clone()]);
        let ours = crate::srtp::Crypto::fresh(3, crate::srtp::Suite::AesCm128Sha1_80).unwrap();
        let mut l = local(vec![AudioCodec::Pcmu]);
        l.crypto = Some(ours.clone());
        let (n, sdp) = answer(&offer, &l).unwrap();
        assert!(sdp.contains("m=audio 4000 RTP/SAVP 0"), "{sdp}");
        assert!(
            sdp.contains(&format!("a=crypto:{}\r\n", ours.attribute())),
            "{sdp}"
        );
        let keys = n.srtp.expect("keys");
        assert_eq!((keys.local, keys.remote), (ours.clone(), theirs));
        // A key for a suite or tag the offer did not carry is refused.
        l.crypto =
            Some(crate::srtp::Crypto::fresh(9, crate::srtp::Suite::AesCm128Sha1_80).unwrap());
        assert!(answer(&offer, &l).is_err());
        // Our plain answer to a best-effort offer (crypto on RTP/AVP) stays plain.
        let best_effort =
            parse_offer(&(SIPP.to_string() + &format!("a=crypto:{}\r\n", ours.attribute())))
                .unwrap();
        let (n, sdp) = answer(&best_effort, &local(vec![AudioCodec::Pcmu])).unwrap();
        assert!(n.srtp.is_none() && !sdp.contains("crypto") && sdp.contains("RTP/AVP"));
    }

    #[test]
    fn no_common_codec_or_bad_offers_are_errors() {
        let g729 = SIPP
            .replace("RTP/AVP 0", "RTP/AVP 18")
            .replace("0 PCMU", "18 G729");
        assert!(answer(&parse_offer(&g729).unwrap(), &local(vec![AudioCodec::Pcmu])).is_err());
        for bad in [
            "",
            "v=0\r\nm=video 5000 RTP/AVP 96\r\n",
            "v=0\r\nm=audio x RTP/AVP 0\r\n",
            "v=0\r\nm=audio 5000 RTP/AVP 0\r\n",
            "v=0\r\nc=IN IP4 nonsense\r\nm=audio 5000 RTP/AVP 0\r\n",
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 300\r\n",
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 UDP/TLS/RTP/SAVP 0\r\n",
        ] {
            assert!(parse_offer(bad).is_err(), "{bad:?}");
        }
        // SRTP without a key netamp may use (plain RTP only on this side): refused.
        let savp = parse_offer("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/SAVP 0\r\n").unwrap();
        assert!(savp.secure && savp.crypto.is_empty());
        assert!(answer(&savp, &local(vec![AudioCodec::Pcmu])).is_err());
        assert!(parse_offer(&"a".repeat(MAX_SDP + 1)).is_err());
    }
}
