//! VAPIX's SOAP services at `POST /vapix/services`: action1 (action configurations,
//! recipients, action rules, templates) and event1 (the declared event instances,
//! scheduled events, manual triggers) over the rules service's model. Requests are read
//! with a real XML parser ([`xml`]); replies keep the `SOAP-ENV:`, `aa:` and `aev:`
//! prefixes scripts grep for; bad input gets a SOAP 1.2 fault with a reason and changes
//! nothing.

pub mod action1;
pub mod catalog;
pub mod event1;
pub mod xml;

use xml::{esc, Element};

/// SOAP 1.2's envelope namespace.
pub const SOAP_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The action service namespace (`aa:`).
pub const ACTION1_NS: &str = "http://www.axis.com/vapix/ws/action1";
/// The event service namespace (`aev:`).
pub const EVENT1_NS: &str = "http://www.axis.com/vapix/ws/event1";

/// A SOAP fault: who is at fault, an ONVIF-style subcode and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `Sender` (the request) or `Receiver` (netamp).
    pub sender: bool,
    /// e.g. `ter:InvalidArgVal`.
    pub subcode: &'static str,
    /// Why.
    pub reason: String,
}

impl Fault {
    /// The request is wrong.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self {
            sender: true,
            subcode: "ter:InvalidArgVal",
            reason: reason.into(),
        }
    }

    /// The operation is not one netamp has.
    pub fn not_supported(reason: impl Into<String>) -> Self {
        Self {
            sender: true,
            subcode: "ter:ActionNotSupported",
            reason: reason.into(),
        }
    }

    /// The caller's role may not do this.
    pub fn not_authorized(reason: impl Into<String>) -> Self {
        Self {
            sender: true,
            subcode: "ter:NotAuthorized",
            reason: reason.into(),
        }
    }

    /// netamp could not do it (a state write failed).
    pub fn receiver(reason: impl Into<String>) -> Self {
        Self {
            sender: false,
            subcode: "ter:Action",
            reason: reason.into(),
        }
    }

    /// The HTTP status it goes with.
    pub fn status(&self) -> u16 {
        if self.sender {
            400
        } else {
            500
        }
    }

    /// The fault as a SOAP envelope.
    pub fn envelope(&self) -> String {
        envelope(&format!(
            "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:{}</SOAP-ENV:Value><SOAP-ENV:Subcode><SOAP-ENV:Value>{}</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">{}</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>",
            if self.sender { "Sender" } else { "Receiver" },
            self.subcode,
            esc(&self.reason)
        ))
    }
}

/// `body` in a SOAP 1.2 envelope with every prefix the replies use.
pub fn envelope(body: &str) -> String {
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\"",
            " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
            " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"",
            " xmlns:ter=\"http://www.onvif.org/ver10/error\"",
            " xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\"",
            " xmlns:wstop=\"http://docs.oasis-open.org/wsn/t-1\"",
            " xmlns:tns1=\"http://www.onvif.org/ver10/topics\"",
            " xmlns:tnsaxis=\"http://www.axis.com/2009/event/topics\"",
            " xmlns:netamp=\"urn:netamp:event\"",
            " xmlns:aa=\"http://www.axis.com/vapix/ws/action1\"",
            " xmlns:aev=\"http://www.axis.com/vapix/ws/event1\">",
            "<SOAP-ENV:Header/><SOAP-ENV:Body>{}</SOAP-ENV:Body></SOAP-ENV:Envelope>\n"
        ),
        body
    )
}

/// The operation a request asks for: the first element of its body.
pub fn operation(xml: &str) -> Result<Element, Fault> {
    let doc = xml::parse(xml).map_err(Fault::invalid)?;
    if doc.name != "Envelope" || doc.ns != SOAP_NS {
        return Err(Fault::invalid("not a SOAP 1.2 envelope"));
    }
    let body = doc
        .child("Body")
        .ok_or_else(|| Fault::invalid("the envelope has no Body"))?;
    body.children
        .first()
        .cloned()
        .ok_or_else(|| Fault::invalid("the Body is empty"))
}

/// Which role an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any account (reading the event declarations, a manual trigger).
    Viewer,
    /// Operators and administrators (rules, recipients, schedules).
    Operator,
}
