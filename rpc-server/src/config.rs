//! What a circle's server can be configured with, with safe defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How one circle's server runs: its transport limits and which web origins
/// it serves. Every field has a default; in `circles.json` they go under a
/// circle's `"server"` key.
///
/// | field | default | what happens past it |
/// | --- | --- | --- |
/// | `max_message_bytes` | 1 048 576 | a request (or batch) over it gets -32007 `Request is too big`; a response over it -32008 |
/// | `max_connections` | 1 024 | connections of every kind (WebSocket and the console's plain HTTP) open at once; a connection past it gets HTTP 429 and is closed |
/// | `max_connections_per_ip` | 64 | the same, per remote address (IPv6: per /64); HTTP 429 |
/// | `max_calls_in_flight` | 16 | calls one connection has sent and not yet been answered (running, or their answer waiting to be sent); past it the server stops reading the connection until an answer has gone out |
/// | `max_batch_calls` | 32 | a batch of more calls is refused as a whole with -32010 `The batch request was too large` (jsonrpsee's own answer) |
/// | `ping_interval_secs` | 30 | the server pings each WebSocket connection this often |
/// | `idle_timeout_secs` | 120 | a WebSocket connection from which nothing arrives (no message, no pong) and to which no answer can be written for this long is closed |
/// | `header_timeout_secs` | 10 | a connection that has not sent its request's headers (HTTP or WebSocket upgrade) this long after it opened is closed |
/// | `http_timeout_secs` | 30 | a plain HTTP (console) connection is closed this long after it opened, answered or not; every connection is closed after its one answer (no keep-alive) |
///
/// A circle that requires sign-in also closes a WebSocket connection that has not signed in
/// within the circle's `challenge_ttl` (see [`crate::CircleSettings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Largest request or response, in bytes (default 1 048 576).
    pub max_message_bytes: u32,
    /// Most connections open at once, WebSocket and plain HTTP (console) alike (default 1 024).
    pub max_connections: u32,
    /// Most connections open at once from one remote address; IPv6 addresses count per /64
    /// (default 64).
    pub max_connections_per_ip: u32,
    /// Most calls one connection may have sent and not yet had answered (running, or their
    /// answer waiting to be sent); past it the server reads nothing more from the connection
    /// until an answer has been sent (default 16; at most 1 024).
    pub max_calls_in_flight: u32,
    /// Most calls in one batch (default 32).
    pub max_batch_calls: u32,
    /// Seconds between pings to each connection (default 30).
    pub ping_interval_secs: u64,
    /// Seconds without traffic (a message or pong received, an answer sent) before a WebSocket
    /// connection is closed (default 120).
    pub idle_timeout_secs: u64,
    /// Seconds a new connection has to send its request's headers (default 10).
    pub header_timeout_secs: u64,
    /// Seconds a plain HTTP (console) connection may stay open, answered or not (default 30).
    pub http_timeout_secs: u64,
    /// Web origins (`"https://app.example"`) whose pages may use this circle besides its own
    /// console and pages on this machine (loopback); `"*"` allows every page. Requests
    /// without an `Origin` header (non-browser clients) are always allowed. The host names
    /// of these origins are also accepted in the `Host` header of console requests.
    pub allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_message_bytes: 1024 * 1024,
            max_connections: 1024,
            max_connections_per_ip: 64,
            max_calls_in_flight: 16,
            max_batch_calls: 32,
            ping_interval_secs: 30,
            idle_timeout_secs: 120,
            header_timeout_secs: 10,
            http_timeout_secs: 30,
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

/// The largest `max_calls_in_flight`: each call in flight may hold a request and an answer of
/// up to `max_message_bytes`.
pub const MAX_CALLS_IN_FLIGHT: u32 = 1024;

/// The longest any of the `*_secs` settings may be (a day).
pub const MAX_SECS: u64 = 86_400;

impl ServerSettings {
    pub fn validate(&self) -> Result<(), InvalidServerSettings> {
        let invalid = |field, reason| Err(InvalidServerSettings { field, reason });
        let counts = [
            ("max_message_bytes", self.max_message_bytes),
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
            ("max_calls_in_flight", self.max_calls_in_flight),
            ("max_batch_calls", self.max_batch_calls),
        ];
        for (field, value) in counts {
            if value == 0 {
                return invalid(field, "must be at least 1");
            }
        }
        if self.max_calls_in_flight > MAX_CALLS_IN_FLIGHT {
            return invalid("max_calls_in_flight", "must be at most 1024");
        }
        let seconds = [
            ("ping_interval_secs", self.ping_interval_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("header_timeout_secs", self.header_timeout_secs),
            ("http_timeout_secs", self.http_timeout_secs),
        ];
        for (field, value) in seconds {
            if !(1..=MAX_SECS).contains(&value) {
                return invalid(field, "must be from 1 to 86400");
            }
        }
        if self.idle_timeout_secs < self.ping_interval_secs {
            return invalid("idle_timeout_secs", "must be at least ping_interval_secs");
        }
        if self.http_timeout_secs < self.header_timeout_secs {
            return invalid("http_timeout_secs", "must be at least header_timeout_secs");
        }
        Ok(())
    }

    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub(crate) fn http_timeout(&self) -> Duration {
        Duration::from_secs(self.http_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(ServerSettings::default().validate(), Ok(()));
    }

    #[test]
    fn every_limit_is_checked() {
        type Change = fn(&mut ServerSettings);
        let cases: [(Change, &str); 9] = [
            (|s| s.max_connections = 0, "max_connections"),
            (|s| s.max_connections_per_ip = 0, "max_connections_per_ip"),
            (|s| s.max_calls_in_flight = 0, "max_calls_in_flight"),
            (|s| s.max_calls_in_flight = 1025, "max_calls_in_flight"),
            (|s| s.header_timeout_secs = 0, "header_timeout_secs"),
            (|s| s.http_timeout_secs = 86_401, "http_timeout_secs"),
            (|s| s.idle_timeout_secs = 10, "idle_timeout_secs"),
            (
                |s| {
                    s.header_timeout_secs = 20;
                    s.http_timeout_secs = 10
                },
                "http_timeout_secs",
            ),
            (|s| s.max_batch_calls = 0, "max_batch_calls"),
        ];
        for (change, field) in cases {
            let mut settings = ServerSettings::default();
            change(&mut settings);
            assert_eq!(
                settings.validate().map_err(|e| e.field),
                Err(field),
                "{settings:?}"
            );
        }
    }
}
