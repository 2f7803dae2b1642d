//! The client on wasm32, in headless Chromium, against a real circle.
//!
//! `tools/wasm.sh` starts a circle (sign-in required; any signed-in caller may play) on 127.0.0.1 and
//! passes its URL at compile time in `CIRCLES_WASM_TEST_URL`, then runs these
//! with wasm-bindgen-test-runner. They are empty on other targets.
#![cfg(target_arch = "wasm32")]

use rpc_client::web::{self, ClientErrorCode, WebCircle};
use rpc_client::{Error, PlayError, PublicKey, SecretKey, client_code};
use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn url() -> &'static str {
    match option_env!("CIRCLES_WASM_TEST_URL") {
        Some(url) => url,
        None => panic!(
            "CIRCLES_WASM_TEST_URL is not set at compile time: run these tests with tools/wasm.sh"
        ),
    }
}

/// A connection signed in with a fresh key.
async fn signed_in() -> (rpc_client::CircleClient<rpc_client::Transport>, SecretKey) {
    let key = SecretKey::generate();
    let circle = rpc_client::connect(url()).await.expect("connect");
    circle.authenticate(&key, None).await.expect("authenticate");
    (circle, key)
}

/// The circle's true public key, as a signed-in script sees it.
async fn circle_key() -> PublicKey {
    let (circle, _) = signed_in().await;
    let output = circle.play("CIRCLE_PUBLIC_KEY").await.expect("play").output;
    PublicKey::from_hex(&output).expect("CIRCLE_PUBLIC_KEY is a key")
}

fn get(value: &JsValue, field: &str) -> JsValue {
    js_sys::Reflect::get(value, &field.into()).expect("property")
}

fn code_of(error: &JsValue) -> i32 {
    get(error, "code").as_f64().expect("numeric code") as i32
}

#[wasm_bindgen_test]
async fn authenticated_caller_is_our_public_key() {
    let key = SecretKey::generate();
    let circle = rpc_client::connect(url()).await.expect("connect");
    let identity = circle.authenticate(&key, None).await.expect("authenticate");
    assert_eq!(identity, key.public_key());
    let result = circle.play("CALLER_PUBLIC_KEY").await.expect("play");
    assert_eq!(result.output, key.public_key().to_hex());
    assert_eq!(
        result.value,
        serde_json::Value::String(key.public_key().to_hex())
    );
}

#[wasm_bindgen_test]
async fn the_right_expected_circle_key_is_accepted() {
    let expected = circle_key().await;
    let key = SecretKey::generate();
    let circle = rpc_client::connect(url()).await.expect("connect");
    circle
        .authenticate(&key, Some(&expected))
        .await
        .expect("the circle's own key is accepted");
    let result = circle.play("CALLER_PUBLIC_KEY").await.expect("play");
    assert_eq!(result.output, key.public_key().to_hex());
}

#[wasm_bindgen_test]
async fn a_wrong_expected_circle_key_is_refused_before_signing() {
    let truth = circle_key().await;
    let impostor = SecretKey::generate().public_key();
    let circle = rpc_client::connect(url()).await.expect("connect");
    let error = circle
        .authenticate(&SecretKey::generate(), Some(&impostor))
        .await
        .expect_err("a challenge from another circle must be refused");
    assert_eq!(error.code(), client_code::WRONG_CIRCLE_KEY);
    match error {
        Error::WrongCircleKey { expected, got } => {
            assert_eq!(expected, impostor);
            assert_eq!(got, truth);
        }
        other => panic!("expected WrongCircleKey, got {other}"),
    }
    // Nothing was signed or sent: the connection is still anonymous.
    match circle.play("1").await {
        Err(Error::Play(PlayError::Unauthenticated)) => {}
        other => panic!("expected Unauthenticated after the refusal, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn play_before_authenticate_is_32002() {
    let circle = rpc_client::connect(url()).await.expect("connect");
    let error = circle.play("40 + 2").await.expect_err("unauthenticated");
    assert_eq!(error.code(), rpc_client::error_code::UNAUTHENTICATED);
    assert!(matches!(error, Error::Play(PlayError::Unauthenticated)));
}

#[wasm_bindgen_test]
async fn a_compile_error_carries_its_typed_position() {
    let (circle, _) = signed_in().await;
    let error = circle.play("let x = ;").await.expect_err("compile error");
    assert_eq!(error.code(), rpc_client::error_code::SCRIPT_COMPILE_ERROR);
    match &error {
        Error::Play(PlayError::ScriptCompileError(data)) => {
            assert_eq!(data.line, 1, "{data:?}");
            assert!(!data.message.is_empty(), "{data:?}");
        }
        other => panic!("expected ScriptCompileError, got {other:?}"),
    }
    // What page JavaScript gets as `data`: the same, as JSON.
    let data = error.data().expect("data");
    assert_eq!(data["line"], 1, "{data}");
}

#[wasm_bindgen_test]
async fn connecting_to_nothing_fails_at_connect() {
    // Port 1 has no server (and browsers block it): either way no connection.
    let error = match rpc_client::connect("ws://127.0.0.1:1").await {
        Ok(_) => panic!("connected to nothing"),
        Err(error) => error,
    };
    assert_eq!(error.code(), client_code::CONNECT, "{error}");
}

#[wasm_bindgen_test]
async fn discover_returns_the_openrpc_document() {
    let circle = rpc_client::connect(url()).await.expect("connect");
    let document = circle.discover().await.expect("discover");
    assert!(document.get("openrpc").is_some());
}

// The JS-facing wrapper (what console.js calls).

#[wasm_bindgen_test]
fn keys_from_js() {
    let secret = web::generate_key();
    assert_eq!(secret.len(), 64);
    let public = web::public_key(&secret).expect("valid secret");
    let key = SecretKey::from_hex(&secret).expect("hex");
    assert_eq!(public, key.public_key().to_hex());
    assert_ne!(web::generate_key(), secret);

    let error = web::public_key("not hex").expect_err("invalid");
    assert!(error.is_instance_of::<js_sys::Error>());
    assert_eq!(code_of(&error), client_code::INVALID_KEY);
    assert_eq!(
        get(&error, "name").as_string().as_deref(),
        Some("CirclesError")
    );
    assert!(get(&error, "message").as_string().is_some());
}

#[wasm_bindgen_test]
fn js_error_codes_match_the_library() {
    for (code, value) in ClientErrorCode::ALL {
        assert_eq!(code as i32, value, "{code:?}");
    }
}

#[wasm_bindgen_test]
async fn web_circle_signs_in_and_plays() {
    let secret = web::generate_key();
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    assert_eq!(circle.url(), url());

    let refused = circle.play("1".into()).await.expect_err("unauthenticated");
    assert_eq!(code_of(&refused), rpc_client::error_code::UNAUTHENTICATED);
    assert_eq!(
        get(&refused, "message").as_string().as_deref(),
        Some("unauthenticated")
    );

    let public = circle
        .authenticate(secret.clone().into(), Some(String::new()))
        .await
        .unwrap_or_else(|e| panic!("authenticate: {e:?}"));
    assert_eq!(public, web::public_key(&secret).expect("key"));

    let result = circle
        .play("print(\"hi\"); 40 + 2".into())
        .await
        .unwrap_or_else(|e| panic!("play: {e:?}"));
    assert_eq!(get(&result, "output").as_string().as_deref(), Some("42"));
    assert_eq!(get(&result, "value").as_f64(), Some(42.0));
    let logs: js_sys::Array = get(&result, "logs").dyn_into().expect("logs is an array");
    assert_eq!(logs.length(), 1);
    assert_eq!(logs.get(0).as_string().as_deref(), Some("hi"));

    let map = circle
        .play("#{a: [1, 2], b: ()}".into())
        .await
        .unwrap_or_else(|e| panic!("play: {e:?}"));
    let value = get(&map, "value");
    assert!(value.is_object() && !value.is_instance_of::<js_sys::Map>());
    assert!(js_sys::Array::is_array(&get(&value, "a")));
    assert!(get(&value, "b").is_null());

    let compile = circle
        .play("let x = ;".into())
        .await
        .expect_err("compile error");
    assert_eq!(
        code_of(&compile),
        rpc_client::error_code::SCRIPT_COMPILE_ERROR
    );
    assert!(get(&get(&compile, "data"), "line").as_f64().is_some());

    let document = circle
        .discover()
        .await
        .unwrap_or_else(|e| panic!("discover: {e:?}"));
    assert!(get(&document, "openrpc").as_string().is_some());
}

#[wasm_bindgen_test]
async fn web_circle_refuses_a_wrong_circle_key() {
    let truth = circle_key().await;
    let impostor = SecretKey::generate().public_key().to_hex();
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    let error = circle
        .authenticate(web::generate_key().into(), Some(impostor.clone()))
        .await
        .expect_err("wrong circle key");
    assert_eq!(code_of(&error), ClientErrorCode::WrongCircleKey as i32);
    let data = get(&error, "data");
    assert_eq!(get(&data, "expected").as_string(), Some(impostor));
    assert_eq!(get(&data, "got").as_string(), Some(truth.to_hex()));

    let bad = circle
        .authenticate(web::generate_key().into(), Some("02zz".into()))
        .await
        .expect_err("not a key");
    assert_eq!(code_of(&bad), client_code::INVALID_KEY);
}

#[wasm_bindgen_test]
async fn web_circle_connect_failure_is_1001() {
    let error = match WebCircle::connect("ws://127.0.0.1:1".into()).await {
        Ok(_) => panic!("connected to nothing"),
        Err(error) => error,
    };
    assert_eq!(code_of(&error), ClientErrorCode::Connect as i32);
    assert_eq!(
        get(&get(&error, "data"), "url").as_string().as_deref(),
        Some("ws://127.0.0.1:1")
    );
}

#[wasm_bindgen_test]
async fn a_function_name_off_its_pattern_is_refused_before_sending() {
    let (circle, _) = signed_in().await;
    let error = circle
        .call("no-such-module", "9lives", Vec::new())
        .await
        .expect_err("invalid name");
    assert_eq!(error.code(), client_code::ENCODE, "{error}");
    assert!(
        matches!(
            &error,
            Error::InvalidName {
                what: "function",
                ..
            }
        ),
        "{error:?}"
    );
    // A well-formed name is sent: the circle answers (no such module).
    let error = circle
        .call("no-such-module", "f", Vec::new())
        .await
        .expect_err("no such module");
    assert!(matches!(error, Error::Call(_)), "{error:?}");
}

#[wasm_bindgen_test]
async fn web_circle_call_takes_a_js_array_and_lists_functions() {
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    circle
        .authenticate(web::generate_key().into(), None)
        .await
        .unwrap_or_else(|e| panic!("authenticate: {e:?}"));

    let not_array = circle
        .call("no-such-module".into(), "f".into(), "text".into())
        .await
        .expect_err("args not an array");
    assert_eq!(code_of(&not_array), ClientErrorCode::Encode as i32);
    let message = get(&not_array, "message").as_string().unwrap_or_default();
    assert!(
        message.starts_with("args must be an array of JSON values"),
        "{message}"
    );

    let bad_name = circle
        .call("no-such-module".into(), "f😀".into(), JsValue::UNDEFINED)
        .await
        .expect_err("invalid function name");
    assert_eq!(code_of(&bad_name), ClientErrorCode::Encode as i32);

    // JSON values (undefined in an array is null, as JSON.stringify has it) reach the circle.
    let args = js_sys::Array::of3(&1.into(), &"x".into(), &JsValue::UNDEFINED);
    let sent = circle
        .call("no-such-module".into(), "f".into(), args.into())
        .await
        .expect_err("no such module");
    let code = code_of(&sent);
    assert!(
        code == rpc_client::error_code::NOT_CALLABLE || code == rpc_client::error_code::FORBIDDEN,
        "code {code}"
    );

    let functions = circle
        .list_functions()
        .await
        .unwrap_or_else(|e| panic!("listFunctions: {e:?}"));
    assert!(js_sys::Array::is_array(&functions));
}

#[wasm_bindgen_test]
async fn web_circle_results_keep_numbers_beyond_2_pow_53() {
    // Rhai integers are i64: a value JS cannot hold exactly comes as the nearest
    // number (what JSON.parse gives), not as a null result.
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    circle
        .authenticate(web::generate_key().into(), None)
        .await
        .unwrap_or_else(|e| panic!("authenticate: {e:?}"));
    let result = circle
        .play("(1 << 60) + 1".into())
        .await
        .unwrap_or_else(|e| panic!("play: {e:?}"));
    assert_eq!(
        get(&result, "output").as_string().as_deref(),
        Some("1152921504606846977")
    );
    assert_eq!(get(&result, "value").as_f64(), Some(1152921504606846976.0));
}

/// A signer object `{publicKey, sign}` as a wallet-backed page passes it:
/// `sign` records the messages it is given and answers with `answer(message)`.
fn signer(
    public_key: &str,
    answer: impl Fn(&str) -> JsValue + 'static,
) -> (JsValue, Rc<RefCell<Vec<String>>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sign = Closure::<dyn Fn(String) -> JsValue>::new({
        let seen = seen.clone();
        move |message: String| {
            let reply = answer(&message);
            seen.borrow_mut().push(message);
            reply
        }
    });
    let object = js_sys::Object::new();
    js_sys::Reflect::set(&object, &"publicKey".into(), &public_key.into()).expect("set");
    js_sys::Reflect::set(&object, &"sign".into(), sign.as_ref()).expect("set");
    sign.forget();
    (object.into(), seen)
}

#[wasm_bindgen_test]
async fn web_circle_signs_in_with_a_signer_like_a_wallet() {
    let secret = web::generate_key();
    let public = web::public_key(&secret).expect("key");
    let truth = circle_key().await;
    // The wallet answers asynchronously, with a promise, as EIP-1193 providers do.
    let (key, seen) = signer(&public, {
        let secret = secret.clone();
        move |message| {
            let signature = web::sign_personal(&secret, message).expect("sign");
            js_sys::Promise::resolve(&JsValue::from(signature)).into()
        }
    });
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    let signed_in = circle
        .authenticate(key, Some(truth.to_hex()))
        .await
        .unwrap_or_else(|e| panic!("authenticate: {e:?}"));
    assert_eq!(signed_in, public);
    // The signer saw the challenge, unchanged: it names us and the circle.
    let seen = seen.borrow().clone();
    assert_eq!(seen.len(), 1);
    let challenge = rpc_client::ChallengeMessage::parse(&seen[0]).expect("a challenge");
    assert_eq!(challenge.caller_key.to_hex(), public);
    assert_eq!(challenge.circle_key, truth);
    let result = circle.play("CALLER_PUBLIC_KEY".into()).await.expect("play");
    assert_eq!(get(&result, "output").as_string(), Some(public));
}

#[wasm_bindgen_test]
async fn a_signer_is_not_asked_to_sign_for_another_circle() {
    let impostor = SecretKey::generate().public_key().to_hex();
    let public = web::public_key(&web::generate_key()).expect("key");
    let (key, seen) = signer(&public, |_| JsValue::from("0x00"));
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    let error = circle
        .authenticate(key, Some(impostor))
        .await
        .expect_err("wrong circle key");
    assert_eq!(code_of(&error), ClientErrorCode::WrongCircleKey as i32);
    assert!(seen.borrow().is_empty(), "the signer was asked to sign");
}

#[wasm_bindgen_test]
async fn what_a_signer_throws_or_returns_wrong_comes_back() {
    let public = web::public_key(&web::generate_key()).expect("key");
    let circle = WebCircle::connect(url().to_string())
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));

    // A wallet whose user declines rejects with {code: 4001}: passed on unchanged.
    let (declines, _) = signer(&public, |_| {
        let error = js_sys::Object::new();
        js_sys::Reflect::set(&error, &"code".into(), &4001.into()).expect("set");
        js_sys::Promise::reject(&error).into()
    });
    let error = circle
        .authenticate(declines, None)
        .await
        .expect_err("declined");
    assert_eq!(code_of(&error), 4001);

    // Not a signature: refused before sending (1007).
    let (garbles, _) = signer(&public, |_| JsValue::from("0x1234"));
    let error = circle
        .authenticate(garbles, None)
        .await
        .expect_err("garbage");
    assert_eq!(code_of(&error), client_code::INVALID_KEY);

    // A well-formed signature by another key: the circle refuses it (2001).
    let (other, _) = signer(&public, |message| {
        web::sign_personal(&web::generate_key(), message)
            .expect("sign")
            .into()
    });
    let error = circle
        .authenticate(other, None)
        .await
        .expect_err("wrong key");
    assert_eq!(
        code_of(&error),
        rpc_client::error_code::AUTHENTICATION_FAILED
    );

    // No sign function, or no valid public key: 1007.
    let object = js_sys::Object::new();
    js_sys::Reflect::set(&object, &"publicKey".into(), &public.clone().into()).expect("set");
    let error = circle
        .authenticate(object.into(), None)
        .await
        .expect_err("no sign");
    assert_eq!(code_of(&error), client_code::INVALID_KEY);
    let (no_key, _) = signer("nope", |_| JsValue::NULL);
    let error = circle.authenticate(no_key, None).await.expect_err("no key");
    assert_eq!(code_of(&error), client_code::INVALID_KEY);
}
