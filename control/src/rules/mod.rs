//! Events and rules: conditions on the event bus that start and stop actions.
//!
//! [`model`] is what a rule is (stored, and shown by every surface); [`engine`] is the
//! state machine that decides, event by event, which rule starts and stops.

pub mod engine;
pub mod model;

pub use engine::{Output, RuleEngine, RuleStatus};
pub use model::{Condition, Rule, MAX_RULES};
