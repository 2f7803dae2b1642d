//! Which host names a circle's plain HTTP answers (its web console) are given to.
//!
//! DNS rebinding: a page at `http://evil.example:PORT` whose name is then pointed at
//! `127.0.0.1` can fetch the circle's console as if it were its own (same origin for the
//! browser), so the console's answers go only to requests addressed to a name the circle
//! knows (see [`KnownHosts::allows_host`]): a loopback name, an IP address, or the host of an
//! allowed origin. WebSocket upgrades are left to the origin check ([`crate::OriginLayer`]):
//! browsers always send their `Origin` there, and non-browser clients may use any name.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpRequest, HttpResponse};
use tower::{Layer, Service};

use crate::origin::{KnownHosts, forbidden};

/// The tower layer that refuses plain HTTP requests for unknown host names with 403.
#[derive(Debug, Clone)]
pub struct HostNameLayer {
    known: Arc<KnownHosts>,
}

impl HostNameLayer {
    pub fn new(known: KnownHosts) -> Self {
        HostNameLayer {
            known: Arc::new(known),
        }
    }
}

impl<S> Layer<S> for HostNameLayer {
    type Service = HostNameGuard<S>;

    fn layer(&self, inner: S) -> HostNameGuard<S> {
        HostNameGuard {
            inner,
            known: self.known.clone(),
        }
    }
}

/// The service [`HostNameLayer`] makes.
#[derive(Debug, Clone)]
pub struct HostNameGuard<S> {
    inner: S,
    known: Arc<KnownHosts>,
}

impl<S> Service<HttpRequest> for HostNameGuard<S>
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
        if jsonrpsee::server::ws::is_upgrade_request(&request) {
            return Box::pin(self.inner.call(request));
        }
        match unknown_host(&request, &self.known) {
            None => Box::pin(self.inner.call(request)),
            Some(host) => {
                tracing::info!(%host, "refused a request for an unknown host name");
                let response = forbidden(format!(
                    "this circle is not {host}: open it by its address (e.g. 127.0.0.1) or add \
                     the name's origin to the circle's server.allowed_origins\n"
                ));
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The host the request is addressed to (its URI's authority or `Host` header) when the
/// circle does not know it.
fn unknown_host(request: &HttpRequest, known: &KnownHosts) -> Option<String> {
    let from_uri = request.uri().authority().map(|a| a.as_str().to_owned());
    let from_header = request
        .headers()
        .get(http::header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
    [from_uri, from_header]
        .into_iter()
        .flatten()
        .find(|host| !known.allows_host(host))
}
