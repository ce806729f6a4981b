//! A source's slot comes back when the source ends, however full the event ring was: a
//! housekeeper that stalls (its events dropped) must not leak the engine's sources.

use std::time::Instant;

use netamp_engine::decode::DecodeLimits;
use netamp_engine::{Engine, EngineConfig, StreamOptions};

#[test]
fn a_dropped_ended_event_does_not_leak_the_slot() {
    let config = EngineConfig {
        max_sources: 1,
        ..EngineConfig::default()
    };
    let (engine, mut renderer, mut driver) =
        Engine::offline(config, DecodeLimits::default()).expect("engine");
    let mut block = vec![0f32; renderer.period()];
    let mut w = engine.add_stream(StreamOptions::default()).expect("stream");
    // A stream that keeps running dry (audio every third block) reports an underrun each
    // time, while nobody drains the events: the event ring fills up.
    for i in 0..3_000 {
        if i % 3 == 0 {
            w.write(&[0.1; 240]);
        }
        renderer.render(&mut block, Instant::now());
    }
    // It ends now; its Ended event finds the ring full.
    drop(w);
    for _ in 0..100 {
        renderer.render(&mut block, Instant::now());
    }
    let events = driver.events();
    eprintln!("{} events came through", events.len());
    for _ in 0..10 {
        renderer.render(&mut block, Instant::now());
        driver.events();
    }
    assert_eq!(engine.stats().active_sources, 0);
    // The one slot is free again.
    let again = engine.add_stream(StreamOptions::default());
    assert!(again.is_ok(), "the slot leaked: {:?}", again.err());
}
