//! event1 `GetEventInstances`' topic tree, rendered from [`crate::event_catalog`]
//! (`aev:isProperty` for stateful topics, `isPropertyState` for the item that holds the
//! state).

use super::xml::esc_attr;
use crate::event_catalog::{Item, Topic, TOPICS};

/// A topic path's segments with a prefix each (an unprefixed one takes its parent's).
fn segments(path: &str) -> Vec<String> {
    let mut prefix = "tns1";
    path.split('/')
        .map(|seg| match seg.split_once(':') {
            Some((p, _)) => {
                prefix = p;
                seg.to_string()
            }
            None => format!("{prefix}:{seg}"),
        })
        .collect()
}

fn items(tag: &str, items: &[Item]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("<aev:{tag}>");
    for it in items {
        out.push_str(&format!(
            "<aev:SimpleItemInstance Type=\"{}\" Name=\"{}\"{}/>",
            it.ty,
            esc_attr(it.name),
            if it.state {
                " isPropertyState=\"true\""
            } else {
                ""
            }
        ));
    }
    out.push_str(&format!("</aev:{tag}>"));
    out
}

/// The `wstop:TopicSet` of every topic, as a tree.
pub fn topic_set() -> String {
    // (path segments, rendered leaf) sorted so siblings share their parents' tags.
    let mut leaves: Vec<(Vec<String>, &Topic)> =
        TOPICS.iter().map(|t| (segments(t.path), t)).collect();
    leaves.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("<wstop:TopicSet>");
    let mut open: Vec<String> = Vec::new();
    for (segs, t) in leaves {
        let common = open.iter().zip(&segs).take_while(|(a, b)| a == b).count();
        while open.len() > common {
            let tag = open.pop().unwrap_or_default();
            out.push_str(&format!("</{tag}>"));
        }
        for seg in &segs[common..segs.len() - 1] {
            out.push_str(&format!("<{seg}>"));
            open.push(seg.clone());
        }
        let leaf = &segs[segs.len() - 1];
        out.push_str(&format!(
            "<{leaf} wstop:topic=\"true\" aev:NiceName=\"{}\"><aev:MessageInstance{}>{}{}</aev:MessageInstance></{leaf}>",
            esc_attr(t.nice),
            if t.stateful { " aev:isProperty=\"true\"" } else { "" },
            items("SourceInstance", t.source),
            items("DataInstance", t.data),
        ));
    }
    while let Some(tag) = open.pop() {
        out.push_str(&format!("</{tag}>"));
    }
    out.push_str("</wstop:TopicSet>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_set_is_well_formed_and_declares_every_topic() {
        let xml = format!(
            "<r xmlns:wstop=\"w\" xmlns:aev=\"a\" xmlns:tns1=\"t\" xmlns:tnsaxis=\"x\" xmlns:netamp=\"n\">{}</r>",
            topic_set()
        );
        let doc = super::super::xml::parse(&xml).expect("well-formed");
        let set = &doc.children[0];
        let device = set.child("Device").expect("tns1:Device");
        let io = device.child("IO").expect("IO");
        let port = io.child("Port").expect("Port");
        assert_eq!(port.attr("topic"), Some("true"));
        let msg = port.child("MessageInstance").expect("message");
        assert_eq!(msg.attr("isProperty"), Some("true"));
        assert!(set.child("Call").and_then(|c| c.child("DTMF")).is_some());
        assert!(device
            .child("Trigger")
            .and_then(|t| t.child("Relay"))
            .is_some());
        let count = xml.matches("wstop:topic=\"true\"").count();
        assert_eq!(count, TOPICS.len());
    }
}
