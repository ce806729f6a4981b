//! Rules end to end: rules added over `/api/v1/rules` on the real daemon, inputs flipped
//! on the simulated board, and what the outputs did read back from the backend's
//! recorded edges.

use std::time::Duration;

use netamp_tests::daemon::Daemon;
use netamp_tests::rules::{
    add, call, edges, port_state, recent, set_input, toggle, wait_edges, PORT,
};
use serde_json::json;

#[test]
fn a_trigger_fires_once_inside_its_wait_and_an_inverted_while_rule_follows_its_input() {
    let d = Daemon::start();
    // Input 1 (port 7) closes → a 200 ms pulse on I/O 2 (port 4), 10 s between firings.
    let pulse = toggle(&d, 4, Some("0.2"));
    let first = add(
        &d,
        "/api/v1/rules",
        json!({"name": "input 1 closes", "enabled": true,
               "trigger": {"topic": PORT, "content": port_state(7, "1")},
               "wait_s": 10, "action": pulse}),
    );
    let before = edges(&d, 4).len();
    for _ in 0..5 {
        set_input(&d, 7, true);
        std::thread::sleep(Duration::from_millis(100));
        set_input(&d, 7, false);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(400));
    let e = wait_edges(&d, 4, before, 2);
    assert_eq!(
        e,
        ["closed", "open"],
        "five closings inside the wait: one pulse"
    );

    // While input 2 (port 8) is NOT closed, Output 1 (port 5) is active: an inverted
    // condition, an unlimited action. It holds at once when the rule is added.
    let hold = toggle(&d, 5, None);
    let before = edges(&d, 5).len();
    let second = add(
        &d,
        "/api/v1/rules",
        json!({"name": "input 2 open", "enabled": true,
               "conditions": [{"topic": PORT, "content": port_state(8, "1"), "invert": true}],
               "action": hold}),
    );
    assert_eq!(wait_edges(&d, 5, before, 1), ["closed"]);
    set_input(&d, 8, true);
    assert_eq!(wait_edges(&d, 5, before, 2), ["closed", "open"]);
    set_input(&d, 8, false);
    assert_eq!(wait_edges(&d, 5, before, 3), ["closed", "open", "closed"]);

    // The listing shows both, the second active, and so does each rule's own event.
    let (_, list) = call(&d, "GET", "/api/v1/rules", None);
    assert_eq!(list["rules"][first.to_string()]["fired"], 1, "{list}");
    assert_eq!(list["rules"][second.to_string()]["active"], true, "{list}");
    let (_, state) = call(&d, "GET", "/api/v1/events/state", None);
    let rule_state = |id: &str| {
        state["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| {
                e["topic"] == "netamp:Rule/netamp:State" && e["message"]["source"]["RuleID"] == id
            })
            .map(|e| e["message"]["data"].clone())
    };
    assert_eq!(
        rule_state(&first.to_string()),
        Some(json!({"Active": "0", "Fired": "1"})),
        "{state}"
    );
    assert_eq!(
        rule_state(&second.to_string()),
        Some(json!({"Active": "1", "Fired": "2"})),
        "{state}"
    );

    // Refusals change nothing.
    let refusals = [
        (
            "/api/v1/rules/actions",
            json!({"name": "x", "template": "com.axis.action.unlimited.buzzer"}),
        ),
        (
            "/api/v1/rules/actions",
            json!({"name": "x", "template": "com.axis.action.fixed.io.toggle", "parameters": {"port": "x"}}),
        ),
        (
            "/api/v1/rules",
            json!({"name": "x", "enabled": true, "conditions": [{"topic": PORT, "content": "port=1"}], "action": pulse}),
        ),
        (
            "/api/v1/rules",
            json!({"name": "x", "enabled": true, "action": 99}),
        ),
        ("/api/v1/rules", json!({"name": 3})),
    ];
    for (path, body) in refusals {
        let (status, v) = call(&d, "POST", path, Some(body.clone()));
        assert_eq!(status, 400, "{body} → {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }
    let (status, _) = call(
        &d,
        "DELETE",
        &format!("/api/v1/rules/actions/{pulse}"),
        None,
    );
    assert_eq!(status, 409, "an action in use stays");
    let (_, after) = call(&d, "GET", "/api/v1/rules", None);
    // Two of ours besides the three pre-configured rules and their actions.
    assert_eq!(after["rules"].as_object().map(|o| o.len()), Some(5));
    assert_eq!(after["actions"].as_object().map(|o| o.len()), Some(5));

    // Removed while active: its output goes back.
    let (status, _) = call(&d, "DELETE", &format!("/api/v1/rules/{second}"), None);
    assert_eq!(status, 200);
    assert_eq!(
        wait_edges(&d, 5, before, 4),
        ["closed", "open", "closed", "open"]
    );
}

#[test]
fn an_input_plays_a_clip_by_location_and_a_missing_clip_is_an_action_failed_event() {
    use netamp_tests::audio::{make_clip, Format};
    let d = Daemon::start();
    let file = make_clip(d.dir.path(), Format::WavPcm16, 48000, 1, 0.5);
    netamp_tests::flows::upload_ok(&d, &file);
    let name = file.file_name().and_then(|n| n.to_str()).expect("name");
    let play = add(
        &d,
        "/api/v1/rules/actions",
        json!({"name": "chime", "template": "com.axis.action.fixed.play.audioclip",
               "parameters": {"location": format!("%2Fetc%2Faudioclips%2F{name}"), "volume": "80"}}),
    );
    let missing = add(
        &d,
        "/api/v1/rules/actions",
        json!({"name": "gone", "template": "com.axis.action.fixed.play.audioclip",
               "parameters": {"location": "nothing-like-it.mp3"}}),
    );
    for (port, action) in [(3, play), (7, missing)] {
        add(
            &d,
            "/api/v1/rules",
            json!({"name": format!("input {port}"), "enabled": true,
                   "trigger": {"topic": PORT, "content": port_state(port, "1")},
                   "action": action}),
        );
    }
    set_input(&d, 3, true);
    set_input(&d, 7, true);
    let t0 = std::time::Instant::now();
    let (mut played, mut failed) = (Vec::new(), Vec::new());
    while (played.is_empty() || failed.is_empty()) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        played = recent(&d, "tnsaxis:MediaClip/tnsaxis:CurrentlyPlaying");
        failed = recent(&d, "tns1:Device/tnsaxis:SystemMessage/tnsaxis:ActionFailed");
    }
    assert_eq!(played.len(), 1, "{played:?}");
    assert_eq!(played[0]["message"]["data"]["FileName"], name, "{played:?}");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let reason = failed[0]["message"]["data"]["Reason"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("nothing-like-it.mp3"), "{failed:?}");
}

#[test]
fn a_pulse_every_2_s_toggles_an_output_and_an_interval_holds_one_while_in_schedule() {
    let d = Daemon::start();
    let pulse = add(
        &d,
        "/api/v1/schedules",
        json!({"name": "every 2 s", "ical": "DTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY;INTERVAL=2"}),
    );
    let blink = toggle(&d, 4, Some("0.2"));
    let before = edges(&d, 4).len();
    add(
        &d,
        "/api/v1/rules",
        json!({"name": "pulse", "enabled": true, "action": blink,
               "trigger": {"topic": "tns1:UserAlarm/tnsaxis:Recurring/Pulse",
                           "content": format!("boolean(//SimpleItem[@Name=\"id\" and @Value=\"{pulse}\"])")}}),
    );
    // The first pulse within 2 s, then two more 2 s and 4 s later: three in ~4 s.
    assert_eq!(wait_edges(&d, 4, before, 1), ["closed"]);
    let first = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    let e = edges(&d, 4)[before..].to_vec();
    let closings = e.iter().filter(|s| *s == "closed").count();
    assert_eq!(closings, 3, "{e:?} in {:?}", first.elapsed());

    // An interval that is always in schedule (00:00–24:00 UTC, daily): the output
    // follows it while it holds, and goes back when the schedule is removed.
    let now = add(
        &d,
        "/api/v1/schedules",
        json!({"name": "always", "ical": "DTSTART:20260101T000000Z\nDTEND:20260102T000000Z\nRRULE:FREQ=DAILY"}),
    );
    let hold = toggle(&d, 5, None);
    let before = edges(&d, 5).len();
    add(
        &d,
        "/api/v1/rules",
        json!({"name": "while in schedule", "enabled": true, "action": hold,
               "conditions": [{"topic": "tns1:UserAlarm/tnsaxis:Recurring/Interval",
                               "content": format!("boolean(//SimpleItem[@Name=\"id\" and @Value=\"{now}\"]) and boolean(//SimpleItem[@Name=\"active\" and @Value=\"1\"])")}]}),
    );
    assert_eq!(wait_edges(&d, 5, before, 1), ["closed"]);
    let (_, list) = call(&d, "GET", "/api/v1/schedules", None);
    assert_eq!(list["schedules"][now.to_string()]["active"], true, "{list}");
    assert_eq!(
        list["schedules"][pulse.to_string()]["pulse"],
        true,
        "{list}"
    );
    let (status, _) = call(&d, "DELETE", &format!("/api/v1/schedules/{now}"), None);
    assert_eq!(status, 200);
    assert_eq!(wait_edges(&d, 5, before, 2), ["closed", "open"]);
    let (status, v) = call(
        &d,
        "POST",
        "/api/v1/schedules",
        Some(json!({"name": "bad", "ical": "DTSTART:20260101T080000\nRRULE:FREQ=SOMETIMES"})),
    );
    assert_eq!(status, 400, "{v}");
}

#[test]
fn a_manual_trigger_fires_a_rule_and_a_disabled_rule_does_not() {
    let d = Daemon::start();
    let blink = toggle(&d, 4, Some("0.1"));
    // Virtual input 6 becomes active (the filter names only the port: "active" is implied).
    let rule = add(
        &d,
        "/api/v1/rules",
        json!({"name": "manual", "enabled": true, "action": blink,
               "trigger": {"topic": "tns1:Device/tnsaxis:IO/VirtualInput",
                           "content": "boolean(//SimpleItem[@Name=\"port\" and @Value=\"6\"])"}}),
    );
    let fire = |active: bool| {
        let (status, v) = call(
            &d,
            "POST",
            "/api/v1/rules/trigger",
            Some(json!({"port": 6, "active": active})),
        );
        assert_eq!(status, 200, "{v}");
    };
    let before = edges(&d, 4).len();
    fire(true);
    assert_eq!(wait_edges(&d, 4, before, 2), ["closed", "open"]);
    fire(false);
    let (status, _) = call(
        &d,
        "POST",
        &format!("/api/v1/rules/{rule}/enabled"),
        Some(json!({"enabled": false})),
    );
    assert_eq!(status, 200);
    fire(true);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        edges(&d, 4).len(),
        before + 2,
        "a disabled rule does nothing"
    );
    let (_, list) = call(&d, "GET", "/api/v1/rules", None);
    assert_eq!(list["rules"][rule.to_string()]["enabled"], false);
    let (status, _) = call(
        &d,
        "POST",
        "/api/v1/rules/trigger",
        Some(json!({"port": 99})),
    );
    assert_eq!(status, 400, "no virtual input 99");
}
