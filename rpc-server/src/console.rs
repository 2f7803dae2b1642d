//! The web console, served on the circle's own port.
//!
//! A tower layer in front of jsonrpsee's HTTP service: a plain HTTP `GET` (or
//! `HEAD`) of one of the console's few files is answered from the console
//! directory; any other plain `GET` gets 404. Everything else, and above all
//! every WebSocket upgrade request, goes to jsonrpsee untouched. Only the paths
//! of [`FILES`] are ever mapped to files, so no request can reach any other
//! file (no path traversal, no directory listing).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tower::{Layer, Service};

/// The directory the web console is served from: `index.html`, `console.js`,
/// `console.css`, and `pkg/` as `tools/wasm.sh` builds it (`rpc_client.js`,
/// `rpc_client_bg.wasm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleDir {
    root: PathBuf,
}

impl ConsoleDir {
    /// The console in directory `path` (read on every request, so a rebuilt
    /// `pkg/` is served without a restart).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConsoleDir { root: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }
}

impl From<PathBuf> for ConsoleDir {
    fn from(path: PathBuf) -> Self {
        ConsoleDir::new(path)
    }
}

impl From<&Path> for ConsoleDir {
    fn from(path: &Path) -> Self {
        ConsoleDir::new(path)
    }
}

/// The URL paths served, the file each is read from (relative to the console
/// directory) and its content type.
pub const FILES: &[(&str, &str, &str)] = &[
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/index.html", "index.html", "text/html; charset=utf-8"),
    (
        "/console.js",
        "console.js",
        "text/javascript; charset=utf-8",
    ),
    ("/console.css", "console.css", "text/css; charset=utf-8"),
    (
        "/pkg/rpc_client.js",
        "pkg/rpc_client.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "/pkg/rpc_client_bg.wasm",
        "pkg/rpc_client_bg.wasm",
        "application/wasm",
    ),
];

/// The files of `pkg/` the page cannot work without.
const CLIENT_FILES: [&str; 2] = ["pkg/rpc_client.js", "pkg/rpc_client_bg.wasm"];

const NOT_BUILT_PAGE: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>circles console: client not built</title></head>
<body>
<h1>The console's client is not built</h1>
<p>This circle serves its web console, but <code>pkg/rpc_client.js</code> or
<code>pkg/rpc_client_bg.wasm</code> is missing from its console folder.</p>
<p>Build it with <code>tools/wasm.sh</code> (from the circles checkout), then reload this page;
the circle need not be restarted.</p>
</body>
</html>
";

/// Installs the console in front of jsonrpsee's HTTP service; with no console
/// directory it passes every request through.
#[derive(Debug, Clone, Default)]
pub struct ConsoleLayer {
    dir: Option<Arc<ConsoleDir>>,
}

impl ConsoleLayer {
    pub fn new(dir: Option<ConsoleDir>) -> Self {
        ConsoleLayer {
            dir: dir.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for ConsoleLayer {
    type Service = ConsoleService<S>;

    fn layer(&self, inner: S) -> ConsoleService<S> {
        ConsoleService {
            inner,
            dir: self.dir.clone(),
        }
    }
}

/// The service [`ConsoleLayer`] makes.
#[derive(Debug, Clone)]
pub struct ConsoleService<S> {
    inner: S,
    dir: Option<Arc<ConsoleDir>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<HttpRequest> for ConsoleService<S>
where
    S: Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let head = request.method() == http::Method::HEAD;
        let page = request.method() == http::Method::GET || head;
        match &self.dir {
            Some(dir) if page && !jsonrpsee::server::ws::is_upgrade_request(&request) => {
                let dir = dir.clone();
                let path = request.uri().path().to_string();
                Box::pin(async move { Ok(answer(&dir, &path, head).await) })
            }
            _ => Box::pin(self.inner.call(request)),
        }
    }
}

fn response(
    status: http::StatusCode,
    content_type: &str,
    body: Vec<u8>,
    head: bool,
) -> HttpResponse {
    let length = body.len();
    let body = if head { Vec::new() } else { body };
    let mut response = HttpResponse::new(HttpBody::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let text = |value: &str| {
        http::HeaderValue::from_str(value).unwrap_or(http::HeaderValue::from_static("text/plain"))
    };
    headers.insert(http::header::CONTENT_TYPE, text(content_type));
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(length),
    );
    // Always revalidate: the files change whenever tools/wasm.sh rebuilds them.
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("text/html") {
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            http::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

/// The page keeps a secret key in localStorage: it runs only its own scripts
/// and the wasm client (`'wasm-unsafe-eval'` lets it compile the module),
/// talks to circles over WebSocket anywhere, and cannot be framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

fn plain(status: http::StatusCode, message: String, head: bool) -> HttpResponse {
    response(
        status,
        "text/plain; charset=utf-8",
        format!("{message}\n").into_bytes(),
        head,
    )
}

async fn answer(dir: &ConsoleDir, path: &str, head: bool) -> HttpResponse {
    let Some(&(_, file, content_type)) = FILES.iter().find(|(served, _, _)| *served == path) else {
        return plain(
            http::StatusCode::NOT_FOUND,
            format!(
                "not found: {path} (this circle serves its web console at / and JSON-RPC over WebSocket)"
            ),
            head,
        );
    };
    if file == "index.html" {
        let mut missing = false;
        for client_file in CLIENT_FILES {
            missing |= !tokio::fs::try_exists(dir.path().join(client_file))
                .await
                .unwrap_or(false);
        }
        if missing {
            // The folder is named in the server's log, not to visitors.
            tracing::warn!(dir = %dir.path().display(), "the console's client is not built");
            let page = NOT_BUILT_PAGE;
            // 200: the page is the answer for now (it says what to do).
            return response(
                http::StatusCode::OK,
                "text/html; charset=utf-8",
                page.as_bytes().to_vec(),
                head,
            );
        }
    }
    match tokio::fs::read(dir.path().join(file)).await {
        Ok(bytes) => response(http::StatusCode::OK, content_type, bytes, head),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let hint = if file.starts_with("pkg/") {
                " (the console's client is not built: run tools/wasm.sh)"
            } else {
                ""
            };
            plain(
                http::StatusCode::NOT_FOUND,
                format!("{file} is missing from the console directory{hint}"),
                head,
            )
        }
        Err(error) => {
            tracing::warn!(file = %dir.path().join(file).display(), %error, "cannot read a console file");
            plain(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {file}"),
                head,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_path_is_absolute_and_every_file_relative() {
        for (path, file, _) in FILES {
            assert!(path.starts_with('/'), "{path}");
            assert!(!file.starts_with('/') && !file.contains(".."), "{file}");
        }
    }

    #[test]
    fn the_wasm_module_is_served_as_application_wasm() {
        let (_, _, content_type) = FILES
            .iter()
            .find(|(path, _, _)| *path == "/pkg/rpc_client_bg.wasm")
            .expect("listed");
        assert_eq!(*content_type, "application/wasm");
    }
}
