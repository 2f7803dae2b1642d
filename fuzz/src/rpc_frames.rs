//! JSON-RPC frames into a real circle: the launcher's own `start_circle` (store, script
//! library, sandbox, jsonrpsee server with its session layer and params decoding) serving on
//! 127.0.0.1, talked to over a real WebSocket (tokio-tungstenite).
//!
//! An input is a list of frames, one per line (empty lines skipped; lines that are not UTF-8
//! go as binary frames, the rest as text), sent on one new connection. A line `!sign-in`
//! makes the harness sign in properly (fetch_nonce, a real `personal_sign` signature,
//! authenticate), so that what follows runs as an authenticated caller. After each frame the
//! harness sends a call of an unknown method and waits for its answer.
//!
//! What must hold:
//! - no panic anywhere in the process (server tasks and sandbox workers included);
//! - every frame the circle sends is a JSON-RPC 2.0 response (or a non-empty batch of them)
//!   with `result` or an `error` whose code is JSON-RPC's, jsonrpsee's (-32099..=-32000) or
//!   one declared in `openrpc.json`;
//! - the connection stays open and answers (no frame makes the circle close it or go silent);
//! - once the connection is closed, every call it made finishes (its session is dropped).

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use circles_identity::SecretKey;
use circles_sandbox::Limits;
use futures_util::{SinkExt, StreamExt};
use launcher::config::CircleConfig;
use launcher::{StartedCircle, start_circle};
use rpc_server::Session;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Frames after this many in one input are ignored (bounds the time one input can take).
pub const MAX_FRAMES: usize = 64;

/// How long the circle may take to answer the harness's own calls.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The line that makes the harness sign in.
const SIGN_IN: &[u8] = b"!sign-in";

/// Panics seen anywhere in the process since the fixture started (a libFuzzer build aborts
/// at the first one instead; this is for the corpus replay under `cargo test`).
static PANICS: AtomicUsize = AtomicUsize::new(0);

struct Fixture {
    runtime: tokio::runtime::Runtime,
    url: String,
    caller: SecretKey,
    /// The error codes `openrpc.json` declares.
    declared_codes: BTreeSet<i64>,
    _circle: StartedCircle,
    _folder: tempfile::TempDir,
}

/// Small limits, so that one input stays fast and small whatever scripts it sends.
fn limits() -> Limits {
    Limits {
        max_operations: 100_000,
        max_time_ms: 50,
        max_string_size: 64 * 1024,
        max_array_size: 4096,
        max_map_size: 4096,
        max_log_bytes: 16 * 1024,
        workers: 2,
        queue: 8,
        cache_entries: 64,
        ..Limits::default()
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let folder = tempfile::Builder::new()
            .prefix("circles-fuzz-rpc-")
            .tempdir()
            .expect("a temporary folder");
        // The harness's caller is a member: `!sign-in` reaches `play` (members only, the
        // default) as well as `call` and `list_functions` (anyone signed in).
        let caller = SecretKey::generate();
        // As circles.json would say it (fields added later keep their defaults).
        let config: CircleConfig = serde_json::from_value(json!({
            "id": "fuzz",
            "port": 0,
            "db_path": folder.path().join("data"),
            "rhai_path": crate::workspace_root().join("scripts/alice"),
            "members": [caller.public_key().to_hex()],
            "limits": limits(),
            "server": {"max_message_bytes": 32 * 1024, "max_batch_calls": 8},
        }))
        .expect("a valid circle config");
        let circle = runtime
            .block_on(start_circle(&config, None))
            .expect("the fuzzed circle starts");
        let spec: Value = serde_json::from_str(include_str!("../../openrpc.json"))
            .expect("the shipped openrpc.json is JSON");
        let declared_codes = spec["components"]["errors"]
            .as_object()
            .expect("openrpc.json declares errors")
            .values()
            .filter_map(|error| error["code"].as_i64())
            .collect();
        Fixture {
            url: circle.server.url(),
            runtime,
            caller,
            declared_codes,
            _circle: circle,
            _folder: folder,
        }
    })
}

pub fn run(data: &[u8]) {
    let fixture = fixture();
    let panics = PANICS.load(Ordering::SeqCst);
    fixture.runtime.block_on(async {
        let mut connection = Connection::open(fixture).await;
        let frames = data
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .take(MAX_FRAMES);
        for frame in frames {
            if frame == SIGN_IN {
                connection.sign_in().await;
            } else {
                connection.send(frame).await;
                connection.sync().await;
            }
        }
        connection.close().await;
    });
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        panics,
        "something panicked while the circle served this input"
    );
}

/// `CIRCLES_FUZZ_VERBOSE=1` shows every frame sent (→) and received (←) on stderr.
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("CIRCLES_FUZZ_VERBOSE").is_some_and(|v| v == "1"))
}

struct Connection {
    fixture: &'static Fixture,
    ws: Ws,
    syncs: u64,
}

impl Connection {
    async fn open(fixture: &'static Fixture) -> Connection {
        // The previous input's connection is gone and all its calls are done (see close).
        // Without TCP_NODELAY small frames wait for delayed ACKs (40 ms each).
        let (ws, _) = connect_async_with_config(&fixture.url, None, true)
            .await
            .expect("the circle accepts a connection");
        Connection {
            fixture,
            ws,
            syncs: 0,
        }
    }

    async fn send(&mut self, frame: &[u8]) {
        if verbose() {
            eprintln!("→ {}", String::from_utf8_lossy(frame));
        }
        let message = match std::str::from_utf8(frame) {
            Ok(text) => Message::text(text),
            Err(_) => Message::binary(frame.to_vec()),
        };
        if let Err(error) = self.ws.send(message).await {
            panic!("the circle dropped the connection: {error}");
        }
    }

    /// Sends a call and waits for its answer, checking whatever else arrives meanwhile. The
    /// fuzzer can learn the harness's ids and send them too: an answer with the same id that
    /// `ours` does not recognise is another call's.
    async fn call(
        &mut self,
        id: &str,
        method: &str,
        params: Value,
        ours: impl Fn(&Value) -> bool,
    ) -> Value {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(call.to_string().as_bytes()).await;
        loop {
            for response in self.receive().await {
                if response["id"] == id && ours(&response) {
                    return response;
                }
            }
        }
    }

    /// Waits until the circle has read everything sent so far: a call of an unknown method,
    /// answered with -32601 (if it never is, the circle is silent: a failure).
    async fn sync(&mut self) {
        self.syncs += 1;
        let id = format!("fuzz-sync-{}", self.syncs);
        self.call(&id, "fuzz_sync", json!({}), |answer| {
            answer["error"]["code"] == -32601
        })
        .await;
    }

    /// Signs in as the fixture's caller. A challenge of the fuzzed frames' making may still
    /// be in flight and replace the harness's, so it tries up to three times.
    async fn sign_in(&mut self) {
        let key = &self.fixture.caller;
        let pubkey = key.public_key().to_hex();
        for _ in 0..3 {
            let challenge = self
                .call(
                    "fuzz-nonce",
                    "fetch_nonce",
                    json!({"pubkey": pubkey}),
                    |r| {
                        r.get("error").is_some()
                            || r["result"]["message"]
                                .as_str()
                                .is_some_and(|message| message.contains(&pubkey))
                    },
                )
                .await;
            let message = challenge["result"]["message"]
                .as_str()
                .unwrap_or_else(|| panic!("fetch_nonce for a valid key failed: {challenge}"));
            let signature = key.sign_personal(message).to_hex();
            let params = json!({"pubkey": pubkey, "signature": signature});
            let answer = self
                .call("fuzz-auth", "authenticate", params, |r| {
                    r["result"]["public_key"] == pubkey.as_str() || r.get("error").is_some()
                })
                .await;
            if answer["result"]["authenticated"] == true {
                return;
            }
        }
        panic!("a properly signed challenge was refused three times");
    }

    /// The responses in the next frame from the circle, each checked.
    async fn receive(&mut self) -> Vec<Value> {
        loop {
            let next = tokio::time::timeout(ANSWER_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("the circle is silent for {ANSWER_TIMEOUT:?}"));
            match next {
                Some(Ok(Message::Text(text))) => return self.check(text.as_str()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => panic!("the circle sent a non-text frame: {other:?}"),
                Some(Err(error)) => panic!("the connection failed: {error}"),
                None => panic!("the circle closed the connection"),
            }
        }
    }

    /// `text` is a JSON-RPC response or a non-empty batch of them, with known error codes.
    fn check(&self, text: &str) -> Vec<Value> {
        if verbose() {
            eprintln!("← {text}");
        }
        let value: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the circle sent something that is not JSON ({e}): {text}"));
        let responses = match value {
            Value::Array(batch) => {
                assert!(!batch.is_empty(), "an empty batch response");
                batch
            }
            single => vec![single],
        };
        for response in &responses {
            self.check_response(response);
        }
        responses
    }

    fn check_response(&self, response: &Value) {
        let Some(fields) = response.as_object() else {
            panic!("a response that is not an object: {response}");
        };
        assert_eq!(fields.get("jsonrpc"), Some(&json!("2.0")), "{response}");
        assert!(
            matches!(
                fields.get("id"),
                Some(Value::Null | Value::String(_) | Value::Number(_))
            ),
            "a response without a valid id: {response}"
        );
        match (fields.get("result"), fields.get("error")) {
            (Some(_), None) => {}
            (None, Some(error)) => {
                let code = error["code"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("an error without an integer code: {response}"));
                assert!(
                    error["message"].is_string(),
                    "an error without a message: {response}"
                );
                let known = matches!(code, -32700 | -32600 | -32601 | -32602 | -32603)
                    || (-32099..=-32000).contains(&code)
                    || self.fixture.declared_codes.contains(&code);
                assert!(
                    known,
                    "an error code openrpc.json does not declare: {response}"
                );
            }
            _ => panic!("a response needs exactly one of result and error: {response}"),
        }
    }

    /// Closes the connection and waits until the circle has dropped its session: every call
    /// the connection made has finished.
    async fn close(mut self) {
        // The circle may already have answered everything; a failed close is fine here.
        let _ = self.ws.close(None).await;
        let drained = tokio::time::timeout(ANSWER_TIMEOUT, async {
            while let Some(Ok(message)) = self.ws.next().await {
                if let Message::Text(text) = message {
                    self.check(text.as_str());
                }
            }
        })
        .await;
        assert!(drained.is_ok(), "the circle does not close the connection");
        let closed = tokio::time::Instant::now();
        if verbose() {
            eprintln!("(connection closed)");
        }
        while Session::live() > 0 {
            let waited = closed.elapsed();
            assert!(
                waited < ANSWER_TIMEOUT,
                "the connection's calls have not finished {ANSWER_TIMEOUT:?} after it closed"
            );
            if waited < Duration::from_millis(2) {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        if verbose() {
            eprintln!("(calls done {:?} after the close)", closed.elapsed());
        }
    }
}
