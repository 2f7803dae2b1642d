//! One accepted TCP connection: a single HTTP/1.1 exchange (a console file, a refusal, or a
//! WebSocket upgrade), then, if upgraded, the WebSocket session.
//!
//! The HTTP part is bounded in time: the request's headers must arrive within
//! `header_timeout_secs` (slowloris), the whole exchange must be over within
//! `http_timeout_secs`, and there is no keep-alive: the connection is closed after its one
//! answer ([`CloseAfterAnswerLayer`]). The connection keeps its place under the connection limits (its
//! [`ConnectionPermit`]) until it is closed, WebSocket session included.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, Methods, StopHandle};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::close::CloseAfterAnswerLayer;
use crate::console::ConsoleLayer;
use crate::listener::{ConnectionLimits, ConnectionPermit};
use crate::origin::KnownHostsLayer;
use crate::upgrade::WebSocketUpgrade;
use crate::websocket::{self, WebSocketSettings};

/// Largest request head (request line and headers) read from a connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What every connection of one server is served with.
pub(crate) struct Serving {
    pub(crate) limits: Arc<ConnectionLimits>,
    pub(crate) origins: KnownHostsLayer,
    pub(crate) host_names: KnownHostsLayer,
    pub(crate) console: ConsoleLayer,
    pub(crate) methods: Methods,
    pub(crate) websocket: Arc<WebSocketSettings>,
    pub(crate) header_timeout: Duration,
    pub(crate) http_timeout: Duration,
    /// Held while any connection is served: the server has stopped once every copy is gone.
    pub(crate) stop: StopHandle,
    pub(crate) next_connection: AtomicU32,
}

/// Serves the connection `stream` from `peer` until it is closed.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
    serving: Arc<Serving>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let (upgrade, upgraded) = WebSocketUpgrade::new();
    let service = tower::ServiceBuilder::new()
        .layer(CloseAfterAnswerLayer)
        .layer(serving.origins.clone())
        .layer(serving.host_names.clone())
        .layer(serving.console.clone())
        .service(upgrade);
    serve_http(stream, peer, HyperService(service), &serving).await;
    // The HTTP exchange is over and its services dropped: an upgrade was accepted, or never
    // will be.
    if let Ok(pending) = upgraded.await {
        let connection = serving.next_connection.fetch_add(1, Ordering::Relaxed);
        websocket::serve(
            pending,
            serving.websocket.clone(),
            serving.methods.clone(),
            connection.into(),
            serving.stop.clone(),
            peer,
        )
        .await;
    }
    drop(permit);
}

/// Serves the one HTTP exchange of the connection (closing the socket afterwards, unless
/// it was upgraded) within the connection's time limits.
async fn serve_http<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: HyperService<S>,
    serving: &Serving,
) where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(serving.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut exchange = pin!(
        http.serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    let deadline = tokio::time::Instant::now() + serving.http_timeout;
    let outcome = tokio::select! {
        outcome = tokio::time::timeout_at(deadline, &mut exchange) => outcome,
        _ = serving.stop.clone().shutdown() => {
            exchange.as_mut().graceful_shutdown();
            tokio::time::timeout_at(deadline, &mut exchange).await
        }
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%peer, %error, "HTTP connection ended"),
        Err(_) => tracing::debug!(%peer, "closed an HTTP connection at http_timeout_secs"),
    }
}

/// The connection's tower services as hyper's.
#[derive(Clone)]
struct HyperService<S>(S);

impl<S> hyper::service::Service<http::Request<Incoming>> for HyperService<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError> + Clone,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = tower::util::Oneshot<S, HttpRequest>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.0.clone().oneshot(request.map(HttpBody::new))
    }
}
