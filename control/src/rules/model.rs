//! What a rule is, as it is stored and as every surface shows it (VAPIX action1 over SOAP,
//! `/api/v1/rules`): conditions on events, one of them possibly the trigger, one action
//! configuration, and a wait between firings.

use serde::{Deserialize, Serialize};

/// The most rules netamp keeps; the 257th is refused, as on Axis devices.
pub const MAX_RULES: usize = 256;

/// One condition: an event topic and a content filter, possibly inverted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Topic filter (ConcreteSet), e.g. `tns1:Device/tnsaxis:IO/Port`.
    pub topic: String,
    /// Content filter (ItemFilter), e.g.
    /// `boolean(//SimpleItem[@Name="port" and @Value="7"])`; a source item of `-1`
    /// matches any port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The condition holds when its filter does not.
    #[serde(default)]
    pub invert: bool,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Shown to the operator.
    pub name: String,
    /// A disabled rule never fires.
    pub enabled: bool,
    /// The condition used as trigger: the rule becomes active when it starts to hold
    /// (a stateful topic) or when a matching event comes (a stateless one). Without one
    /// the rule is active while all its conditions hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Condition>,
    /// Conditions that must all hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Seconds after a firing during which the rule does not fire again.
    #[serde(default)]
    pub wait_s: u32,
    /// The action configuration it runs.
    pub action: u32,
    /// Which pre-configured rule this is (`pre-announcement-tone`, …), if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}
