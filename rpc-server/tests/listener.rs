//! A circle served on a listener bound beforehand (`start_on` with a `std::net::TcpListener`,
//! as the launcher does with sockets passed by socket activation): it answers on that
//! listener's port, which its owner knew before the server started.

use circles_identity::SecretKey;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc_server::{Circle, CircleSettings, ServerSettings};

fn open_circle() -> Circle {
    let mut settings = CircleSettings::new("listener-test");
    settings.access.access = rpc_server::Access::OPEN;
    Circle::new(settings, &SecretKey::generate()).expect("circle")
}

#[tokio::test]
async fn a_circle_started_on_a_bound_listener_answers_on_its_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = rpc_server::start_on(listener, open_circle(), &ServerSettings::default(), None)
        .await
        .expect("start");
    assert_eq!(server.local_addr(), addr);
    assert_eq!(server.url(), format!("ws://{addr}"));

    let client = WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .expect("connects to the listener's port");
    let mut params = ObjectParams::new();
    params.insert("script", "40 + 2").expect("params");
    let answer: serde_json::Value = client.request("play", params).await.expect("play");
    assert_eq!(answer["output"], "42");
    server.stop().await;
}

#[tokio::test]
async fn invalid_settings_are_refused_before_the_listener_is_used() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let settings = ServerSettings {
        max_connections: 0,
        ..ServerSettings::default()
    };
    let error = rpc_server::start_on(listener, open_circle(), &settings, None)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(error, rpc_server::StartError::Settings(_)),
        "{error}"
    );
}
