//! Home Assistant's `axis` library (PyPI `axis`, installed by scripts/test) completes its
//! device set-up against netamp.

use std::process::Command;

use netamp_tests::daemon::{Daemon, ADMIN, MAC};
use netamp_tests::{ha_python, workspace_root};

#[test]
fn home_assistant_axis_library_sets_up_the_device() {
    let python = ha_python();
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
