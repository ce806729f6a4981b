//! Jitter buffer added delay: 20 ms packets whose network delay varies uniformly over
//! 0–J ms (J = 0, 20, 50), no loss; the state machine is driven with a simulated clock
//! and polled every 5 ms as the playout side does. Added delay = when a frame is handed
//! to playout − when its packet arrived (p50, p95), after a 2 s warm-up; also the
//! frames concealed because their packet came too late.
//!
//! `cargo run --release -p netamp-benches --bin jitter_delay [PACKETS]`

use std::time::{Duration, Instant};

use netamp_sip::jitter::{JitterBuffer, JitterConfig, Packet, Pop};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    for jitter_ms in [0.0f64, 20.0, 50.0] {
        let t0 = Instant::now();
        let mut x = 0x1234_5678u32;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            f64::from(x) / f64::from(u32::MAX)
        };
        let mut arrivals: Vec<(Instant, u32)> = (0..n)
            .map(|i| {
                let sent = Duration::from_millis(20 * u64::from(i));
                (
                    t0 + sent + Duration::from_secs_f64(rnd() * jitter_ms / 1000.0),
                    i,
                )
            })
            .collect();
        arrivals.sort();
        let mut arrived_at = vec![t0; n as usize];
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut added = Vec::new();
        let mut concealed = 0;
        let (mut k, mut now) = (0, t0);
        let end = t0 + Duration::from_millis(20 * u64::from(n) + 500);
        while now < end {
            while k < arrivals.len() && arrivals[k].0 <= now {
                let (at, i) = arrivals[k];
                arrived_at[i as usize] = at;
                let p = Packet {
                    seq: (i & 0xFFFF) as u16,
                    timestamp: i * 160,
                    ssrc: 1,
                    payload: Vec::new(),
                };
                jb.push(p, at);
                k += 1;
            }
            while let Some(pop) = jb.pop(now) {
                match pop {
                    Pop::Frame(p) => {
                        let i = p.timestamp / 160;
                        if i >= 100 {
                            added.push((now - arrived_at[i as usize]).as_secs_f64() * 1000.0);
                        }
                    }
                    Pop::Lost { .. } => concealed += 1,
                }
            }
            now += Duration::from_millis(5);
        }
        added.sort_by(f64::total_cmp);
        let pct = |p: f64| added[((added.len() - 1) as f64 * p).round() as usize];
        println!(
            "jitter 0–{jitter_ms:.0} ms: added delay p50 {:.1} ms, p95 {:.1} ms; target {} ms; concealed {concealed} of {n}",
            pct(0.5),
            pct(0.95),
            jb.target_delay().as_millis()
        );
    }
}
