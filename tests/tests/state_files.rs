//! The state files of the data directory against concurrent writers, `kill -9` at any
//! moment and damaged files at start: every acknowledged change is on disk, every file
//! stays readable, and a damaged one never keeps the daemon from starting.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netamp_tests::audio::{make_clip, Format};
use netamp_tests::daemon::{Daemon, DaemonOptions};
use netamp_tests::flows::{admin, status, upload_ok, vapix_call};
use netamp_tests::http::curl;
use serde_json::{json, Value};

fn set_port_name(d: &Daemon, name: &str) -> Value {
    let body = json!({"apiVersion":"1.0","method":"setPorts",
        "params":{"ports":[{"port":"0","name":name}]}});
    let r = curl(
        admin(),
        &[
            "-d",
            &body.to_string(),
            &d.url("/axis-cgi/io/portmanagement.cgi"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn port_name(d: &Daemon) -> String {
    let body = json!({"apiVersion":"1.0","method":"getPorts"}).to_string();
    let r = curl(
        admin(),
        &["-d", &body, &d.url("/axis-cgi/io/portmanagement.cgi")],
    );
    r.json()["data"]["items"][0]["name"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} does not parse ({e}): {bytes:?}", path.display()))
}

/// Files of the data directory other than the state files and their generations.
fn strays(data: &Path) -> Vec<String> {
    std::fs::read_dir(data)
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.contains(".bad-"))
        .collect()
}

#[test]
fn twenty_concurrent_set_ports_all_succeed_and_the_last_acknowledged_is_stored() {
    let d = Daemon::start();
    let acked = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for i in 0..20 {
            let (d, acked) = (&d, &acked);
            s.spawn(move || {
                let name = format!("name-{i}");
                let r = set_port_name(d, &name);
                assert!(r.get("error").is_none(), "setPorts {name}: {r}");
                acked.lock().unwrap().push(name);
            });
        }
    });
    assert_eq!(acked.lock().unwrap().len(), 20);
    let live = port_name(&d);
    let stored = read_json(&d.data().join("io.json"))[0]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    eprintln!("live {live}, stored {stored}");
    assert!(live.starts_with("name-"), "{live}");
    assert_eq!(
        stored, live,
        "io.json holds another change than the one in force"
    );
    assert!(strays(d.data()).is_empty(), "{:?}", strays(d.data()));
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&d.data().join("io.json")), 0o600);
    assert_eq!(mode(&d.data().join("users.json")), 0o600);
    assert_eq!(mode(d.data()), 0o700);
}

#[test]
fn damaged_state_files_at_start_fall_back_to_the_previous_generation_or_defaults() {
    let mut d = Daemon::start();
    set_port_name(&d, "first");
    set_port_name(&d, "second");
    let r = curl(
        admin(),
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=joe&pwd=joepw&grp=users&sgrp=viewer")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let data = d.data().to_path_buf();
    d.kill_hard();

    // A zero-byte io.json (its previous generation is good) and a garbage users.json.
    std::fs::write(data.join("io.json"), b"").expect("write");
    std::fs::write(data.join("users.json"), b"\x00garbage{").expect("write");
    let mut d = Daemon::with(DaemonOptions {
        data_dir: Some(data.clone()),
        ..Default::default()
    });
    assert_eq!(port_name(&d), "first", "the previous generation of io.json");
    // users.json's previous generation (root alone) came back: joe's add was the last
    // change and is the one lost; root still logs in.
    let r = curl(admin(), &[&d.url("/axis-cgi/pwdgrp.cgi?action=get")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let recovered = status(&d)["state_recovered"].clone();
    eprintln!("state_recovered: {recovered}");
    let files: Vec<String> = recovered
        .as_array()
        .expect("list")
        .iter()
        .map(|r| format!("{}:{}", r["file"].as_str().unwrap_or(""), r["used"]))
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("io.json:\"previous\"")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("users.json:\"previous\"")),
        "{files:?}"
    );
    let kept: Vec<String> = strays(&data);
    assert_eq!(kept.len(), 2, "the damaged files are kept aside: {kept:?}");
    d.kill_hard();

    // Garbage in both generations: that file's defaults, the rest as it was.
    std::fs::write(data.join("io.json"), b"[{\"name\": 5}]").expect("write");
    std::fs::write(data.join("io.json.prev"), b"").expect("write");
    let d = Daemon::with(DaemonOptions {
        data_dir: Some(data.clone()),
        ..Default::default()
    });
    let body = json!({"apiVersion":"1.0","method":"getPorts"}).to_string();
    let r = curl(
        admin(),
        &["-d", &body, &d.url("/axis-cgi/io/portmanagement.cgi")],
    );
    assert_eq!(r.status, 200);
    assert_ne!(port_name(&d), "first");
    let recovered = status(&d)["state_recovered"].to_string();
    assert!(recovered.contains("\"defaults\""), "{recovered}");
}

/// A tiny deterministic generator (the test needs no randomness crate).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// What one writer last had acknowledged, and the changes it sent since without an
/// answer (the one in flight when the daemon died, and any it tried on the dead daemon):
/// any of them may have been stored.
#[derive(Default, Clone)]
struct Writes {
    acked: Option<String>,
    unanswered: Vec<String>,
}

/// One writer: `write(k)` makes change `k` and says whether it was acknowledged;
/// `value(k)` is what it stores.
fn writer(
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Writes>>,
    write: impl Fn(u32) -> bool + Send + 'static,
    value: impl Fn(u32) -> String + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut k = 0;
        while !stop.load(Ordering::Relaxed) {
            log.lock().unwrap().unanswered.push(value(k));
            if write(k) {
                let mut l = log.lock().unwrap();
                l.acked = Some(value(k));
                l.unanswered.clear();
            }
            k += 1;
        }
    })
}

fn in_set(got: &str, w: &Writes, what: &str) {
    let ok = w.acked.as_deref() == Some(got) || w.unanswered.iter().any(|u| u == got);
    assert!(
        ok || w.acked.is_none(),
        "{what}: {got:?} after the restart; acknowledged {:?}, unanswered {:?}",
        w.acked,
        w.unanswered
    );
}

/// `n` certificate and key pairs (PEM text), each for its own name.
fn certificates(dir: &Path, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let (crt, key) = (dir.join(format!("c{i}.pem")), dir.join(format!("k{i}.pem")));
            netamp_tests::run(
                std::process::Command::new("openssl")
                    .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                    .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
                    .args(["-subj", &format!("/CN=crash-{i}")])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&crt)
                    .stderr(std::process::Stdio::null()),
            );
            let read = |p: &Path| std::fs::read_to_string(p).expect("pem");
            (read(&crt), read(&key))
        })
        .collect()
}

#[test]
fn fifty_kill_9_rounds_during_mixed_writes_always_restart_with_every_file_valid() {
    netamp_tests::require_tool("openssl");
    // The data directory outlives each daemon (and its scratch directory).
    let keep = tempfile::tempdir().expect("tempdir");
    let data = keep.path().join("data");
    let certs = Arc::new(certificates(keep.path(), 8));
    let options = || DaemonOptions {
        data_dir: Some(data.clone()),
        https: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let mut d = Daemon::with(options());
    let clip = make_clip(d.dir.path(), Format::WavPcm16, 8000, 1, 0.2);
    let id = upload_ok(&d, &clip);
    let mut rng = Lcg(12);
    let rounds = 50;
    // Rounds in which each writer had a change acknowledged before the kill.
    let mut acked_rounds = [0; 5];
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let logs: Vec<Arc<Mutex<Writes>>> = (0..5).map(|_| Arc::default()).collect();
        let (url, addr) = (d.url(""), d.addr.clone());
        let post = move |path: &str, body: String| {
            let r = curl(admin(), &["-d", &body, &format!("http://{addr}{path}")]);
            r.status == 200 && !r.text().contains("error")
        };
        let threads = [
            {
                let post = post.clone();
                writer(
                    stop.clone(),
                    logs[0].clone(),
                    move |k| {
                        post(
                            "/axis-cgi/io/portmanagement.cgi",
                            json!({"apiVersion":"1.0","method":"setPorts",
                                "params":{"ports":[{"port":"0","name":format!("p{round}-{k}")}]}})
                            .to_string(),
                        )
                    },
                    move |k| format!("p{round}-{k}"),
                )
            },
            {
                let url = url.clone();
                writer(
                    stop.clone(),
                    logs[1].clone(),
                    move |k| {
                        // One extra account at a time: add this round's, remove the last.
                        let user = format!("u{round}x{k}");
                        let add = format!("{url}/axis-cgi/pwdgrp.cgi?action=add&user={user}&pwd=pw{k}&grp=users&sgrp=viewer");
                        let r = curl(admin(), &[&add]);
                        r.status == 200 && r.text().contains("Created")
                    },
                    move |k| format!("u{round}x{k}"),
                )
            },
            {
                let url = url.clone();
                writer(
                    stop.clone(),
                    logs[2].clone(),
                    move |k| {
                        let u = format!(
                            "{url}/axis-cgi/param.cgi?action=update&root.MediaClip.M{id}.Name=c{round}-{k}"
                        );
                        let r = curl(admin(), &[&u]);
                        r.status == 200 && r.text().trim() == "OK"
                    },
                    move |k| format!("c{round}-{k}"),
                )
            },
            {
                let post = post.clone();
                writer(
                    stop.clone(),
                    logs[3].clone(),
                    move |k| {
                        post(
                            "/vapix/call",
                            json!({"axcall:SetSIPAccount": {"Id": "sip_account_1",
                                "Username": format!("s{round}-{k}"), "Password": "pw",
                                "Registrar": "127.0.0.1:9"}})
                            .to_string(),
                        )
                    },
                    move |k| format!("s{round}-{k}"),
                )
            },
            {
                let (url, certs, certs2) = (url.clone(), certs.clone(), certs.clone());
                writer(
                    stop.clone(),
                    logs[4].clone(),
                    move |k| {
                        let (crt, key) = &certs[(round * 3 + k as usize) % certs.len()];
                        let body = json!({"certificate": crt, "key": key}).to_string();
                        let r = curl(
                            admin(),
                            &[
                                "-X",
                                "PUT",
                                "-d",
                                &body,
                                &format!("{url}/api/v1/https/certificate"),
                            ],
                        );
                        r.status == 200
                    },
                    move |k| certs2[(round * 3 + k as usize) % certs2.len()].0.clone(),
                )
            },
        ];
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        d.kill_hard();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        let w: Vec<Writes> = logs.iter().map(|l| l.lock().unwrap().clone()).collect();
        for (n, w) in acked_rounds.iter_mut().zip(&w) {
            *n += usize::from(w.acked.is_some());
        }
        for f in ["io.json", "users.json", "clips.json", "sip_accounts.json"] {
            if data.join(f).exists() {
                read_json(&data.join(f));
            }
        }
        d = Daemon::with(options());
        let recovered = status(&d)["state_recovered"].clone();
        assert_eq!(recovered, json!([]), "round {round}: {recovered}");
        assert!(
            strays(&data).is_empty(),
            "round {round}: {:?}",
            strays(&data)
        );
        in_set(&port_name(&d), &w[0], "port name");
        let users: Vec<String> = curl(admin(), &[&d.url("/axis-cgi/pwdgrp.cgi?action=get")])
            .text()
            .lines()
            .find_map(|l| l.trim().strip_prefix("digusers=\""))
            .map(|l| {
                l.trim_end_matches('"')
                    .split(',')
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            users.iter().any(|u| u == "root"),
            "round {round}: {users:?}"
        );
        if let Some(u) = &w[1].acked {
            assert!(users.contains(u), "round {round}: {u} lost: {users:?}");
        }
        let clips = curl(
            admin(),
            &[&d.url("/axis-cgi/param.cgi?action=list&group=MediaClip")],
        )
        .text();
        let clip_name = clips
            .lines()
            .find_map(|l| l.strip_prefix(&format!("root.MediaClip.M{id}.Name=")))
            .unwrap_or("")
            .to_string();
        in_set(&clip_name, &w[2], "clip name");
        let sip = vapix_call(&d, "GetSIPAccounts", json!({})).json();
        let sip_user = sip["SIPAccounts"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["Id"] == "sip_account_1"))
            .and_then(|a| a["Username"].as_str())
            .unwrap_or("")
            .to_string();
        in_set(&sip_user, &w[3], "SIP account");
        // The certificate in use is the last acknowledged (or one sent since), and the
        // HTTPS listener presents it.
        let pem = curl(admin(), &[&d.url("/api/v1/https/certificate")]).text();
        in_set(&pem, &w[4], "HTTPS certificate");
        let tls = curl(
            admin(),
            &[
                "-k",
                &format!("https://{}/api/v1/https/certificate", d.https),
            ],
        );
        assert_eq!(tls.status, 200, "round {round}: HTTPS after the restart");
        // Keep users.json small: the round's accounts go again.
        for name in users.iter().filter(|u| u.starts_with('u')) {
            let _ = curl(
                admin(),
                &[&d.url(&format!("/axis-cgi/pwdgrp.cgi?action=remove&user={name}"))],
            );
        }
    }
    eprintln!(
        "rounds with an acknowledged write (ports, users, clips, SIP, certificates): {acked_rounds:?}"
    );
    assert!(
        acked_rounds.iter().all(|n| *n >= rounds / 2),
        "the kills came before the writes: {acked_rounds:?}"
    );
}

#[test]
fn two_hundred_fifty_six_rules_survive_restarts_and_kill_9_during_their_writes() {
    use netamp_tests::rules::{add, call, port_state, toggle, PORT};
    let keep = tempfile::tempdir().expect("tempdir");
    let data = keep.path().join("data");
    let mut d = Daemon::with(DaemonOptions {
        data_dir: Some(data.clone()),
        ..Default::default()
    });
    let action = toggle(&d, 4, Some("0.2"));
    let rule = move |name: &str| {
        json!({"name": name, "enabled": true, "action": action,
               "trigger": {"topic": PORT, "content": port_state(7, "1")}})
    };
    // 253 of ours besides the three pre-configured rules: 256.
    let first = add(&d, "/api/v1/rules", rule("r0"));
    for i in 1..253 {
        add(&d, "/api/v1/rules", rule(&format!("r{i}")));
    }
    let count = |d: &Daemon| {
        let (_, v) = call(d, "GET", "/api/v1/rules", None);
        v["rules"].as_object().map_or(0, |o| o.len())
    };
    let name_of = |d: &Daemon| {
        let (_, v) = call(d, "GET", "/api/v1/rules", None);
        v["rules"][first.to_string()]["name"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(count(&d), 256);
    let mut rng = Lcg(7);
    let (mut acked_rounds, rounds) = (0, 10);
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Writes>> = Arc::default();
        let url = d.url(&format!("/api/v1/rules/{first}"));
        let t = writer(
            stop.clone(),
            log.clone(),
            move |k| {
                let body = rule(&format!("n{round}-{k}")).to_string();
                let r = curl(
                    admin(),
                    &[
                        "-X",
                        "PUT",
                        "-H",
                        "Content-Type: application/json",
                        "--data",
                        &body,
                        &url,
                    ],
                );
                r.status == 200
            },
            move |k| format!("n{round}-{k}"),
        );
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        d.kill_hard();
        stop.store(true, Ordering::Relaxed);
        let _ = t.join();
        let w = log.lock().unwrap().clone();
        acked_rounds += usize::from(w.acked.is_some());
        read_json(&data.join("rules.json"));
        d = Daemon::with(DaemonOptions {
            data_dir: Some(data.clone()),
            ..Default::default()
        });
        assert_eq!(status(&d)["state_recovered"], json!([]), "round {round}");
        assert!(
            strays(&data).is_empty(),
            "round {round}: {:?}",
            strays(&data)
        );
        assert_eq!(count(&d), 256, "round {round}: the whole set");
        in_set(&name_of(&d), &w, "rule name");
    }
    assert!(
        acked_rounds >= rounds / 2,
        "the kills came before the writes: {acked_rounds}"
    );
}
