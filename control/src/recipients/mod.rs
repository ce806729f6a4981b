//! Recipients: where a rule's notification goes (HTTP, HTTPS, TCP, e-mail), what the
//! message says, and the clients that deliver it.
//!
//! [`model`] is a stored recipient (a VAPIX recipient template and its parameters, the
//! secrets masked on every read); [`message`] expands the `%Y`/`#n`-style modifiers;
//! [`notify`] turns a recipient's parameters merged with an action's into a
//! [`Notification`] and sends it with well-kept clients (reqwest over rustls, lettre for
//! SMTP), never a hand-made protocol client.

pub mod message;
pub mod model;
pub mod notify;

pub use model::{Kind, RecipientConfig, MASK, MAX_RECIPIENTS, RECIPIENT_TEMPLATES};
pub use notify::{Notification, Notifier, NotifyError};
