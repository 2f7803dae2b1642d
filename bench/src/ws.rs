//! The bench's client: JSON-RPC 2.0 over tokio-tungstenite, written out so that it spends
//! little of the cores it shares with the servers (no task, channel or timer per call; the
//! requests are formatted, the replies only parsed as far as their id and error).

use std::time::{Duration, Instant};

use circles_identity::SecretKey;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Res;

/// One WebSocket connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The trivial script of every row (and the params echo answers with).
pub const TRIVIAL: &str = "40 + 2";

/// Opens a WebSocket to `url`, with Nagle's algorithm off (as jsonrpsee's client does).
pub async fn connect(url: &str) -> Res<Ws> {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    Ok(ws)
}

/// The next text message (skipping pings and pongs, which tungstenite answers itself).
async fn next_text(ws: &mut Ws) -> Res<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("the server closed the connection: {frame:?}").into());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("connection failed: {e}").into()),
            None => return Err("the connection ended".into()),
        }
    }
}

/// One call, waited for: its `result`, or its error as text.
pub async fn request(ws: &mut Ws, method: &str, params: Value) -> Res<Value> {
    let text = json!({"jsonrpc": "2.0", "id": 0, "method": method, "params": params}).to_string();
    ws.send(Message::text(text)).await?;
    let reply: Value = serde_json::from_str(&next_text(ws).await?)?;
    if let Some(error) = reply.get("error") {
        return Err(format!("{method} failed: {error}").into());
    }
    reply
        .get("result")
        .cloned()
        .ok_or_else(|| format!("{method}: a reply without result: {reply}").into())
}

/// Signs in on `ws` as `key`: fetch_nonce, EIP-191 personal_sign of the challenge,
/// authenticate.
pub async fn sign_in(ws: &mut Ws, key: &SecretKey) -> Res<()> {
    let pubkey = key.public_key().to_hex();
    let challenge = request(ws, "fetch_nonce", json!({"pubkey": pubkey})).await?;
    let message = challenge
        .get("message")
        .and_then(Value::as_str)
        .ok_or("fetch_nonce answered without a message")?;
    let signature = key.sign_personal(message).to_hex();
    let answer = request(
        ws,
        "authenticate",
        json!({"pubkey": pubkey, "signature": signature}),
    )
    .await?;
    if answer.get("authenticated") != Some(&Value::Bool(true)) {
        return Err(format!("authenticate answered {answer}").into());
    }
    Ok(())
}

/// Closes `ws` with the WebSocket close handshake (the server then closes the TCP
/// connection), waiting at most 5 s.
pub async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// What the load sends.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    /// `echo {script: "40 + 2"}` (to the echo server).
    Echo,
    /// `play {script}`.
    Play(&'static str),
    /// `play` of `store::set("k/" + "<unique>", 1)`: a durable write of a fresh key per
    /// call (the key is in the script's text, so each call's text is new too).
    StoreSet,
    /// `play` of `"k/" + "<unique>"`: the same fresh text per call, without the write (what
    /// compiling a new script each time costs, apart from the store).
    UniqueText,
}

impl Call {
    /// The request with `id`; `tag` and `id` make the unique part of the texts that need one.
    fn request(self, id: u64, tag: &str) -> String {
        let (method, script) = match self {
            Call::Echo => ("echo", TRIVIAL.to_owned()),
            Call::Play(script) => ("play", script.to_owned()),
            Call::StoreSet => ("play", format!("store::set(\"k/\" + \"{tag}n{id}\", 1)")),
            Call::UniqueText => ("play", format!("\"k/\" + \"{tag}n{id}\"")),
        };
        let script = Value::String(script);
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{"script":{script}}}}}"#
        )
    }
}

/// What the calls of a phase got.
#[derive(Default)]
pub struct Tally {
    /// Answered with a result.
    pub ok: u64,
    /// Refused with `ScriptLimitExceeded` (2012), limit `busy`.
    pub busy: u64,
    /// Ended by another limit (`operations`, `time`, `store_quota`…).
    pub limit: u64,
    /// Any other error.
    pub other: u64,
    /// The first error of each kind but busy, for the report.
    pub first_error: Option<String>,
    /// Latency of each call answered with a result, in nanoseconds.
    pub latencies: Vec<u64>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.busy += other.busy;
        self.limit += other.limit;
        self.other += other.other;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }
}

#[derive(Deserialize)]
struct Reply {
    id: Option<u64>,
    error: Option<ReplyError>,
}

#[derive(Deserialize)]
struct ReplyError {
    code: i64,
    message: String,
    data: Option<Value>,
}

/// Sends `call` on `ws` with `in_flight` calls outstanding until `deadline`, then waits for
/// the outstanding answers; counts them into `tally`. A refused call is answered at once and
/// replaced by the next, like any other.
pub async fn drive(
    ws: &mut Ws,
    call: Call,
    in_flight: usize,
    deadline: Instant,
    tag: &str,
    tally: &mut Tally,
) -> Res<()> {
    let mut pending: Vec<(u64, Instant)> = Vec::with_capacity(in_flight);
    let mut next_id = 0u64;
    for _ in 0..in_flight {
        pending.push((next_id, Instant::now()));
        ws.send(Message::text(call.request(next_id, tag))).await?;
        next_id += 1;
    }
    while !pending.is_empty() {
        let text = next_text(ws).await?;
        let reply: Reply = serde_json::from_str(&text)
            .map_err(|e| format!("an answer that is not JSON-RPC ({e}): {text}"))?;
        let at = reply
            .id
            .and_then(|id| pending.iter().position(|(sent, _)| *sent == id))
            .ok_or_else(|| format!("an answer to no call of ours: {text}"))?;
        let (_, sent_at) = pending.swap_remove(at);
        match reply.error {
            None => {
                tally.ok += 1;
                tally.latencies.push(sent_at.elapsed().as_nanos() as u64);
            }
            Some(error) => {
                let limit = error
                    .data
                    .as_ref()
                    .and_then(|data| data.get("limit"))
                    .and_then(Value::as_str);
                let limit_code = i64::from(rpc_types::error_code::SCRIPT_LIMIT_EXCEEDED);
                match limit {
                    Some("busy") if error.code == limit_code => tally.busy += 1,
                    Some(_) if error.code == limit_code => tally.limit += 1,
                    _ => tally.other += 1,
                }
                if limit != Some("busy") && tally.first_error.is_none() {
                    tally.first_error = Some(format!(
                        "{} {} {}",
                        error.code,
                        error.message,
                        error.data.unwrap_or_default()
                    ));
                }
            }
        }
        if Instant::now() < deadline {
            pending.push((next_id, Instant::now()));
            ws.send(Message::text(call.request(next_id, tag))).await?;
            next_id += 1;
        }
    }
    Ok(())
}
