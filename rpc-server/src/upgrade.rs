//! The innermost HTTP service of a connection: accepts a WebSocket upgrade (HTTP 101) and
//! hands the pending WebSocket to the connection, which serves it once the HTTP exchange is
//! over (see [`crate::connection`]); refuses every other request. (The HTTP middleware in
//! front of it answers the console's pages and refuses foreign origins.)

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tokio::sync::oneshot;
use tower::Service;

/// An accepted WebSocket upgrade whose connection is not yet handed over by HTTP.
pub(crate) struct PendingWebSocket {
    pub(crate) handshake: soketto::handshake::http::Server,
    pub(crate) upgrade: hyper::upgrade::OnUpgrade,
}

/// Accepts the first WebSocket upgrade request of its connection.
#[derive(Clone)]
pub(crate) struct WebSocketUpgrade {
    pending: Arc<Mutex<Option<oneshot::Sender<PendingWebSocket>>>>,
}

impl WebSocketUpgrade {
    /// The service of one connection, and where its accepted upgrade arrives.
    pub(crate) fn new() -> (Self, oneshot::Receiver<PendingWebSocket>) {
        let (sender, receiver) = oneshot::channel();
        let service = WebSocketUpgrade {
            pending: Arc::new(Mutex::new(Some(sender))),
        };
        (service, receiver)
    }
}

fn plain(status: http::StatusCode, text: &'static str) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl Service<HttpRequest> for WebSocketUpgrade {
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = std::future::Ready<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: HttpRequest) -> Self::Future {
        if !jsonrpsee::server::ws::is_upgrade_request(&request) {
            return std::future::ready(Ok(plain(
                http::StatusCode::FORBIDDEN,
                "this circle speaks JSON-RPC over WebSocket only\n",
            )));
        }
        let mut handshake = soketto::handshake::http::Server::new();
        let response = match handshake.receive_request(&request) {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "refused a malformed WebSocket upgrade");
                return std::future::ready(Ok(plain(
                    http::StatusCode::BAD_REQUEST,
                    "malformed WebSocket upgrade request\n",
                )));
            }
        };
        let sender = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(sender) = sender else {
            // A connection is upgraded once (and, without keep-alive, asks once).
            return std::future::ready(Ok(plain(
                http::StatusCode::BAD_REQUEST,
                "this connection is already upgraded\n",
            )));
        };
        let upgrade = hyper::upgrade::on(&mut request);
        if sender
            .send(PendingWebSocket { handshake, upgrade })
            .is_err()
        {
            return std::future::ready(Ok(plain(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "the connection is closing\n",
            )));
        }
        std::future::ready(Ok(response.map(|()| HttpBody::empty())))
    }
}
