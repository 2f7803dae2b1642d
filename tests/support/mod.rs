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

    /// A circle whose script library is the folder `library`.
    pub async fn start_with_library(
        settings: CircleSettings,
        library: &std::path::Path,
    ) -> TestCircle {
        let library = circles_sandbox::ScriptLibrary::new(library).expect("a script library");
        let key = SecretKey::generate();
        let circle =
            Circle::with_sandbox(settings, &key, |sandbox| sandbox.script_library(library))
                .expect("valid circle settings");
        Self::serve(circle, key, &ServerSettings::default()).await
    }

    pub async fn start_with_limits(settings: CircleSettings, limits: ServerSettings) -> TestCircle {
        let key = SecretKey::generate();
        let circle = Circle::new(settings, &key).expect("valid circle settings");
        Self::serve(circle, key, &limits).await
    }

    async fn serve(circle: Circle, key: SecretKey, limits: &ServerSettings) -> TestCircle {
        let server = rpc_server::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), circle, limits)
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

/// Settings where any signed-in caller may `play` (by default only members may:
/// the authorization tests start from the defaults themselves).
pub fn settings(id: &str) -> CircleSettings {
    let mut settings = CircleSettings::new(id);
    settings.access.access.play = rpc_server::Audience::SignedIn;
    settings
}

/// A circle that requires sign-in, where any signed-in caller may play.
pub async fn circle(id: &str) -> TestCircle {
    TestCircle::start(settings(id)).await
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
