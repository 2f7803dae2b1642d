//! Scripts that try to harm the server are stopped by the sandbox's limits,
//! over the real wire, and the circle keeps serving.

mod support;

use std::time::{Duration, Instant};

use circles_sandbox::Limits;
use rpc_server::CircleSettings;
use rpc_types::client::RequestError;
use rpc_types::{LimitName, PlayError, PlayParams};
use support::{Client, TestCircle};

const TIME_LIMIT_MS: u64 = 500;

async fn open_circle() -> TestCircle {
    open_circle_with(Limits::default()).await
}

/// An anonymous-access circle with two workers and a short time limit.
async fn open_circle_with(limits: Limits) -> TestCircle {
    TestCircle::start(CircleSettings {
        access: rpc_server::AccessPolicy {
            access: rpc_server::Access::OPEN,
            ..Default::default()
        },
        limits: Limits {
            max_time_ms: TIME_LIMIT_MS,
            workers: 2,
            ..limits
        },
        ..support::settings("hostile")
    })
    .await
}

fn play(script: impl Into<String>) -> PlayParams {
    PlayParams {
        script: script.into().into(),
        via: None,
    }
}

/// Runs `script`, expects it refused, and returns the error.
async fn refused(client: &Client, script: String) -> PlayError {
    let started = Instant::now();
    let error = match client.play(play(script.clone())).await {
        Err(RequestError::Rpc(error)) => error,
        other => panic!("{script:.60}: expected an error, got {other:?}"),
    };
    let elapsed = started.elapsed();
    // The limit is enforced, not merely reported: the run ends near its time
    // limit (2x, plus slack for a loaded machine), never runs on unbounded.
    assert!(
        elapsed < Duration::from_millis(2 * TIME_LIMIT_MS + 1500),
        "{script:.60}: refused only after {elapsed:?}"
    );
    // And the circle still serves a normal script on the same connection.
    let ok = client
        .play(play("40 + 2"))
        .await
        .expect("normal play after a hostile one");
    assert_eq!(ok.value, serde_json::json!(42));
    error
}

/// Runs `script`, expects it stopped by a limit, and returns which.
async fn limit(client: &Client, script: impl Into<String>) -> LimitName {
    let script = script.into();
    match refused(client, script.clone()).await {
        PlayError::ScriptLimitExceeded(data) => data.limit,
        other => panic!("{script:.60}: expected a limit error, got {other:?}"),
    }
}

#[tokio::test]
async fn infinite_loop_is_stopped() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    let limit = limit(&client, "loop {}").await;
    assert!(
        matches!(limit, LimitName::Time | LimitName::Operations),
        "{limit}"
    );
}

#[tokio::test]
async fn deep_recursion_is_stopped() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    assert_eq!(
        limit(&client, "fn f(x) { f(x + 1) } f(0)").await,
        LimitName::CallDepth
    );
}

#[tokio::test]
async fn string_doubling_is_stopped() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    assert_eq!(
        limit(&client, r#"let s = "a"; loop { s += s; }"#).await,
        LimitName::StringSize
    );
}

#[tokio::test]
async fn ever_growing_array_is_stopped() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    let limit = limit(&client, "let a = []; loop { a.push(a.len()); }").await;
    assert!(
        matches!(
            limit,
            LimitName::ArraySize | LimitName::Time | LimitName::Operations
        ),
        "{limit}"
    );
}

#[tokio::test]
async fn deeply_nested_expression_is_refused() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    let script = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    assert_eq!(limit(&client, script).await, LimitName::ExpressionDepth);
}

#[tokio::test]
async fn oversized_script_is_invalid_params() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    let script = format!(
        "let x = 1;{}",
        " ".repeat(Limits::default().max_script_bytes)
    );
    match refused(&client, script).await {
        PlayError::InvalidParams(reason) => assert!(reason.contains("script_size"), "{reason}"),
        other => panic!("expected InvalidParams, got {other:?}"),
    }
}

#[tokio::test]
async fn eval_is_disabled() {
    let circle = open_circle().await;
    let client = circle.connect().await;
    match client.play(play(r#"eval("40 + 2")"#)).await {
        Err(RequestError::Rpc(
            PlayError::ScriptCompileError(_) | PlayError::ScriptRuntimeError(_),
        )) => {}
        other => panic!("eval must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_busy_script_does_not_hold_up_another_connection() {
    // Only the time limit stops the slow script, so it is surely still running.
    let circle = open_circle_with(Limits {
        max_operations: u64::MAX,
        ..Limits::default()
    })
    .await;
    let slow_client = circle.connect().await;
    let quick_client = circle.connect().await;

    let slow = tokio::spawn(async move { slow_client.play(play("loop {}")).await });
    // Let the slow script reach a worker first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = quick_client.play(play("1 + 1")).await.expect("quick play");
    assert_eq!(quick.value, serde_json::json!(2));
    assert!(
        !slow.is_finished(),
        "the quick script had to wait until the slow one was stopped"
    );
    let slow = slow.await.expect("slow task");
    assert!(
        matches!(
            slow,
            Err(RequestError::Rpc(PlayError::ScriptLimitExceeded(_)))
        ),
        "{slow:?}"
    );
}
