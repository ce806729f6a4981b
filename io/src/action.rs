//! The `port.cgi` action language: `[<port>]:<a>[<wait><a>…]`, where `/` is active, `\` is
//! inactive and a number is a wait in milliseconds (`2:/300\500/300\` is two 300 ms
//! pulses 500 ms apart). Ports are 1-based; no port means port 1.

use std::time::Duration;

use crate::IoError;

/// Longest single wait accepted, ms (as portmanagement's sequence steps).
pub const MAX_WAIT_MS: u64 = 65_535;
/// Most steps in one action.
pub const MAX_STEPS: usize = 64;

/// One step of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStep {
    /// Make the port active (`true`) or inactive (`false`).
    Set(bool),
    /// Wait before the next step.
    Wait(Duration),
}

/// A parsed action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// 1-based port number as written.
    pub port: usize,
    /// What to do, in order.
    pub steps: Vec<ActionStep>,
}

/// Parses an action string (already percent-decoded).
pub fn parse(s: &str) -> Result<Action, IoError> {
    let bad = |why: &str| IoError::BadAction(format!("{why} in {s:?}"));
    let (port, body) = match s.split_once(':') {
        Some((p, b)) if p.trim().is_empty() => (1, b),
        Some((p, b)) => (
            p.trim()
                .parse::<usize>()
                .map_err(|_| bad("port is not a number"))?,
            b,
        ),
        None => (1, s),
    };
    if port == 0 {
        return Err(bad("ports count from 1"));
    }
    let mut steps = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' => steps.push(ActionStep::Set(true)),
            '\\' => steps.push(ActionStep::Set(false)),
            d if d.is_ascii_digit() => {
                let mut n = u64::from(d as u8 - b'0');
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    chars.next();
                    n = n
                        .saturating_mul(10)
                        .saturating_add(u64::from(d as u8 - b'0'));
                }
                if n > MAX_WAIT_MS {
                    return Err(IoError::Limit(format!(
                        "wait {n} ms exceeds {MAX_WAIT_MS} ms"
                    )));
                }
                if !matches!(steps.last(), Some(ActionStep::Set(_))) {
                    return Err(bad("a wait must follow / or \\"));
                }
                steps.push(ActionStep::Wait(Duration::from_millis(n)));
            }
            _ => return Err(bad(&format!("unexpected {c:?}"))),
        }
        if steps.len() > MAX_STEPS {
            return Err(IoError::Limit(format!("more than {MAX_STEPS} steps")));
        }
    }
    if !steps.iter().any(|s| matches!(s, ActionStep::Set(_))) {
        return Err(bad("no / or \\"));
    }
    Ok(Action { port, steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActionStep::*;

    proptest::proptest! {
        /// Any text, and text made of the action alphabet (port numbers, `:`, `/`, `\\`,
        /// digits): an action or an error, never a panic.
        #[test]
        fn any_action_string_is_read_or_refused(
            text in "(?s).{0,200}",
            shaped in "[0-9:/\\\\]{0,60}",
        ) {
            let _ = parse(&text);
            let _ = parse(&shaped);
        }
    }

    fn ms(n: u64) -> ActionStep {
        Wait(Duration::from_millis(n))
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            parse("2:/").unwrap(),
            Action {
                port: 2,
                steps: vec![Set(true)]
            }
        );
        assert_eq!(parse("1:\\").unwrap().steps, vec![Set(false)]);
        assert_eq!(
            parse("2:/300\\").unwrap().steps,
            vec![Set(true), ms(300), Set(false)]
        );
        assert_eq!(
            parse("2:/300\\500/300\\").unwrap().steps,
            vec![
                Set(true),
                ms(300),
                Set(false),
                ms(500),
                Set(true),
                ms(300),
                Set(false)
            ]
        );
        assert_eq!(parse("/").unwrap().port, 1);
        assert_eq!(parse(":/").unwrap().port, 1);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2:",
            "0:/",
            "x:/",
            "2:300",
            "2:/a",
            "2:/99999999\\",
            "2:-/",
            "2:/300 \\",
            "2://300x",
        ] {
            assert!(parse(s).is_err(), "{s:?} accepted");
        }
        assert!(parse(&format!("1:{}", "/1".repeat(40))).is_err());
    }
}
