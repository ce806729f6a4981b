//! Every event topic netamp emits, with its source and data items: what event1
//! `GetEventInstances` declares (`soap::catalog` renders it), and which item holds a
//! stateful topic's state (the rule engine reads that: a condition that does not name
//! the state item means "the state is true").

use crate::{events, io_service, rules, sip_service, sound_level};

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
        path: io_service::TOPIC_PORT,
        nice: "Digital input port",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", BOOL)],
    },
    Topic {
        path: io_service::TOPIC_OUTPUT_PORT,
        nice: "Digital output port",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", STR)],
    },
    Topic {
        path: io_service::TOPIC_SUPERVISED,
        nice: "Supervised input port",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", STR)],
    },
    Topic {
        path: io_service::TOPIC_VIRTUAL_INPUT,
        nice: "Virtual input",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("active", BOOL)],
    },
    Topic {
        path: io_service::TOPIC_VIRTUAL_PORT,
        nice: "Manual trigger",
        stateful: true,
        source: &[i("port", INT)],
        data: &[s("state", BOOL)],
    },
    Topic {
        path: io_service::TOPIC_DIGITAL_INPUT,
        nice: "Digital input",
        stateful: true,
        source: &[i("InputToken", STR)],
        data: &[s("LogicalState", BOOL)],
    },
    Topic {
        path: io_service::TOPIC_RELAY,
        nice: "Relay",
        stateful: true,
        source: &[i("RelayToken", STR)],
        data: &[s("LogicalState", STR)],
    },
    Topic {
        path: sound_level::TOPIC,
        nice: "Audio detection",
        stateful: true,
        source: &[i("channel", INT)],
        data: &[s("triggered", BOOL)],
    },
    Topic {
        path: events::TOPIC_CLIP_PLAYING,
        nice: "Playing state",
        stateful: true,
        source: &[i("audiodeviceid", STR), i("audiooutputid", STR)],
        data: &[s("Playing", BOOL)],
    },
    Topic {
        path: events::TOPIC_CLIP_CURRENTLY_PLAYING,
        nice: "Currently playing",
        stateful: false,
        source: &[i("audiodeviceid", STR), i("audiooutputid", STR)],
        data: &[i("FileName", STR)],
    },
    Topic {
        path: sip_service::TOPIC_STATE,
        nice: "Call state",
        stateful: true,
        source: &[i("Source", STR)],
        data: &[s("CallState", STR)],
    },
    Topic {
        path: sip_service::TOPIC_STATE_CHANGE,
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
        path: sip_service::TOPIC_DTMF,
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
        path: rules::service::TOPIC_ACTION_FAILED,
        nice: "Action failed",
        stateful: false,
        source: &[i("RuleID", INT)],
        data: &[i("ActionID", INT), i("Reason", STR)],
    },
    Topic {
        path: rules::schedule::TOPIC_INTERVAL,
        nice: "Scheduled event",
        stateful: true,
        source: &[i("id", INT)],
        data: &[s("active", BOOL)],
    },
    Topic {
        path: rules::schedule::TOPIC_PULSE,
        nice: "Pulse",
        stateful: false,
        source: &[i("id", INT)],
        data: &[],
    },
    Topic {
        path: rules::service::TOPIC_RULE_STATE,
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
