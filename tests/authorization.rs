//! The access policy and published functions over the wire: who may `play`, who may `call`
//! and `list_functions`, and what a published function knows of its caller.

#[path = "support/raw.rs"]
mod raw;
mod support;

use circles_identity::SecretKey;
use rpc_server::{Access, AccessPolicy, Audience, CircleSettings};
use rpc_types::client::RequestError;
use rpc_types::{
    CallError, CallParams, ListFunctionsError, NotCallableProblem, PlayError, PlayParams,
};
use serde_json::{Value, json};
use support::{Client, TestCircle, sign_in};

const BOOK: &str = r#"
/// Signs with `text`; returns who signed, and whether a member.
fn sign(text) { [caller_public_key(), caller_is_member(), text] }
fn echo(a) { a }
fn echo(a, b) { [a, b] }
private fn secret() { 42 }
"#;

struct Fixture {
    circle: TestCircle,
    member: SecretKey,
    _library: tempfile::TempDir,
}

/// A circle with the module `book`, one member, and `access` as given.
async fn fixture(access: Access) -> Fixture {
    let library = tempfile::tempdir().expect("tempdir");
    std::fs::write(library.path().join("book.rhai"), BOOK).expect("write");
    let member = SecretKey::generate();
    let settings = CircleSettings {
        access: AccessPolicy {
            members: [member.public_key()].into(),
            access,
        },
        ..CircleSettings::new("policy")
    };
    let circle = TestCircle::start_with_library(settings, library.path()).await;
    Fixture {
        circle,
        member,
        _library: library,
    }
}

async fn signed_in(circle: &TestCircle, key: &SecretKey) -> Client {
    let client = circle.connect().await;
    sign_in(&client, key).await;
    client
}

fn call(module: &str, function: &str, args: Value) -> CallParams {
    CallParams {
        module: module.parse().expect("module name"),
        function: function.parse().expect("function name"),
        args: args.as_array().cloned(),
        via: None,
    }
}

fn play(script: &str) -> PlayParams {
    PlayParams {
        script: script.to_string().into(),
        via: None,
    }
}

#[tokio::test]
async fn by_default_members_play_and_anyone_signed_in_calls() {
    let f = fixture(Access::default()).await;
    let stranger = SecretKey::generate();
    let client = signed_in(&f.circle, &stranger).await;
    match client.play(play("40 + 2")).await {
        Err(RequestError::Rpc(PlayError::Forbidden(data))) => {
            assert_eq!(data.action, rpc_types::Action::Play);
            assert_eq!(data.allowed, rpc_types::Audience::Members);
            assert!(
                data.reason.contains(&stranger.public_key().to_hex()),
                "{data:?}"
            );
        }
        other => panic!("a stranger's play: {other:?}"),
    }
    let result = client
        .call(call("book", "sign", json!(["hi"])))
        .await
        .expect("a stranger calls a published function");
    assert_eq!(
        result.value,
        json!([stranger.public_key().to_hex(), false, "hi"])
    );

    let member = signed_in(&f.circle, &f.member).await;
    let result = member
        .play(play("[CALLER_IS_MEMBER, 40 + 2]"))
        .await
        .expect("a member plays");
    assert_eq!(result.value, json!([true, 42]));
    let result = member
        .call(call("book", "sign", json!(["me"])))
        .await
        .expect("a member calls");
    assert_eq!(
        result.value,
        json!([f.member.public_key().to_hex(), true, "me"])
    );

    // Anonymous callers: neither by default.
    let anonymous = f.circle.connect().await;
    assert!(matches!(
        anonymous.play(play("1")).await,
        Err(RequestError::Rpc(PlayError::Unauthenticated))
    ));
    assert!(matches!(
        anonymous.call(call("book", "sign", json!(["x"]))).await,
        Err(RequestError::Rpc(CallError::Unauthenticated))
    ));
    assert!(matches!(
        anonymous.list_functions().await,
        Err(RequestError::Rpc(ListFunctionsError::Unauthenticated))
    ));
}

#[tokio::test]
async fn anonymous_callers_follow_the_policy() {
    let f = fixture(Access {
        play: Audience::Members,
        call: Audience::Anyone,
    })
    .await;
    let anonymous = f.circle.connect().await;
    let result = anonymous
        .call(call("book", "sign", json!(["anon"])))
        .await
        .expect("anyone may call");
    assert_eq!(result.value, json!(["", false, "anon"]));
    assert!(anonymous.list_functions().await.is_ok());
    assert!(matches!(
        anonymous.play(play("1")).await,
        Err(RequestError::Rpc(PlayError::Unauthenticated))
    ));

    let members_only = fixture(Access {
        play: Audience::Members,
        call: Audience::Members,
    })
    .await;
    let stranger = signed_in(&members_only.circle, &SecretKey::generate()).await;
    match stranger.call(call("book", "sign", json!(["x"]))).await {
        Err(RequestError::Rpc(CallError::Forbidden(data))) => {
            assert_eq!(data.action, rpc_types::Action::Call)
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        stranger.list_functions().await,
        Err(RequestError::Rpc(ListFunctionsError::Forbidden(_)))
    ));
}

#[tokio::test]
async fn only_published_functions_with_their_arity_are_callable_and_args_stay_data() {
    let f = fixture(Access::default()).await;
    let client = signed_in(&f.circle, &SecretKey::generate()).await;
    for arg in [
        json!("40 + 2"),
        json!("\"); loop {} //"),
        json!({"k": [1, null]}),
    ] {
        let result = client
            .call(call("book", "echo", json!([arg.clone()])))
            .await
            .expect("echo");
        assert_eq!(result.value, arg);
    }
    let cases = [
        (
            "book",
            "secret",
            json!([]),
            NotCallableProblem::NoFunction,
            vec![],
        ),
        (
            "book",
            "nothing",
            json!([]),
            NotCallableProblem::NoFunction,
            vec![],
        ),
        (
            "nope",
            "sign",
            json!(["x"]),
            NotCallableProblem::NoModule,
            vec![],
        ),
        (
            "book",
            "echo",
            json!([1, 2, 3]),
            NotCallableProblem::Arity,
            vec![1, 2],
        ),
        (
            "../book",
            "echo",
            json!([1]),
            NotCallableProblem::BadName,
            vec![],
        ),
    ];
    for (module, function, args, problem, arities) in cases {
        match client.call(call(module, function, args)).await {
            Err(RequestError::Rpc(CallError::NotCallable(data))) => {
                assert_eq!(data.problem, problem, "{module}::{function}");
                assert_eq!(data.arities, arities, "{module}::{function}");
                assert_eq!((&*data.module, &*data.function), (module, function));
            }
            other => panic!("{module}::{function}: {other:?}"),
        }
    }
    // A name the spec's schema refuses never reaches the circle's sandbox.
    let mut ws = raw::RawWs::connect(&f.circle.url()).await;
    let error = ws
        .call("call", json!({"module": "book", "function": "sign(1)"}))
        .await
        .expect_err("refused");
    assert_eq!(error.code, -32602);
}

#[tokio::test]
async fn the_listing_matches_the_module() {
    let f = fixture(Access::default()).await;
    let client = signed_in(&f.circle, &SecretKey::generate()).await;
    let listed = client.list_functions().await.expect("list").functions;
    let listed: Vec<Value> = listed
        .into_iter()
        .map(|f| serde_json::to_value(f).expect("JSON"))
        .collect();
    assert_eq!(
        listed,
        [
            json!({"module": "book", "name": "echo", "params": ["a"], "doc": ""}),
            json!({"module": "book", "name": "echo", "params": ["a", "b"], "doc": ""}),
            json!({"module": "book", "name": "sign", "params": ["text"],
                   "doc": "Signs with `text`; returns who signed, and whether a member."}),
        ]
    );
}
