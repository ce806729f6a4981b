//! Every event topic netamp emits, with its source and data items, as event1
//! `GetEventInstances` declares them (`aev:isProperty` for stateful topics,
//! `isPropertyState` for the item that holds the state).

use super::xml::esc_attr;

/// One item of a message.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// Its name.
    pub name: &'static str,
    /// XML Schema type (`xsd:int`, `xsd:boolean`, `xsd:string`).
    pub ty: &'static str,
    /// The item holding a stateful topic's state.
    pub state: bool,
}

/// One topic.
#[derive(Debug, Clone, Copy)]
pub struct Topic {
    /// The topic as events carry it (`tns1:Device/tnsaxis:IO/Port`).
    pub path: &'static str,
    /// Shown to people.
    pub nice: &'static str,
    /// Has a current state.
    pub stateful: bool,
    /// Source items.
    pub source: &'static [Item],
    /// Data items.
    pub data: &'static [Item],
}

const fn i(name: &'static str, ty: &'static str) -> Item {
    Item {
        name,
        ty,
        state: false,
    }
}

const fn s(name: &'static str, ty: &'static str) -> Item {
    Item {
        name,
        ty,
        state: true,
    }
}

const INT: &str = "xsd:int";
const BOOL: &str = "xsd:boolean";
const STR: &str = "xsd:string";

/// What netamp emits.
pub const TOPICS: &[Topic] = &[
    Topic {
        path: "tns1:Device/tnsaxis:IO/Port",
        nice: "Digital input port",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", BOOL)],
    },
    Topic {
        path: "tns1:Device/tnsaxis:IO/OutputPort",
        nice: "Digital output port",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", STR)],
    },
    Topic {
        path: "tns1:Device/tnsaxis:IO/SupervisedPort",
        nice: "Supervised input port",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", STR)],
    },
    Topic {
        path: "tns1:Device/tnsaxis:IO/VirtualInput",
        nice: "Virtual input",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("active", BOOL)],
    },
    Topic {
        path: "tns1:Device/tnsaxis:IO/VirtualPort",
        nice: "Manual trigger",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", BOOL)],
    },
    Topic {
        path: "tns1:Device/Trigger/DigitalInput",
        nice: "Digital input",
        stateful: true,
        source: &[i("InputToken", STR)],
        data: &[s("LogicalState", BOOL)],
    },
    Topic {
        path: "tns1:Device/Trigger/Relay",
        nice: "Relay",
        stateful: true,
        source: &[i("RelayToken", STR)],
        data: &[s("LogicalState", STR)],
    },
    Topic {
        path: "tns1:AudioSource/tnsaxis:TriggerLevel",
        nice: "Audio detection",
        stateful: true,
        source: &[i("channel", INT)],
        data: &[s("triggered", BOOL)],
    },
    Topic {
        path: "tnsaxis:MediaClip/tnsaxis:Playing",
        nice: "Playing state",
        stateful: true,
        source: &[i("audiodeviceid", STR), i("audiooutputid", STR)],
        data: &[s("Playing", BOOL)],
    },
    Topic {
        path: "tnsaxis:MediaClip/tnsaxis:CurrentlyPlaying",
        nice: "Currently playing",
        stateful: false,
        source: &[i("audiodeviceid", STR), i("audiooutputid", STR)],
        data: &[i("FileName", STR)],
    },
    Topic {
        path: "tnsaxis:Call/State",
        nice: "Call state",
        stateful: true,
        source: &[i("Source", STR)],
        data: &[s("CallState", STR)],
    },
    Topic {
        path: "tnsaxis:Call/StateChange",
        nice: "Call state change",
        stateful: false,
        source: &[i("Source", STR)],
        data: &[
            i("CallId", STR),
            i("CallState", STR),
            i("Reason", STR),
            i("RemoteURI", STR),
        ],
    },
    Topic {
        path: "tnsaxis:Call/DTMF",
        nice: "DTMF",
        stateful: false,
        source: &[i("DTMFEventId", STR)],
        data: &[
            i("CallId", STR),
            i("Digit", STR),
            i("Method", STR),
            i("Sequence", STR),
            i("Description", STR),
        ],
    },
    Topic {
        path: "tns1:Device/tnsaxis:SystemMessage/tnsaxis:ActionFailed",
        nice: "Action failed",
        stateful: false,
        source: &[i("RuleID", INT)],
        data: &[i("ActionID", INT), i("Reason", STR)],
    },
    Topic {
        path: "tns1:UserAlarm/tnsaxis:Recurring/Interval",
        nice: "Scheduled event",
        stateful: true,
        source: &[i("id", INT)],
        data: &[s("active", BOOL)],
    },
    Topic {
        path: "tns1:UserAlarm/tnsaxis:Recurring/Pulse",
        nice: "Pulse",
        stateful: false,
        source: &[i("id", INT)],
        data: &[],
    },
    Topic {
        path: "netamp:Rule/netamp:State",
        nice: "Rule state",
        stateful: true,
        source: &[i("RuleID", INT)],
        data: &[s("Active", BOOL), i("Fired", INT)],
    },
];

/// The boolean state item of the declared topic `topic` (compared without prefixes):
/// a stateful condition on it whose content filter does not name that item holds while
/// the state is true, as on Axis devices ("input 1" means "input 1 is active").
pub fn boolean_state_item(topic: &str) -> Option<&'static str> {
    let path = crate::event_filter::TopicPath::new(topic);
    TOPICS
        .iter()
        .filter(|t| t.stateful && crate::event_filter::TopicPath::new(t.path) == path)
        .flat_map(|t| t.data.iter())
        .find(|i| i.state && i.ty == BOOL)
        .map(|i| i.name)
}

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
