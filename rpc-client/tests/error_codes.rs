//! `Error::{code, message, data}` (what the web API hands to JavaScript),
//! natively against a real circle.
#![cfg(not(target_arch = "wasm32"))]

use rpc_client::{Error, SecretKey, client_code};
use rpc_server::{Circle, CircleSettings, RunningCircle, ServerSettings};

async fn start() -> (RunningCircle, SecretKey) {
    let key = SecretKey::generate();
    // Any signed-in caller may play here (by default only members may).
    let mut settings = CircleSettings::new("error-codes");
    settings.access.access.play = rpc_server::Audience::SignedIn;
    let circle = Circle::new(settings, &key).expect("circle");
    let running = rpc_server::start(
        "127.0.0.1:0".parse().expect("addr"),
        circle,
        &ServerSettings::default(),
    )
    .await
    .expect("start");
    (running, key)
}

#[tokio::test]
async fn rpc_errors_keep_the_circles_code_message_and_data() {
    let (running, _) = start().await;
    let circle = rpc_client::connect(&running.url()).await.expect("connect");
    let refused = circle.play("1").await.expect_err("unauthenticated");
    assert_eq!(refused.code(), rpc_client::error_code::UNAUTHENTICATED);
    assert_eq!(refused.message(), "unauthenticated");

    circle
        .authenticate(&SecretKey::generate(), None)
        .await
        .expect("authenticate");
    let compile = circle.play("let x = ;").await.expect_err("compile error");
    assert_eq!(compile.code(), rpc_client::error_code::SCRIPT_COMPILE_ERROR);
    assert_eq!(compile.message(), "script compile error");
    let data = compile.data().expect("data");
    assert!(
        data.get("line").is_some() && data.get("column").is_some(),
        "{data}"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_wrong_circle_key_is_1004_with_both_keys() {
    let (running, circle_key) = start().await;
    let circle = rpc_client::connect(&running.url()).await.expect("connect");
    let impostor = SecretKey::generate().public_key();
    let error = circle
        .authenticate(&SecretKey::generate(), Some(&impostor))
        .await
        .expect_err("refused");
    assert!(matches!(error, Error::WrongCircleKey { .. }));
    assert_eq!(error.code(), client_code::WRONG_CIRCLE_KEY);
    let data = error.data().expect("data");
    assert_eq!(data["expected"], impostor.to_hex());
    assert_eq!(data["got"], circle_key.public_key().to_hex());
    assert!(
        error.message().contains("refusing to sign"),
        "{}",
        error.message()
    );
    running.stop().await;
}

#[tokio::test]
async fn no_server_is_a_connect_error_1001() {
    // A port bound for the whole test but not listening: a connection attempt is refused
    // at once (no listener), nobody else can bind the port meanwhile, and the system never
    // picks an explicitly bound port as the local end of an outgoing connection. (A port
    // found free and released again could be taken by anyone before the test uses it.)
    let bound = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    bound
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind a loopback port");
    let url = format!("ws://{}", bound.local_addr().expect("bound address"));
    let error = match rpc_client::connect(&url).await {
        Ok(_) => panic!("connected to nothing"),
        Err(error) => error,
    };
    assert_eq!(error.code(), client_code::CONNECT);
    assert_eq!(error.data().expect("data")["url"], url);
}

#[test]
fn client_codes_are_distinct_and_outside_json_rpc_ranges() {
    let codes = [
        client_code::CONNECT,
        client_code::TRANSPORT,
        client_code::BAD_CHALLENGE,
        client_code::WRONG_CIRCLE_KEY,
        client_code::WRONG_CALLER_KEY,
        client_code::ENCODE,
        client_code::INVALID_KEY,
    ];
    for (i, code) in codes.iter().enumerate() {
        assert!(*code > 0, "{code}");
        assert!(!codes[..i].contains(code), "{code} twice");
    }
}
