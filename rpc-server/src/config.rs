//! What a circle's server can be configured with, with safe defaults.

use std::time::Duration;

use jsonrpsee::server::{BatchRequestConfig, PingConfig, ServerConfig};
use serde::{Deserialize, Serialize};

/// How one circle's server runs: its transport limits and which web origins
/// it serves. Every field has a default; in `circles.json` they go under a
/// circle's `"server"` key.
///
/// | field | default | what happens past it |
/// | --- | --- | --- |
/// | `max_message_bytes` | 1 048 576 | a request (or batch) over it gets -32007 `Request is too big`; a response over it -32008 |
/// | `max_connections` | 1 024 | further WebSocket connections are refused until one closes |
/// | `max_batch_calls` | 32 | a batch of more calls is refused as a whole with -32010 `The batch request was too large` (jsonrpsee's own answer) |
/// | `ping_interval_secs` | 30 | the server pings each connection this often |
/// | `idle_timeout_secs` | 120 | a connection that answers no ping and sends nothing for this long is closed |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Largest request or response, in bytes (default 1 048 576).
    pub max_message_bytes: u32,
    /// Most WebSocket connections open at once (default 1 024).
    pub max_connections: u32,
    /// Most calls in one batch (default 32).
    pub max_batch_calls: u32,
    /// Seconds between pings to each connection (default 30).
    pub ping_interval_secs: u64,
    /// Seconds without traffic or pong before a connection is closed (default 120).
    pub idle_timeout_secs: u64,
    /// Web origins (`"https://app.example"`) whose pages may use this circle besides its own
    /// console and pages on this machine (loopback); `"*"` allows every page. Requests
    /// without an `Origin` header (non-browser clients) are always allowed.
    pub allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_message_bytes: 1024 * 1024,
            max_connections: 1024,
            max_batch_calls: 32,
            ping_interval_secs: 30,
            idle_timeout_secs: 120,
            allowed_origins: Vec::new(),
        }
    }
}

/// Why a [`ServerSettings`] value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server setting `{field}`: {reason}")]
pub struct InvalidServerSettings {
    pub field: &'static str,
    pub reason: &'static str,
}

impl ServerSettings {
    pub fn validate(&self) -> Result<(), InvalidServerSettings> {
        let zero = |field| {
            Err(InvalidServerSettings {
                field,
                reason: "must be at least 1",
            })
        };
        if self.max_message_bytes == 0 {
            return zero("max_message_bytes");
        }
        if self.max_connections == 0 {
            return zero("max_connections");
        }
        if self.max_batch_calls == 0 {
            return zero("max_batch_calls");
        }
        if self.ping_interval_secs == 0 {
            return zero("ping_interval_secs");
        }
        if self.idle_timeout_secs < self.ping_interval_secs {
            return Err(InvalidServerSettings {
                field: "idle_timeout_secs",
                reason: "must be at least ping_interval_secs",
            });
        }
        Ok(())
    }

    pub(crate) fn to_server_config(&self) -> ServerConfig {
        let ping = PingConfig::new()
            .ping_interval(Duration::from_secs(self.ping_interval_secs))
            .inactive_limit(Duration::from_secs(self.idle_timeout_secs));
        ServerConfig::builder()
            .ws_only()
            .max_request_body_size(self.max_message_bytes)
            .max_response_body_size(self.max_message_bytes)
            .max_connections(self.max_connections)
            .set_batch_request_config(BatchRequestConfig::Limit(self.max_batch_calls))
            .enable_ws_ping(ping)
            .build()
    }
}
