//! Typed client of the circles API: the client generated from `openrpc.json`
//! (see `rpc-types`) plus the sign-in flow, over jsonrpsee's WebSocket client
//! natively and the browser's WebSocket on `wasm32`.
//!
//! On `wasm32-unknown-unknown` the crate is also the web console's module:
//! `web` (wasm32 only) is its wasm-bindgen API for page JavaScript, built by
//! `tools/wasm.sh` into `console/pkg/`. [`Error::code`] gives every error a
//! number: the circle's JSON-RPC code, or one of the [`client_code`]s.
//!
//! Errors the circle answers with are the typed enums generated from the
//! spec (e.g. [`PlayError::ScriptCompileError`] carrying [`ScriptErrorData`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rpc_client::Error> {
//! let key = rpc_client::SecretKey::generate();
//! let circle = rpc_client::connect("ws://127.0.0.1:9101").await?;
//! circle.authenticate(&key, None).await?;
//! let result = circle.play("CALLER_PUBLIC_KEY").await?;
//! assert_eq!(result.output, key.public_key().to_hex());
//! # Ok(()) }
//! ```

// `Error` carries two public keys in some variants (~130 bytes); it is returned
// at most once per network round trip, so its size does not matter.
#![allow(clippy::result_large_err)]

pub use circles_identity::{ChallengeMessage, KeyError, PublicKey, SecretKey};
pub use rpc_types::client::{ApiClient, RequestError};
pub use rpc_types::error_code;
pub use rpc_types::{
    Action, ApiError, Audience, AuthenticateError, AuthenticationFailedData, CallError, ChainLink,
    FetchNonceError, ForbiddenData, FunctionList, LimitExceededData, LimitName, ListFunctionsError,
    NotCallableData, NotCallableProblem, PlayError, PlayResult, PublishedFunction,
    RpcDiscoverError, ScriptErrorData, Via,
};

use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use rpc_types::{AuthenticateParams, CallParams, FetchNonceParams, PlayParams};

#[cfg(target_arch = "wasm32")]
mod wasm_transport;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: ClientError,
    },
    /// The call got no answer (connection lost, timeout, malformed reply).
    #[error("{0}")]
    Transport(ClientError),
    #[error("rpc.discover failed: {0}")]
    Discover(RpcDiscoverError),
    #[error("fetch_nonce failed: {0}")]
    FetchNonce(FetchNonceError),
    #[error("authenticate failed: {0}")]
    Authenticate(AuthenticateError),
    #[error("play failed: {0}")]
    Play(PlayError),
    #[error("call failed: {0}")]
    Call(CallError),
    #[error("list_functions failed: {0}")]
    ListFunctions(ListFunctionsError),
    /// A module or function name the spec's schema refuses (checked before sending).
    #[error("{what} {name:?} is not valid: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// The circle's challenge is not the text the protocol prescribes.
    #[error("the circle sent a malformed challenge ({0}): refusing to sign it")]
    BadChallenge(circles_identity::ChallengeParseError),
    /// The challenge names another circle key than the one expected: signing
    /// it would sign in to a different circle.
    #[error("the challenge names circle key {got}, expected {expected}: refusing to sign it")]
    WrongCircleKey { expected: PublicKey, got: PublicKey },
    /// The challenge is for another caller key than ours.
    #[error("the challenge is for public key {got}, not ours ({expected}): refusing to sign it")]
    WrongCallerKey { expected: PublicKey, got: PublicKey },
}

/// Codes of the errors that arise on the client side, not in the circle.
///
/// [`Error::code`] gives these for the client-side variants and the circle's
/// JSON-RPC code for the others. They are positive, so they never collide
/// with JSON-RPC's reserved range (-32768..=-32000) or the circles codes.
/// The web console and the wasm-bindgen API (`ClientErrorCode` in JS) use the
/// same numbers.
pub mod client_code {
    /// [`Error::Connect`](super::Error::Connect): no connection could be opened.
    pub const CONNECT: i32 = 1001;
    /// [`Error::Transport`](super::Error::Transport): a call got no answer
    /// (connection lost, timeout, malformed reply).
    pub const TRANSPORT: i32 = 1002;
    /// [`Error::BadChallenge`](super::Error::BadChallenge).
    pub const BAD_CHALLENGE: i32 = 1003;
    /// [`Error::WrongCircleKey`](super::Error::WrongCircleKey): the challenge
    /// names another circle than the expected one; nothing was signed.
    pub const WRONG_CIRCLE_KEY: i32 = 1004;
    /// [`Error::WrongCallerKey`](super::Error::WrongCallerKey).
    pub const WRONG_CALLER_KEY: i32 = 1005;
    /// [`Error::InvalidName`](super::Error::InvalidName): a module or function
    /// name that does not fit the spec's schema; nothing was sent.
    pub const ENCODE: i32 = 1006;
    /// A key given by the caller is not valid hex of a secp256k1 key (only the
    /// web API parses keys from text).
    pub const INVALID_KEY: i32 = 1007;
}

impl Error {
    /// The JSON-RPC error code the circle answered with, or one of the
    /// [`client_code`]s when the error arose on this side.
    pub fn code(&self) -> i32 {
        match self {
            Error::Connect { .. } => client_code::CONNECT,
            Error::Transport(_) => client_code::TRANSPORT,
            Error::Discover(error) => error.code(),
            Error::FetchNonce(error) => error.code(),
            Error::Authenticate(error) => error.code(),
            Error::Play(error) => error.code(),
            Error::Call(error) => error.code(),
            Error::ListFunctions(error) => error.code(),
            Error::InvalidName { .. } => client_code::ENCODE,
            Error::BadChallenge(_) => client_code::BAD_CHALLENGE,
            Error::WrongCircleKey { .. } => client_code::WRONG_CIRCLE_KEY,
            Error::WrongCallerKey { .. } => client_code::WRONG_CALLER_KEY,
        }
    }

    /// True when the request was not sent because the connection had closed already
    /// (a new connection can send it again without risk of running it twice).
    pub fn is_connection_closed(&self) -> bool {
        matches!(self, Error::Transport(ClientError::RestartNeeded(_)))
    }

    /// The JSON-RPC error's message when the circle answered with one
    /// (`"script compile error"`), else the whole description of the error.
    pub fn message(&self) -> String {
        match self {
            Error::Discover(error) => error.message(),
            Error::FetchNonce(error) => error.message(),
            Error::Authenticate(error) => error.message(),
            Error::Play(error) => error.message(),
            Error::Call(error) => error.message(),
            Error::ListFunctions(error) => error.message(),
            other => other.to_string(),
        }
    }

    /// The JSON-RPC error's `data` when the circle answered with one; for a
    /// client-side error, the details as JSON (e.g. `{expected, got}` for
    /// [`Error::WrongCircleKey`]).
    pub fn data(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            Error::Connect { url, source } => Some(json!({
                "url": url,
                "reason": source.to_string(),
            })),
            Error::Transport(source) => Some(json!({ "reason": source.to_string() })),
            Error::Discover(error) => error.data_json(),
            Error::FetchNonce(error) => error.data_json(),
            Error::Authenticate(error) => error.data_json(),
            Error::Play(error) => error.data_json(),
            Error::Call(error) => error.data_json(),
            Error::ListFunctions(error) => error.data_json(),
            Error::InvalidName { what, name, reason } => {
                Some(json!({ "what": what, "name": name, "reason": reason }))
            }
            Error::BadChallenge(reason) => Some(json!({ "reason": reason.to_string() })),
            Error::WrongCircleKey { expected, got } | Error::WrongCallerKey { expected, got } => {
                Some(json!({
                    "expected": expected.to_hex(),
                    "got": got.to_hex(),
                }))
            }
        }
    }
}

fn call_error<E>(error: RequestError<E>, typed: impl FnOnce(E) -> Error) -> Error {
    match error {
        RequestError::Rpc(error) => typed(error),
        RequestError::Client(error) => Error::Transport(error),
    }
}

/// Checks a challenge before anything is signed: it must be the text the protocol
/// prescribes, for our key `ours`, and (when given) from the circle `expected_circle_key`.
pub fn check_challenge(
    message: &str,
    ours: PublicKey,
    expected_circle_key: Option<&PublicKey>,
) -> Result<(), Error> {
    let message = ChallengeMessage::parse(message).map_err(Error::BadChallenge)?;
    if message.caller_key != ours {
        return Err(Error::WrongCallerKey {
            expected: ours,
            got: message.caller_key,
        });
    }
    if let Some(expected) = expected_circle_key
        && message.circle_key != *expected
    {
        return Err(Error::WrongCircleKey {
            expected: *expected,
            got: message.circle_key,
        });
    }
    Ok(())
}

/// A connection to one circle.
pub struct CircleClient<C> {
    api: ApiClient<C>,
}

impl<C: ClientT> CircleClient<C> {
    /// Wraps a connected jsonrpsee client.
    pub fn new(client: C) -> Self {
        CircleClient {
            api: ApiClient::new(client),
        }
    }

    /// The generated typed client, for calls this layer does not wrap.
    pub fn api(&self) -> &ApiClient<C> {
        &self.api
    }

    /// The OpenRPC document the circle serves.
    pub async fn discover(&self) -> Result<serde_json::Value, Error> {
        self.api
            .rpc_discover()
            .await
            .map_err(|e| call_error(e, Error::Discover))
    }

    /// Signs in as `key` on this connection: fetch_nonce, check the challenge
    /// (it must name our key and, when given, `expected_circle_key`), sign it
    /// with EIP-191 `personal_sign`, authenticate. Returns the identity the
    /// circle now knows us by.
    pub async fn authenticate(
        &self,
        key: &SecretKey,
        expected_circle_key: Option<&PublicKey>,
    ) -> Result<PublicKey, Error> {
        let ours = key.public_key();
        let challenge = self
            .api
            .fetch_nonce(FetchNonceParams { pubkey: ours })
            .await
            .map_err(|e| call_error(e, Error::FetchNonce))?;
        check_challenge(&challenge.message, ours, expected_circle_key)?;
        let params = AuthenticateParams {
            pubkey: ours,
            signature: key.sign_personal(&challenge.message),
        };
        self.api
            .authenticate(params)
            .await
            .map_err(|e| call_error(e, Error::Authenticate))?;
        Ok(ours)
    }

    /// Calls `function` of `module` (a published function of the circle's
    /// script library) with `args`.
    pub async fn call(
        &self,
        module: &str,
        function: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<PlayResult, Error> {
        self.call_via(module, function, args, None).await
    }

    /// [`CircleClient::call`] made by a circle's script for its callers (`via`).
    pub async fn call_via(
        &self,
        module: &str,
        function: &str,
        args: Vec<serde_json::Value>,
        via: Option<Via>,
    ) -> Result<PlayResult, Error> {
        fn invalid(
            what: &'static str,
            name: &str,
        ) -> impl FnOnce(rpc_types::error::ConversionError) -> Error {
            let name = name.to_owned();
            move |e| Error::InvalidName {
                what,
                name,
                reason: e.to_string(),
            }
        }
        let params = CallParams {
            module: module.parse().map_err(invalid("module", module))?,
            function: function.parse().map_err(invalid("function", function))?,
            args: Some(args),
            via,
        };
        self.api
            .call(params)
            .await
            .map_err(|e| call_error(e, Error::Call))
    }

    /// The functions the circle's script library publishes.
    pub async fn list_functions(&self) -> Result<Vec<PublishedFunction>, Error> {
        self.api
            .list_functions()
            .await
            .map(|list| list.functions)
            .map_err(|e| call_error(e, Error::ListFunctions))
    }

    /// Runs `script` in the circle.
    pub async fn play(&self, script: &str) -> Result<PlayResult, Error> {
        self.play_via(script, None).await
    }

    /// [`CircleClient::play`] made by a circle's script for its callers (`via`).
    pub async fn play_via(&self, script: &str, via: Option<Via>) -> Result<PlayResult, Error> {
        self.api
            .play(PlayParams {
                script: script.to_string().into(),
                via,
            })
            .await
            .map_err(|e| call_error(e, Error::Play))
    }
}

/// The jsonrpsee client this platform uses.
#[cfg(not(target_arch = "wasm32"))]
pub type Transport = jsonrpsee::ws_client::WsClient;
/// The jsonrpsee client this platform uses: jsonrpsee's async client over the
/// browser's WebSocket, without its default logging middleware (which
/// serializes every request and response again for `tracing`, which nothing
/// collects in the browser).
#[cfg(target_arch = "wasm32")]
pub type Transport =
    jsonrpsee::core::client::Client<jsonrpsee::core::client::async_client::RpcService>;

/// Connects to the circle at `url` (`ws://host:port`); fails with
/// [`Error::Connect`] when no connection can be opened (on wasm32 too: the
/// browser's socket is awaited until it is open).
pub async fn connect(url: &str) -> Result<CircleClient<Transport>, Error> {
    #[cfg(not(target_arch = "wasm32"))]
    let client = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(url)
        .await;
    #[cfg(target_arch = "wasm32")]
    let client = wasm_transport::connect(url)
        .await
        .map(|(sender, receiver)| {
            jsonrpsee::core::client::ClientBuilder::default()
                .set_rpc_middleware(jsonrpsee::core::middleware::RpcServiceBuilder::new())
                .build_with_wasm(sender, receiver)
        })
        .map_err(|e| ClientError::Transport(e.into()));
    client
        .map(CircleClient::new)
        .map_err(|source| Error::Connect {
            url: url.to_string(),
            source,
        })
}
