//! Web pages from foreign origins cannot open a WebSocket to a circle; its own console,
//! pages on this machine, listed origins and non-browser clients can. DNS rebinding (a
//! foreign name pointed at the circle's address) gets neither a WebSocket nor the console.

use circles_identity::SecretKey;
use rpc_server::{Circle, CircleSettings, ConsoleDir, RunningCircle, ServerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(allowed_origins: &[&str]) -> RunningCircle {
    start_with_console(allowed_origins, None).await
}

async fn start_with_console(
    allowed_origins: &[&str],
    console: Option<ConsoleDir>,
) -> RunningCircle {
    let circle =
        Circle::new(CircleSettings::new("origin-test"), &SecretKey::generate()).expect("circle");
    let limits = ServerSettings {
        allowed_origins: allowed_origins.iter().map(|o| o.to_string()).collect(),
        ..ServerSettings::default()
    };
    rpc_server::start_with_console(
        "127.0.0.1:0".parse().expect("addr"),
        circle,
        &limits,
        console,
    )
    .await
    .expect("start")
}

/// The HTTP status of a WebSocket upgrade request carrying `origin` (if any).
async fn upgrade_status(circle: &RunningCircle, origin: Option<&str>) -> u16 {
    let host = circle.local_addr().to_string();
    upgrade_status_for(circle, &host, origin).await
}

/// The HTTP status of a WebSocket upgrade request for `host` carrying `origin` (if any).
async fn upgrade_status_for(circle: &RunningCircle, host: &str, origin: Option<&str>) -> u16 {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
    );
    status_of(circle, &request).await
}

/// The HTTP status the circle answers `request` with.
async fn status_of(circle: &RunningCircle, request: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(circle.local_addr())
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut head = vec![0u8; 12];
    stream.read_exact(&mut head).await.expect("status line");
    let line = String::from_utf8_lossy(&head);
    line["HTTP/1.1 ".len()..]
        .trim()
        .parse()
        .expect("a status code")
}

#[tokio::test]
async fn foreign_pages_are_refused_and_the_rest_pass() {
    let circle = start(&[]).await;
    let own = format!("http://{}", circle.local_addr());
    assert_eq!(
        upgrade_status(&circle, None).await,
        101,
        "no Origin: not a browser"
    );
    assert_eq!(
        upgrade_status(&circle, Some(&own)).await,
        101,
        "the circle's own console"
    );
    assert_eq!(
        upgrade_status(&circle, Some("http://localhost:5173")).await,
        101
    );
    assert_eq!(
        upgrade_status(&circle, Some("http://[::1]:8080")).await,
        101
    );
    for foreign in [
        "https://evil.example",
        "http://127.0.0.1.evil.example",
        "null",
    ] {
        assert_eq!(
            upgrade_status(&circle, Some(foreign)).await,
            403,
            "{foreign}"
        );
    }
}

#[tokio::test]
async fn listed_origins_pass() {
    let circle = start(&["https://app.example"]).await;
    assert_eq!(
        upgrade_status(&circle, Some("https://app.example")).await,
        101
    );
    assert_eq!(
        upgrade_status(&circle, Some("https://other.example")).await,
        403
    );
    let open = start(&["*"]).await;
    assert_eq!(
        upgrade_status(&open, Some("https://other.example")).await,
        101
    );
}

/// A console directory with a page.
fn console_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>console</title>",
    )
    .expect("index.html");
    dir
}

#[tokio::test]
async fn dns_rebinding_gets_neither_a_websocket_nor_the_console() {
    let dir = console_dir();
    let circle = start_with_console(&[], Some(ConsoleDir::from(dir.path()))).await;
    let port = circle.local_addr().port();
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    // The rebound page: its origin and the Host header both name the attacker's domain.
    assert_eq!(
        upgrade_status_for(&circle, &evil, Some(&evil_origin)).await,
        403,
        "a WebSocket from the rebound page"
    );
    let page = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    assert_eq!(
        status_of(&circle, &page(&evil)).await,
        403,
        "the console for the rebound name"
    );
    assert_eq!(
        status_of(&circle, &page(&format!("127.0.0.1.nip.io:{port}"))).await,
        403,
        "a public name that resolves to loopback"
    );
    // The circle's own names still get the console, and its console the WebSocket.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(status_of(&circle, &page(&host)).await, 200, "{host}");
    }
    let own = format!("http://127.0.0.1:{port}");
    assert_eq!(
        upgrade_status_for(&circle, &format!("127.0.0.1:{port}"), Some(&own)).await,
        101
    );
    // A circle reached by an IP address (e.g. on its LAN address): its page is its own.
    assert_eq!(
        upgrade_status_for(
            &circle,
            &format!("192.168.1.5:{port}"),
            Some(&format!("http://192.168.1.5:{port}"))
        )
        .await,
        101
    );
    // Non-browser clients (no Origin) may use any name.
    assert_eq!(upgrade_status_for(&circle, &evil, None).await, 101);
    // The circle answers a normal call after all this.
    let client = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(circle.url())
        .await
        .expect("connects");
    let spec: serde_json::Value = jsonrpsee::core::client::ClientT::request(
        &client,
        "rpc.discover",
        jsonrpsee::rpc_params![],
    )
    .await
    .expect("rpc.discover");
    assert_eq!(
        spec["info"]["title"].as_str().map(|t| !t.is_empty()),
        Some(true)
    );
}

#[tokio::test]
async fn names_of_allowed_origins_get_the_console() {
    let dir = console_dir();
    let circle = start_with_console(
        &["http://circle.lan:9101"],
        Some(ConsoleDir::from(dir.path())),
    )
    .await;
    let request = "GET / HTTP/1.1\r\nHost: circle.lan:9101\r\n\r\n";
    assert_eq!(status_of(&circle, request).await, 200);
    let request = "GET / HTTP/1.1\r\nHost: other.lan:9101\r\n\r\n";
    assert_eq!(status_of(&circle, request).await, 403);
}
