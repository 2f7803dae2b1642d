//! Short runs are tried inline, on the thread that asks for them; those that outgrow the
//! budget, or need a worker, start again on a worker and leave nothing of the attempt behind.

mod common;

use std::sync::{Arc, Mutex};

use circles_sandbox::{Limits, Pending, RunContext, RunState, Sandbox, ScriptError};
use common::*;
use serde_json::json;

/// What the test's host module records: each finished state's touches, and on which thread
/// each touch happened.
#[derive(Default)]
struct Record {
    finished: Vec<u32>,
    threads: Vec<String>,
}

/// A run's state: how many times the script touched it.
#[derive(Default)]
struct Touches(u32, Option<Arc<Mutex<Record>>>);

impl RunState for Touches {
    fn finish(self) -> Option<Pending> {
        if let Some(record) = self.1 {
            record.lock().expect("record").finished.push(self.0);
        }
        None
    }
}

fn sandbox_with_touch(limits: Limits) -> (Sandbox, Arc<Mutex<Record>>) {
    let record = Arc::new(Mutex::new(Record::default()));
    let for_touch = Arc::clone(&record);
    let for_blocking = Arc::clone(&record);
    let sb = Sandbox::builder(circle(), limits)
        .configure(move |engine| {
            engine.register_fn("touch", move || {
                RunContext::with_state(|t: &mut Touches| {
                    t.0 += 1;
                    t.1 = Some(Arc::clone(&for_touch));
                });
            });
            engine.register_fn("blocking", move || {
                RunContext::needs_worker();
                let name = std::thread::current().name().unwrap_or("").to_owned();
                for_blocking.lock().expect("record").threads.push(name);
            });
        })
        .build()
        .expect("sandbox");
    (sb, record)
}

#[tokio::test]
async fn a_short_run_ends_inline() {
    let (sb, record) = sandbox_with_touch(limits());
    let out = ok(&sb, "touch(); 40 + 2").await;
    assert_eq!(out.value, json!(42));
    assert_eq!(sb.run_stats().inline, 1);
    assert_eq!(sb.run_stats().abandoned, 0);
    assert_eq!(record.lock().expect("record").finished, [1]);
}

#[tokio::test]
async fn an_attempt_over_its_budget_starts_again_on_a_worker_leaving_nothing_behind() {
    let (sb, record) = sandbox_with_touch(Limits {
        inline_operations: 100,
        ..limits()
    });
    // Touched three times in the abandoned attempt and three times on the worker: only the
    // worker's run is finished.
    let script = "touch(); touch(); touch(); let n = 0; while n < 1000 { n += 1; } print(n); n";
    let out = ok(&sb, script).await;
    assert_eq!(out.value, json!(1000));
    assert_eq!(out.logs, ["1000"], "the attempt's prints are gone with it");
    assert_eq!(sb.run_stats().abandoned, 1);
    assert_eq!(record.lock().expect("record").finished, [3]);
}

#[tokio::test]
async fn a_blocking_host_function_runs_on_a_worker_only() {
    let (sb, record) = sandbox_with_touch(limits());
    ok(&sb, "blocking(); 1").await;
    let record = record.lock().expect("record");
    assert_eq!(record.threads.len(), 1, "called once, by the worker's run");
    assert!(
        record.threads[0].starts_with("sandbox-"),
        "{:?}",
        record.threads
    );
    assert_eq!(sb.run_stats().abandoned, 1);
}

#[tokio::test]
async fn a_failed_run_finishes_no_state() {
    let (sb, record) = sandbox_with_touch(limits());
    let err = run(&sb, "touch(); throw \"no\"").await;
    assert!(matches!(err, Err(ScriptError::Runtime { .. })), "{err:?}");
    let err = run(&sb, "touch(); let s = \"x\"; loop { s += s; }").await;
    assert!(err.is_err());
    assert!(record.lock().expect("record").finished.is_empty());
}

#[tokio::test]
async fn a_runs_own_limits_hold_inline() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_operations: 50,
            ..limits()
        },
    )
    .expect("sandbox");
    let err = run(&sb, "let n = 0; loop { n += 1; }").await;
    assert!(
        matches!(&err, Err(ScriptError::LimitExceeded { limit, .. }) if limit.as_str() == "operations"),
        "{err:?}"
    );
    // (Whether it ended inline depends on the machine: the attempt also has a time budget,
    // which compiling the script may use up. Either way the caller sees the run's own limit.)
}

#[tokio::test]
async fn inline_attempts_can_be_turned_off() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            inline_operations: 0,
            ..limits()
        },
    )
    .expect("sandbox");
    ok(&sb, "1").await;
    assert_eq!(sb.run_stats().inline, 0);
}
