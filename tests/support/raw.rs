//! A raw JSON-RPC-over-WebSocket client (tokio-tungstenite): send any text
//! frame, see exactly what comes back. Included by the tests that need it with
//! `#[path = "support/raw.rs"] mod raw;`.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use circles_identity::{SecretKey, Signature};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long to wait for an answer before calling the server silent.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// What the server did after a frame was sent.
#[derive(Debug)]
pub enum Received {
    /// A text frame: its raw text and the JSON it holds.
    Text(String, Value),
    /// The server closed the connection (with its close frame, if any) or
    /// the stream ended / failed.
    Closed(Option<CloseFrame>),
    /// Nothing within [`ANSWER_TIMEOUT`].
    Silent,
}

/// A JSON-RPC error object as it came over the wire.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
    pub data: Option<Value>,
    /// The whole response the error came in.
    pub response: Value,
}

/// One WebSocket connection, no JSON-RPC client library in between.
pub struct RawWs {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl RawWs {
    pub async fn connect(url: &str) -> RawWs {
        let (stream, _response) = connect_async(url).await.expect("WebSocket handshake");
        RawWs { stream, next_id: 1 }
    }

    /// Sends one text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_owned()))
            .await
            .expect("send a text frame");
    }

    /// Sends one text frame; `false` if the connection was already gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.stream
            .send(Message::text(text.to_owned()))
            .await
            .is_ok()
    }

    /// The next data frame (pings are answered by tungstenite underneath).
    pub async fn receive(&mut self) -> Received {
        loop {
            let next = match tokio::time::timeout(ANSWER_TIMEOUT, self.stream.next()).await {
                Err(_) => return Received::Silent,
                Ok(next) => next,
            };
            match next {
                None | Some(Err(_)) => return Received::Closed(None),
                Some(Ok(Message::Close(frame))) => return Received::Closed(frame),
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().to_owned();
                    let value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("the server sent non-JSON text {text:?}: {e}"));
                    return Received::Text(text, value);
                }
                Some(Ok(Message::Binary(bytes))) => {
                    panic!("the server sent a binary frame of {} bytes", bytes.len())
                }
                Some(Ok(_)) => continue, // ping, pong, raw frame
            }
        }
    }

    /// Sends `text` and returns the answer's raw text and JSON; panics if the
    /// server closes or stays silent.
    pub async fn exchange_raw(&mut self, text: &str) -> (String, Value) {
        self.send_text(text).await;
        match self.receive().await {
            Received::Text(raw, value) => (raw, value),
            other => panic!("expected an answer to {}, got {other:?}", abbreviate(text)),
        }
    }

    /// Sends `text` and returns the answer's JSON.
    pub async fn exchange(&mut self, text: &str) -> Value {
        self.exchange_raw(text).await.1
    }

    /// A fresh numeric id.
    pub fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends a well-formed call (`params` omitted when `None`) and returns
    /// the whole response, after checking its envelope.
    pub async fn call_response(&mut self, method: &str, params: Option<Value>) -> Value {
        let id = self.fresh_id();
        let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(params) = params {
            request["params"] = params;
        }
        let response = self.exchange(&request.to_string()).await;
        check_envelope(&response, &json!(id));
        response
    }

    /// A call's `result`, or its error.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let response = self.call_response(method, Some(params)).await;
        into_result(response)
    }

    /// `fetch_nonce` → the result object (panics on an error).
    pub async fn fetch_nonce(&mut self, pubkey: &str) -> Value {
        self.call("fetch_nonce", json!({ "pubkey": pubkey }))
            .await
            .unwrap_or_else(|e| panic!("fetch_nonce({pubkey}) failed: {e:?}"))
    }

    /// `fetch_nonce` → the message to sign.
    pub async fn challenge(&mut self, key: &SecretKey) -> String {
        let result = self.fetch_nonce(&key.public_key().to_hex()).await;
        result["message"]
            .as_str()
            .expect("message is a string")
            .to_owned()
    }

    /// `signature` as text: a `Signature` (its hex) or any string, well-formed or not.
    pub async fn authenticate(
        &mut self,
        pubkey: &str,
        signature: impl std::fmt::Display,
    ) -> Result<Value, RpcError> {
        self.call(
            "authenticate",
            json!({ "pubkey": pubkey, "signature": signature.to_string() }),
        )
        .await
    }

    /// fetch_nonce → sign → authenticate; returns the signature used.
    pub async fn sign_in(&mut self, key: &SecretKey) -> Signature {
        let message = self.challenge(key).await;
        let signature = key.sign_personal(&message);
        let result = self
            .authenticate(&key.public_key().to_hex(), &signature)
            .await
            .unwrap_or_else(|e| panic!("authenticate failed: {e:?}"));
        assert_eq!(result["public_key"], json!(key.public_key().to_hex()));
        signature
    }

    pub async fn play(&mut self, script: &str) -> Result<Value, RpcError> {
        self.call("play", json!({ "script": script })).await
    }

    /// `rpc.discover` answers with the OpenRPC document: the connection works.
    pub async fn assert_alive(&mut self) {
        let document = self
            .call("rpc.discover", json!([]))
            .await
            .unwrap_or_else(|e| panic!("rpc.discover failed: {e:?}"));
        assert_eq!(
            document["openrpc"], "1.3.2",
            "rpc.discover answered {document}"
        );
    }

    /// Sends a close frame and waits for the server's.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// `jsonrpc` is "2.0", `id` is `id`, exactly one of `result` / `error`.
pub fn check_envelope(response: &Value, id: &Value) {
    let object = response
        .as_object()
        .unwrap_or_else(|| panic!("a response is an object: {response}"));
    assert_eq!(object.get("jsonrpc"), Some(&json!("2.0")), "{response}");
    assert_eq!(object.get("id"), Some(id), "id not echoed: {response}");
    assert!(
        object.contains_key("result") != object.contains_key("error"),
        "exactly one of result/error: {response}"
    );
    let allowed = ["jsonrpc", "id", "result", "error"];
    assert!(
        object.keys().all(|k| allowed.contains(&k.as_str())),
        "unexpected member in {response}"
    );
}

/// Splits a response into its result or its error.
pub fn into_result(response: Value) -> Result<Value, RpcError> {
    if let Some(error) = response.get("error") {
        let code = error["code"]
            .as_i64()
            .and_then(|code| i32::try_from(code).ok())
            .unwrap_or_else(|| panic!("error code is a 32-bit integer: {response}"));
        let message = error["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error message is a string: {response}"))
            .to_owned();
        let data = error.get("data").cloned();
        return Err(RpcError {
            code,
            message,
            data,
            response,
        });
    }
    Ok(response["result"].clone())
}

/// The error of a response, panicking if it is a success.
pub fn expect_error(response: &Value) -> RpcError {
    match into_result(response.clone()) {
        Ok(result) => panic!("expected an error, got result {result}"),
        Err(error) => error,
    }
}

/// A long text shortened for messages.
pub fn abbreviate(text: &str) -> String {
    if text.len() <= 200 {
        text.to_owned()
    } else {
        let mut end = 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &text[..end], text.len())
    }
}
