//! Network namespaces of a test's own (iproute2): a private loopback and a veth pair with
//! both ends inside, so code that looks at interfaces or sends multicast (identity,
//! mDNS) runs as on a LAN without a packet leaving the machine. Needs root, as CI runs.

use std::process::Command;

use crate::run;

/// A namespace, deleted on drop.
pub struct NetNs {
    /// Its name.
    pub name: String,
}

impl NetNs {
    /// Creates `na-<tag>-<pid>` with loopback up.
    pub fn new(tag: &str) -> Self {
        let name = format!("na-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "this test makes a network namespace and needs root and iproute2: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n <ns> ARGS`.
    pub fn ip(&self, args: &[&str]) {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    /// Adds a veth pair `a`–`b` inside the namespace with these MACs, `a` addressed
    /// `addr` (CIDR), both up: traffic and multicast sent on one arrive on the other.
    pub fn veth(&self, (a, mac_a): (&str, &str), (b, mac_b): (&str, &str), addr: &str) {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        self.ip(&["link", "set", a, "address", mac_a]);
        self.ip(&["link", "set", b, "address", mac_b]);
        self.ip(&["addr", "add", addr, "dev", a]);
        self.ip(&["link", "set", a, "up"]);
        self.ip(&["link", "set", b, "up"]);
        // The carrier comes a moment after `up`: a daemon started before it would see
        // no usable interface yet.
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(5) {
            let out = Command::new("ip")
                .args(["-n", &self.name, "-o", "link", "show", a])
                .output()
                .expect("ip");
            if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{a} in {} did not come up", self.name);
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
