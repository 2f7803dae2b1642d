//! Shared by the end-to-end tests: start real circles on loopback ports and
//! talk to them over real WebSockets.
#![allow(dead_code)] // each test binary uses a different part

use std::net::{Ipv4Addr, SocketAddr};

use circles_identity::{SecretKey, Signature};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use rpc_server::{Circle, CircleSettings, RunningCircle, ServerSettings};
use rpc_types::client::ApiClient;
use rpc_types::{AuthenticateParams, FetchNonceParams};

pub type Client = ApiClient<WsClient>;

/// A circle served on 127.0.0.1 with a free port.
pub struct TestCircle {
    pub server: RunningCircle,
    pub key: SecretKey,
}

impl TestCircle {
    pub async fn start(settings: CircleSettings) -> TestCircle {
        Self::start_with_limits(settings, ServerSettings::default()).await
    }

    pub async fn start_with_limits(settings: CircleSettings, limits: ServerSettings) -> TestCircle {
        let key = SecretKey::generate();
        let circle = Circle::new(settings, &key).expect("valid circle settings");
        let server = rpc_server::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), circle, &limits)
            .await
            .expect("server starts on a free loopback port");
        TestCircle { server, key }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A new connection with the generated typed client.
    pub async fn connect(&self) -> Client {
        ApiClient::new(
            WsClientBuilder::default()
                .build(self.url())
                .await
                .expect("connects"),
        )
    }
}

/// A circle with defaults (authentication required).
pub async fn circle(id: &str) -> TestCircle {
    TestCircle::start(CircleSettings::new(id)).await
}

pub fn fetch_nonce_params(key: &SecretKey) -> FetchNonceParams {
    FetchNonceParams {
        pubkey: key.public_key(),
    }
}

pub fn authenticate_params(key: &SecretKey, signature: Signature) -> AuthenticateParams {
    AuthenticateParams {
        pubkey: key.public_key(),
        signature,
    }
}

/// fetch_nonce → sign → authenticate; returns the signature used.
pub async fn sign_in(client: &Client, key: &SecretKey) -> Signature {
    let challenge = client
        .fetch_nonce(fetch_nonce_params(key))
        .await
        .expect("fetch_nonce");
    let signature = key.sign_personal(&challenge.message);
    client
        .authenticate(authenticate_params(key, signature))
        .await
        .expect("authenticate");
    signature
}
