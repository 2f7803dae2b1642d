//! A WebSocket client over a raw TCP socket, written out by hand so that a test can do what
//! client libraries do not: send calls and never read the answers, stop half-way through a
//! request, connect from a chosen loopback address.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rpc_client::SecretKey;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `to` from the loopback address `from` (any of 127.0.0.0/8 works on
/// Linux, so tests can play several remote addresses).
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// The head of the HTTP answer on `stream` (read byte by byte, so nothing after it is
/// consumed): its status code and its text.
pub async fn read_head(stream: &mut TcpStream) -> io::Result<(u16, String)> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("closed after {:?}", String::from_utf8_lossy(&head)),
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, head))
}

/// Whether the server closes `stream` within `limit` (reading and dropping whatever it
/// sends meanwhile).
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The WebSocket upgrade request for `host`.
pub fn upgrade_request(host: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// One masked text frame (clients must mask; a constant mask is allowed).
pub fn text_frame(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut frame = vec![0x81u8];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A WebSocket connection whose every byte the test controls.
pub struct RawWs {
    pub stream: TcpStream,
    next_id: u64,
}

impl RawWs {
    /// Connects from `from` to `to` and upgrades; the HTTP status when the server refuses.
    pub async fn connect(from: IpAddr, to: SocketAddr) -> Result<RawWs, u16> {
        let mut stream = tcp_from(from, to).await.map_err(|_| 0u16)?;
        stream
            .write_all(upgrade_request(&to.to_string()).as_bytes())
            .await
            .map_err(|_| 0u16)?;
        match read_head(&mut stream).await {
            Ok((101, _)) => Ok(RawWs { stream, next_id: 1 }),
            Ok((status, _)) => Err(status),
            Err(_) => Err(0),
        }
    }

    pub async fn send(&mut self, text: &str) -> io::Result<()> {
        self.stream.write_all(&text_frame(text)).await
    }

    /// The next text message; `None` once the server closed the connection. Pings are
    /// answered.
    pub async fn next_text(&mut self) -> io::Result<Option<String>> {
        loop {
            let mut head = [0u8; 2];
            if let Err(error) = self.stream.read_exact(&mut head).await {
                return match error.kind() {
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => Ok(None),
                    _ => Err(error),
                };
            }
            let length = match head[1] & 0x7f {
                126 => u64::from(self.stream.read_u16().await?),
                127 => self.stream.read_u64().await?,
                n => u64::from(n),
            };
            let mut payload = vec![0u8; length as usize];
            self.stream.read_exact(&mut payload).await?;
            match head[0] & 0x0f {
                1 => return Ok(Some(String::from_utf8_lossy(&payload).into_owned())),
                8 => return Ok(None),
                9 => {
                    let mut pong = text_frame("");
                    pong[0] = 0x8a;
                    self.stream.write_all(&pong).await?;
                }
                _ => {}
            }
        }
    }

    /// Calls `method` and returns the whole response.
    pub async fn call(&mut self, method: &str, params: Value) -> io::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&request.to_string()).await?;
        loop {
            let Some(text) = self.next_text().await? else {
                return Err(io::ErrorKind::UnexpectedEof.into());
            };
            let response: Value = serde_json::from_str(&text).map_err(io::Error::other)?;
            if response["id"] == json!(id) {
                return Ok(response);
            }
        }
    }

    /// Signs in as `key` (fetch_nonce, sign, authenticate).
    pub async fn sign_in(&mut self, key: &SecretKey) -> io::Result<()> {
        let pubkey = key.public_key().to_hex();
        let challenge = self
            .call("fetch_nonce", json!({ "pubkey": pubkey }))
            .await?;
        let message = challenge["result"]["message"].as_str().unwrap_or_default();
        let signature = key.sign_personal(message).to_hex();
        let answer = self
            .call(
                "authenticate",
                json!({ "pubkey": pubkey, "signature": signature }),
            )
            .await?;
        if answer["result"]["authenticated"] == json!(true) {
            Ok(())
        } else {
            Err(io::Error::other(format!("sign-in refused: {answer}")))
        }
    }

    /// Runs `script` and returns its `output`.
    pub async fn play(&mut self, script: &str) -> io::Result<String> {
        let answer = self.call("play", json!({ "script": script })).await?;
        answer["result"]["output"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("play failed: {answer}")))
    }
}
