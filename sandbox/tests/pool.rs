//! The worker pool: panics, parallelism, back-pressure, shutdown; and `Limits`.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use circles_sandbox::{LimitKind, Limits, Sandbox, ScriptError};
use common::*;

#[tokio::test]
async fn panic_in_a_host_function_is_caught_and_the_pool_keeps_working() {
    let sb = Sandbox::builder(
        circle(),
        Limits {
            workers: 1,
            ..limits()
        },
    )
    .configure(|engine| {
        engine.register_fn("explode", |x: i64| -> i64 {
            if x > 0 {
                panic!("host function exploded on {x}");
            }
            x
        });
    })
    .build()
    .expect("sandbox");

    for _ in 0..3 {
        let (err, _) = fails(&sb, "print(\"before\"); explode(1)").await;
        assert!(
            matches!(&err, ScriptError::Panicked { message } if message.contains("exploded on 1")),
            "{err:?}"
        );
        // The single worker survived, and the next run starts clean.
        still_works(&sb).await;
        assert_eq!(ok(&sb, "explode(0)").await.output, "0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_run_does_not_block_a_trivial_one() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            workers: 2,
            max_operations: u64::MAX,
            max_time_ms: 3_000,
            ..limits()
        },
    )
    .expect("sandbox");
    let start = Instant::now();
    let long = sb.run("loop {}".into(), alice());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let quick = Instant::now();
    let out = ok(&sb, "40 + 2").await;
    assert_eq!(out.output, "42");
    assert!(
        quick.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        quick.elapsed()
    );
    let err = long.await.expect_err("loop must stop");
    assert_eq!(err.limit(), Some(LimitKind::Time));
    assert!(start.elapsed() >= Duration::from_millis(3_000));
}

#[tokio::test]
async fn full_queue_is_busy() {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let sb = Sandbox::builder(
        circle(),
        Limits {
            workers: 1,
            queue: 1,
            max_operations: u64::MAX,
            max_time_ms: 500,
            // Every run through the queue (none inline), to fill it.
            inline_operations: 0,
            ..limits()
        },
    )
    .configure(move |engine| {
        engine.register_fn("started", move || {
            if let Ok(tx) = started_tx.lock() {
                let _ = tx.send(());
            }
        });
    })
    .build()
    .expect("sandbox");

    // Occupy the only worker...
    let first = sb.run("started(); loop {}".into(), alice());
    tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(5)))
        .await
        .expect("join")
        .expect("the first run started");
    // ...fill the queue...
    let second = sb.run("2".into(), alice());
    // ...and the next run is refused at once.
    let t = Instant::now();
    let (err, _) = fails(&sb, "3").await;
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(err.limit(), Some(LimitKind::Busy), "{err:?}");

    assert_eq!(
        first.await.expect_err("time").limit(),
        Some(LimitKind::Time)
    );
    assert_eq!(second.await.expect("queued run").output, "2");
    still_works(&sb).await;
}

#[tokio::test]
async fn abandoned_queued_runs_are_skipped() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            workers: 1,
            queue: 4,
            max_operations: u64::MAX,
            max_time_ms: 300,
            inline_operations: 0,
            ..limits()
        },
    )
    .expect("sandbox");
    let first = sb.run("loop {}".into(), alice());
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Queued, then abandoned by its caller: it must not cost a compile.
    drop(sb.run("1 + 1".into(), alice()));
    let _ = first.await;
    still_works(&sb).await;
    assert_eq!(
        sb.cache_stats().misses,
        2,
        "loop + still_works, not `1 + 1`"
    );
}

#[tokio::test]
async fn dropping_the_sandbox_stops_the_workers() {
    let marker = Arc::new(());
    let held = Arc::clone(&marker);
    let sb = Sandbox::builder(circle(), limits())
        .configure(move |engine| {
            engine.register_fn("marker", move || Arc::strong_count(&held) as i64);
        })
        .build()
        .expect("sandbox");
    still_works(&sb).await;
    assert_eq!(Arc::strong_count(&marker), 2);
    let workers = sb.workers();
    let alive = tokio::time::timeout(Duration::from_millis(200), workers.exited()).await;
    assert!(alive.is_err(), "the workers run while the sandbox lives");
    drop(sb);
    tokio::time::timeout(Duration::from_secs(5), workers.exited())
        .await
        .expect("every worker exits once the sandbox is dropped");
    assert_eq!(
        Arc::strong_count(&marker),
        1,
        "the engine (holding the marker) was freed before the workers' exit was announced"
    );
}

#[tokio::test]
async fn a_run_in_progress_when_the_sandbox_is_dropped_answers_before_the_workers_exit() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            workers: 1,
            max_operations: 1_000_000_000,
            max_time_ms: 5_000,
            ..Limits::default()
        },
    )
    .expect("sandbox");
    let workers = sb.workers();
    let running = sb.run(
        r#"let t = timestamp(); while t.elapsed < 0.5 {} "finished""#.to_owned(),
        alice(),
    );
    drop(sb);
    let early = tokio::time::timeout(Duration::from_millis(150), workers.exited()).await;
    assert!(early.is_err(), "the worker is still running the script");
    let answer = running
        .await
        .expect("the running script finishes and answers");
    assert_eq!(answer.output, "finished");
    tokio::time::timeout(Duration::from_secs(5), workers.exited())
        .await
        .expect("the worker exits after its last run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_runs_all_answer() {
    let sb = Arc::new(sandbox());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let sb = Arc::clone(&sb);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let out = sb
                    .run(format!("print({i}); {t} * 1000 + {i}"), alice())
                    .await
                    .expect("run");
                assert_eq!(out.output, (t * 1000 + i).to_string());
                assert_eq!(out.logs, [i.to_string()]);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

#[test]
fn limits_defaults_and_validation() {
    let d = Limits::default();
    assert_eq!(d.max_operations, 1_000_000);
    assert_eq!(d.max_time_ms, 1_000);
    assert_eq!(d.max_call_depth, 64);
    assert_eq!(d.max_expr_depth, 64);
    assert_eq!(d.max_function_expr_depth, 32);
    assert_eq!(d.max_string_size, 1 << 20);
    assert_eq!(d.max_array_size, 100_000);
    assert_eq!(d.max_map_size, 100_000);
    assert_eq!(d.max_script_bytes, 65_536);
    assert_eq!(d.queue, 4096);
    assert_eq!(d.inline_operations, 2_000);
    assert_eq!(d.cache_entries, 1_024);
    assert_eq!(d.max_memory_bytes, 64 << 20);
    assert_eq!(d.cache_bytes, 16 << 20);
    assert!(d.workers >= 1);
    d.validate().expect("defaults are valid");

    for bad in [
        Limits {
            max_operations: 0,
            ..Limits::default()
        },
        Limits {
            workers: 0,
            ..Limits::default()
        },
        Limits {
            queue: 0,
            ..Limits::default()
        },
        Limits {
            max_call_depth: 100_000,
            ..Limits::default()
        },
        Limits {
            max_time_ms: 0,
            ..Limits::default()
        },
        Limits {
            max_memory_bytes: 0,
            ..Limits::default()
        },
        Limits {
            // Under 1 MiB: not even compiling fits.
            max_memory_bytes: 1_000_000,
            ..Limits::default()
        },
        Limits {
            max_memory_bytes: 2 << 40,
            ..Limits::default()
        },
        Limits {
            cache_bytes: 0,
            ..Limits::default()
        },
    ] {
        let err = bad.validate().expect_err("invalid");
        assert!(err.to_string().contains(err.field), "{err}");
        assert!(Sandbox::new(circle(), bad).is_err());
    }
    // No imports at all is a meaningful setting.
    Limits {
        max_modules: 0,
        ..Limits::default()
    }
    .validate()
    .expect("max_modules 0");
}

#[test]
fn limits_from_json() {
    let l: Limits =
        serde_json::from_str(r#"{"max_time_ms": 250, "workers": 3}"#).expect("partial limits");
    assert_eq!(l.max_time_ms, 250);
    assert_eq!(l.workers, 3);
    assert_eq!(l.max_operations, 1_000_000);
    let err = serde_json::from_str::<Limits>(r#"{"max_time": 250}"#).expect_err("typo");
    assert!(err.to_string().contains("max_time"), "{err}");
}

#[test]
fn sandbox_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Sandbox>();
    assert_send_sync::<ScriptError>();
}
