//! DTMF from a call: RFC 4733 telephone-events, SIP INFO bodies, and configured sequences.
//!
//! An RFC 4733 event is one RTP timestamp: the sender repeats its packets while the key is
//! down and sends the end packet three times. [`EventReceiver`] reports each event once,
//! at its first packet whatever that is (a lost start still reports at the end packets),
//! and keys events by SSRC and timestamp so retransmissions never repeat a digit.

use std::time::{Duration, Instant};

/// A DTMF digit (`0`-`9`, `*`, `#`, `A`-`D`).
pub type Digit = char;

/// The digit of an RFC 4733 event code, if it is one.
pub fn digit_of_event(code: u8) -> Option<Digit> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// True for the characters a DTMF sequence may hold.
pub fn is_digit(c: char) -> bool {
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')
}

/// Turns telephone-event payloads into digits, each once.
#[derive(Debug, Default)]
pub struct EventReceiver {
    last: Option<(u32, u32)>,
}

impl EventReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// One telephone-event packet; the digit when it starts a new event.
    pub fn push(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<Digit> {
        // event(8) E|R|volume(8) duration(16); longer payloads carry redundancy (RFC 4733
        // §2.5.1.5) whose first block is the current event.
        let code = *payload.first()?;
        if payload.len() < 4 {
            return None;
        }
        let key = (ssrc, timestamp);
        if self.last == Some(key) {
            return None;
        }
        self.last = Some(key);
        digit_of_event(code)
    }
}

/// The digit of a SIP INFO body, by its content type.
pub fn digit_of_info(content_type: &str, body: &[u8]) -> Option<Digit> {
    let text = std::str::from_utf8(body).ok()?;
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let value = match ct.as_str() {
        // `Signal=5\r\nDuration=160`
        "application/dtmf-relay" => text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then_some(v.trim())
        })?,
        // A bare digit, or (some phones) the event code.
        "application/dtmf" => text.trim(),
        _ => return None,
    };
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if is_digit(c.to_ascii_uppercase()) => Some(c.to_ascii_uppercase()),
        (Some(c), None) if c == 'e' || c == 'E' => None,
        _ => value.parse::<u8>().ok().and_then(digit_of_event),
    }
}

/// One configured sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// The digits, e.g. `*1#`.
    pub digits: String,
    /// What it means to the operator.
    pub description: String,
}

/// Matches the digits of one call against the configured sequences.
#[derive(Debug)]
pub struct SequenceMatcher {
    sequences: Vec<Sequence>,
    typed: String,
    last: Option<Instant>,
    gap: Duration,
}

impl SequenceMatcher {
    /// A matcher; digits further apart than `gap` start a new sequence.
    pub fn new(sequences: Vec<Sequence>, gap: Duration) -> Self {
        Self {
            sequences,
            typed: String::new(),
            last: None,
            gap,
        }
    }

    /// One digit at `now`; the sequence it completes, if any.
    pub fn push(&mut self, digit: Digit, now: Instant) -> Option<&Sequence> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) > self.gap)
        {
            self.typed.clear();
        }
        self.last = Some(now);
        self.typed.push(digit);
        let longest = self
            .sequences
            .iter()
            .map(|s| s.digits.len())
            .max()
            .unwrap_or(0);
        if self.typed.len() > longest {
            let cut = self.typed.len() - longest;
            self.typed.drain(..cut);
        }
        // The longest sequence the typed digits end with wins ("12" over "2").
        let hit = self
            .sequences
            .iter()
            .filter(|s| !s.digits.is_empty() && self.typed.ends_with(&s.digits))
            .max_by_key(|s| s.digits.len())?;
        self.typed.clear();
        Some(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    #[test]
    fn each_event_reports_once_whatever_arrives() {
        let mut r = EventReceiver::new();
        // "1": start, continuations, three end packets.
        assert_eq!(r.push(7, 1000, &ev(1, false, 160)), Some('1'));
        assert_eq!(r.push(7, 1000, &ev(1, false, 320)), None);
        for _ in 0..3 {
            assert_eq!(r.push(7, 1000, &ev(1, true, 800)), None);
        }
        // "#" whose start packets were lost: the end packet reports it.
        assert_eq!(r.push(7, 3000, &ev(11, true, 800)), Some('#'));
        assert_eq!(r.push(7, 3000, &ev(11, true, 800)), None);
        // The same digit again is a new event (new timestamp).
        assert_eq!(r.push(7, 5000, &ev(11, false, 160)), Some('#'));
        // Flash and short payloads are not digits.
        assert_eq!(r.push(7, 6000, &ev(16, false, 160)), None);
        assert_eq!(r.push(7, 7000, &[3, 0]), None);
        assert_eq!(r.push(7, 8000, &ev(15, false, 160)), Some('D'));
    }

    #[test]
    fn info_bodies() {
        assert_eq!(
            digit_of_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(
            digit_of_info("application/dtmf-relay", b"Signal= *\nDuration= 250"),
            Some('*')
        );
        assert_eq!(digit_of_info("application/dtmf", b"#"), Some('#'));
        assert_eq!(digit_of_info("application/dtmf", b"11"), Some('#'));
        assert_eq!(digit_of_info("Application/DTMF; x=y", b"b"), Some('B'));
        assert_eq!(digit_of_info("application/dtmf", b"x"), None);
        assert_eq!(digit_of_info("text/plain", b"5"), None);
        assert_eq!(digit_of_info("application/dtmf-relay", b"Duration=5"), None);
        assert_eq!(digit_of_info("application/dtmf-relay", &[0xff, 0xfe]), None);
    }

    #[test]
    fn sequences_match_at_their_last_digit_within_the_gap() {
        let seq = |d: &str| Sequence {
            digits: d.into(),
            description: format!("seq {d}"),
        };
        let mut m = SequenceMatcher::new(
            vec![seq("*1#"), seq("2"), seq("12")],
            Duration::from_secs(3),
        );
        let t = Instant::now();
        assert!(m.push('*', t).is_none());
        assert!(m.push('1', t).is_none());
        assert_eq!(m.push('#', t).map(|s| s.digits.as_str()), Some("*1#"));
        assert_eq!(m.push('1', t).map(|s| s.digits.as_str()), None);
        assert_eq!(m.push('2', t).map(|s| s.digits.as_str()), Some("12"));
        assert_eq!(m.push('2', t).map(|s| s.digits.as_str()), Some("2"));
        // Too slow: the "*" is forgotten.
        assert!(m.push('*', t).is_none());
        assert!(m.push('1', t + Duration::from_secs(4)).is_none());
        assert!(m.push('#', t + Duration::from_secs(5)).is_none());
    }
}
