//! One answer per plain HTTP connection: every answer but a WebSocket upgrade's carries
//! `Connection: close`, so the connection is closed once it is sent (no keep-alive: an idle
//! console connection holds no place under the connection limits). (hyper's own
//! `keep_alive(false)` would also mark the upgrade's 101 answer `close`, which WebSocket
//! clients refuse.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpRequest, HttpResponse};
use tower::{Layer, Service};

/// The tower layer that closes a connection after its answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloseAfterAnswerLayer;

impl<S> Layer<S> for CloseAfterAnswerLayer {
    type Service = CloseAfterAnswer<S>;

    fn layer(&self, inner: S) -> CloseAfterAnswer<S> {
        CloseAfterAnswer { inner }
    }
}

/// The service [`CloseAfterAnswerLayer`] makes.
#[derive(Debug, Clone)]
pub struct CloseAfterAnswer<S> {
    inner: S,
}

impl<S> Service<HttpRequest> for CloseAfterAnswer<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok(response)
        })
    }
}
