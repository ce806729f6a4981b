//! A small element tree read with `quick-xml`'s namespace-aware reader: enough for SOAP
//! requests, with explicit limits on depth, element count and text, so a hostile body
//! meets a limit error. Names compare by local name and namespace URI, never by prefix.

use quick_xml::escape::{escape, partial_escape};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// The most elements in one document.
pub const MAX_ELEMENTS: usize = 10_000;

/// One element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI (empty: none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes by local name.
    pub attrs: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Its text (character data of the element itself, joined).
    pub text: String,
}

impl Element {
    /// The first child named `name` (any namespace).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of child `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// Attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn ns(r: &ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(n) => AsRef::<str>::as_ref(n).to_string(),
        _ => String::new(),
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses `xml` into its root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root = None;
    loop {
        let at = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("malformed XML after byte {at}: {e}"))?;
        let open = |e: &quick_xml::events::BytesStart<'_>, resolved: &ResolveResult<'_>| {
            let mut el = Element {
                ns: ns(resolved),
                name: AsRef::<str>::as_ref(&e.local_name()).to_string(),
                ..Element::default()
            };
            for a in e.attributes() {
                let a = a.map_err(|e| format!("malformed attribute: {e}"))?;
                let v = a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|e| format!("malformed attribute value: {e}"))?;
                let k = AsRef::<str>::as_ref(&a.key.local_name()).to_string();
                el.attrs.push((k, v.into_owned()));
            }
            Ok::<Element, String>(el)
        };
        match event {
            Event::Start(e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(format!(
                        "the document is deeper than {MAX_DEPTH} or has more than {MAX_ELEMENTS} elements"
                    ));
                }
                stack.push(open(&e, &resolved)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(format!("more than {MAX_ELEMENTS} elements"));
                }
                let el = open(&e, &resolved)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("an end tag without a start")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => entity(AsRef::<str>::as_ref(&r)),
                };
                let c =
                    c.ok_or_else(|| format!("unknown entity &{};", AsRef::<str>::as_ref(&r)))?;
                if let Some(el) = stack.last_mut() {
                    el.text.push(c);
                }
            }
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

/// `s` escaped for element text (`<`, `>`, `&`: filters keep their quotes readable).
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    partial_escape(s)
}

/// `s` escaped for a double-quoted attribute value.
pub fn esc_attr(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_text_entities_and_limits() {
        let doc = parse(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:aa="http://www.axis.com/vapix/ws/action1"><s:Body><aa:Add><aa:Name>a &amp; b &#x41;</aa:Name><aa:P Name="x" Value="&lt;1&gt;"/></aa:Add></s:Body></s:Envelope>"#,
        )
        .expect("parse");
        assert_eq!(doc.name, "Envelope");
        assert_eq!(doc.ns, "http://www.w3.org/2003/05/soap-envelope");
        let add = &doc.child("Body").expect("body").children[0];
        assert_eq!(
            (add.ns.as_str(), add.name.as_str()),
            ("http://www.axis.com/vapix/ws/action1", "Add")
        );
        assert_eq!(add.text_of("Name"), Some("a & b A"));
        assert_eq!(add.child("P").and_then(|p| p.attr("Value")), Some("<1>"));
        for bad in [
            "<a><b></a>",
            "<a>",
            "",
            "<a/><b/>",
            "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "<a>&bogus;</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
    }
}
