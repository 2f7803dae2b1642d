//! One WebSocket connection: reads JSON-RPC messages, runs them, writes their answers, with
//! what it holds bounded whatever the client does.
//!
//! Every message takes one of the connection's `max_calls_in_flight` slots *before* it is
//! read, and gives it back only once its answer has been written to the socket (or it
//! turned out to need none). When all slots are taken the server reads nothing more from the
//! connection: a client that sends calls and never reads the answers fills its slots and
//! then only its own socket buffers. So one connection never holds more than
//! `max_calls_in_flight` requests and answers (each at most `max_message_bytes`), and no
//! task is started per message beyond them. (jsonrpsee's own connection task starts one per
//! message it reads, without limit, each keeping its answer until the client reads it: 20 000
//! unread `rpc.discover` answers held 0.5 GiB.)
//!
//! The connection is closed when the server stops (after the calls in flight have been
//! answered), when the client closes it, when nothing arrives from it (no message, no pong)
//! and no answer can be written to it for `idle_timeout_secs`, and, on circles that require
//! sign-in, when it has not signed in within the challenge lifetime.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::io::{BufReader, BufWriter};
use hyper_util::rt::TokioIo;
use jsonrpsee::Extensions;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::server::{ConnectionId, MethodResponse, Methods, StopHandle};
use jsonrpsee::types::Id;
use jsonrpsee::types::error::reject_too_big_request;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::{Instant, interval_at, sleep};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use crate::calls::{self, MethodsService};
use crate::session::{Session, SessionLayer};
use crate::upgrade::PendingWebSocket;

type Io = BufReader<BufWriter<Compat<TokioIo<hyper::upgrade::Upgraded>>>>;
type WsSender = soketto::Sender<Io>;
type WsReceiver = soketto::Receiver<Io>;

/// How long a closing connection may take to send its close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What every WebSocket connection of a server is served with.
#[derive(Debug, Clone)]
pub(crate) struct WebSocketSettings {
    pub(crate) max_message_bytes: usize,
    pub(crate) max_calls_in_flight: usize,
    pub(crate) max_batch_calls: u32,
    pub(crate) ping_interval: Duration,
    pub(crate) idle_timeout: Duration,
    /// On circles that require sign-in: how long a connection may stay without signing in.
    pub(crate) sign_in_within: Option<Duration>,
}

/// An answer on its way to the client, holding the slot of its call until it is written.
struct Answer {
    json: String,
    _slot: OwnedSemaphorePermit,
}

/// When the connection was last heard from or written to.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// What one incoming WebSocket frame meant.
enum Incoming {
    Message(Vec<u8>),
    Pong,
    Closed,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server stops: answer the calls in flight, then close.
    Stopped,
    /// The client closed the connection or it broke.
    Closed,
    /// Answers could not be written (the writer gave up).
    WriteFailed,
    Idle,
    NotSignedIn,
}

/// Serves the WebSocket `pending` on this task until it ends.
pub(crate) async fn serve(
    pending: PendingWebSocket,
    settings: Arc<WebSocketSettings>,
    methods: Methods,
    connection: ConnectionId,
    stop: StopHandle,
    peer: SocketAddr,
) {
    let upgraded = match pending.upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%peer, %error, "the WebSocket upgrade did not complete");
            return;
        }
    };
    let io = BufReader::new(BufWriter::new(TokioIo::new(upgraded).compat()));
    let mut builder = pending.handshake.into_builder(io);
    builder.set_max_message_size(settings.max_message_bytes);
    let (sender, receiver) = builder.finish();

    let session = Session::default();
    let service = Arc::new(
        RpcServiceBuilder::new()
            .layer(SessionLayer::new(session.clone()))
            .service(MethodsService::new(
                methods,
                settings.max_message_bytes,
                connection,
            )),
    );
    let mut extensions = Extensions::new();
    extensions.insert(connection);

    let activity = Arc::new(Activity::new());
    let slots = Arc::new(Semaphore::new(settings.max_calls_in_flight));
    let (answers, queued) = mpsc::channel::<Answer>(settings.max_calls_in_flight);
    let (close_now, closing) = oneshot::channel::<()>();
    let writer = tokio::spawn(write_answers(
        sender,
        queued,
        closing,
        settings.clone(),
        activity.clone(),
    ));

    let mut incoming = pin!(incoming_frames(receiver));
    let mut stopped = pin!(stop.shutdown());
    let mut idle_check = interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    let mut sign_in_deadline = pin!(sleep(settings.sign_in_within.unwrap_or(Duration::ZERO)));
    let mut sign_in_pending = settings.sign_in_within.is_some();
    let mut slot: Option<OwnedSemaphorePermit> = None;

    let end = loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break End::Stopped,
            _ = answers.closed() => break End::WriteFailed,
            _ = &mut sign_in_deadline, if sign_in_pending => {
                if !session.is_signed_in() {
                    break End::NotSignedIn;
                }
                sign_in_pending = false;
            }
            _ = idle_check.tick() => {
                if activity.idle_for() > settings.idle_timeout {
                    break End::Idle;
                }
            }
            free = slots.clone().acquire_owned(), if slot.is_none() => {
                // The semaphore is never closed.
                slot = free.ok();
            }
            frame = incoming.next(), if slot.is_some() => {
                activity.touch();
                match frame {
                    Some(Ok(Incoming::Message(message))) => {
                        if let Some(slot) = slot.take() {
                            tokio::spawn(answer_message(
                                message,
                                slot,
                                service.clone(),
                                answers.clone(),
                                settings.max_batch_calls,
                                extensions.clone(),
                            ));
                        }
                    }
                    Some(Ok(Incoming::Pong)) => {}
                    Some(Err(soketto::connection::Error::MessageTooLarge { current, maximum })) => {
                        tracing::debug!(%peer, current, maximum, "refused a message over max_message_bytes");
                        let refusal = MethodResponse::error(
                            Id::Null,
                            reject_too_big_request(settings.max_message_bytes as u32),
                        );
                        if let Some(slot) = slot.take() {
                            let json = String::from(Box::<str>::from(refusal.into_json()));
                            // Never waits: the queue has room for every slot.
                            let _ = answers.send(Answer { json, _slot: slot }).await;
                        }
                    }
                    Some(Ok(Incoming::Closed)) | None => break End::Closed,
                    Some(Err(error)) => {
                        tracing::debug!(%peer, %error, "WebSocket read failed");
                        break End::Closed;
                    }
                }
            }
        }
    };
    drop(slot);

    match end {
        End::Stopped => {
            // Let the calls in flight answer: every slot comes back once its answer is written.
            tokio::select! {
                _ = slots.acquire_many(settings.max_calls_in_flight as u32) => {}
                _ = answers.closed() => {}
            }
            // The writer sends what is queued, then closes the connection.
            drop(answers);
        }
        End::Idle | End::NotSignedIn => {
            tracing::info!(%peer, reason = ?end, "closing a WebSocket connection");
            let _ = close_now.send(());
        }
        End::Closed | End::WriteFailed => {
            let _ = close_now.send(());
        }
    }
    if let Err(error) = writer.await {
        tracing::warn!(%peer, %error, "the WebSocket writer failed");
    }
}

/// The connection's frames, as a stream that can be polled (and dropped between polls)
/// without losing a message half read.
fn incoming_frames(
    receiver: WsReceiver,
) -> impl futures_util::Stream<Item = Result<Incoming, soketto::connection::Error>> {
    futures_util::stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        let mut message = Vec::new();
        let frame = match receiver.receive(&mut message).await {
            Ok(soketto::Incoming::Data(_)) => Ok(Incoming::Message(message)),
            Ok(soketto::Incoming::Pong(_)) => Ok(Incoming::Pong),
            Ok(soketto::Incoming::Closed(_)) | Err(soketto::connection::Error::Closed) => {
                return Some((Ok(Incoming::Closed), None));
            }
            Err(error) => Err(error),
        };
        Some((frame, Some(receiver)))
    })
}

/// Runs one message and queues its answer, if it has one; the slot is given back once the
/// answer is written (or at once, when there is none).
async fn answer_message<S>(
    message: Vec<u8>,
    slot: OwnedSemaphorePermit,
    service: Arc<S>,
    answers: mpsc::Sender<Answer>,
    max_batch_calls: u32,
    extensions: Extensions,
) where
    S: jsonrpsee::core::middleware::RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync,
{
    let answer = tokio::select! {
        // Nobody left to answer: stop working on it.
        _ = answers.closed() => return,
        answer = calls::answer(&message, &*service, max_batch_calls, &extensions) => answer,
    };
    drop(message);
    if let Some(json) = answer {
        // Never waits: the queue has room for every slot.
        let _ = answers.send(Answer { json, _slot: slot }).await;
    }
}

/// Writes the queued answers and the pings, until every sender is gone (then closes the
/// connection), `closing` fires, or a write fails or makes no progress for `idle_timeout`.
async fn write_answers(
    mut sender: WsSender,
    mut queued: mpsc::Receiver<Answer>,
    mut closing: oneshot::Receiver<()>,
    settings: Arc<WebSocketSettings>,
    activity: Arc<Activity>,
) {
    let mut pings = interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    loop {
        let write = tokio::select! {
            biased;
            _ = &mut closing => break,
            answer = queued.recv() => match answer {
                Some(answer) => Write::Answer(answer),
                None => break,
            },
            _ = pings.tick() => Write::Ping,
        };
        // An answer sent is a sign of life; a ping sent is not (only its pong is).
        let is_answer = matches!(write, Write::Answer(_));
        let written = tokio::select! {
            // A write cut short leaves half a frame: no close frame after it.
            _ = &mut closing => return,
            written = tokio::time::timeout(settings.idle_timeout, write.to(&mut sender)) => written,
        };
        match written {
            Ok(Ok(())) => {
                if is_answer {
                    activity.touch();
                }
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "WebSocket write failed");
                return;
            }
            Err(_) => {
                tracing::info!(
                    "closing a WebSocket connection that has not read its answers for {:?}",
                    settings.idle_timeout
                );
                return;
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sender.close()).await;
}

enum Write {
    Answer(Answer),
    Ping,
}

impl Write {
    async fn to(self, sender: &mut WsSender) -> Result<(), soketto::connection::Error> {
        match self {
            Write::Answer(Answer { json, _slot: slot }) => {
                sender.send_text_owned(json).await?;
                sender.flush().await?;
                // Written: the call's slot is free again.
                drop(slot);
                Ok(())
            }
            Write::Ping => {
                if let Ok(empty) = soketto::data::ByteSlice125::try_from(&[][..]) {
                    sender.send_ping(empty).await?;
                }
                sender.flush().await
            }
        }
    }
}
