//! Everything the server puts on the wire conforms to `openrpc.json`: each
//! `result` validates against its method's result schema; each error's code
//! is one the method declares, its message is the spec's message for that
//! code, and its `data` validates against the schema the top-level
//! `x-error-data` map gives that error. Requests are raw JSON frames over a
//! raw WebSocket, so what is checked is exactly what was sent.

#[path = "support/raw.rs"]
mod raw;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use circles_identity::SecretKey;
use circles_sandbox::Limits;
use jsonschema::{Draft, Retrieve, Uri, Validator};
use raw::{RawWs, check_envelope};
use rpc_server::CircleSettings;
use serde_json::{Value, json};
use support::{TestCircle, circle};

/// Refuses every URL: the document's own `components` are all there is.
struct NoNetwork;

impl Retrieve for NoNetwork {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("refusing to fetch {uri}").into())
    }
}

/// A declared error of a method, resolved through `components.errors`.
struct DeclaredError {
    /// The key under `components.errors`, e.g. `AuthenticationFailed`.
    key: String,
    code: i64,
    message: String,
    /// From `x-error-data`, if the spec gives this error a data schema.
    data: Option<Validator>,
}

struct MethodSpec {
    result: Validator,
    errors: Vec<DeclaredError>,
}

/// The validators of every method of `openrpc.json`.
struct Spec {
    methods: BTreeMap<String, MethodSpec>,
}

/// A draft-7 validator for `schema`, its `$ref`s resolved against the
/// document's `components` (the `allOf` keeps `$ref` from hiding siblings).
fn validator(doc: &Value, schema: &Value) -> Validator {
    let root = json!({"allOf": [schema], "components": doc["components"]});
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_retriever(NoNetwork)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openrpc.json"))
            .expect("openrpc.json");
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        let error_data = doc["x-error-data"].as_object().expect("x-error-data map");
        for key in error_data.keys() {
            assert!(
                doc["components"]["errors"].get(key).is_some(),
                "x-error-data names an unknown error {key}"
            );
        }
        let methods = doc["methods"]
            .as_array()
            .expect("methods")
            .iter()
            .map(|method| {
                let name = method["name"].as_str().expect("name").to_owned();
                let result = validator(&doc, &method["result"]["schema"]);
                let errors = method["errors"]
                    .as_array()
                    .expect("errors")
                    .iter()
                    .map(|reference| {
                        let key = reference["$ref"]
                            .as_str()
                            .and_then(|r| r.strip_prefix("#/components/errors/"))
                            .unwrap_or_else(|| panic!("{name}: error {reference}"))
                            .to_owned();
                        let error = &doc["components"]["errors"][&key];
                        DeclaredError {
                            code: error["code"].as_i64().expect("code"),
                            message: error["message"].as_str().expect("message").to_owned(),
                            data: error_data.get(&key).map(|schema| validator(&doc, schema)),
                            key,
                        }
                    })
                    .collect();
                (name, MethodSpec { result, errors })
            })
            .collect();
        Spec { methods }
    }

    fn method(&self, name: &str) -> &MethodSpec {
        self.methods
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the spec"))
    }

    /// Checks `response` to a call of `method`; returns `Ok(result)` or
    /// `Err((error key, data))`.
    fn check(&self, method: &str, response: &Value) -> Result<Value, (String, Value)> {
        let spec = self.method(method);
        if let Some(result) = response.get("result") {
            let problems: Vec<String> = spec
                .result
                .iter_errors(result)
                .map(|e| format!("at `{}`: {e}", e.instance_path()))
                .collect();
            assert!(
                problems.is_empty(),
                "{method} result {result}: {problems:?}"
            );
            return Ok(result.clone());
        }
        let error = &response["error"];
        let object = error.as_object().unwrap_or_else(|| panic!("{response}"));
        assert!(
            object
                .keys()
                .all(|k| ["code", "message", "data"].contains(&k.as_str())),
            "unexpected member in {error}"
        );
        let code = error["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{response}"));
        let declared = spec
            .errors
            .iter()
            .find(|e| e.code == code)
            .unwrap_or_else(|| panic!("{method} does not declare code {code}: {response}"));
        assert_eq!(
            error["message"], declared.message,
            "{method}: message of {} ({code})",
            declared.key
        );
        let data = error.get("data").cloned().unwrap_or(Value::Null);
        if let Some(schema) = &declared.data {
            assert!(
                error.get("data").is_some(),
                "{method}: {} without data: {response}",
                declared.key
            );
            let problems: Vec<String> = schema
                .iter_errors(&data)
                .map(|e| format!("at `{}`: {e}", e.instance_path()))
                .collect();
            assert!(
                problems.is_empty(),
                "{method}: {} data {data}: {problems:?}",
                declared.key
            );
        }
        Err((declared.key.clone(), data))
    }
}

/// One raw call: sends the frame, checks the envelope and the body against the spec.
async fn call(
    spec: &Spec,
    ws: &mut RawWs,
    method: &str,
    params: Option<Value>,
) -> Result<Value, (String, Value)> {
    let id = json!(format!("{method}-{}", ws.fresh_id()));
    let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method});
    if let Some(params) = params {
        request["params"] = params;
    }
    let response = ws.exchange(&request.to_string()).await;
    check_envelope(&response, &id);
    spec.check(method, &response)
}

/// Expects the error `key` and returns its data.
async fn expect_error(
    spec: &Spec,
    ws: &mut RawWs,
    method: &str,
    params: Value,
    key: &str,
) -> Value {
    match call(spec, ws, method, Some(params.clone())).await {
        Ok(result) => panic!("{method}({params}): expected {key}, got result {result}"),
        Err((got, data)) => {
            assert_eq!(got, key, "{method}({params}): data {data}");
            data
        }
    }
}

async fn expect_ok(spec: &Spec, ws: &mut RawWs, method: &str, params: Value) -> Value {
    call(spec, ws, method, Some(params.clone()))
        .await
        .unwrap_or_else(|e| panic!("{method}({params}) failed: {e:?}"))
}

/// Sign-in through raw frames, each answer checked against the spec.
async fn sign_in(spec: &Spec, ws: &mut RawWs, key: &SecretKey) {
    let pubkey = key.public_key().to_hex();
    let challenge = expect_ok(spec, ws, "fetch_nonce", json!({ "pubkey": pubkey })).await;
    let message = challenge["message"].as_str().expect("message");
    let signature = key.sign_personal(message);
    let result = expect_ok(
        spec,
        ws,
        "authenticate",
        json!({ "pubkey": pubkey, "signature": signature }),
    )
    .await;
    assert_eq!(result, json!({"authenticated": true, "public_key": pubkey}));
}

#[test]
fn the_validators_reject_what_the_spec_forbids() {
    let spec = Spec::load();
    let play = spec.method("play");
    assert!(
        play.result
            .is_valid(&json!({"output": "", "value": null, "logs": []}))
    );
    assert!(
        !play
            .result
            .is_valid(&json!({"output": 1, "value": null, "logs": []}))
    );
    assert!(!play.result.is_valid(&json!({"output": "", "value": null})));
    assert!(
        !play
            .result
            .is_valid(&json!({"output": "", "value": 1, "logs": [], "x": 1}))
    );
    let data = |method: &str, key: &str| {
        spec.method(method)
            .errors
            .iter()
            .find(|e| e.key == key)
            .and_then(|e| e.data.as_ref())
            .unwrap_or_else(|| panic!("{method}/{key} has a data schema"))
    };
    let auth = data("authenticate", "AuthenticationFailed");
    assert!(auth.is_valid(&json!({"reason": "r"})));
    assert!(!auth.is_valid(&json!("r")));
    assert!(!auth.is_valid(&json!({"reason": "r", "x": 1})));
    let limit = data("play", "ScriptLimitExceeded");
    assert!(limit.is_valid(&json!({"limit": "time", "message": "m", "logs": []})));
    assert!(!limit.is_valid(&json!({"limit": "weather", "message": "m", "logs": []})));
    assert!(!limit.is_valid(&json!({"limit": "time", "message": "m"})));
    let script = data("play", "ScriptRuntimeError");
    assert!(script.is_valid(&json!({"message": "m", "line": 1, "column": 0, "logs": ["a"]})));
    assert!(!script.is_valid(&json!({"message": "m", "line": -1, "column": 0, "logs": []})));
    assert!(!script.is_valid(&json!({"message": "m", "line": 1, "column": 0, "logs": [1]})));
    let authenticate = spec.method("authenticate");
    assert!(!authenticate.result.is_valid(
        &json!({"authenticated": true, "public_key": "0x02466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f27"})
    ));
    let fetch = spec.method("fetch_nonce");
    assert!(
        !fetch
            .result
            .is_valid(&json!({"nonce": "AB", "message": "m", "expires_at": 1}))
    );
}

#[tokio::test]
async fn discover_fetch_nonce_and_authenticate_conform() {
    let spec = Spec::load();
    let circle = circle("conform-auth").await;
    let key = SecretKey::generate();
    let pubkey = key.public_key().to_hex();
    let mut ws = RawWs::connect(&circle.url()).await;

    let document = call(&spec, &mut ws, "rpc.discover", None)
        .await
        .expect("discover");
    assert_eq!(document["openrpc"], "1.3.2");
    call(&spec, &mut ws, "rpc.discover", Some(json!([])))
        .await
        .expect("discover with []");

    // fetch_nonce: every accepted key encoding; then bad params.
    let uncompressed = hex::encode(key.public_key().to_uncompressed_bytes());
    for encoding in [
        pubkey.clone(),
        pubkey.to_uppercase(),
        format!("0x{uncompressed}"),
    ] {
        let result = expect_ok(&spec, &mut ws, "fetch_nonce", json!({ "pubkey": encoding })).await;
        let message = result["message"].as_str().expect("message");
        assert!(message.ends_with(&format!(
            "nonce: {}\nexpires-at: {}",
            result["nonce"].as_str().expect("nonce"),
            result["expires_at"]
        )));
    }
    for params in [
        json!({ "pubkey": "02" }),
        json!({ "pubkey": format!("04{}", "00".repeat(64)) }),
        json!({ "pubkey": pubkey, "extra": 1 }),
        json!([pubkey]),
        json!({}),
    ] {
        expect_error(&spec, &mut ws, "fetch_nonce", params, "InvalidParams").await;
    }
    let data = match call(&spec, &mut ws, "fetch_nonce", None).await {
        Err((key, data)) if key == "InvalidParams" => data,
        other => panic!("fetch_nonce without params: {other:?}"),
    };
    assert!(data.is_string(), "{data}");

    // authenticate failures: each kind of reason.
    // No challenge.
    let signature = key.sign_personal("anything");
    expect_error(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": pubkey, "signature": signature }),
        "AuthenticationFailed",
    )
    .await;
    // Wrong message.
    ws.challenge(&key).await;
    expect_error(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": pubkey, "signature": signature }),
        "AuthenticationFailed",
    )
    .await;
    // Another key claimed.
    let other = SecretKey::generate();
    let message = ws.challenge(&key).await;
    expect_error(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": other.public_key().to_hex(), "signature": other.sign_personal(&message) }),
        "AuthenticationFailed",
    )
    .await;
    // Not on the curve, v = 5: not well-formed, so invalid params.
    let message = ws.challenge(&key).await;
    expect_error(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": format!("04{}", "00".repeat(64)), "signature": key.sign_personal(&message) }),
        "InvalidParams",
    )
    .await;
    let message = ws.challenge(&key).await;
    let bad_v = format!("{}05", &key.sign_personal(&message).to_hex()[..130]);
    expect_error(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": pubkey, "signature": bad_v }),
        "InvalidParams",
    )
    .await;
    // Invalid params.
    for params in [
        json!({ "pubkey": pubkey }),
        json!({ "pubkey": pubkey, "signature": "0x1234" }),
        json!({ "pubkey": pubkey, "signature": signature, "x": 1 }),
        json!([pubkey, signature]),
    ] {
        expect_error(&spec, &mut ws, "authenticate", params, "InvalidParams").await;
    }

    // Success, with each signature length.
    sign_in(&spec, &mut ws, &key).await;
    let message = ws.challenge(&key).await;
    let short = key.sign_personal(&message).to_hex()[..130].to_owned(); // 0x + 64 bytes
    let result = expect_ok(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": format!("0X{}", uncompressed.to_uppercase()), "signature": short }),
    )
    .await;
    assert_eq!(result["public_key"], json!(pubkey));
}

#[tokio::test]
async fn an_expired_challenge_conforms() {
    let spec = Spec::load();
    let circle = TestCircle::start(CircleSettings {
        challenge_ttl: Duration::from_millis(300),
        ..support::settings("conform-expired")
    })
    .await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;
    let challenge = expect_ok(
        &spec,
        &mut ws,
        "fetch_nonce",
        json!({ "pubkey": key.public_key().to_hex() }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let message = challenge["message"].as_str().expect("message");
    expect_error(
        &spec,
        &mut ws,
        "authenticate",
        json!({ "pubkey": key.public_key().to_hex(), "signature": key.sign_personal(message) }),
        "AuthenticationFailed",
    )
    .await;
}

#[tokio::test]
async fn play_results_and_errors_conform() {
    let spec = Spec::load();
    let circle = circle("conform-play").await;
    let mut ws = RawWs::connect(&circle.url()).await;

    // Unauthenticated, with valid and with invalid params.
    expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": "1"}),
        "Unauthenticated",
    )
    .await;
    expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": 1}),
        "InvalidParams",
    )
    .await;

    sign_in(&spec, &mut ws, &SecretKey::generate()).await;

    // Results of every shape.
    let cases = [
        ("40 + 2", json!(42), "42"),
        ("()", Value::Null, ""),
        ("let x = 1;", Value::Null, ""),
        ("\"text\"", json!("text"), "text"),
        ("2.5", json!(2.5), "2.5"),
        ("true", json!(true), "true"),
        ("[1, \"a\", ()]", json!([1, "a", null]), "[1, \"a\", ()]"),
        ("#{a: 1}", json!({"a": 1}), "#{\"a\": 1}"),
        ("'x'", json!("x"), "x"),
    ];
    for (script, value, output) in cases {
        let result = expect_ok(&spec, &mut ws, "play", json!({ "script": script })).await;
        assert_eq!(result["value"], value, "{script}");
        assert_eq!(result["output"], output, "{script}");
    }
    let result = expect_ok(
        &spec,
        &mut ws,
        "play",
        json!({"script": "print(\"one\"); print(2); debug(\"three\"); CIRCLE_ID"}),
    )
    .await;
    assert_eq!(result["output"], "conform-play");
    assert_eq!(result["logs"].as_array().map(Vec::len), Some(3), "{result}");

    // Compile errors.
    for script in ["let x = ;", "fn (", "1 +", "let 1 = 2;", "\"unterminated"] {
        let data = expect_error(
            &spec,
            &mut ws,
            "play",
            json!({ "script": script }),
            "ScriptCompileError",
        )
        .await;
        assert!(
            data["line"].as_u64().is_some_and(|l| l >= 1),
            "{script}: {data}"
        );
    }
    // Runtime errors.
    for script in [
        "throw \"boom\"",
        "let a = [1]; a[10]",
        "1 / 0",
        "undefined_function()",
        "let x = 1;\nx.no_such_method()",
        "fn f() { throw 1 } f()",
    ] {
        expect_error(
            &spec,
            &mut ws,
            "play",
            json!({ "script": script }),
            "ScriptRuntimeError",
        )
        .await;
    }
    // What a failing script printed comes with its error.
    let data = expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": "print(\"before\"); throw \"boom\""}),
        "ScriptRuntimeError",
    )
    .await;
    assert_eq!(data["logs"], json!(["before"]));
    let data = expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": "print(\"spinning\"); loop {}"}),
        "ScriptLimitExceeded",
    )
    .await;
    assert_eq!(data["logs"], json!(["spinning"]));
    // Limits with the default settings.
    let data = expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": "fn f(n) { f(n + 1) } f(0)"}),
        "ScriptLimitExceeded",
    )
    .await;
    assert_eq!(data["limit"], "call_depth");
    let data = expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": "import \"anything\" as m; 1"}),
        "ScriptLimitExceeded",
    )
    .await;
    assert_eq!(data["limit"], "modules");
    let deep = format!("{}1{}", "(".repeat(300), ")".repeat(300));
    let data = expect_error(
        &spec,
        &mut ws,
        "play",
        json!({ "script": deep }),
        "ScriptLimitExceeded",
    )
    .await;
    assert_eq!(data["limit"], "expression_depth");

    // Over the script size limit: invalid params.
    let huge = format!("{}1", " ".repeat(70_000));
    expect_error(
        &spec,
        &mut ws,
        "play",
        json!({ "script": huge }),
        "InvalidParams",
    )
    .await;
    // Other invalid params.
    for params in [
        json!({"script": "1", "x": 1}),
        json!(["1"]),
        json!({}),
        json!({"script": null}),
    ] {
        expect_error(&spec, &mut ws, "play", params, "InvalidParams").await;
    }
    match call(&spec, &mut ws, "play", None).await {
        Err((key, _)) => assert_eq!(key, "InvalidParams"),
        Ok(result) => panic!("play without params ran: {result}"),
    }
}

#[tokio::test]
async fn every_limit_error_conforms() {
    let spec = Spec::load();
    let settings = |id: &str, limits: Limits| CircleSettings {
        limits,
        ..support::settings(id)
    };
    let cases = [
        (
            Limits {
                max_operations: 1_000,
                ..Limits::default()
            },
            "loop {}",
            "operations",
        ),
        (
            Limits {
                max_operations: u64::MAX,
                max_time_ms: 50,
                ..Limits::default()
            },
            "loop {}",
            "time",
        ),
        (
            Limits {
                max_string_size: 100,
                ..Limits::default()
            },
            "let s = \"x\"; for i in 0..10 { s += s; } s",
            "string_size",
        ),
        (
            Limits {
                max_array_size: 10,
                ..Limits::default()
            },
            "let a = []; for i in 0..100 { a.push(i); } a",
            "array_size",
        ),
        (
            Limits {
                max_map_size: 10,
                ..Limits::default()
            },
            // (`m[key] = v` alone is a known rhai gap: it checks the value only.)
            "let m = #{}; for i in 0..100 { let x = #{}; x[`k${i}`] = i; m += x; } m",
            "map_size",
        ),
        (
            Limits {
                max_call_depth: 8,
                ..Limits::default()
            },
            "fn f(n) { if n == 0 { 0 } else { f(n - 1) } } f(100)",
            "call_depth",
        ),
        (
            Limits {
                max_expr_depth: 8,
                ..Limits::default()
            },
            "((((((((((((1))))))))))))",
            "expression_depth",
        ),
    ];
    for (index, (limits, script, limit)) in cases.into_iter().enumerate() {
        let circle = TestCircle::start(settings(&format!("limits-{index}"), limits)).await;
        let mut ws = RawWs::connect(&circle.url()).await;
        sign_in(&spec, &mut ws, &SecretKey::generate()).await;
        let data = expect_error(
            &spec,
            &mut ws,
            "play",
            json!({ "script": script }),
            "ScriptLimitExceeded",
        )
        .await;
        assert_eq!(data["limit"], limit, "{script}: {data}");
        // The circle still runs scripts within its limits.
        let result = expect_ok(&spec, &mut ws, "play", json!({"script": "1 + 1"})).await;
        assert_eq!(result["value"], 2);
        circle.server.stop().await;
    }

    // A script over a small size limit is -32602 with a reason naming the limit.
    let circle = TestCircle::start(settings(
        "limits-script",
        Limits {
            max_script_bytes: 16,
            ..Limits::default()
        },
    ))
    .await;
    let mut ws = RawWs::connect(&circle.url()).await;
    sign_in(&spec, &mut ws, &SecretKey::generate()).await;
    let data = expect_error(
        &spec,
        &mut ws,
        "play",
        json!({"script": "1 + 1 + 1 + 1 + 1 + 1"}),
        "InvalidParams",
    )
    .await;
    let reason = data.as_str().unwrap_or_default();
    assert!(reason.contains("script_size"), "{data}");
    expect_ok(&spec, &mut ws, "play", json!({"script": "1 + 1"})).await;
}

#[tokio::test]
async fn call_and_list_functions_results_and_errors_conform() {
    let spec = Spec::load();
    let library = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        library.path().join("book.rhai"),
        "/// Echoes.\nfn echo(a) { a }\nfn fail() { throw \"no\" }\nfn spin() { loop {} }",
    )
    .expect("write");
    std::fs::write(library.path().join("broken.rhai"), "fn (").expect("write");
    let circle =
        TestCircle::start_with_library(support::settings("conform-call"), library.path()).await;
    let mut ws = RawWs::connect(&circle.url()).await;
    let echo = json!({"module": "book", "function": "echo", "args": [1]});
    expect_error(&spec, &mut ws, "call", echo.clone(), "Unauthenticated").await;
    expect_error(
        &spec,
        &mut ws,
        "list_functions",
        json!({}),
        "Unauthenticated",
    )
    .await;
    sign_in(&spec, &mut ws, &SecretKey::generate()).await;

    let result = expect_ok(&spec, &mut ws, "call", echo).await;
    assert_eq!(result["value"], json!(1));
    let listed = expect_ok(&spec, &mut ws, "list_functions", json!({})).await;
    assert_eq!(
        listed["functions"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    for (params, key) in [
        (json!({"module": "book", "function": "nope"}), "NotCallable"),
        (
            json!({"module": "book", "function": "echo", "args": []}),
            "NotCallable",
        ),
        (json!({"module": "gone", "function": "echo"}), "NotCallable"),
        (
            json!({"module": "broken", "function": "f"}),
            "ScriptCompileError",
        ),
        (
            json!({"module": "book", "function": "fail"}),
            "ScriptRuntimeError",
        ),
        (
            json!({"module": "book", "function": "spin"}),
            "ScriptLimitExceeded",
        ),
        (
            json!({"module": "book", "function": "echo", "args": 1}),
            "InvalidParams",
        ),
        (
            json!({"module": "book", "function": "bad name"}),
            "InvalidParams",
        ),
    ] {
        expect_error(&spec, &mut ws, "call", params, key).await;
    }

    // Forbidden, from a circle whose published functions are for members only.
    let mut members_only = support::settings("conform-forbidden");
    members_only.access.access.call = rpc_server::Audience::Members;
    let circle = TestCircle::start_with_library(members_only, library.path()).await;
    let mut ws = RawWs::connect(&circle.url()).await;
    sign_in(&spec, &mut ws, &SecretKey::generate()).await;
    let data = expect_error(
        &spec,
        &mut ws,
        "call",
        json!({"module": "book", "function": "echo", "args": [1]}),
        "Forbidden",
    )
    .await;
    assert_eq!(data["action"], "call", "{data}");
    expect_error(&spec, &mut ws, "list_functions", json!({}), "Forbidden").await;
    let mut play_forbidden = support::settings("conform-forbidden-play");
    play_forbidden.access.access.play = rpc_server::Audience::Members;
    let circle = TestCircle::start(play_forbidden).await;
    let mut ws = RawWs::connect(&circle.url()).await;
    sign_in(&spec, &mut ws, &SecretKey::generate()).await;
    expect_error(&spec, &mut ws, "play", json!({"script": "1"}), "Forbidden").await;
}
