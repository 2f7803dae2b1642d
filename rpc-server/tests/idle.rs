//! A WebSocket connection from which nothing arrives, not even a pong, is closed after
//! `idle_timeout_secs`, however readily its socket takes the server's pings.

use std::time::{Duration, Instant};

use circles_identity::SecretKey;
use rpc_server::{Circle, CircleSettings, ServerSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_connection_that_answers_no_ping_is_closed_when_idle() {
    let mut settings = CircleSettings::new("idle-test");
    // No sign-in deadline: only the idle timeout can close the connection.
    settings.access.access = rpc_server::Access::OPEN;
    let circle = Circle::new(settings, &SecretKey::generate()).expect("circle");
    let server = ServerSettings {
        ping_interval_secs: 1,
        idle_timeout_secs: 2,
        ..ServerSettings::default()
    };
    let circle = rpc_server::start("127.0.0.1:0".parse().expect("addr"), circle, &server)
        .await
        .expect("start");
    let addr = circle.local_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("upgrade");
    let started = Instant::now();
    // Read (and ignore: no pong) whatever comes until the server closes.
    let mut received = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let waited = started.elapsed();
    assert!(closed.is_ok(), "still open after {waited:?}");
    assert!(
        waited >= Duration::from_secs(2),
        "closed too early: {waited:?}"
    );
    assert!(
        received.starts_with(b"HTTP/1.1 101"),
        "upgraded first: {:?}",
        String::from_utf8_lossy(&received)
    );
    assert!(
        received.windows(2).any(|frame| frame == [0x89, 0x00]),
        "the server pinged"
    );
    circle.stop().await;
}
