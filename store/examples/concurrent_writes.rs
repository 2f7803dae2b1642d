//! Durable writes per second under concurrency, in process: `CONCURRENCY` tasks each run
//! `store::set("k/<unique>", 1)` through a real sandbox with the `store` module, one after
//! another, for `SECONDS`; a write counts once `play` would answer it (durable).
//!
//! ```text
//! cargo run --release -p circles-store --example concurrent_writes -- [CONCURRENCY] [SECONDS] [DIR]
//! ```
//!
//! `DIR` (default: a temporary directory) holds the store: put it on the disk to measure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use circles_sandbox::{Caller, CircleInfo, Limits, Sandbox};
use circles_store::{Store, StoreLimits};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().map_or(Ok(640), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_owned(), Into::into);

    // One author writes everything: room for all of it.
    let store = Store::open_with(
        &dir,
        StoreLimits {
            max_entries: 100_000_000,
            max_entries_per_author: 100_000_000,
            max_bytes_per_author: StoreLimits::default().max_bytes,
            ..StoreLimits::default()
        },
    )?;
    let sandbox = Sandbox::builder(
        CircleInfo {
            id: "bench".into(),
            public_key: "02".repeat(33),
        },
        Limits {
            queue: concurrency.max(1) * 2,
            ..Limits::default()
        },
    )
    .configure({
        let store = store.clone();
        move |engine| circles_store::rhai::register(engine, store)
    })
    .build()?;
    let sandbox = Arc::new(sandbox);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let latencies = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (sandbox, stop, next) = (sandbox.clone(), stop.clone(), next.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut failures = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let script = format!(r#"store::set("k/{n:012}", 1)"#);
                        let started = Instant::now();
                        match sandbox.run(script, Caller::new("03".repeat(33))).await {
                            Ok(_) => latencies.push(started.elapsed()),
                            Err(_) => failures += 1,
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        let mut failures = 0;
        for task in tasks {
            if let Ok((latencies, failed)) = task.await {
                all.extend(latencies);
                failures += failed;
            }
        }
        if failures > 0 {
            eprintln!("{failures} runs failed");
        }
        all
    });
    let mut latencies = latencies;
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{concurrency} concurrent writers, {seconds} s: {} durable writes, {:.0} writes/s, p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
    );
    Ok(())
}
