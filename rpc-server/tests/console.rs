//! The web console on the circle's own port: plain HTTP GETs of the allowlist
//! are answered from the console directory, everything else is 404, and
//! JSON-RPC over WebSocket works on the same port as before.

use std::net::SocketAddr;
use std::path::Path;

use circles_identity::SecretKey;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc_server::{Circle, CircleSettings, ConsoleDir, RunningCircle, ServerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INDEX: &str = "<!doctype html><title>test console</title>";
const WASM: &[u8] = b"\0asm\x01\0\0\0test module";

/// A console directory with every file, and one file that must never be served.
fn console_dir(with_pkg: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    };
    write("index.html", INDEX.as_bytes());
    write("console.js", b"console.log('console');");
    write("console.css", b"body {}");
    write("secret.txt", b"not for the web");
    if with_pkg {
        write("pkg/rpc_client.js", b"export default function init() {}");
        write("pkg/rpc_client_bg.wasm", WASM);
        write("pkg/rpc_client.d.ts", b"// not served");
    }
    dir
}

async fn start(console: Option<&Path>) -> RunningCircle {
    let circle =
        Circle::new(CircleSettings::new("console-test"), &SecretKey::generate()).expect("circle");
    rpc_server::start_with_console(
        "127.0.0.1:0".parse().expect("addr"),
        circle,
        &ServerSettings::default(),
        console.map(ConsoleDir::from),
    )
    .await
    .expect("start")
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request over a raw socket, the path sent exactly as given
/// (an HTTP client library would normalise `..` away).
async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read reply");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path).await
}

#[tokio::test]
async fn get_root_and_index_return_the_html() {
    let dir = console_dir(true);
    let circle = start(Some(dir.path())).await;
    for path in ["/", "/index.html", "/?key=value"] {
        let reply = get(circle.local_addr(), path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(reply.text(), INDEX, "{path}");
        let policy = reply.header("content-security-policy").expect("a CSP");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }
    circle.stop().await;
}

#[tokio::test]
async fn every_file_has_its_content_type() {
    let dir = console_dir(true);
    let circle = start(Some(dir.path())).await;
    let wasm = get(circle.local_addr(), "/pkg/rpc_client_bg.wasm").await;
    assert_eq!(wasm.status, 200);
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(wasm.body, WASM);
    for (path, content_type) in [
        ("/console.js", "text/javascript; charset=utf-8"),
        ("/console.css", "text/css; charset=utf-8"),
        ("/pkg/rpc_client.js", "text/javascript; charset=utf-8"),
    ] {
        let reply = get(circle.local_addr(), path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
    circle.stop().await;
}

#[tokio::test]
async fn head_gives_the_length_without_the_body() {
    let dir = console_dir(true);
    let circle = start(Some(dir.path())).await;
    let reply = request(circle.local_addr(), "HEAD", "/pkg/rpc_client_bg.wasm").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/wasm"));
    assert_eq!(
        reply.header("content-length"),
        Some(WASM.len().to_string().as_str())
    );
    assert!(reply.body.is_empty());
    circle.stop().await;
}

#[tokio::test]
async fn anything_off_the_allowlist_is_404() {
    let dir = console_dir(true);
    let circle = start(Some(dir.path())).await;
    for path in [
        "/../Cargo.toml",
        "/pkg/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/secret.txt",
        "/pkg/rpc_client.d.ts",
        "/pkg/",
        "/pkg",
        "/index.html/",
        "//index.html",
        "/Index.html",
        "/console.js.map",
    ] {
        let reply = get(circle.local_addr(), path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(!reply.text().contains("not for the web"), "{path}");
    }
    circle.stop().await;
}

#[tokio::test]
async fn without_pkg_the_page_says_how_to_build_it() {
    let dir = console_dir(false);
    let circle = start(Some(dir.path())).await;
    let page = get(circle.local_addr(), "/").await;
    assert_eq!(page.status, 200);
    assert!(!page.text().contains("test console"), "{}", page.text());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("tools/wasm.sh"), "{}", page.text());
    let folder = dir.path().display().to_string();
    assert!(
        !page.text().contains(&folder),
        "the server's folders stay private"
    );
    let module = get(circle.local_addr(), "/pkg/rpc_client.js").await;
    assert_eq!(module.status, 404);
    assert!(module.text().contains("tools/wasm.sh"), "{}", module.text());
    circle.stop().await;
}

#[tokio::test]
async fn json_rpc_over_websocket_still_works_on_the_same_port() {
    let dir = console_dir(true);
    let circle = start(Some(dir.path())).await;
    let client = WsClientBuilder::default()
        .build(circle.url())
        .await
        .expect("WebSocket connection");
    let document: serde_json::Value = client
        .request("rpc.discover", ObjectParams::new())
        .await
        .expect("rpc.discover");
    assert!(document.get("openrpc").is_some(), "{document}");
    let mut params = ObjectParams::new();
    params.insert("script", "40 + 2").expect("params");
    let refused = client
        .request::<serde_json::Value, _>("play", params)
        .await
        .expect_err("play before authenticate");
    match refused {
        jsonrpsee::core::ClientError::Call(error) => {
            assert_eq!(error.code(), rpc_types::error_code::UNAUTHENTICATED)
        }
        other => panic!("expected Unauthenticated, got {other}"),
    }
    // The page is still served while the WebSocket is open.
    assert_eq!(get(circle.local_addr(), "/").await.status, 200);
    drop(client);
    circle.stop().await;
}

#[tokio::test]
async fn without_a_console_no_page_is_served() {
    let circle = start(None).await;
    let reply = get(circle.local_addr(), "/").await;
    assert_ne!(reply.status, 200);
    assert!(!reply.text().contains("test console"));
    circle.stop().await;
}
