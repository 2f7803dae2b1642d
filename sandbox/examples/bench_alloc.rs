//! What counting allocations costs: CPU time per run of a few scripts with the counting
//! allocator counting and with it forwarding straight to the system allocator, alternating in
//! one process, so that both are measured under the same load. Prints numbers; asserts
//! nothing.
//!
//!     cargo run --release -p circles-sandbox --example bench_alloc [-- ROUNDS]
//!
//! The measure is CPU time, not wall time: on a shared machine it is far less disturbed by
//! other processes. First the allocator alone (a loop of small allocations, on this thread),
//! then whole runs (the CPU time of the sandbox's worker thread). Each round runs both
//! variants, in alternating order; the ratios printed are medians over rounds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use circles_sandbox::alloc::CountingAllocator;
use circles_sandbox::{Caller, CircleInfo, Limits, Sandbox};

/// Forwards to [`CountingAllocator`] or straight to [`System`]; both end in `System`, so a
/// block may be freed by either. The switch costs the same in both variants.
struct Switchable;

static COUNTING: AtomicBool = AtomicBool::new(true);

// SAFETY: forwards every call unchanged to an allocator that upholds the contract.
unsafe impl GlobalAlloc for Switchable {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingAllocator.alloc(layout)
            } else {
                System.alloc(layout)
            }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingAllocator.dealloc(ptr, layout)
            } else {
                System.dealloc(ptr, layout)
            }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe {
            if COUNTING.load(Ordering::Relaxed) {
                CountingAllocator.realloc(ptr, layout, new_size)
            } else {
                System.realloc(ptr, layout, new_size)
            }
        }
    }
}

#[global_allocator]
static ALLOCATOR: Switchable = Switchable;

/// CPU time so far of the sandbox's worker thread (where scripts run), from its
/// `/proc/self/task/TID/schedstat` (nanoseconds on the CPU).
fn worker_cpu_time() -> Duration {
    let mut nanos = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let is_worker = std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("sandbox-"));
            if !is_worker {
                continue;
            }
            nanos += std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(nanos)
}

/// CPU time so far of the calling thread (`/proc/thread-self/schedstat`).
fn this_thread_cpu_time() -> Duration {
    let nanos = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

/// Allocates and frees `n` small blocks and grows a vector: the allocator's fast path alone.
fn raw_allocations(n: usize) {
    for i in 0..n {
        let block = std::hint::black_box(Box::new([i as u8; 32]));
        drop(block);
    }
    let mut v = Vec::new();
    for i in 0..n / 16 {
        v.push(std::hint::black_box(i));
    }
    std::hint::black_box(v);
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let sandbox = Sandbox::new(
        CircleInfo {
            id: "bench".into(),
            public_key: "02".repeat(33),
        },
        Limits {
            workers: 1,
            ..Limits::default()
        },
    )?;
    let scripts = [
        ("40 + 2", "40 + 2", 50_000),
        (
            "200 strings pushed",
            "let a = []; for i in 0..200 { a.push(`item ${i}`) } a.len()",
            2_000,
        ),
        (
            "map of 100",
            "let m = #{}; for i in 0..100 { m[`k${i}`] = [i, i + 1] } m.len()",
            2_000,
        ),
    ];
    println!("{rounds} rounds; CPU time, counting vs not");
    let mut ratios = Vec::new();
    let (mut on_total, mut off_total) = (0.0, 0.0);
    const RAW: usize = 10_000_000;
    for round in 0..rounds {
        let mut per_alloc = [0.0f64; 2];
        for i in 0..2 {
            let counting = (i + round) % 2 == 0;
            COUNTING.store(counting, Ordering::Relaxed);
            let started = this_thread_cpu_time();
            raw_allocations(RAW);
            let cpu = this_thread_cpu_time().saturating_sub(started);
            per_alloc[usize::from(!counting)] = cpu.as_secs_f64() * 1e9 / RAW as f64;
        }
        on_total += per_alloc[0];
        off_total += per_alloc[1];
        ratios.push(per_alloc[0] / per_alloc[1]);
    }
    println!(
        "{:20} counting {:7.2} ns/alloc, not {:7.2} ns/alloc; ratio median {:.3} of {:?}",
        "allocate + free",
        on_total / rounds as f64,
        off_total / rounds as f64,
        median(&mut ratios),
        ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>()
    );
    for (name, script, runs) in scripts {
        // Warm up: compiled once, then from the cache.
        for _ in 0..100 {
            sandbox.run(script.into(), Caller::anonymous()).await?;
        }
        let mut ratios = Vec::new();
        let (mut on_total, mut off_total) = (0.0, 0.0);
        for round in 0..rounds {
            let mut per_run = [0.0f64; 2];
            for i in 0..2 {
                // Alternate which variant goes first.
                let counting = (i + round) % 2 == 0;
                COUNTING.store(counting, Ordering::Relaxed);
                let cpu = worker_cpu_time();
                for _ in 0..runs {
                    sandbox.run(script.into(), Caller::anonymous()).await?;
                }
                let cpu = worker_cpu_time().saturating_sub(cpu);
                per_run[usize::from(!counting)] = cpu.as_secs_f64() * 1e6 / runs as f64;
            }
            on_total += per_run[0];
            off_total += per_run[1];
            ratios.push(per_run[0] / per_run[1]);
        }
        println!(
            "{name:20} counting {:7.1} µs/run, not {:7.1} µs/run; ratio median {:.3} of {:?}",
            on_total / rounds as f64,
            off_total / rounds as f64,
            median(&mut ratios),
            ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>()
        );
    }
    COUNTING.store(true, Ordering::Relaxed);
    Ok(())
}
