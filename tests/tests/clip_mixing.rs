//! Sixteen clips at once. In a test binary of its own so no other test competes for the
//! two cores while it counts underruns.

use std::time::Duration;

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, status, upload_ok, wait_played};
use netamp_tests::http::curl;

#[test]
fn sixteen_clips_mix_with_zero_underruns() {
    let d = Daemon::with(DaemonOptions {
        config: "[clips]\nmix = true\n".into(),
        ..Default::default()
    });
    let file = make_clip(d.dir.path(), Format::Mp3, 44100, 2, 2.0);
    let id = upload_ok(&d, &file);
    let url = d.url(&format!(
        "/axis-cgi/mediaclip.cgi?action=play&clip={id}&volume=10"
    ));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || curl(admin(), &[&url]).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("curl thread"), 200);
    }
    let mut peak_sources = 0;
    for _ in 0..20 {
        let s = status(&d);
        peak_sources = peak_sources.max(s["audio"]["active_sources"].as_u64().unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_played(&d, 0, 16, Duration::from_secs(30));
    let s = status(&d);
    eprintln!(
        "16 clips: peak active sources {peak_sources}, underruns {}",
        s["audio"]["underruns"]
    );
    assert_eq!(s["audio"]["underruns"].as_u64(), Some(0), "underruns: {s}");
    assert!(
        peak_sources >= 16,
        "only {peak_sources} sources were active at once"
    );
    assert_eq!(s["clips"]["plays"].as_u64(), Some(16));
}
