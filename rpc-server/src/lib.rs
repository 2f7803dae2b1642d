//! The circles server: one jsonrpsee WebSocket server per circle, serving the
//! API generated from `openrpc.json` (see `rpc-types`).

mod access;
mod calls;
mod circle;
mod close;
mod config;
mod connection;
mod console;
mod host;
mod listener;
mod origin;
mod session;
mod trim;
mod upgrade;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use jsonrpsee::RpcModule;
use jsonrpsee::server::ServerHandle;

pub use access::{Access, AccessPolicy, Action, Audience, Refusal};
pub use circle::{Circle, CircleSettings};
pub use close::{CloseAfterAnswer, CloseAfterAnswerLayer};
pub use config::{InvalidServerSettings, ServerSettings};
pub use console::{ConsoleDir, ConsoleLayer, ConsoleService};
pub use origin::{KnownHosts, KnownHostsGuard, KnownHostsLayer};
pub use session::{Challenge, Session, SessionLayer, SessionService, SessionState};

use connection::Serving;
use listener::ConnectionLimits;
use websocket::WebSocketSettings;

/// How long past the challenge lifetime a connection that has not signed in stays open, on
/// circles that require sign-in: long enough for a client that answers its challenge at the
/// last moment to get the answer (`AuthenticationFailed`: expired) rather than a closed
/// connection.
pub const SIGN_IN_GRACE: Duration = Duration::from_secs(1);

/// Why a circle could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A listener handed over ([`Bind::Listener`]) could not be served on.
    #[error("cannot serve on the listener handed over: {what}: {source}")]
    Listener {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot register the API: {0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
    #[error(transparent)]
    Settings(#[from] InvalidServerSettings),
}

/// Where a circle listens: an address to bind, or a listener bound already (by a parent
/// process that passed it down, as systemd's socket activation does, or by a test that must
/// know the port before the server starts; see [`start_on`]).
#[derive(Debug)]
pub enum Bind {
    /// Bind this address (port 0 picks a free port).
    Addr(SocketAddr),
    /// Serve on this listening socket as it is: its address and port are the circle's.
    Listener(std::net::TcpListener),
}

impl From<SocketAddr> for Bind {
    fn from(addr: SocketAddr) -> Self {
        Bind::Addr(addr)
    }
}

impl From<std::net::TcpListener> for Bind {
    fn from(listener: std::net::TcpListener) -> Self {
        Bind::Listener(listener)
    }
}

impl Bind {
    /// The listener to accept on, and its address (the real port when asked for port 0).
    async fn listen(self) -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
        match self {
            Bind::Addr(addr) => {
                let bind_error = |source| StartError::Bind { addr, source };
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(bind_error)?;
                let local_addr = listener.local_addr().map_err(bind_error)?;
                Ok((listener, local_addr))
            }
            Bind::Listener(listener) => {
                let error = |what| move |source| StartError::Listener { what, source };
                let local_addr = listener
                    .local_addr()
                    .map_err(error("it has no local address"))?;
                // tokio polls the socket: a blocking accept would stall a runtime thread.
                listener
                    .set_nonblocking(true)
                    .map_err(error("cannot make it non-blocking"))?;
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(error("cannot register it with the runtime"))?;
                Ok((listener, local_addr))
            }
        }
    }
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
    start_on(addr, circle, settings, console).await
}

/// Like [`start_with_console`], on `bind`: an address, or a listening socket bound already
/// (a `std::net::TcpListener`, e.g. one passed down by socket activation), which is served
/// as it is.
pub async fn start_on(
    bind: impl Into<Bind>,
    circle: Circle,
    settings: &ServerSettings,
    console: Option<ConsoleDir>,
) -> Result<RunningCircle, StartError> {
    let circle_settings = circle.settings();
    // Where nothing is open to anonymous callers, a connection that does not sign in has
    // no business staying.
    let sign_in_within = circle_settings
        .access
        .access
        .requires_sign_in()
        .then_some(circle_settings.challenge_ttl.saturating_add(SIGN_IN_GRACE));
    serve_inner(
        bind.into(),
        rpc_module(circle)?,
        settings,
        console,
        sign_in_within,
    )
    .await
}

/// Serves `module` on `addr` with per-connection sessions and `settings`.
pub async fn serve<C: Send + Sync + 'static>(
    addr: SocketAddr,
    module: RpcModule<C>,
    settings: &ServerSettings,
) -> Result<RunningCircle, StartError> {
    serve_on(addr, module, settings).await
}

/// Like [`serve`], on `bind`: an address, or a listening socket bound already.
pub async fn serve_on<C: Send + Sync + 'static>(
    bind: impl Into<Bind>,
    module: RpcModule<C>,
    settings: &ServerSettings,
) -> Result<RunningCircle, StartError> {
    serve_inner(bind.into(), module, settings, None, None).await
}

/// Listens on `bind` and serves every connection (see the `listener`, `connection` and
/// `websocket` modules); `sign_in_within`: how long a WebSocket connection may stay without
/// signing in, on circles that require it.
async fn serve_inner<C: Send + Sync + 'static>(
    bind: Bind,
    module: RpcModule<C>,
    settings: &ServerSettings,
    console: Option<ConsoleDir>,
    sign_in_within: Option<Duration>,
) -> Result<RunningCircle, StartError> {
    settings.validate()?;
    if let Some(console) = &console {
        tracing::debug!(dir = %console.path().display(), "serving the web console");
    }
    let (listener, local_addr) = bind.listen().await?;
    let known = std::sync::Arc::new(KnownHosts::new(local_addr, &settings.allowed_origins));
    let (stop, handle) = jsonrpsee::server::stop_channel();
    let serving = Arc::new(Serving {
        limits: ConnectionLimits::new(settings.max_connections, settings.max_connections_per_ip),
        origins: KnownHostsLayer::origins(known.clone()),
        host_names: KnownHostsLayer::host_names(known),
        console: ConsoleLayer::new(console),
        methods: module.into(),
        websocket: Arc::new(WebSocketSettings {
            max_message_bytes: settings.max_message_bytes as usize,
            max_calls_in_flight: settings.max_calls_in_flight as usize,
            max_batch_calls: settings.max_batch_calls,
            ping_interval: settings.ping_interval(),
            idle_timeout: settings.idle_timeout(),
            sign_in_within,
        }),
        header_timeout: settings.header_timeout(),
        http_timeout: settings.http_timeout(),
        stop: stop.clone(),
        next_connection: AtomicU32::new(0),
    });
    tokio::spawn(listener::accept_loop(listener, serving, stop));
    Ok(RunningCircle { local_addr, handle })
}
