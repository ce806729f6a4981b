//! The one wildcard matcher of the HTTP surface (`apidiscovery.cgi` `id`/`version`,
//! `playclip.cgi?location=`): `*` for any run of characters, `?` for one.
//!
//! Matching is `wildmatch`'s iterative loop, which keeps one backtrack point: its cost is
//! at most pattern length × name length, never exponential (the hand-written recursive
//! matchers it replaces took minutes of CPU on forty `*`). Patterns are capped at
//! [`MAX_PATTERN`] bytes as well, so one request costs a bounded, small amount of CPU
//! whatever it sends, with or without credentials.

use wildmatch::WildMatch;

/// Longest wildcard pattern accepted, bytes. A clip location or an API id is far shorter.
pub const MAX_PATTERN: usize = 256;

/// A pattern longer than [`MAX_PATTERN`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern longer than {MAX_PATTERN} bytes")]
pub struct PatternTooLong;

/// A checked pattern, compiled once and matched against many names.
#[derive(Debug, Clone)]
pub struct Pattern(WildMatch);

impl Pattern {
    /// Compiles `pattern`, refusing one longer than [`MAX_PATTERN`].
    pub fn new(pattern: &str) -> Result<Self, PatternTooLong> {
        if pattern.len() > MAX_PATTERN {
            return Err(PatternTooLong);
        }
        Ok(Self(WildMatch::new(pattern)))
    }

    /// True when the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.0.matches(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn matches_as_a_shell_glob_does() {
        let p = |s: &str| Pattern::new(s).unwrap();
        assert!(p("alarm*.mp3").matches("alarm2.mp3"));
        assert!(p("*").matches("x"));
        assert!(p("*").matches(""));
        assert!(!p("alarm*.mp3").matches("bell.mp3"));
        assert!(p("io-*").matches("io-port-management"));
        assert!(p("1.?").matches("1.0"));
        assert!(!p("1.?").matches("1.10"));
        assert!(p("*é*").matches("café au lait"));
        assert!(!p("x").matches("xx"));
    }

    #[test]
    fn a_long_pattern_is_refused() {
        assert!(Pattern::new(&"*".repeat(MAX_PATTERN)).is_ok());
        assert_eq!(
            Pattern::new(&"*".repeat(MAX_PATTERN + 1)).unwrap_err(),
            PatternTooLong
        );
    }

    /// The request that pinned a core: many `*` and a character that never matches.
    /// Its cost must be about that of a plain pattern, not exponential in the stars:
    /// the ratio against a pattern without stars is compared within this one run.
    #[test]
    fn many_stars_cost_no_more_than_a_plain_pattern() {
        let name = "audio-streaming-capabilities-and-more-to-make-it-long";
        let hostile = Pattern::new(&format!("{}!", "*".repeat(MAX_PATTERN - 1))).unwrap();
        let plain = Pattern::new(&format!("{}!", "a".repeat(MAX_PATTERN - 1))).unwrap();
        let time = |p: &Pattern| {
            let t = Instant::now();
            for _ in 0..200 {
                assert!(!p.matches(std::hint::black_box(name)));
            }
            t.elapsed()
        };
        let _ = time(&plain);
        let (h, q) = (time(&hostile), time(&plain));
        // Quadratic at worst: 255 × 53 steps against about 1; an exponential matcher
        // would not finish the first of the 200 calls.
        assert!(
            h.as_nanos() < q.as_nanos().max(1_000) * 20_000,
            "hostile {h:?} vs plain {q:?}"
        );
    }
}
