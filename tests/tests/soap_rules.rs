//! VAPIX's SOAP services end to end, in the forms third-party scripts send
//! (`../shared/reference/vapix.md` §8.6): action configurations and rules that work on
//! the real daemon, what Get returns, Remove, scheduled events, manual triggers, the
//! event declarations, and faults that change nothing.

use std::time::Duration;

use netamp_tests::daemon::Daemon;
use netamp_tests::flows::admin;
use netamp_tests::http::{curl, Auth, Response};
use netamp_tests::rules::{call, edges, set_input, wait_edges};

const ENV: &str = r#"<?xml version="1.0" encoding="UTF-8" ?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:aa="http://www.axis.com/vapix/ws/action1" xmlns:aev="http://www.axis.com/vapix/ws/event1" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"><SOAP-ENV:Header /><SOAP-ENV:Body>"#;
const END: &str = "</SOAP-ENV:Body></SOAP-ENV:Envelope>";

fn soap_as(d: &Daemon, auth: Auth<'_>, op: &str, body: &str) -> Response {
    let doc = format!("{ENV}{body}{END}");
    let ct = format!(
        "Content-Type: application/soap+xml; action=\"http://www.axis.com/vapix/ws/action1/{op}\"; charset=utf-8"
    );
    curl(
        auth,
        &[
            "-X",
            "POST",
            "-H",
            &ct,
            "--data-binary",
            &doc,
            &d.url("/vapix/services"),
        ],
    )
}

fn soap(d: &Daemon, op: &str, body: &str) -> Response {
    soap_as(d, admin(), op, body)
}

/// The number in `<tag>N</tag>`, as the scripts extract it.
fn number(r: &Response, tag: &str) -> u64 {
    let text = r.text();
    let open = format!("<{tag}>");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {text}"))
        + open.len();
    let end = text[start..].find('<').map_or(text.len(), |e| start + e);
    text[start..end]
        .parse()
        .unwrap_or_else(|_| panic!("{tag}: {text}"))
}

fn toggle_config(port: u32, template: &str, duration: &str) -> String {
    format!(
        "<aa:AddActionConfiguration><aa:NewActionConfiguration><aa:Name>toggle {port}</aa:Name><aa:TemplateToken>{template}</aa:TemplateToken><aa:Parameters><aa:Parameter Name=\"port\" Value=\"{port}\"/><aa:Parameter Name=\"state\" Value=\"high\"/>{duration}</aa:Parameters></aa:NewActionConfiguration></aa:AddActionConfiguration>"
    )
}

fn filter(port: u32) -> String {
    format!("boolean(//SimpleItem[@Name=\"port\" and @Value=\"{port}\"])")
}

fn start_event_rule(name: &str, port: u32, action: u64) -> String {
    format!(
        "<aa:AddActionRule><aa:NewActionRule><aa:Name>{name}</aa:Name><aa:Enabled>true</aa:Enabled><aa:StartEvent><wsnt:TopicExpression Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">tns1:Device/tnsaxis:IO/Port</wsnt:TopicExpression><wsnt:MessageContent Dialect=\"http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter\">{}</wsnt:MessageContent></aa:StartEvent><aa:PrimaryAction>{action}</aa:PrimaryAction></aa:NewActionRule></aa:AddActionRule>",
        filter(port)
    )
}

#[test]
fn scripts_create_working_rules_get_them_back_and_remove_them() {
    let d = Daemon::start();
    // StartEvent form: input 1 (port 7) becomes active → a 200 ms pulse on port 4.
    let r = soap(
        &d,
        "AddActionConfiguration",
        &toggle_config(
            4,
            "com.axis.action.fixed.io.toggle",
            "<aa:Parameter Name=\"duration\" Value=\"0.2\"/>",
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .text()
        .contains("<aa:AddActionConfigurationResponse><aa:ConfigurationID>"));
    let pulse = number(&r, "aa:ConfigurationID");
    let r = soap(&d, "AddActionRule", &start_event_rule("input 1", 7, pulse));
    assert_eq!(r.status, 200, "{}", r.text());
    let first = number(&r, "aa:RuleID");
    let four = edges(&d, 4).len();
    set_input(&d, 7, true);
    assert_eq!(wait_edges(&d, 4, four, 2), ["closed", "open"]);

    // Conditions form ("while"): port 5 is active while input 2 (port 8) is.
    let r = soap(
        &d,
        "AddActionConfiguration",
        &toggle_config(5, "com.axis.action.unlimited.io.toggle", ""),
    );
    let hold = number(&r, "aa:ConfigurationID");
    let r = soap(
        &d,
        "AddActionRule",
        &format!(
            "<aa:AddActionRule><aa:NewActionRule><aa:Name>while input 2</aa:Name><aa:Enabled>true</aa:Enabled><aa:Conditions><aa:Condition><wsnt:TopicExpression Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">tns1:Device/tnsaxis:IO/Port</wsnt:TopicExpression><wsnt:MessageContent Dialect=\"http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter\">{}</wsnt:MessageContent></aa:Condition></aa:Conditions><aa:ActivationTimeout>PT0S</aa:ActivationTimeout><aa:PrimaryAction>{hold}</aa:PrimaryAction></aa:NewActionRule></aa:AddActionRule>",
            filter(8)
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let second = number(&r, "aa:RuleID");
    let five = edges(&d, 5).len();
    set_input(&d, 8, true);
    assert_eq!(wait_edges(&d, 5, five, 1), ["closed"]);
    set_input(&d, 8, false);
    assert_eq!(wait_edges(&d, 5, five, 2), ["closed", "open"]);

    // Get returns them, in the aa: form.
    let rules = soap(&d, "GetActionRules", "<aa:GetActionRules/>").text();
    assert!(
        rules.contains(&format!(
            "<aa:RuleID>{first}</aa:RuleID><aa:Name>input 1</aa:Name>"
        )),
        "{rules}"
    );
    assert!(
        rules.contains(&format!("<aa:PrimaryAction>{hold}</aa:PrimaryAction>")),
        "{rules}"
    );
    let configs = soap(
        &d,
        "GetActionConfigurations",
        "<aa:GetActionConfigurations/>",
    )
    .text();
    assert!(
        configs.contains("<aa:Parameter Name=\"duration\" Value=\"0.2\"/>"),
        "{configs}"
    );
    let templates = soap(&d, "GetActionTemplates", "<aa:GetActionTemplates/>").text();
    assert!(
        templates.contains("com.axis.action.fixed.play.audioclip"),
        "{templates}"
    );

    // Remove removes: the rule is gone and input 1 no longer pulses.
    let r = soap(
        &d,
        "RemoveActionRule",
        &format!("<aa:RemoveActionRule><aa:RuleID>{first}</aa:RuleID></aa:RemoveActionRule>"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rules = soap(&d, "GetActionRules", "<aa:GetActionRules/>").text();
    assert!(
        !rules.contains(&format!("<aa:RuleID>{first}</aa:RuleID>")),
        "{rules}"
    );
    assert!(
        rules.contains(&format!("<aa:RuleID>{second}</aa:RuleID>")),
        "{rules}"
    );
    set_input(&d, 7, false);
    set_input(&d, 7, true);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(edges(&d, 4).len(), four + 2, "a removed rule does nothing");
}

#[test]
fn bad_requests_are_faults_that_change_nothing() {
    let d = Daemon::start();
    let before = soap(&d, "GetActionRules", "<aa:GetActionRules/>").text();
    let configs = soap(
        &d,
        "GetActionConfigurations",
        "<aa:GetActionConfigurations/>",
    )
    .text();
    let faults = [
        (
            "malformed",
            "<aa:AddActionRule><aa:NewActionRule>".to_string(),
        ),
        (
            "unknown template",
            toggle_config(4, "com.axis.action.unlimited.buzzer", ""),
        ),
        ("unknown configuration", start_event_rule("x", 0, 999)),
        ("unknown operation", "<aa:FlyToTheMoon/>".to_string()),
    ];
    for (what, body) in &faults {
        let r = soap(&d, "x", body);
        assert!(
            r.status == 400 && r.text().contains("SOAP-ENV:Fault"),
            "{what}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            r.text().contains("<SOAP-ENV:Text xml:lang=\"en\">"),
            "{what}: a reason"
        );
    }
    // A viewer may not add rules.
    curl(
        admin(),
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=v&pwd=vpw&grp=users&sgrp=viewer")],
    );
    let r = soap_as(
        &d,
        Auth::Digest("v", "vpw"),
        "AddActionConfiguration",
        &toggle_config(4, "com.axis.action.fixed.io.toggle", ""),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        soap(&d, "GetActionRules", "<aa:GetActionRules/>").text(),
        before
    );
    assert_eq!(
        soap(
            &d,
            "GetActionConfigurations",
            "<aa:GetActionConfigurations/>"
        )
        .text(),
        configs
    );

    // The 257th rule: 256 exist (the three pre-configured ones and 253 of ours).
    let r = soap(
        &d,
        "AddActionConfiguration",
        &toggle_config(4, "com.axis.action.fixed.io.toggle", ""),
    );
    let action = number(&r, "aa:ConfigurationID");
    for i in 0..253 {
        let r = soap(
            &d,
            "AddActionRule",
            &start_event_rule(&format!("r{i}"), 0, action),
        );
        assert_eq!(r.status, 200, "rule {i}: {}", r.text());
    }
    let full = soap(&d, "GetActionRules", "<aa:GetActionRules/>").text();
    assert_eq!(full.matches("<aa:ActionRule>").count(), 256);
    let r = soap(
        &d,
        "AddActionRule",
        &start_event_rule("one too many", 0, action),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("at most 256 rules"), "{}", r.text());
    assert_eq!(
        soap(&d, "GetActionRules", "<aa:GetActionRules/>").text(),
        full
    );
}

#[test]
fn event_declarations_schedules_and_manual_triggers() {
    let d = Daemon::start();
    // Home Assistant's request, word for word (a default namespace, no prefix).
    let body = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GetEventInstances xmlns="http://www.axis.com/vapix/ws/event1"/></s:Body></s:Envelope>"#;
    let r = curl(
        admin(),
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/soap+xml",
            "-H",
            "SOAPAction: http://www.axis.com/vapix/ws/event1/GetEventInstances",
            "--data-binary",
            body,
            &d.url("/vapix/services"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains("<aev:GetEventInstancesResponse><wstop:TopicSet>"),
        "{text}"
    );
    for topic in [
        "<tnsaxis:Port wstop:topic=\"true\"",
        "<tnsaxis:Playing wstop:topic=\"true\"",
        "<tnsaxis:DTMF wstop:topic=\"true\"",
        "<tnsaxis:Pulse wstop:topic=\"true\"",
    ] {
        assert!(text.contains(topic), "{topic} missing");
    }

    let r = soap(
        &d,
        "AddScheduledEvent",
        "<aev:AddScheduledEvent><aev:NewScheduledEvent><aev:Name>Every 2 s</aev:Name><aev:Schedule><aev:ICalendar>DTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY;INTERVAL=2</aev:ICalendar></aev:Schedule></aev:NewScheduledEvent></aev:AddScheduledEvent>",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = number(&r, "aev:EventID");
    let list = soap(&d, "GetScheduledEvents", "<aev:GetScheduledEvents/>").text();
    assert!(list.contains("<aev:Name>Every 2 s</aev:Name>"), "{list}");
    let r = soap(&d, "AddScheduledEvent", "<aev:AddScheduledEvent><aev:NewScheduledEvent><aev:Name>bad</aev:Name><aev:Schedule><aev:ICalendar>RRULE:FREQ=DAILY</aev:ICalendar></aev:Schedule></aev:NewScheduledEvent></aev:AddScheduledEvent>");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = soap(
        &d,
        "RemoveScheduledEvent",
        &format!(
            "<aev:RemoveScheduledEvent><aev:EventID>{id}</aev:EventID></aev:RemoveScheduledEvent>"
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!soap(&d, "GetScheduledEvents", "<aev:GetScheduledEvents/>")
        .text()
        .contains("Every 2 s"));

    // A viewer may fire a manual trigger (virtual input 3).
    curl(
        admin(),
        &[&d.url("/axis-cgi/pwdgrp.cgi?action=add&user=v&pwd=vpw&grp=users&sgrp=viewer")],
    );
    let r = soap_as(&d, Auth::Digest("v", "vpw"), "ChangeVirtualInputState", "<aev:ChangeVirtualInputState><aev:InputNumber>3</aev:InputNumber><aev:Active>true</aev:Active></aev:ChangeVirtualInputState>");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("<aev:StateChanged>true</aev:StateChanged>"),
        "{}",
        r.text()
    );
    let (_, state) = call(&d, "GET", "/api/v1/events/state", None);
    let on = state["events"].as_array().into_iter().flatten().any(|e| {
        e["topic"] == "tns1:Device/tnsaxis:IO/VirtualInput"
            && e["message"]["source"]["port"] == "3"
            && e["message"]["data"]["active"] == "1"
    });
    assert!(on, "{state}");
}
