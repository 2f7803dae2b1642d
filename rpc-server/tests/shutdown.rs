//! A stopped server lets the call in flight answer, then drops its circle, whose sandbox
//! workers exit: what the launcher waits for before it closes a circle's store.

use std::time::Duration;

use circles_identity::SecretKey;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc_server::{Circle, CircleSettings, ServerSettings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_lets_the_running_script_answer_then_the_sandbox_workers_exit() {
    let mut settings = CircleSettings::new("shutdown-test");
    settings.access.access = rpc_server::Access::OPEN;
    settings.limits.max_operations = 1_000_000_000;
    settings.limits.max_time_ms = 5_000;
    let circle = Circle::new(settings, &SecretKey::generate()).expect("circle");
    let workers = circle.sandbox_workers();
    let server = rpc_server::start(
        "127.0.0.1:0".parse().expect("addr"),
        circle,
        &ServerSettings::default(),
    )
    .await
    .expect("start");

    let client = WsClientBuilder::default()
        .build(server.url())
        .await
        .expect("connects");
    let running = tokio::spawn(async move {
        let mut params = ObjectParams::new();
        params
            .insert(
                "script",
                r#"let t = timestamp(); while t.elapsed < 0.5 {} "finished""#,
            )
            .expect("params");
        client.request::<serde_json::Value, _>("play", params).await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;

    let handle = server.handle();
    let _ = handle.stop();
    let early = tokio::time::timeout(Duration::from_millis(100), workers.exited()).await;
    assert!(early.is_err(), "the workers outlive the script they run");
    let answer = running
        .await
        .expect("task")
        .expect("the running script answers");
    assert_eq!(answer["output"], "finished");
    tokio::time::timeout(Duration::from_secs(5), async {
        handle.stopped().await;
        workers.exited().await;
    })
    .await
    .expect("the server stops, drops the circle, and the sandbox workers exit");
}
