//! VAPIX event filters: topic filters (ConcreteSet: `/` child, `//.` subtree, `|` or;
//! `tns1:`/`tnsaxis:` or `onvif:`/`axis:` prefixes) and content filters (ItemFilter:
//! `boolean(//SimpleItem[@Name="port" and @Value="1"])`, joined by `and` / `or`).

use crate::events::Event;

/// A topic segment without its namespace prefix: declarations say `tns1:`/`tnsaxis:`,
/// filters may say `onvif:`/`axis:`, and the wire omits some prefixes (`IO/Port`), so
/// segments compare by bare name.
fn normalize(segment: &str) -> String {
    let s = segment.trim();
    s.split_once(':').map_or(s, |(_, name)| name).to_string()
}

/// A topic split into bare segment names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPath(Vec<String>);

impl TopicPath {
    /// Splits and normalises `topic`.
    pub fn new(topic: &str) -> Self {
        Self(topic.split('/').map(normalize).collect())
    }
}

/// One alternative of a topic filter.
#[derive(Debug, Clone, PartialEq)]
struct TopicPattern {
    segments: Vec<String>,
    subtree: bool,
}

/// A parsed topic filter.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicFilter {
    any: Vec<TopicPattern>,
}

impl TopicFilter {
    /// Parses a ConcreteSet expression.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut any = Vec::new();
        for alt in s.split('|').map(str::trim) {
            if alt.is_empty() {
                return Err("empty topic alternative".into());
            }
            let (path, subtree) = match alt.strip_suffix("//.") {
                Some(p) => (p.trim_end_matches('/'), true),
                None => (alt, false),
            };
            let segments: Vec<String> = path
                .split('/')
                .filter(|p| !p.is_empty())
                .map(normalize)
                .collect();
            if segments.is_empty() && !subtree {
                return Err(format!("bad topic filter {alt:?}"));
            }
            any.push(TopicPattern { segments, subtree });
        }
        Ok(Self { any })
    }

    /// True when `topic` is selected.
    pub fn matches(&self, topic: &str) -> bool {
        self.matches_path(&TopicPath::new(topic))
    }

    /// True when the topic `t` (split once, to match against many filters) is selected.
    pub fn matches_path(&self, t: &TopicPath) -> bool {
        let t = &t.0;
        self.any.iter().any(|p| {
            if p.subtree {
                t.len() >= p.segments.len() && t[..p.segments.len()] == p.segments[..]
            } else {
                *t == p.segments
            }
        })
    }
}

/// A parsed content filter.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentFilter {
    /// Clauses joined by `or`; each is a list of clauses joined by `and`; each clause a
    /// list of (Name, Value) pairs that one SimpleItem must satisfy.
    or: Vec<Vec<Vec<(String, String)>>>,
}

fn quoted(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let q = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = s[1..].find(q)? + 1;
    Some((s[1..end].to_string(), &s[end + 1..]))
}

fn parse_clause(s: &str) -> Result<Vec<(String, String)>, String> {
    // boolean(//SimpleItem[@Name="port" and @Value="1"])
    let inner = s
        .trim()
        .strip_prefix("boolean(")
        .and_then(|r| r.trim_end().strip_suffix(')'))
        .and_then(|r| r.trim().strip_prefix("//SimpleItem["))
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("unsupported content filter clause {s:?}"))?;
    let mut name = None;
    let mut value = None;
    for cond in inner.split(" and ") {
        let cond = cond.trim();
        if let Some(r) = cond
            .strip_prefix("@Name")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
        {
            name = quoted(r).map(|(v, _)| v);
        } else if let Some(r) = cond
            .strip_prefix("@Value")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
        {
            value = quoted(r).map(|(v, _)| v);
        } else {
            return Err(format!("unsupported condition {cond:?}"));
        }
    }
    match (name, value) {
        (Some(n), Some(v)) => Ok(vec![(n, v)]),
        _ => Err(format!("clause needs @Name and @Value: {s:?}")),
    }
}

impl ContentFilter {
    /// Parses an ItemFilter expression.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut or = Vec::new();
        for alt in s.split(") or boolean(") {
            let mut and = Vec::new();
            for clause in alt.split(") and boolean(") {
                let mut c = clause.trim().to_string();
                if !c.starts_with("boolean(") {
                    c = format!("boolean({c}");
                }
                if !c.ends_with(')') || c.matches('(').count() > c.matches(')').count() {
                    c.push(')');
                }
                and.push(parse_clause(&c)?);
            }
            or.push(and);
        }
        Ok(Self { or })
    }

    /// The value the filter requires of item `name` in every alternative (`None` when
    /// some alternative does not pin it, or pins it differently, or asks for `-1`).
    /// Whether any clause names item `name`.
    pub fn mentions(&self, name: &str) -> bool {
        self.or.iter().flatten().flatten().any(|(n, _)| n == name)
    }

    /// The value every alternative pins item `name` to, if they agree (`-1` pins
    /// nothing).
    pub fn pinned(&self, name: &str) -> Option<&str> {
        let mut value = None;
        for and in &self.or {
            let v = and
                .iter()
                .flatten()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())?;
            if v == "-1" || value.is_some_and(|w| w != v) {
                return None;
            }
            value = Some(v);
        }
        value
    }

    /// True when the event's items satisfy the filter.
    pub fn matches(&self, ev: &Event) -> bool {
        self.matches_with(ev, false)
    }

    /// As [`matches`](Self::matches), but a source item asked to be `-1` matches any
    /// value of it (action rules: "any port").
    pub fn matches_any_source(&self, ev: &Event) -> bool {
        self.matches_with(ev, true)
    }

    fn matches_with(&self, ev: &Event, any_source: bool) -> bool {
        let has = |n: &str, v: &str| {
            (any_source && v == "-1" && ev.source.contains_key(n))
                || [&ev.source, &ev.key, &ev.data]
                    .iter()
                    .any(|m| m.get(n).is_some_and(|x| x == v))
        };
        self.or.iter().any(|and| {
            and.iter()
                .all(|clause| clause.iter().all(|(n, v)| has(n, v)))
        })
    }
}

/// One subscription: a topic filter, a content filter, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    topic: Option<TopicFilter>,
    content: Option<ContentFilter>,
}

impl Subscription {
    /// Builds a subscription; at least one filter must be given.
    pub fn new(topic: Option<&str>, content: Option<&str>) -> Result<Self, String> {
        if topic.is_none() && content.is_none() {
            return Err("each filter needs a topicFilter or a contentFilter".into());
        }
        Ok(Self {
            topic: topic.map(TopicFilter::parse).transpose()?,
            content: content.map(ContentFilter::parse).transpose()?,
        })
    }

    /// True when the event passes both filters.
    pub fn matches(&self, ev: &Event) -> bool {
        self.topic.as_ref().is_none_or(|t| t.matches(&ev.topic))
            && self.content.as_ref().is_none_or(|c| c.matches(ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any text as a topic or content filter: a filter or an error, never a panic; a
        /// filter that parses can be matched against an event.
        #[test]
        fn any_filter_text_is_read_or_refused(
            topic in "(?s).{0,200}",
            content in "(?s).{0,200}",
            shaped in "[a-zA-Z0-9:/*|@=' ()\\[\\]\"]{0,120}",
        ) {
            for t in [&topic, &shaped] {
                if let Ok(f) = TopicFilter::parse(t) {
                    let _ = f.matches("tns1:Device/IO/Port");
                }
            }
            for c in [&content, &shaped] {
                if let Ok(f) = ContentFilter::parse(c) {
                    let _ = f.matches(&ev("tns1:Device/IO/Port", "1", "1"));
                }
            }
        }
    }

    fn ev(topic: &str, port: &str, state: &str) -> Event {
        Event::new(topic, &[("port", port)], &[("state", state)], true)
    }

    #[test]
    fn topics() {
        let port = "tns1:Device/tnsaxis:IO/Port";
        assert!(TopicFilter::parse("//.").unwrap().matches(port));
        assert!(TopicFilter::parse("tns1:Device/tnsaxis:IO/Port")
            .unwrap()
            .matches(port));
        assert!(TopicFilter::parse("onvif:Device/axis:IO/Port")
            .unwrap()
            .matches(port));
        assert!(TopicFilter::parse("onvif:Device/axis:IO//.")
            .unwrap()
            .matches(port));
        assert!(TopicFilter::parse(
            "tns1:Device/tnsaxis:IO/VirtualPort|tns1:Device/tnsaxis:IO/Port"
        )
        .unwrap()
        .matches(port));
        assert!(!TopicFilter::parse("tns1:Device/tnsaxis:IO/VirtualPort")
            .unwrap()
            .matches(port));
        assert!(!TopicFilter::parse("tns1:Device").unwrap().matches(port));
        assert!(TopicFilter::parse("").is_err());
    }

    #[test]
    fn contents() {
        let f = ContentFilter::parse(r#"boolean(//SimpleItem[@Name="port" and @Value="1"]) and boolean(//SimpleItem[@Name="state" and @Value="1"])"#).unwrap();
        assert!(f.matches(&ev("t", "1", "1")));
        assert!(!f.matches(&ev("t", "1", "0")));
        let f = ContentFilter::parse(r#"boolean(//SimpleItem[@Name="port" and @Value="2"]) or boolean(//SimpleItem[@Name="port" and @Value="3"])"#).unwrap();
        assert!(f.matches(&ev("t", "3", "0")));
        assert!(!f.matches(&ev("t", "1", "0")));
        assert!(ContentFilter::parse("port=1").is_err());
        let any =
            ContentFilter::parse(r#"boolean(//SimpleItem[@Name="port" and @Value="-1"])"#).unwrap();
        assert!(!any.matches(&ev("t", "4", "1")));
        assert!(any.matches_any_source(&ev("t", "4", "1")));
        assert_eq!(any.pinned("port"), None);
        let f = ContentFilter::parse(r#"boolean(//SimpleItem[@Name="port" and @Value="2"]) and boolean(//SimpleItem[@Name="state" and @Value="1"])"#).unwrap();
        assert_eq!((f.pinned("port"), f.pinned("x")), (Some("2"), None));
        let f = ContentFilter::parse(r#"boolean(//SimpleItem[@Name="port" and @Value="2"]) or boolean(//SimpleItem[@Name="port" and @Value="3"])"#).unwrap();
        assert_eq!(f.pinned("port"), None);
    }
}
