//! `rpc.discover` end to end: a real server on a loopback port, the generated
//! client over a real WebSocket.

use std::net::{Ipv4Addr, SocketAddr};

use circles_identity::SecretKey;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc_server::{Circle, CircleSettings, ServerSettings};
use rpc_types::client::ApiClient;

#[tokio::test]
async fn rpc_discover_returns_exactly_the_spec_file() {
    let server = rpc_server::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Circle::new(CircleSettings::new("discover-test"), &SecretKey::generate()).expect("circle"),
        &ServerSettings::default(),
    )
    .await
    .expect("server starts on a free loopback port");
    let client = ApiClient::new(
        WsClientBuilder::default()
            .build(server.url())
            .await
            .expect("connects"),
    );

    let served = client.rpc_discover().await.expect("rpc.discover answers");

    let on_disk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openrpc.json"))
            .expect("spec file"),
    )
    .expect("spec is JSON");
    assert_eq!(served, on_disk);
    assert_eq!(
        rpc_types::OPENRPC_DOCUMENT,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openrpc.json")).unwrap()
    );
    server.stop().await;
}
