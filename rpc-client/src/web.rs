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
//! ```
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
//!   `{expected, got}`, 1006 (no longer used: keys and signatures are typed),
//!   1007 a key passed in is not valid hex `{argument, reason}`.

use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::{CircleClient, Error, PublicKey, SecretKey, Transport, client_code};

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

/// A connection to one circle, for page JavaScript.
#[wasm_bindgen]
pub struct WebCircle {
    circle: CircleClient<Transport>,
    url: String,
}

#[wasm_bindgen]
impl WebCircle {
    /// Opens a WebSocket connection to the circle at `url` (`ws://host:port`).
    pub async fn connect(url: String) -> Result<WebCircle, JsValue> {
        let circle = crate::connect(&url).await?;
        Ok(WebCircle { circle, url })
    }

    /// The URL this connection was opened to.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Signs in on this connection with the secret key `secret_hex`; resolves
    /// to our public key. With `expected_circle_key` (any SEC1 hex; `undefined`,
    /// `null` or `""` for none), a challenge from any other circle is refused
    /// before anything is signed (code 1004).
    pub async fn authenticate(
        &self,
        secret_hex: String,
        expected_circle_key: Option<String>,
    ) -> Result<String, JsValue> {
        let key = secret_key(&secret_hex)?;
        let expected = match expected_circle_key.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                Some(PublicKey::from_hex(text).map_err(|e| invalid_key("expected circle key", e))?)
            }
        };
        let public = self.circle.authenticate(&key, expected.as_ref()).await?;
        Ok(public.to_hex())
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
