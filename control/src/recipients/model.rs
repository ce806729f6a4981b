//! A stored recipient: a VAPIX recipient template (`com.axis.recipient.http` …) and its
//! parameters. Secrets (`password`, `proxy_password`) are kept in the state file (mode
//! 0600) and shown to no one: every read replaces them with [`MASK`], and a write that
//! sends the mask back keeps the stored secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An HTTP server (`upload_url`, `login`, `password`, `proxy_*`).
pub const RECIPIENT_HTTP: &str = "com.axis.recipient.http";
/// An HTTPS server (as HTTP, plus `validate_server_cert`).
pub const RECIPIENT_HTTPS: &str = "com.axis.recipient.https";
/// A TCP listener (`host`, `port`).
pub const RECIPIENT_TCP: &str = "com.axis.recipient.tcp";
/// An e-mail address through an SMTP server (`email_to`, `email_from`, `host`, `port`,
/// `encryption`, `validate_server_cert`, `login`, `password`).
pub const RECIPIENT_SMTP: &str = "com.axis.recipient.smtp";

/// A SIP address called by `com.axis.action.fixed.sip` (`sip_address`, `account`).
pub const RECIPIENT_SIP: &str = "com.axis.recipient.sip";

/// The recipient templates netamp delivers to.
pub const RECIPIENT_TEMPLATES: &[&str] = &[
    RECIPIENT_HTTP,
    RECIPIENT_HTTPS,
    RECIPIENT_TCP,
    RECIPIENT_SMTP,
    RECIPIENT_SIP,
];

/// The most recipients kept, as on Axis devices.
pub const MAX_RECIPIENTS: usize = 20;

/// What a secret reads as.
pub const MASK: &str = "*****";

/// Parameters never returned.
const SECRETS: &[&str] = &["password", "proxy_password"];

/// Masks the secrets among `parameters` (an action may carry a recipient's parameters
/// itself, as VAPIX scripts send them).
pub fn mask(parameters: &mut BTreeMap<String, String>) {
    for k in SECRETS {
        if let Some(v) = parameters.get_mut(*k) {
            if !v.is_empty() {
                *v = MASK.to_string();
            }
        }
    }
}

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP or HTTPS request.
    Http,
    /// A message on a TCP connection.
    Tcp,
    /// An e-mail.
    Smtp,
    /// A SIP call.
    Sip,
}

impl Kind {
    /// The kind of a recipient template.
    pub fn of_recipient(template: &str) -> Option<Self> {
        match template {
            RECIPIENT_HTTP | RECIPIENT_HTTPS => Some(Self::Http),
            RECIPIENT_TCP => Some(Self::Tcp),
            RECIPIENT_SMTP => Some(Self::Smtp),
            RECIPIENT_SIP => Some(Self::Sip),
            _ => None,
        }
    }
}

/// One recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientConfig {
    /// Shown to the operator.
    pub name: String,
    /// The recipient template token.
    pub template: String,
    /// Its parameters by name.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

impl RecipientConfig {
    /// How notifications to it travel; the error names the templates netamp knows.
    pub fn kind(&self) -> Result<Kind, String> {
        Kind::of_recipient(&self.template).ok_or_else(|| {
            format!(
                "recipient template {:?} is not one netamp delivers to (it knows {})",
                self.template,
                RECIPIENT_TEMPLATES.join(", ")
            )
        })
    }

    /// The recipient as every surface shows it: secrets masked.
    pub fn masked(&self) -> Self {
        let mut out = self.clone();
        mask(&mut out.parameters);
        out
    }

    /// A secret written back as the mask keeps the value `old` had.
    pub fn keep_secrets_from(&mut self, old: &Self) {
        for k in SECRETS {
            if self.parameters.get(*k).map(String::as_str) == Some(MASK) {
                match old.parameters.get(*k) {
                    Some(v) => self.parameters.insert(k.to_string(), v.clone()),
                    None => self.parameters.remove(*k),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_a_masked_write_keeps_them() {
        let stored = RecipientConfig {
            name: "vms".into(),
            template: RECIPIENT_HTTPS.into(),
            parameters: [
                ("upload_url", "https://vms/notify"),
                ("login", "cam"),
                ("password", "s3cret"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let shown = stored.masked();
        assert_eq!(shown.parameters["password"], MASK);
        assert_eq!(shown.parameters["login"], "cam");
        let mut edited = shown.clone();
        edited.name = "VMS".into();
        edited.keep_secrets_from(&stored);
        assert_eq!(edited.parameters["password"], "s3cret");
        assert_eq!(stored.kind(), Ok(Kind::Http));
        let mut bad = stored;
        bad.template = "com.axis.recipient.ftp".into();
        assert!(bad.kind().is_err());
    }
}
