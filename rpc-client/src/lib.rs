//! Typed client of the circles API: the client generated from `openrpc.json`
//! (see `rpc-types`) plus the sign-in flow, over jsonrpsee's WebSocket client
//! natively and its browser client on `wasm32`.
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

pub use circles_identity::{ChallengeMessage, KeyError, PublicKey, SecretKey};
pub use rpc_types::client::{ApiClient, CallError};
pub use rpc_types::{AuthenticateError, FetchNonceError, PlayError, PlayResult};

use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::types::ErrorObjectOwned;
use rpc_types::{AuthenticateParams, FetchNonceParams, PlayParams};

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
    Discover(ErrorObjectOwned),
    #[error("fetch_nonce failed: {0}")]
    FetchNonce(FetchNonceError),
    #[error("authenticate failed: {0}")]
    Authenticate(AuthenticateError),
    #[error("play failed: {0}")]
    Play(PlayError),
    /// The circle's challenge is not the text the protocol prescribes.
    #[error("the circle sent a malformed challenge ({0}): refusing to sign it")]
    BadChallenge(circles_identity::ChallengeParseError),
    /// The challenge names another circle key than the one expected: signing
    /// it would sign in to a different circle.
    #[error("the challenge names circle key {got}, expected {expected}: refusing to sign it")]
    WrongCircleKey { expected: PublicKey, got: PublicKey },
    /// A value does not fit the spec's schema (a bug on this side).
    #[error("cannot encode {what}: {reason}")]
    Encode { what: &'static str, reason: String },
    /// The challenge is for another caller key than ours.
    #[error("the challenge is for public key {got}, not ours ({expected}): refusing to sign it")]
    WrongCallerKey { expected: PublicKey, got: PublicKey },
}

/// A string as one of the spec's constrained string types.
fn encode<T>(what: &'static str, value: String) -> Result<T, Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| Error::Encode {
        what,
        reason: e.to_string(),
    })
}

fn call_error<E>(error: CallError<E>, typed: impl FnOnce(E) -> Error) -> Error {
    match error {
        CallError::Rpc(error) => typed(error),
        CallError::Client(error) => Error::Transport(error),
    }
}

/// A connection to one circle.
pub struct Circle<C> {
    api: ApiClient<C>,
}

impl<C: ClientT> Circle<C> {
    /// Wraps a connected jsonrpsee client.
    pub fn new(client: C) -> Self {
        Circle {
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
        let pubkey = encode("public key", ours.to_hex())?;
        let challenge = self
            .api
            .fetch_nonce(FetchNonceParams { pubkey })
            .await
            .map_err(|e| call_error(e, Error::FetchNonce))?;
        let message = ChallengeMessage::parse(&challenge.message).map_err(Error::BadChallenge)?;
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
        let signature = key.sign_personal(&challenge.message);
        let params = AuthenticateParams {
            pubkey: encode("public key", ours.to_hex())?,
            signature: encode("signature", signature)?,
        };
        self.api
            .authenticate(params)
            .await
            .map_err(|e| call_error(e, Error::Authenticate))?;
        Ok(ours)
    }

    /// Runs `script` in the circle.
    pub async fn play(&self, script: &str) -> Result<PlayResult, Error> {
        self.api
            .play(PlayParams {
                script: script.to_string().into(),
            })
            .await
            .map_err(|e| call_error(e, Error::Play))
    }
}

/// The jsonrpsee client this platform uses.
#[cfg(not(target_arch = "wasm32"))]
pub type Transport = jsonrpsee::ws_client::WsClient;
/// The jsonrpsee client this platform uses.
#[cfg(target_arch = "wasm32")]
pub type Transport = jsonrpsee::wasm_client::Client;

/// Connects to the circle at `url` (`ws://host:port`).
pub async fn connect(url: &str) -> Result<Circle<Transport>, Error> {
    #[cfg(not(target_arch = "wasm32"))]
    let client = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(url)
        .await;
    #[cfg(target_arch = "wasm32")]
    let client = jsonrpsee::wasm_client::WasmClientBuilder::default()
        .build(url)
        .await;
    client.map(Circle::new).map_err(|source| Error::Connect {
        url: url.to_string(),
        source,
    })
}
