//! The client for page JavaScript (wasm32 only), through wasm-bindgen.
//!
//! `tools/wasm.sh` builds it into `console/pkg/` (`wasm-bindgen --target web`):
//!
//! ```js
//! import init, { generate_key, public_key, WebCircle, ClientErrorCode } from "./pkg/rpc_client.js";
//! await init();
//! const secret = generate_key();                       // 64 hex chars: keep it secret
//! const circle = await WebCircle.connect("ws://127.0.0.1:9101");
//! const me = await circle.authenticate(secret);        // our public key, compressed hex
//! const { output, value, logs } = await circle.play('print("hi"); 40 + 2');
//! circle.closed.then((event) => console.log("lost", event.code)); // the socket closed
//! ```
//!
//! Signing in with a key held elsewhere (a browser wallet): a signer, called
//! with the checked challenge text, gives its `personal_sign` signature:
//!
//! ```js
//! await circle.authenticate({
//!   publicKey: publicKeyHex,
//!   sign: (message) => wallet.request({ method: "personal_sign", params: [toHex(message), address] }),
//! }, expectedCircleKeyOrUndefined);
//! ```
//!
//! (One entry point for both: every async export costs the module several KB.)
//!
//! Every failure is thrown as an `Error` (name `CirclesError`) that carries
//! `code`, `message` and `data`:
//! - when the circle answered with a JSON-RPC error: its `code` (e.g. 2002
//!   unauthenticated, 2010 script compile error: look codes up by name in the
//!   spec, or in `error_code`), its `message` and `data`
//!   (`null` when it sent none);
//! - when the error arose in the client: one of the [`ClientErrorCode`]s
//!   ([`crate::client_code`]), a description as `message` and details in
//!   `data`: 1001 cannot connect `{url, reason}`, 1002 transport (connection
//!   lost, timeout) `{reason}`, 1003 malformed challenge `{reason}`, 1004 the
//!   challenge names another circle key than the expected one, refused before
//!   signing `{expected, got}`, 1005 the challenge is for another caller key
//!   `{expected, got}`, 1006 a module or function name off the spec's pattern,
//!   or `args` that are not an array, 1007 a key or signature passed in is not
//!   valid hex `{argument, reason}`.

use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use circles_identity::Signature;
use jsonrpsee::core::ClientError;
use rpc_types::{AuthenticateParams, FetchNonceParams};

use crate::{CircleClient, Error, PublicKey, SecretKey, Transport, call_error, client_code};

/// The codes of client-side errors (see [`crate::client_code`]), for JS:
/// `error.code === ClientErrorCode.WrongCircleKey`.
#[wasm_bindgen]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientErrorCode {
    Connect = 1001,
    Transport = 1002,
    BadChallenge = 1003,
    WrongCircleKey = 1004,
    WrongCallerKey = 1005,
    Encode = 1006,
    InvalidKey = 1007,
}

impl ClientErrorCode {
    /// All codes, for checking them against [`crate::client_code`].
    pub const ALL: [(ClientErrorCode, i32); 7] = [
        (ClientErrorCode::Connect, client_code::CONNECT),
        (ClientErrorCode::Transport, client_code::TRANSPORT),
        (ClientErrorCode::BadChallenge, client_code::BAD_CHALLENGE),
        (
            ClientErrorCode::WrongCircleKey,
            client_code::WRONG_CIRCLE_KEY,
        ),
        (
            ClientErrorCode::WrongCallerKey,
            client_code::WRONG_CALLER_KEY,
        ),
        (ClientErrorCode::Encode, client_code::ENCODE),
        (ClientErrorCode::InvalidKey, client_code::INVALID_KEY),
    ];
}

/// A Rust value as a plain JS value, through its JSON text: what `JSON.parse`
/// makes of it (objects for maps and structs, `null` for `None`). The module
/// already has serde_json; a second (de)serializer for JS values would double
/// its serde code.
fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::NULL)
}

/// The JSON values of a JS array, through `JSON.stringify` (so what it makes
/// of `undefined`, `NaN` or a `Date` is what is sent).
fn from_js_array(array: &JsValue) -> Result<Vec<serde_json::Value>, String> {
    let text = js_sys::JSON::stringify(array)
        .map_err(describe_js)?
        .as_string()
        .ok_or_else(|| "not a JSON value".to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// A thrown JS value, in words.
fn describe_js(thrown: JsValue) -> String {
    match thrown.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => thrown
            .as_string()
            .unwrap_or_else(|| "not a JSON value".to_string()),
    }
}

/// The `Error` JS code sees: `{name: "CirclesError", code, message, data}`.
fn js_error(code: i32, message: &str, data: Option<serde_json::Value>) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("CirclesError");
    let object: &JsValue = error.as_ref();
    // Setting a property of a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(object, &"code".into(), &JsValue::from(code));
    let _ = js_sys::Reflect::set(object, &"data".into(), &to_js(&data));
    error.into()
}

impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        js_error(error.code(), &error.message(), error.data())
    }
}

fn invalid_key(argument: &str, reason: impl std::fmt::Display) -> JsValue {
    let reason = reason.to_string();
    js_error(
        client_code::INVALID_KEY,
        &format!("{argument}: {reason}"),
        Some(serde_json::json!({ "argument": argument, "reason": reason })),
    )
}

fn secret_key(secret_hex: &str) -> Result<SecretKey, JsValue> {
    SecretKey::from_hex(secret_hex.trim()).map_err(|e| invalid_key("secret key", e))
}

fn key_argument(argument: &str, hex: &str) -> Result<PublicKey, JsValue> {
    PublicKey::from_hex(hex.trim()).map_err(|e| invalid_key(argument, e))
}

/// An optional key argument: `undefined`, `null` or `""` for none.
fn optional_key(argument: &str, hex: Option<String>) -> Result<Option<PublicKey>, JsValue> {
    match hex.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => key_argument(argument, text).map(Some),
    }
}

/// A new secret key from the browser's secure random source
/// (`crypto.getRandomValues`), as 64 lower-case hex chars.
#[wasm_bindgen]
pub fn generate_key() -> String {
    SecretKey::generate().to_hex()
}

/// The public key (lower-case compressed hex) of a secret key given as hex;
/// throws a `CirclesError` with code 1007 when it is not a valid secret key.
#[wasm_bindgen]
pub fn public_key(secret_hex: &str) -> Result<String, JsValue> {
    Ok(secret_key(secret_hex)?.public_key().to_hex())
}

/// The EIP-191 `personal_sign` signature (`0x` + 130 hex chars, `r‖s‖v`) of
/// `message` by the secret key `secret_hex`: what a wallet's `personal_sign`
/// returns (a signer for [`WebCircle::authenticate`] can use it).
#[wasm_bindgen]
pub fn sign_personal(secret_hex: &str, message: &str) -> Result<String, JsValue> {
    Ok(secret_key(secret_hex)?.sign_personal(message).to_hex())
}

/// A connection to one circle, for page JavaScript.
#[wasm_bindgen]
pub struct WebCircle {
    circle: CircleClient<Transport>,
    url: String,
    closed: js_sys::Promise,
}

#[wasm_bindgen]
impl WebCircle {
    /// Opens a WebSocket connection to the circle at `url` (`ws://host:port`).
    pub async fn connect(url: String) -> Result<WebCircle, JsValue> {
        let (sender, receiver, closed) = match crate::wasm_transport::connect_watched(&url).await {
            Ok(connection) => connection,
            Err(e) => {
                return Err(Error::Connect {
                    url,
                    source: ClientError::Transport(e.into()),
                }
                .into());
            }
        };
        // As crate::connect builds it (no logging middleware).
        let client = jsonrpsee::core::client::ClientBuilder::default()
            .set_rpc_middleware(jsonrpsee::core::middleware::RpcServiceBuilder::new())
            .build_with_wasm(sender, receiver);
        Ok(WebCircle {
            circle: CircleClient::new(client),
            url,
            closed,
        })
    }

    /// A promise that resolves with the socket's `CloseEvent` (`code`,
    /// `reason`, `wasClean`) as soon as the connection closes from the circle's
    /// side or is lost, whether or not a call is waiting; calls fail with 1002
    /// from then on. It never settles after `free()`.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> js_sys::Promise {
        self.closed.clone()
    }

    /// The URL this connection was opened to.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Signs in on this connection; resolves to our public key (lower-case
    /// compressed hex). `key` is either
    /// - the secret key, as hex: the module signs the challenge itself; or
    /// - a signer `{publicKey, sign}` for a key held elsewhere (a browser
    ///   wallet): `publicKey` is its SEC1 hex, and `sign(message)` returns (or
    ///   resolves to) the `personal_sign` signature of `message` as hex. It is
    ///   called once, with the challenge text, after the checks below; what it
    ///   throws (a wallet's `{code: 4001}` when the user declines) is thrown
    ///   on unchanged.
    ///
    /// The challenge is checked before anything is signed: it must be
    /// well-formed (1003) and for our key (1005), and with
    /// `expected_circle_key` (any SEC1 hex; `undefined`, `null` or `""` for
    /// none) come from that circle (1004). A key or signature that is not
    /// valid hex is 1007; a signature the circle refuses, 2001.
    pub async fn authenticate(
        &self,
        key: JsValue,
        expected_circle_key: Option<String>,
    ) -> Result<String, JsValue> {
        // One async body for both kinds of key: each async function is a state
        // machine of its own in the module (several KB).
        let expected = optional_key("expected circle key", expected_circle_key)?;
        let secret = key.as_string().map(|hex| secret_key(&hex)).transpose()?;
        let field = |name: &str| js_sys::Reflect::get(&key, &name.into()).unwrap_or_default();
        let ours = match &secret {
            Some(secret) => secret.public_key(),
            None => key_argument(
                "publicKey",
                &field("publicKey").as_string().unwrap_or_default(),
            )?,
        };
        let api = self.circle.api();
        let challenge = api
            .fetch_nonce(FetchNonceParams { pubkey: ours })
            .await
            .map_err(|e| call_error(e, Error::FetchNonce))?;
        // Checked before anything is signed.
        crate::check_challenge(&challenge.message, ours, expected.as_ref())?;
        let signature = match secret {
            Some(secret) => secret.sign_personal(&challenge.message),
            None => {
                // (Looked up only now: checking it first costs the module ~400 bytes.)
                let sign: js_sys::Function = field("sign")
                    .dyn_into()
                    .map_err(|_| invalid_key("sign", "a signer needs a sign(message) function"))?;
                let signed = sign.call1(&JsValue::UNDEFINED, &challenge.message.into())?;
                let signed =
                    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&signed)).await?;
                // A fixed reason: SignatureError's texts would weigh ~700 bytes here.
                Signature::from_hex(signed.as_string().unwrap_or_default().trim()).map_err(
                    |_| invalid_key("signature", "not 65 (or 64) bytes of hex with a low s"),
                )?
            }
        };
        api.authenticate(AuthenticateParams {
            pubkey: ours,
            signature,
        })
        .await
        .map_err(|e| call_error(e, Error::Authenticate))?;
        Ok(ours.to_hex())
    }

    /// Runs `script` in the circle; resolves to `{output, value, logs}`.
    pub async fn play(&self, script: String) -> Result<JsValue, JsValue> {
        let result = self.circle.play(&script).await?;
        Ok(to_js(&result))
    }

    /// Calls `function` of `module`, a published function of the circle's script library,
    /// with `args` (a JS array of JSON values, sent as `JSON.stringify` writes
    /// it; `undefined` or `null` for none); resolves to `{output, value, logs}`.
    pub async fn call(
        &self,
        module: String,
        function: String,
        args: JsValue,
    ) -> Result<JsValue, JsValue> {
        let args: Vec<serde_json::Value> = if args.is_undefined() || args.is_null() {
            Vec::new()
        } else {
            from_js_array(&args).map_err(|e| {
                js_error(
                    client_code::ENCODE,
                    &format!("args must be an array of JSON values: {e}"),
                    None,
                )
            })?
        };
        let result = self.circle.call(&module, &function, args).await?;
        Ok(to_js(&result))
    }

    /// The functions the circle's script library publishes: `[{module, name, params, doc}]`.
    #[wasm_bindgen(js_name = listFunctions)]
    pub async fn list_functions(&self) -> Result<JsValue, JsValue> {
        let functions = self.circle.list_functions().await?;
        Ok(to_js(&functions))
    }

    /// The circle's OpenRPC document (`rpc.discover`).
    pub async fn discover(&self) -> Result<JsValue, JsValue> {
        let document = self.circle.discover().await?;
        Ok(to_js(&document))
    }
}
