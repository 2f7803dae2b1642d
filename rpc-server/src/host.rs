//! Which host names a circle's plain HTTP answers (its web console) are given to.
//!
//! DNS rebinding: a page at `http://evil.example:PORT` whose name is then pointed at
//! `127.0.0.1` can fetch the circle's console as if it were its own (same origin for the
//! browser), so the console's answers go only to requests addressed to a name the circle
//! knows (see [`KnownHosts::allows_host`]): a loopback name, an IP address, or the host of an
//! allowed origin. WebSocket upgrades are left to the origin check ([`crate::KnownHostsLayer::origins`]):
//! browsers always send their `Origin` there, and non-browser clients may use any name.

use jsonrpsee::server::{HttpRequest, HttpResponse};

use crate::origin::{KnownHosts, forbidden};

/// The 403 for a plain HTTP request addressed to a host name the circle does not know
/// (see [`crate::KnownHostsLayer::host_names`]).
pub(crate) fn host_name_refusal(request: &HttpRequest, known: &KnownHosts) -> Option<HttpResponse> {
    if jsonrpsee::server::ws::is_upgrade_request(request) {
        return None;
    }
    let host = unknown_host(request, known)?;
    tracing::info!(%host, "refused a request for an unknown host name");
    Some(forbidden(format!(
        "this circle is not {host}: open it by its address (e.g. 127.0.0.1) or add \
         the name's origin to the circle's server.allowed_origins\n"
    )))
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
