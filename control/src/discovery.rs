//! Announcing the device on the LAN with mDNS/DNS-SD (mdns-sd): `_http._tcp` for
//! browsers and `_axis-video._tcp` as Axis devices announce themselves, with the MAC in
//! the `macaddress` TXT key (video management systems and Home Assistant's zeroconf
//! matcher read it).
//!
//! The responder runs on its own thread (mdns-sd's), follows interfaces as they come and
//! go, and sends goodbye packets when the daemon stops.

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

use crate::identity::Identity;

/// The service types announced for the HTTP port (`_https._tcp` goes with HTTPS's).
pub const SERVICE_TYPES: [&str; 2] = ["_http._tcp.local.", "_axis-video._tcp.local."];

/// A running responder; dropping it withdraws the announcements.
pub struct Announcer {
    daemon: ServiceDaemon,
    names: Vec<String>,
}

impl Announcer {
    /// Announces the HTTP port (and the HTTPS port, when HTTPS runs) of the device `id`.
    pub fn start(
        id: &Identity,
        http_port: u16,
        https_port: Option<u16>,
    ) -> Result<Self, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        // mdns-sd answers on loopback too by default; a LAN announcement carrying
        // 127.0.0.1 would send browsers on this host to an address others cannot use.
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
        let instance = instance_name(id);
        // A host name of our own: the machine's may be announced by avahi already, and two
        // responders answering for one name would conflict.
        let host = format!(
            "{}-{}.local.",
            host_label(&id.name),
            id.mac.to_ascii_lowercase()
        );
        let mut names = Vec::new();
        let https = https_port.map(|p| ("_https._tcp.local.", p));
        for (ty, port) in SERVICE_TYPES
            .map(|t| (t, http_port))
            .into_iter()
            .chain(https)
        {
            let properties = [("macaddress", id.mac.as_str()), ("path", "/")];
            let info = ServiceInfo::new(ty, &instance, &host, (), port, &properties[..])?
                .enable_addr_auto();
            names.push(info.get_fullname().to_string());
            daemon.register(info)?;
        }
        Ok(Self { daemon, names })
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        for name in &self.names {
            // Goodbye packets, so browsers drop the entry at once instead of at TTL expiry.
            let _ = self
                .daemon
                .unregister(name)
                .map(|r| r.recv_timeout(std::time::Duration::from_millis(500)).ok());
        }
        let _ = self.daemon.shutdown();
    }
}

/// `<name> - <MAC>`, as Axis devices name their instances.
pub fn instance_name(id: &Identity) -> String {
    format!("{} - {}", id.name, id.mac)
}

/// A DNS label made of the friendly name: letters, digits and hyphens.
fn host_label(name: &str) -> String {
    let label: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "netamp".into()
    } else {
        label.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_dns_labels() {
        assert_eq!(host_label("Hall speaker #2"), "hall-speaker--2");
        assert_eq!(host_label("!!!"), "netamp");
        let id = Identity::new("ACCC8E000001".into(), Some("Hall"), "combined");
        assert_eq!(instance_name(&id), "Hall - ACCC8E000001");
    }
}
