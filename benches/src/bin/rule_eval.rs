//! Rule evaluation: the cost of one event through the rule engine with 256 enabled rules
//! (each a trigger on an input port and a condition on another), and the events per
//! second one core takes. The engine alone, no bus or daemon: what the rules task spends
//! per event.
//!
//! `cargo run --release -p netamp-benches --bin rule_eval [EVENTS]`

use std::collections::BTreeMap;
use std::time::Instant;

use netamp_control::events::Event;
use netamp_control::rules::{Condition, Rule, RuleEngine, MAX_RULES};

const PORT: &str = "tns1:Device/tnsaxis:IO/Port";

fn filter(port: usize, state: &str) -> Option<String> {
    Some(format!(
        r#"boolean(//SimpleItem[@Name="port" and @Value="{port}"]) and boolean(//SimpleItem[@Name="state" and @Value="{state}"])"#
    ))
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let rules: BTreeMap<u32, Rule> = (0..MAX_RULES)
        .map(|i| {
            let rule = Rule {
                name: format!("rule {i}"),
                enabled: true,
                trigger: Some(Condition {
                    topic: PORT.into(),
                    content: filter(i % 9, "1"),
                    invert: false,
                }),
                conditions: vec![Condition {
                    topic: PORT.into(),
                    content: filter((i + 1) % 9, "0"),
                    invert: i % 2 == 0,
                }],
                wait_s: 0,
                action: i as u32,
                preset: None,
            };
            (i as u32, rule)
        })
        .collect();
    let mut engine = RuleEngine::new();
    let t0 = Instant::now();
    engine.set_rules(&rules, t0);
    // Every port's state first, as the bus hands a new subscriber.
    for p in 0..9 {
        let port = p.to_string();
        engine.handle(
            &Event::new(PORT, &[("port", &port)], &[("state", "0")], true),
            t0,
        );
    }
    let ports: Vec<String> = (0..9).map(|p| p.to_string()).collect();
    let inputs: Vec<Event> = (0..events)
        .map(|i| {
            let state = if (i / 9) % 2 == 0 { "1" } else { "0" };
            Event::new(PORT, &[("port", &ports[i % 9])], &[("state", state)], true)
        })
        .collect();
    let mut costs = Vec::with_capacity(events);
    let mut outputs = 0usize;
    let start = Instant::now();
    for ev in &inputs {
        let t = Instant::now();
        engine.handle(ev, t);
        while engine.poll().is_some() {
            outputs += 1;
        }
        costs.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed();
    costs.sort_unstable();
    let pct = |p: f64| costs[((costs.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "rule evaluation, {} enabled rules, {events} input events ({outputs} starts and stops): p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs per event; {:.0} events/s on one core",
        rules.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        events as f64 / total.as_secs_f64()
    );
}
