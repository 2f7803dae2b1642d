//! The sign-in flow end to end.

mod support;

use rpc_types::PlayParams;
use support::{circle, sign_in};

#[tokio::test]
async fn full_flow_hands_the_caller_key_to_the_script() {
    let circle = circle("alice").await;
    let client = circle.connect().await;
    let caller = circles_identity::SecretKey::generate();

    sign_in(&client, &caller).await;
    let result = client
        .play(PlayParams {
            script: "CALLER_PUBLIC_KEY".to_string().into(),
            via: None,
        })
        .await
        .expect("play after authentication");

    assert_eq!(result.output, caller.public_key().to_hex());
    assert_eq!(
        result.value,
        serde_json::json!(caller.public_key().to_hex())
    );
}
