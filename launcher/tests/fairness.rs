//! Load as the defaults must take it: many calls in flight are served, not refused, and one
//! circle's CPU-bound scripts do not keep another circle from answering.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rpc_client::{LimitName, PlayError, SecretKey};
use serde_json::json;
use support::World;
use support::peers::signed_in;

/// 64 connections with 10 calls in flight each: the default limits serve all 640.
#[tokio::test(flavor = "multi_thread")]
async fn the_defaults_serve_640_calls_in_flight_without_refusing_any() {
    let world = World::new(&["alice"]);
    let launcher = world.launch();
    let url = launcher.url("alice");
    let mut connections = Vec::new();
    for _ in 0..64 {
        let client = rpc_client::connect(&url).await.expect("connect");
        client
            .authenticate(&SecretKey::generate(), None)
            .await
            .expect("sign in");
        connections.push(Arc::new(client));
    }
    let mut calls = Vec::new();
    for client in &connections {
        for i in 0..10 {
            let client = Arc::clone(client);
            calls.push(tokio::spawn(async move {
                client.play(&format!("{i} + 40")).await
            }));
        }
    }
    let mut busy = 0;
    for (n, call) in calls.into_iter().enumerate() {
        match call.await.expect("join") {
            Ok(result) => assert_eq!(result.value, json!(n % 10 + 40)),
            Err(rpc_client::Error::Play(PlayError::ScriptLimitExceeded(data)))
                if data.limit == LimitName::Busy =>
            {
                busy += 1
            }
            Err(other) => panic!("call {n}: {other}"),
        }
    }
    assert_eq!(busy, 0, "no call refused as busy");
}

/// Circle A's workers are all taken by scripts that loop to their time limit, from 16
/// connections; circle B (same launcher) still answers a trivial script, again and again.
#[tokio::test(flavor = "multi_thread")]
async fn a_circle_at_its_cpu_cap_does_not_keep_another_from_answering() {
    let mut world = World::new(&["hog", "other"]);
    world.circles[0]["limits"] = json!({"max_time_ms": 500, "max_operations": 1_000_000_000u64});
    let launcher = world.launch();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hogs = Vec::new();
    for _ in 0..16 {
        let (_, client) = signed_in(&launcher, "hog").await;
        let stop = Arc::clone(&stop);
        hogs.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let error = client
                    .play("loop {}")
                    .await
                    .expect_err("loops to its limit");
                assert!(
                    matches!(
                        &error,
                        rpc_client::Error::Play(PlayError::ScriptLimitExceeded(_))
                    ),
                    "{error}"
                );
            }
        }));
    }
    // Let the hog's queue fill and its workers spin.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, other) = signed_in(&launcher, "other").await;
    for i in 0..50 {
        // Not a speed check: each answer must come, long before the hog's scripts end.
        let result = tokio::time::timeout(Duration::from_secs(1), other.play(&format!("{i} * 2")))
            .await
            .expect("the other circle answers while the hog is busy")
            .expect("a trivial script");
        assert_eq!(result.value, json!(i * 2));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for hog in hogs {
        hog.await.expect("a hog connection");
    }
}
