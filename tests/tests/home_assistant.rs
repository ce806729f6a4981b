//! Home Assistant's `axis` library (PyPI `axis`, installed by scripts/test) completes its
//! device set-up against netamp.

use std::process::Command;

use netamp_tests::daemon::{Daemon, ADMIN, MAC};
use netamp_tests::workspace_root;

#[test]
fn home_assistant_axis_library_sets_up_the_device() {
    let python = std::env::var("NETAMP_HA_PYTHON").unwrap_or_else(|_| {
        workspace_root()
            .join("target/ha-venv/bin/python")
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "Home Assistant's axis library is not installed at {python}; run scripts/test, which installs it"
    );
    let d = Daemon::start();
    let (host, port) = d.addr.rsplit_once(':').expect("addr");
    let out = Command::new(&python)
        .arg(workspace_root().join("tests/ha/ha_setup.py"))
        .args([host, port, ADMIN.0, ADMIN.1, MAC])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "axis library set-up failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json line");
    assert_eq!(v["serial"], MAC);
    assert_eq!(v["firmware"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["access_rights"]
            .as_str()
            .is_some_and(|r| r.contains("admin")),
        "{v}"
    );
}
