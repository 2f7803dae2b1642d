//! `circles.json`: the circles to start.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One circle of `circles.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircleConfig {
    /// Unique, `[a-z0-9-]+`.
    pub id: String,
    /// Unique TCP port of the circle's WebSocket server.
    pub port: u16,
    /// The circle's own data directory (created if missing).
    pub db_path: PathBuf,
    /// The circle's script library.
    pub rhai_path: PathBuf,
    /// Address to listen on (default 127.0.0.1).
    #[serde(default = "default_host")]
    pub host: IpAddr,
    /// Whether `play` needs an authenticated caller (default true).
    #[serde(default = "default_true")]
    pub require_auth: bool,
    /// Lifetime of a `fetch_nonce` challenge in seconds (default 300).
    #[serde(default = "default_challenge_ttl_secs")]
    pub challenge_ttl_secs: u64,
    /// Script sandbox limits (each optional).
    #[serde(default)]
    pub limits: circles_sandbox::Limits,
    /// Server transport limits (each optional).
    #[serde(default)]
    pub server: rpc_server::ServerLimits,
}

fn default_true() -> bool {
    true
}

fn default_challenge_ttl_secs() -> u64 {
    300
}

fn default_host() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// Reads `path`; relative `db_path` and `rhai_path` are taken from the file's folder.
pub fn load(path: &Path) -> Result<Vec<CircleConfig>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        file: file.clone(),
        source,
    })?;
    let mut circles: Vec<CircleConfig> = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(&text),
    )
    .map_err(|e| ConfigError::Invalid {
        file: file.clone(),
        message: format!("{}: {}", e.path(), e.inner()),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    for circle in &mut circles {
        circle.db_path = base.join(&circle.db_path);
        circle.rhai_path = base.join(&circle.rhai_path);
    }
    Ok(circles)
}
