//! Events and rules: conditions on the event bus that start and stop actions.
//!
//! [`model`] is what a rule is (shown by every surface); [`engine`] is the state machine
//! that decides, event by event, which rule starts and stops; [`store`] keeps the rule
//! set and its action configurations in one state file.

pub mod action;
pub mod engine;
pub mod model;
pub mod preset;
pub mod schedule;
pub mod service;
pub mod store;

pub use engine::{Output, RuleEngine, RuleStatus};
pub use model::{Condition, Rule, MAX_RULES};
pub use store::{ActionConfig, RuleError, RuleSet, RuleStore, Stored};
