//! Render cost of one 5 ms block with 1, 16 and 64 active sources, each resampled from
//! 44.1 kHz to 48 kHz as the feeder does, as a share of real time on one core.
//!
//! `cargo bench -p netamp-benches --bench render`

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use netamp_engine::decode::DecodeLimits;
use netamp_engine::resample::StreamResampler;
use netamp_engine::{Engine, EngineConfig, StreamOptions};

const PERIOD: usize = 240;

fn bench_render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_block_44k1_to_48k");
    for sources in [1usize, 16, 64] {
        group.bench_with_input(BenchmarkId::from_parameter(sources), &sources, |b, &n| {
            let (engine, mut renderer, _driver) = Engine::offline(
                EngineConfig {
                    max_sources: 128,
                    ..Default::default()
                },
                DecodeLimits::default(),
            )
            .expect("engine");
            let input: Vec<f32> = (0..44_100)
                .map(|i| (i as f32 * 0.0627).sin() * 0.1)
                .collect();
            let mut feeds: Vec<_> = (0..n)
                .map(|_| {
                    let w = engine
                        .add_stream(StreamOptions {
                            priority: 5,
                            capacity_ms: 200,
                            ..Default::default()
                        })
                        .expect("stream");
                    (w, StreamResampler::new(44_100).expect("resampler"), 0usize)
                })
                .collect();
            let mut out = vec![0f32; PERIOD];
            b.iter(|| {
                // The feeder's share: 220.5 input frames per source per block.
                for (w, rs, pos) in feeds.iter_mut() {
                    let take = 221;
                    if *pos + take > input.len() {
                        *pos = 0;
                    }
                    rs.push(&input[*pos..*pos + take]);
                    *pos += take;
                    let n = w.write(rs.ready());
                    rs.consume(n);
                }
                renderer.render(&mut out, Instant::now());
                std::hint::black_box(&out);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
