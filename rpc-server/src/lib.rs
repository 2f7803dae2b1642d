//! The circles server: one jsonrpsee WebSocket server per circle, serving the
//! API generated from `openrpc.json` (see `rpc-types`).

mod circle;
mod config;
mod console;
mod host;
mod origin;
mod session;

use std::net::SocketAddr;

use jsonrpsee::RpcModule;
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{Server, ServerHandle};

pub use circle::{Circle, CircleSettings};
pub use config::{InvalidServerSettings, ServerSettings};
pub use console::{ConsoleDir, ConsoleLayer, ConsoleService};
pub use host::{HostNameGuard, HostNameLayer};
pub use origin::{KnownHosts, OriginGuard, OriginLayer};
pub use session::{Challenge, Session, SessionLayer, SessionService, SessionState};

/// Why a circle could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot register the API: {0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
    #[error(transparent)]
    Settings(#[from] InvalidServerSettings),
}

/// A circle being served.
pub struct RunningCircle {
    local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RunningCircle {
    /// The address the server listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://host:port`
    pub fn url(&self) -> String {
        format!("ws://{}", self.local_addr)
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops accepting connections and waits for the server to wind down.
    pub async fn stop(self) {
        // An error only means it was already stopped.
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }

    /// Waits until the server stops.
    pub async fn stopped(self) {
        self.handle.stopped().await;
    }
}

/// The circle's API as an `RpcModule`, ready for [`serve`] (extra methods,
/// e.g. a benchmark's echo, can be merged into it first).
pub fn rpc_module(circle: Circle) -> Result<RpcModule<Circle>, StartError> {
    Ok(rpc_types::server::into_rpc_module(circle)?)
}

/// Starts serving `circle` on `addr` (port 0 picks a free port).
pub async fn start(
    addr: SocketAddr,
    circle: Circle,
    settings: &ServerSettings,
) -> Result<RunningCircle, StartError> {
    start_with_console(addr, circle, settings, None).await
}

/// Like [`start`], and with `console` also answers plain HTTP `GET`s on the
/// same port with the web console's files (see [`ConsoleDir`]); WebSocket
/// connections are served as always.
pub async fn start_with_console(
    addr: SocketAddr,
    circle: Circle,
    settings: &ServerSettings,
    console: Option<ConsoleDir>,
) -> Result<RunningCircle, StartError> {
    serve_inner(addr, rpc_module(circle)?, settings, console).await
}

/// Serves `module` on `addr` with per-connection sessions and `settings`.
pub async fn serve<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    settings: &ServerSettings,
) -> Result<RunningCircle, StartError> {
    serve_inner(addr, module, settings, None).await
}

async fn serve_inner<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    settings: &ServerSettings,
    console: Option<ConsoleDir>,
) -> Result<RunningCircle, StartError> {
    settings.validate()?;
    if let Some(console) = &console {
        tracing::debug!(dir = %console.path().display(), "serving the web console");
    }
    // Bound first: the origin rules need the real port.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .and_then(|listener| listener.into_std())
        .map_err(|source| StartError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let known = KnownHosts::new(local_addr, &settings.allowed_origins);
    let server = Server::builder()
        .set_config(settings.to_server_config())
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer(OriginLayer::new(known.clone()))
                .layer(HostNameLayer::new(known))
                .layer(ConsoleLayer::new(console)),
        )
        .set_rpc_middleware(RpcServiceBuilder::new().layer(SessionLayer))
        .build_from_tcp(listener)
        .map_err(|source| StartError::Bind { addr, source })?;
    let handle = server.start(module);
    Ok(RunningCircle { local_addr, handle })
}
