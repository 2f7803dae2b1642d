//! Every method the spec marks as protected (it lists the error
//! `#/components/errors/Unauthenticated`) refuses unauthenticated callers
//! with Unauthenticated, even with valid params; and a circle that does not require
//! authentication runs scripts for anonymous callers.

#[path = "support/raw.rs"]
mod raw;
mod support;

use circles_identity::SecretKey;
use raw::RawWs;
use rpc_server::CircleSettings;
use rpc_types::PlayParams;
use serde_json::{Map, Value, json};
use support::{TestCircle, circle};

const UNAUTHENTICATED: &str = "#/components/errors/Unauthenticated";

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openrpc.json"))
        .expect("openrpc.json");
    serde_json::from_str(&text).expect("openrpc.json is JSON")
}

/// (method name, by-name params of its first example pairing) of every
/// protected method.
fn protected_methods(spec: &Value) -> Vec<(String, Value)> {
    spec["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter(|method| {
            method["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(|e| e["$ref"] == UNAUTHENTICATED))
        })
        .map(|method| {
            let name = method["name"].as_str().expect("a method name").to_owned();
            let pairing = method["examples"]
                .get(0)
                .unwrap_or_else(|| panic!("{name} has no example pairing"));
            let params: Map<String, Value> = pairing["params"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: example params"))
                .iter()
                .map(|param| {
                    let key = param["name"].as_str().expect("param name").to_owned();
                    (key, param["value"].clone())
                })
                .collect();
            (name, Value::Object(params))
        })
        .collect()
}

#[tokio::test]
async fn protected_methods_refuse_unauthenticated_callers() {
    let spec = spec();
    let protected = protected_methods(&spec);
    let names: Vec<&str> = protected.iter().map(|(name, _)| name.as_str()).collect();
    assert!(!protected.is_empty(), "the spec protects no method");
    assert!(names.contains(&"play"), "play is not protected: {names:?}");

    let circle = circle("protected").await;
    for (method, params) in &protected {
        // A fresh connection that never authenticated.
        let mut ws = RawWs::connect(&circle.url()).await;
        let error = ws
            .call(method, params.clone())
            .await
            .expect_err(&format!("{method}({params}) ran unauthenticated"));
        assert_eq!(
            error.code,
            rpc_types::error_code::UNAUTHENTICATED,
            "{method}: {:?}",
            error.response
        );
        assert_eq!(error.message, "unauthenticated", "{method}");

        // A connection with a challenge but no successful authenticate.
        let key = SecretKey::generate();
        ws.challenge(&key).await;
        let error = ws
            .call(method, params.clone())
            .await
            .expect_err(&format!("{method} ran with only a challenge"));
        assert_eq!(
            error.code,
            rpc_types::error_code::UNAUTHENTICATED,
            "{method} after fetch_nonce"
        );

        // After a failed authenticate.
        let message = ws.challenge(&key).await;
        ws.authenticate(
            &key.public_key().to_hex(),
            &key.sign_personal(&format!("{message}.")),
        )
        .await
        .expect_err("a signature of another text is refused");
        let error = ws
            .call(method, params.clone())
            .await
            .expect_err(&format!("{method} ran after a failed authenticate"));
        assert_eq!(
            error.code,
            rpc_types::error_code::UNAUTHENTICATED,
            "{method} after a failed authenticate"
        );

        // The control: the same call on the same connection once signed in is
        // not refused for want of authentication.
        ws.sign_in(&key).await;
        if let Err(error) = ws.call(method, params.clone()).await {
            assert_ne!(
                error.code,
                rpc_types::error_code::UNAUTHENTICATED,
                "{method} signed in: {:?}",
                error.response
            );
        }
    }
}

#[tokio::test]
async fn the_example_play_runs_once_signed_in() {
    let spec = spec();
    let play = spec["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .find(|m| m["name"] == "play")
        .expect("play");
    let pairing = &play["examples"][0];
    let script = pairing["params"][0]["value"].as_str().expect("script");

    let circle = circle("example").await;
    let mut ws = RawWs::connect(&circle.url()).await;
    ws.sign_in(&SecretKey::generate()).await;
    let result = ws.play(script).await.expect("example runs");
    assert_eq!(result, pairing["result"]["value"]);
}

#[tokio::test]
async fn an_open_circle_runs_anonymous_scripts_with_an_empty_caller() {
    let circle = TestCircle::start(CircleSettings {
        access: rpc_server::AccessPolicy {
            access: rpc_server::Access::OPEN,
            ..Default::default()
        },
        ..CircleSettings::new("open")
    })
    .await;

    // The typed client.
    let client = circle.connect().await;
    let result = client
        .play(PlayParams {
            script: "CALLER_PUBLIC_KEY".to_string().into(),
            via: None,
        })
        .await
        .expect("anonymous play");
    assert_eq!(result.output, "");
    assert_eq!(result.value, json!(""));
    assert!(result.logs.is_empty());

    // Raw frames, and every protected method's example.
    let mut ws = RawWs::connect(&circle.url()).await;
    let result = ws.play("CALLER_PUBLIC_KEY").await.expect("anonymous play");
    assert_eq!(result, json!({"output": "", "value": "", "logs": []}));
    let result = ws.play("CIRCLE_ID").await.expect("anonymous play");
    assert_eq!(result["output"], "open");
    for (method, params) in protected_methods(&spec()) {
        if let Err(error) = ws.call(&method, params.clone()).await {
            assert_ne!(
                error.code,
                rpc_types::error_code::UNAUTHENTICATED,
                "{method} on an open circle: {:?}",
                error.response
            );
        }
    }

    // Signing in on an open circle still sets the caller.
    let key = SecretKey::generate();
    ws.sign_in(&key).await;
    let result = ws.play("CALLER_PUBLIC_KEY").await.expect("signed-in play");
    assert_eq!(result["output"], json!(key.public_key().to_hex()));
}
