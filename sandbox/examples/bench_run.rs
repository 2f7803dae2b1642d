//! Micro-benchmark: how many `40 + 2` runs per second a sandbox sustains.
//!
//! `cargo run --release -p circles-sandbox --example bench_run [-- SECONDS]`
//!
//! Prints sequential latency (one run at a time, as a single connection would) and
//! concurrent throughput (many tasks submitting at once). Never asserts anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use circles_sandbox::{Caller, CircleInfo, Limits, Sandbox, ScriptError};

const SCRIPT: &str = "40 + 2";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let period = Duration::from_secs_f64(secs);
    let sandbox = Arc::new(Sandbox::new(
        CircleInfo {
            id: "bench".into(),
            public_key: "02".repeat(33),
        },
        Limits::default(),
    )?);
    println!("workers: {}", sandbox.limits().workers);

    // Warm up (compiles once, then cached).
    for _ in 0..1_000 {
        sandbox.run(SCRIPT.into(), Caller::anonymous()).await?;
    }

    // Sequential: one run in flight.
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < period {
        let t = Instant::now();
        sandbox.run(SCRIPT.into(), Caller::anonymous()).await?;
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let n = latencies.len();
    println!(
        "sequential: {:.0} runs/s, p50 {:?}, p99 {:?}",
        n as f64 / start.elapsed().as_secs_f64(),
        latencies[n / 2],
        latencies[n * 99 / 100],
    );

    // Concurrent: many tasks, each submitting runs back to back.
    let tasks = 64;
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let sandbox = Arc::clone(&sandbox);
        handles.push(tokio::spawn(async move {
            let (mut ok, mut busy) = (0u64, 0u64);
            while start.elapsed() < period {
                match sandbox.run(SCRIPT.into(), Caller::new("02ab")).await {
                    Ok(_) => ok += 1,
                    Err(ScriptError::LimitExceeded { .. }) => busy += 1,
                    Err(e) => return Err(e),
                }
            }
            Ok((ok, busy))
        }));
    }
    let (mut ok, mut busy) = (0, 0);
    for h in handles {
        let (o, b) = h.await??;
        ok += o;
        busy += b;
    }
    println!(
        "concurrent ({tasks} tasks): {:.0} runs/s ({busy} refused as busy)",
        ok as f64 / start.elapsed().as_secs_f64()
    );
    println!("cache: {:?}", sandbox.cache_stats());
    Ok(())
}
