//! What the sandbox does for peer calls: the call chain a run sees, the caller's time bounding
//! the run, the hop limit on arriving requests, and the per-run accounting host functions use
//! (`RunContext::peer_call`).

mod common;

use std::time::Duration;

use circles_sandbox::rhai::{EvalAltResult, Map, Position};
use circles_sandbox::{Caller, LimitKind, Limits, RunContext, Sandbox, ScriptError};
use common::*;
use serde_json::json;

const CAROL: &str = "02cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn limit(result: Result<circles_sandbox::Outcome, ScriptError>) -> LimitKind {
    match result {
        Err(ScriptError::LimitExceeded { limit, .. }) => limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_chain_ends_with_the_direct_caller() {
    let sb = sandbox();
    let caller = alice().via(vec![CAROL.into(), String::new()], None);
    let out = sb
        .run("[CALL_CHAIN, call_chain()]".into(), caller)
        .await
        .expect("run");
    let chain = json!([CAROL, "", ALICE]);
    assert_eq!(out.value, json!([chain, chain]));
    let direct = ok(&sb, "CALL_CHAIN").await;
    assert_eq!(direct.value, json!([ALICE]));
}

#[tokio::test]
async fn the_callers_time_bounds_the_run() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_time_ms: 600_000,
            max_operations: u64::MAX,
            ..limits()
        },
    )
    .expect("sandbox");
    let caller = alice().via(vec![CAROL.into()], Some(Duration::from_millis(100)));
    let result = sb.run("loop {}".into(), caller).await;
    assert_eq!(limit(result), LimitKind::Time);
}

#[tokio::test]
async fn a_request_whose_caller_has_given_up_does_not_run() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            workers: 1,
            max_time_ms: 300,
            max_operations: u64::MAX,
            // Every run on the worker: none starts inline, beside the busy one.
            inline_operations: 0,
            ..limits()
        },
    )
    .expect("sandbox");
    // The only worker is busy for 300 ms; the next request's caller waits 1 ms.
    let busy = sb.run("loop {}".into(), alice());
    let late = sb.run(
        "print(\"ran\"); 1".into(),
        alice().via(vec![CAROL.into()], Some(Duration::from_millis(1))),
    );
    assert_eq!(limit(busy.await), LimitKind::Time);
    match late.await {
        Err(ScriptError::LimitExceeded { limit, message, .. }) => {
            assert_eq!(limit, LimitKind::Time);
            assert!(message.contains("before the run started"), "{message}");
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_chain_longer_than_max_hops_is_refused() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_hops: 1,
            ..limits()
        },
    )
    .expect("sandbox");
    let one = alice().via(vec![CAROL.into()], None);
    assert!(sb.run("1".into(), one).await.is_ok());
    let two = alice().via(vec![CAROL.into(), CAROL.into()], None);
    assert_eq!(limit(sb.run("1".into(), two).await), LimitKind::Hops);
}

/// A sandbox with `peer_call()`, standing in for the `peers` module: it accounts for a call
/// and returns what the call would carry.
fn accounting(limits: Limits) -> Sandbox {
    Sandbox::builder(circle(), limits)
        .configure(|engine| {
            engine.register_fn("peer_call", || -> Result<Map, Box<EvalAltResult>> {
                let call = RunContext::peer_call(Position::NONE)?;
                let mut map = Map::new();
                map.insert("chain".into(), (call.chain.len() as i64).into());
                map.insert(
                    "gives_less_than_it_waits".into(),
                    (call.time_left < call.wait).into(),
                );
                Ok(map)
            });
        })
        .build()
        .expect("sandbox")
}

#[tokio::test]
async fn peer_calls_are_counted_per_run_and_the_limit_cannot_be_caught() {
    let sb = accounting(Limits {
        max_peer_calls: 2,
        ..limits()
    });
    let out = ok(&sb, "peer_call()").await;
    assert_eq!(
        out.value,
        json!({"chain": 1, "gives_less_than_it_waits": true})
    );
    // Each run starts afresh: two calls are fine, again and again.
    for _ in 0..3 {
        ok(&sb, "peer_call(); peer_call(); 1").await;
    }
    let result = run(&sb, "for i in 0..3 { try { peer_call(); } catch {} } 1").await;
    assert_eq!(limit(result), LimitKind::PeerCalls);
}

#[tokio::test]
async fn a_peer_call_that_would_go_past_max_hops_is_refused() {
    let sb = accounting(Limits {
        max_hops: 1,
        ..limits()
    });
    ok(&sb, "peer_call()").await;
    let further = sb
        .run(
            "peer_call()".into(),
            Caller::new(ALICE).via(vec![CAROL.into()], None),
        )
        .await;
    assert_eq!(limit(further), LimitKind::Hops);
    let none = accounting(Limits {
        max_peer_calls: 0,
        ..limits()
    });
    assert_eq!(limit(run(&none, "peer_call()").await), LimitKind::PeerCalls);
}
