//! Web pages from foreign origins cannot open a WebSocket to a circle; its own console,
//! pages on this machine, listed origins and non-browser clients can.

use circles_identity::SecretKey;
use rpc_server::{Circle, CircleSettings, RunningCircle, ServerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(allowed_origins: &[&str]) -> RunningCircle {
    let circle =
        Circle::new(CircleSettings::new("origin-test"), &SecretKey::generate()).expect("circle");
    let limits = ServerSettings {
        allowed_origins: allowed_origins.iter().map(|o| o.to_string()).collect(),
        ..ServerSettings::default()
    };
    rpc_server::start("127.0.0.1:0".parse().expect("addr"), circle, &limits)
        .await
        .expect("start")
}

/// The HTTP status of a WebSocket upgrade request carrying `origin` (if any).
async fn upgrade_status(circle: &RunningCircle, origin: Option<&str>) -> u16 {
    let addr = circle.local_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
    );
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
