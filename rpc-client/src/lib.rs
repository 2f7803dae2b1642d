//! Typed client of the circles API: the client generated from `openrpc.json`
//! (see `rpc-types`) over a jsonrpsee WebSocket connection.

pub use rpc_types::client::{ApiClient, CallError};

use jsonrpsee::core::ClientError;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};

/// A connected client of one circle.
pub type Client = ApiClient<WsClient>;

/// Connects to the circle at `url` (`ws://host:port`).
pub async fn connect(url: &str) -> Result<Client, ClientError> {
    Ok(ApiClient::new(WsClientBuilder::default().build(url).await?))
}
