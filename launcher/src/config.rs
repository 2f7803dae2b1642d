//! `circles.json`: the circles to start, as read from the file (see [`crate::validate`] for
//! the rules across circles).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// One circle of `circles.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircleConfig {
    /// The circle's id: unique, 1 to 64 characters of `a-z`, `0-9` and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,64}$"))]
    pub id: String,
    /// TCP port of the circle's WebSocket server: 1 to 65535, unique among the circles; or 0
    /// for any free port, chosen by the system when the circle starts (the launcher's table
    /// shows it), which several circles may use.
    pub port: u16,
    /// The circle's own data directory (identity key, store), created if missing. Unique;
    /// not inside another circle's. Relative paths are taken from the config file's folder.
    pub db_path: PathBuf,
    /// The circle's script library: an existing directory; `import "name"` loads
    /// `name.rhai` from it and from nowhere else. Relative to the config file's folder.
    pub rhai_path: PathBuf,
    /// Address to listen on (default 127.0.0.1).
    #[serde(default = "default_host")]
    pub host: IpAddr,
    /// The circle's members: public keys (SEC1 hex) that `access` may give more rights.
    /// Scripts and published functions see whether their caller is one
    /// (`CALLER_IS_MEMBER`, `caller_is_member()`).
    #[serde(default)]
    #[schemars(with = "Vec<MemberKey>")]
    pub members: Vec<circles_identity::PublicKey>,
    /// Who may run scripts of their own (`play`: default `members`) and call the published
    /// functions of the script library (`call`, `list_functions`: default `signed_in`); each
    /// `members`, `signed_in` or `anyone` (anonymous callers too).
    #[serde(default)]
    pub access: rpc_server::Access,
    /// Lifetime of a `fetch_nonce` challenge in seconds (default 300).
    #[serde(default = "default_challenge_ttl_secs")]
    #[schemars(range(min = 1, max = 86400))]
    pub challenge_ttl_secs: u64,
    /// Script sandbox limits (each optional; see the README for defaults).
    #[serde(default)]
    pub limits: circles_sandbox::Limits,
    /// The server: transport limits and allowed web origins (each optional; see the README).
    #[serde(default)]
    pub server: rpc_server::ServerSettings,
    /// The store: quotas per author and per circle, and the bytes one listing may return
    /// (each optional; see the README).
    #[serde(default)]
    pub store: circles_store::StoreLimits,
    /// Circles elsewhere that this circle's scripts may call (`peers::invoke`, `peers::play`),
    /// besides the other circles of this file, which are its peers already.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

/// A circle elsewhere, as a peer of this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The name scripts call it by (`peers::invoke("bob", …)`): 1 to 64 characters of `a-z`,
    /// `0-9` and `-`, unique among the circle's peers and the circles of this file.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,64}$"))]
    pub id: String,
    /// Where it listens: `ws://host:port` (or `wss://`).
    #[schemars(regex(pattern = r"^wss?://"))]
    pub url: String,
    /// Its identity key, pinned: the circle signs in to it only if its challenge names this
    /// key (SEC1 hex, as its launcher's table shows it).
    #[schemars(with = "MemberKey")]
    pub public_key: circles_identity::PublicKey,
}

/// A member's public key, for the schema: SEC1 hex, 33 or 65 bytes, optional `0x`.
#[derive(JsonSchema)]
#[schemars(regex(pattern = r"^(0[xX])?([0-9a-fA-F]{66}|[0-9a-fA-F]{130})$"))]
#[allow(dead_code)] // only its schema is used
struct MemberKey(String);

fn default_challenge_ttl_secs() -> u64 {
    rpc_server::CircleSettings::DEFAULT_CHALLENGE_TTL.as_secs()
}

fn default_host() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// The whole file: a JSON array of circles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "circles.json",
    description = "The circles the circles launcher starts: one object per circle."
)]
pub struct CirclesFile(pub Vec<CircleConfig>);

/// Reads and parses `path`; relative `db_path` and `rhai_path` are resolved against the
/// file's folder. Rules across circles are checked by [`crate::validate::validate`].
pub fn load(path: &Path) -> Result<Vec<CircleConfig>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        file: file.clone(),
        source,
    })?;
    let CirclesFile(mut circles) = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(&text),
    )
    .map_err(|error| {
        let at = error.path().to_string();
        let at = if at == "." { "" } else { &at };
        match error.inner().to_string() {
            replaced if replaced.starts_with("unknown field `require_auth`") => {
                ConfigError::invalid(
                    &file,
                    at,
                    "`require_auth` was replaced by `access` and `members`: for what \
                 `\"require_auth\": false` did, write `\"access\": {\"play\": \"anyone\", \
                 \"call\": \"anyone\"}`; `true` is now the default for calls, and `play` is \
                 for members only unless `access.play` says otherwise",
                )
            }
            _ => ConfigError::invalid(&file, at, error.inner()),
        }
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    for circle in &mut circles {
        circle.db_path = normalize(&base.join(&circle.db_path));
        circle.rhai_path = normalize(&base.join(&circle.rhai_path));
    }
    Ok(circles)
}

/// `path` made absolute (against the current directory) with `.` and `..` folded away
/// lexically, so that two spellings of one directory compare equal.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The JSON Schema of `circles.json` (committed as `circles.schema.json`).
pub fn schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(CirclesFile)).unwrap_or(serde_json::Value::Null);
    // The worker count defaults to this machine's parallelism: not a fact of the format.
    if let Some(workers) = schema.pointer_mut("/definitions/Limits/properties/workers")
        && let Some(fields) = workers.as_object_mut()
    {
        fields.remove("default");
        fields.insert(
            "description".into(),
            "Worker threads (default: the machine's available parallelism).".into(),
        );
    }
    schema
}
