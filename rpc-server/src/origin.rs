//! Which web pages may open a WebSocket to a circle.
//!
//! Browsers let any page open a WebSocket to any address, `127.0.0.1` included, and
//! send the page's origin in the `Origin` header; nothing else stops a page a circle's
//! operator happens to visit from driving the circle. So a request that carries an
//! `Origin` is let through only when that origin is the circle itself (the console it
//! serves), a page on this machine (loopback host), or listed in the circle's
//! `allowed_origins` (`"*"` allows any). Requests without `Origin` (native clients, the
//! command line) are not browsers' and pass.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tower::{Layer, Service};

/// The tower layer that refuses requests from foreign web origins with 403.
#[derive(Debug, Clone, Default)]
pub struct OriginLayer {
    allowed: Arc<Vec<String>>,
}

impl OriginLayer {
    /// Origins (`scheme://host[:port]`, exactly as browsers send them) allowed besides the
    /// circle's own and loopback pages; `"*"` allows every origin.
    pub fn new(allowed: Vec<String>) -> Self {
        OriginLayer {
            allowed: Arc::new(allowed),
        }
    }
}

impl<S> Layer<S> for OriginLayer {
    type Service = OriginGuard<S>;

    fn layer(&self, inner: S) -> OriginGuard<S> {
        OriginGuard {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

/// The service [`OriginLayer`] makes.
#[derive(Debug, Clone)]
pub struct OriginGuard<S> {
    inner: S,
    allowed: Arc<Vec<String>>,
}

impl<S> Service<HttpRequest> for OriginGuard<S>
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
        match refusal(&request, &self.allowed) {
            None => Box::pin(self.inner.call(request)),
            Some(origin) => {
                tracing::info!(%origin, "refused a request from a foreign web origin");
                let mut response = HttpResponse::new(HttpBody::from(format!(
                    "origin {origin} may not use this circle: add it to the circle's \
                     server.allowed_origins to allow it\n"
                )));
                *response.status_mut() = http::StatusCode::FORBIDDEN;
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// The request's origin when it must be refused.
fn refusal(request: &HttpRequest, allowed: &[String]) -> Option<String> {
    let origin = request.headers().get(http::header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some(String::from_utf8_lossy(origin.as_bytes()).into_owned());
    };
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let same_origin = host.is_some_and(|host| {
        origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
    });
    let listed = allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin));
    if same_origin || listed || is_loopback_origin(origin) {
        None
    } else {
        Some(origin.to_owned())
    }
}

/// `http(s)://localhost[:port]`, `http(s)://127.x.y.z[:port]`, `http(s)://[::1][:port]`.
fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_are_recognised() {
        for origin in [
            "http://localhost",
            "http://localhost:5173",
            "https://127.0.0.1:9101",
            "http://127.8.9.10",
            "http://[::1]:8080",
        ] {
            assert!(is_loopback_origin(origin), "{origin}");
        }
        for origin in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "http://10.0.0.1:9101",
            "null",
            "file://",
        ] {
            assert!(!is_loopback_origin(origin), "{origin}");
        }
    }
}
