//! Which web pages may open a WebSocket to a circle.
//!
//! Browsers let any page open a WebSocket to any address, `127.0.0.1` included, and
//! send the page's origin in the `Origin` header; nothing else stops a page a circle's
//! operator happens to visit from driving the circle. So a request that carries an
//! `Origin` is let through only when that origin is one of the circle's [`KnownHosts`]:
//! the circle's own address (its console), a page on this machine (loopback host), or
//! listed in the circle's `allowed_origins` (`"*"` allows any). Requests without `Origin`
//! (native clients, the command line) are not browsers' and pass.
//!
//! DNS rebinding: a page at `http://evil.example:PORT` whose name is then pointed at
//! `127.0.0.1` sends `Origin: http://evil.example:PORT` *and* `Host: evil.example:PORT`,
//! so "the origin names the host the request was sent to" proves nothing when the host is
//! a DNS name. It does when the host is an IP address (a browser sends an IP origin only
//! for a page it loaded from that very address), so that is the only case where an origin
//! passes for matching the `Host` header.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tower::{Layer, Service};

/// The names a circle is legitimately reached by from a browser: its listen address,
/// loopback names and the origins of `allowed_origins`.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    listen: SocketAddr,
    any_origin: bool,
    allowed: Vec<Origin>,
}

impl KnownHosts {
    /// A circle listening on `listen` (with its real port) that also serves pages of
    /// `allowed_origins` (`scheme://host[:port]` as browsers send them; `"*"` for all).
    /// Entries that are not origins are ignored (they could match nothing).
    pub fn new(listen: SocketAddr, allowed_origins: &[String]) -> Self {
        KnownHosts {
            listen,
            any_origin: allowed_origins.iter().any(|o| o == "*"),
            allowed: allowed_origins
                .iter()
                .filter_map(|o| Origin::parse(o))
                .collect(),
        }
    }

    /// Whether a page of `origin` may use the circle; `host` is the request's `Host` header.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any_origin {
            return true;
        }
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        if self.allowed.contains(&origin) || origin.authority.is_loopback() {
            return true;
        }
        let Some(ip) = origin.authority.ip() else {
            // A DNS name that is neither loopback nor listed: possibly rebound.
            return false;
        };
        let port = origin.port();
        let own_address = ip == self.listen.ip() && port == self.listen.port();
        let same_address = host.and_then(Authority::parse).is_some_and(|host| {
            let host_port = host.port.or(default_port(&origin.scheme)).unwrap_or(0);
            host.ip() == Some(ip) && host_port == port
        });
        own_address || same_address
    }

    /// Whether `host` (a `Host` header or a request URI's authority) names this circle: a
    /// loopback name, an IP address (which cannot be rebound) or the host of an allowed
    /// origin.
    pub fn allows_host(&self, host: &str) -> bool {
        if self.any_origin {
            return true;
        }
        let Some(host) = Authority::parse(host) else {
            return false;
        };
        host.is_loopback()
            || host.ip().is_some()
            || self.allowed.iter().any(|o| o.authority.host == host.host)
    }
}

/// `scheme://authority`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    authority: Authority,
}

impl Origin {
    fn parse(origin: &str) -> Option<Origin> {
        let (scheme, authority) = origin.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return None;
        }
        let mut authority = Authority::parse(authority)?;
        // Browsers leave the scheme's default port out.
        if authority.port == default_port(&scheme) {
            authority.port = None;
        }
        Some(Origin { scheme, authority })
    }

    /// The port, the scheme's default when none is written (0 when it has none).
    fn port(&self) -> u16 {
        self.authority
            .port
            .or(default_port(&self.scheme))
            .unwrap_or(0)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// `host[:port]` or `[v6]:port`: the host lower-cased (brackets removed), the port if
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    fn parse(authority: &str) -> Option<Authority> {
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, rest) = v6.split_once(']')?;
                host.parse::<std::net::Ipv6Addr>().ok()?;
                // Nothing may follow `]` but a port.
                let port = if rest.is_empty() {
                    None
                } else {
                    Some(rest.strip_prefix(':')?)
                };
                (host, port)
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let valid_host = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
        if !valid_host {
            return None;
        }
        let port = match port {
            Some(port) => Some(port.parse::<u16>().ok()?),
            None => None,
        };
        Some(Authority {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The host as an IP address, if it is one (IPv4-mapped IPv6 addresses as IPv4).
    fn ip(&self) -> Option<IpAddr> {
        self.host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
    }

    /// `localhost`, `127.x.y.z` or `::1`.
    fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.ip().is_some_and(|ip| ip.is_loopback())
    }
}

/// Decides, from the names a circle knows, whether a request is refused (and with what).
type Check = fn(&HttpRequest, &KnownHosts) -> Option<HttpResponse>;

/// The tower layer that refuses, with 403, requests that do not come from or go to a name
/// the circle knows: [`KnownHostsLayer::origins`] checks a request's web origin,
/// [`KnownHostsLayer::host_names`] the host name a plain HTTP request is addressed to.
#[derive(Clone)]
pub struct KnownHostsLayer {
    known: Arc<KnownHosts>,
    check: Check,
}

impl KnownHostsLayer {
    /// Refuses requests from foreign web origins.
    pub fn origins(known: Arc<KnownHosts>) -> Self {
        KnownHostsLayer {
            known,
            check: origin_refusal,
        }
    }

    /// Refuses plain HTTP requests for unknown host names (DNS rebinding).
    pub fn host_names(known: Arc<KnownHosts>) -> Self {
        KnownHostsLayer {
            known,
            check: crate::host::host_name_refusal,
        }
    }
}

impl std::fmt::Debug for KnownHostsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownHostsLayer")
            .field("known", &self.known)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for KnownHostsLayer {
    type Service = KnownHostsGuard<S>;

    fn layer(&self, inner: S) -> KnownHostsGuard<S> {
        KnownHostsGuard {
            inner,
            known: self.known.clone(),
            check: self.check,
        }
    }
}

/// The service [`KnownHostsLayer`] makes.
#[derive(Clone)]
pub struct KnownHostsGuard<S> {
    inner: S,
    known: Arc<KnownHosts>,
    check: Check,
}

impl<S> Service<HttpRequest> for KnownHostsGuard<S>
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
        match (self.check)(&request, &self.known) {
            None => Box::pin(self.inner.call(request)),
            Some(response) => Box::pin(async move { Ok(response) }),
        }
    }
}

/// The 403 for a request whose web origin the circle does not accept.
fn origin_refusal(request: &HttpRequest, known: &KnownHosts) -> Option<HttpResponse> {
    let origin = refusal(request, known)?;
    tracing::info!(%origin, "refused a request from a foreign web origin");
    Some(forbidden(format!(
        "origin {origin} may not use this circle: add it to the circle's \
         server.allowed_origins to allow it\n"
    )))
}

/// A 403 answer with `message` as its text.
pub(crate) fn forbidden(message: String) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(message));
    *response.status_mut() = http::StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The request's origin when it must be refused.
fn refusal(request: &HttpRequest, known: &KnownHosts) -> Option<String> {
    let origin = request.headers().get(http::header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some(String::from_utf8_lossy(origin.as_bytes()).into_owned());
    };
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    if known.allows_origin(origin, host) {
        None
    } else {
        Some(origin.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(allowed: &[&str]) -> KnownHosts {
        let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        KnownHosts::new("127.0.0.1:9101".parse().expect("addr"), &allowed)
    }

    #[test]
    fn loopback_origins_pass_and_foreign_ones_do_not() {
        let known = known(&[]);
        for origin in [
            "http://localhost",
            "http://localhost:5173",
            "https://127.0.0.1:9101",
            "http://127.8.9.10",
            "http://[::1]:8080",
            "HTTP://LOCALHOST:3000",
        ] {
            assert!(known.allows_origin(origin, None), "{origin}");
        }
        for origin in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "http://127.0.0.1.nip.io:9101",
            "http://10.0.0.1:9101",
            "http://localhost:9101/path",
            "http://[::1",
            "http://[::1]x",
            "null",
            "file://",
            "",
        ] {
            assert!(!known.allows_origin(origin, None), "{origin}");
        }
    }

    #[test]
    fn dns_rebinding_is_refused_and_the_same_address_passes() {
        let known = known(&[]);
        // The rebinding attack: the page's name now resolves to 127.0.0.1.
        assert!(!known.allows_origin("http://evil.example:9101", Some("evil.example:9101")));
        assert!(!known.allows_origin("http://evil.example", Some("evil.example")));
        // A page loaded from the address the request went to (e.g. a circle listening on
        // 0.0.0.0 reached as 192.168.1.5) is that circle's own console.
        assert!(known.allows_origin("http://192.168.1.5:9101", Some("192.168.1.5:9101")));
        assert!(known.allows_origin("http://[fe80::1]:9101", Some("[fe80::1]:9101")));
        // …but not a page of another port or address.
        assert!(!known.allows_origin("http://192.168.1.5:8080", Some("192.168.1.5:9101")));
        assert!(!known.allows_origin("http://192.168.1.6:9101", Some("192.168.1.5:9101")));
    }

    #[test]
    fn the_configured_address_passes_on_its_port_only() {
        let known = KnownHosts::new("192.168.1.5:9101".parse().expect("addr"), &[]);
        assert!(known.allows_origin("http://192.168.1.5:9101", Some("127.0.0.1:9101")));
        assert!(!known.allows_origin("http://192.168.1.5:9102", Some("127.0.0.1:9101")));
    }

    #[test]
    fn listed_origins_pass_exactly() {
        let listed = known(&["https://app.example", "http://circle.lan:9101"]);
        assert!(listed.allows_origin("https://app.example", None));
        assert!(listed.allows_origin("https://APP.example:443", None));
        assert!(listed.allows_origin("http://circle.lan:9101", Some("circle.lan:9101")));
        assert!(!listed.allows_origin("http://app.example", None));
        assert!(!listed.allows_origin("https://app.example:8443", None));
        assert!(known(&["*"]).allows_origin("https://anything.example", None));
    }

    #[test]
    fn host_names_are_loopback_addresses_or_listed() {
        let known = known(&["http://circle.lan:9101"]);
        for host in [
            "localhost",
            "localhost:9101",
            "127.0.0.1:9101",
            "[::1]:9101",
            "192.168.1.5:9101",
            "circle.lan:9101",
            "CIRCLE.LAN",
        ] {
            assert!(known.allows_host(host), "{host}");
        }
        for host in [
            "evil.example:9101",
            "localhost.evil.example",
            "127.0.0.1.nip.io:9101",
            "",
            "bad host",
            "[::1]x",
        ] {
            assert!(!known.allows_host(host), "{host}");
        }
        assert!(
            KnownHosts::new("127.0.0.1:1".parse().expect("addr"), &["*".into()])
                .allows_host("evil.example")
        );
    }
}
