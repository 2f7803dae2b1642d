//! Bringing one configured circle to life: its data directory, identity key, store, script
//! library, sandbox and server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use circles_identity::{KeyFileError, PublicKey, SecretKey};
use circles_peers::{Directory, PeerAddress, Peers};
use circles_sandbox::{SandboxError, SandboxWorkers, ScriptLibrary};
use circles_store::{Store, StoreError};
use rpc_server::{AccessPolicy, Bind, Circle, CircleSettings, ConsoleDir, RunningCircle};

use crate::activation::PassedSocket;
use crate::config::CircleConfig;

/// The file in `db_path` that holds the circle's secret key (hex, owner-only).
pub const IDENTITY_FILE: &str = "identity.key";

/// Why a circle could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create db_path {}: {source}", path.display())]
    DbPath {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("identity: {0}")]
    Identity(#[from] KeyFileError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("script library {}: {source}", path.display())]
    Library {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("server: {0}")]
    Server(#[from] rpc_server::StartError),
}

/// A started circle.
pub struct StartedCircle {
    pub config: CircleConfig,
    pub public_key: PublicKey,
    pub server: RunningCircle,
    /// The circle's sandbox workers, which hold the other handles to the store: they exit
    /// after the server has stopped and dropped the circle.
    pub sandbox_workers: SandboxWorkers,
    /// The circle's store, kept to close it cleanly at shutdown (see [`crate::stop_all`]).
    pub store: Store,
    /// The circle's peer directory: its configured peers, and the other circles of the
    /// launcher once they have started (see [`crate::start_all`]).
    pub peers: Directory,
    /// The fd of the socket it is served on, when one was passed by socket activation
    /// (then its configured `host` and `port` are not used).
    pub passed_fd: Option<i32>,
}

impl StartedCircle {
    /// Where the other circles of this launcher reach this one: its URL, on loopback when it
    /// listens on every address.
    pub fn peer_address(&self) -> PeerAddress {
        let mut addr = self.server.local_addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        PeerAddress {
            url: format!("ws://{addr}"),
            public_key: self.public_key,
        }
    }
}

/// Starts `config`'s circle: creates its db_path and identity on first start, opens its
/// store and script library, and serves it (and the web console, when given) on its port.
pub async fn start_circle(
    config: &CircleConfig,
    console: Option<ConsoleDir>,
) -> Result<StartedCircle, StartError> {
    start_circle_on(config, console, None).await
}

/// Like [`start_circle`], served on `passed` when given (a socket passed by socket
/// activation) instead of on the circle's own `host` and `port`.
pub async fn start_circle_on(
    config: &CircleConfig,
    console: Option<ConsoleDir>,
    passed: Option<PassedSocket>,
) -> Result<StartedCircle, StartError> {
    create_private_dir(&config.db_path).map_err(|source| StartError::DbPath {
        path: config.db_path.clone(),
        source,
    })?;
    let key = load_or_create_identity(&config.db_path)?;
    let store = Store::open_with(&config.db_path, config.store.clone())?;
    let our_store = store.clone();
    let library = ScriptLibrary::new(&config.rhai_path)
        .map_err(|source| StartError::Library {
            path: config.rhai_path.clone(),
            source,
        })?
        .with_max_script_bytes(config.limits.max_script_bytes);
    let settings = CircleSettings {
        id: config.id.clone(),
        access: AccessPolicy {
            members: config.members.iter().copied().collect(),
            access: config.access.clone(),
        },
        challenge_ttl: Duration::from_secs(config.challenge_ttl_secs),
        limits: config.limits.clone(),
    };
    let directory = Directory::new();
    for peer in &config.peers {
        let address = PeerAddress {
            url: peer.url.clone(),
            public_key: peer.public_key,
        };
        directory.insert(peer.id.clone(), address);
    }
    let peers = Arc::new(Peers::new(
        directory.clone(),
        key.clone(),
        tokio::runtime::Handle::current(),
    ));
    let circle = Circle::with_sandbox(settings, &key, |sandbox| {
        sandbox
            .configure(move |engine| circles_store::rhai::register(engine, store))
            .configure(move |engine| circles_peers::register(engine, peers))
            .script_library(library)
    })?;
    let sandbox_workers = circle.sandbox_workers();
    let passed_fd = passed.as_ref().map(|socket| socket.fd);
    let bind = match passed {
        Some(socket) => Bind::Listener(socket.listener),
        None => Bind::Addr(SocketAddr::new(config.host, config.port)),
    };
    let server = rpc_server::start_on(bind, circle, &config.server, console).await?;
    match passed_fd {
        Some(fd) => tracing::info!(
            circle = %config.id,
            url = %server.url(),
            fd,
            "circle started on a socket passed by socket activation (its configured host and \
             port are not used)"
        ),
        None => tracing::info!(circle = %config.id, url = %server.url(), "circle started"),
    }
    Ok(StartedCircle {
        config: config.clone(),
        public_key: key.public_key(),
        server,
        sandbox_workers,
        store: our_store,
        peers: directory,
        passed_fd,
    })
}

/// Creates `path` (and missing parents) readable by its owner only: it holds the
/// circle's secret key and data.
/// An existing directory is made owner-only too.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The circle's identity key: created in `db_path` on first start, reused afterwards.
pub fn load_or_create_identity(db_path: &Path) -> Result<SecretKey, KeyFileError> {
    let path = db_path.join(IDENTITY_FILE);
    match SecretKey::load_from_file(&path) {
        Err(KeyFileError::Missing { .. }) => {
            let key = SecretKey::try_generate().map_err(|e| KeyFileError::Write {
                path: path.clone(),
                error: std::io::Error::other(e.to_string()),
            })?;
            key.save_to_file(&path)?;
            tracing::info!(path = %path.display(), "created a new circle identity");
            Ok(key)
        }
        other => other,
    }
}
