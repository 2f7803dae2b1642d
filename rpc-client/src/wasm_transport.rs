//! The browser's WebSocket as a jsonrpsee transport (wasm32 only).
//!
//! jsonrpsee's own browser transport (gloo-net) returns as soon as the browser
//! has *created* the socket, so a refused connection only shows at the first
//! call, and it never closes the socket when the client is dropped. This one
//! waits until the socket is open (or has failed), so that [`crate::connect`]
//! fails with [`crate::Error::Connect`] on both targets alike, and closes the
//! socket when the client goes away. [`connect_watched`] also gives a promise
//! that settles when the connection closes, so that a page learns of a lost
//! connection at once, not at its next call.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;
use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// What went wrong with the browser's WebSocket.
#[derive(thiserror::Error)]
pub enum WsError {
    /// The browser refused to create the socket (invalid URL, blocked port).
    #[error("the browser refused to open a WebSocket: {0}")]
    Create(String),
    /// The socket failed or closed before it opened (nothing listening,
    /// handshake refused); browsers give no more detail than the close code.
    #[error("the connection failed before it opened (close code {0})")]
    NotOpened(u16),
    /// Sending failed (the socket is closing or closed).
    #[error("cannot send: {0}")]
    Send(String),
    /// The browser reported an error on the open connection.
    #[error("the connection failed")]
    Failed,
    /// The connection closed.
    #[error("the connection closed (code {code}{reason})")]
    Closed { code: u16, reason: String },
}

/// `Debug` as `Display`: a derived one would only add its own copy of the
/// variants' names to the browser module.
impl std::fmt::Debug for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

enum Incoming {
    Message(ReceivedMessage),
    Failed,
    Closed { code: u16, reason: String },
}

/// The event handlers, kept alive as long as the socket is in use.
struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _error: Closure<dyn FnMut()>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

/// Shared by both halves: closes the socket when the last half is dropped.
struct Socket {
    socket: WebSocket,
    _handlers: Handlers,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onerror(None);
        self.socket.set_onclose(None);
        // Closing an already closed socket does nothing.
        let _ = self.socket.close();
    }
}

pub struct Sender(Rc<Socket>);
pub struct Receiver {
    incoming: mpsc::UnboundedReceiver<Incoming>,
    _socket: Rc<Socket>,
}

fn describe(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

/// Opens a WebSocket to `url` and waits until it is open.
pub async fn connect(url: &str) -> Result<(Sender, Receiver), WsError> {
    connect_watched(url)
        .await
        .map(|(sender, receiver, _closed)| (sender, receiver))
}

/// [`connect`], plus a promise that resolves with the socket's `CloseEvent`
/// (`code`, `reason`, `wasClean`) when the connection closes from the other
/// side or fails, whether or not a call is waiting. It never settles when the
/// client itself is dropped (the page knows then).
pub async fn connect_watched(url: &str) -> Result<(Sender, Receiver, js_sys::Promise), WsError> {
    let mut resolve_closed: Option<js_sys::Function> = None;
    let closed = js_sys::Promise::new(&mut |resolve, _reject| resolve_closed = Some(resolve));
    let socket = WebSocket::new(url).map_err(|e| WsError::Create(describe(e)))?;
    socket.set_binary_type(BinaryType::Arraybuffer);

    // Ok(()) once open, Err(close code) when it failed first.
    let (opened_tx, opened_rx) = oneshot::channel::<Result<(), u16>>();
    let opened_tx = Rc::new(RefCell::new(Some(opened_tx)));
    let settle = move |outcome: Result<(), u16>| {
        if let Some(tx) = opened_tx.borrow_mut().take() {
            let _ = tx.send(outcome);
        }
    };
    let (incoming_tx, incoming) = mpsc::unbounded();

    let open = Closure::<dyn FnMut()>::new({
        let settle = settle.clone();
        move || settle(Ok(()))
    });
    let message = Closure::<dyn FnMut(MessageEvent)>::new({
        let incoming_tx = incoming_tx.clone();
        move |event: MessageEvent| {
            let data = event.data();
            let message = match data.as_string() {
                Some(text) => ReceivedMessage::Text(text),
                None => ReceivedMessage::Bytes(js_sys::Uint8Array::new(&data).to_vec()),
            };
            let _ = incoming_tx.unbounded_send(Incoming::Message(message));
        }
    });
    let error = Closure::<dyn FnMut()>::new({
        let incoming_tx = incoming_tx.clone();
        move || {
            let _ = incoming_tx.unbounded_send(Incoming::Failed);
        }
    });
    let close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        settle(Err(event.code()));
        if let Some(resolve) = &resolve_closed {
            let _ = resolve.call1(&JsValue::UNDEFINED, &event);
        }
        let _ = incoming_tx.unbounded_send(Incoming::Closed {
            code: event.code(),
            reason: event.reason(),
        });
    });
    socket.set_onopen(Some(open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
    socket.set_onerror(Some(error.as_ref().unchecked_ref()));
    socket.set_onclose(Some(close.as_ref().unchecked_ref()));
    let socket = Rc::new(Socket {
        socket,
        _handlers: Handlers {
            _open: open,
            _message: message,
            _error: error,
            _close: close,
        },
    });

    // A failed connection fires "error" then "close"; "close" settles it.
    match opened_rx.await {
        Ok(Ok(())) => Ok((
            Sender(socket.clone()),
            Receiver {
                incoming,
                _socket: socket,
            },
            closed,
        )),
        Ok(Err(code)) => Err(WsError::NotOpened(code)),
        Err(oneshot::Canceled) => Err(WsError::NotOpened(1006)),
    }
}

impl TransportSenderT for Sender {
    type Error = WsError;

    async fn send(&mut self, message: String) -> Result<(), WsError> {
        self.0
            .socket
            .send_with_str(&message)
            .map_err(|e| WsError::Send(describe(e)))
    }

    async fn close(&mut self) -> Result<(), WsError> {
        self.0
            .socket
            .close()
            .map_err(|e| WsError::Send(describe(e)))
    }
}

impl TransportReceiverT for Receiver {
    type Error = WsError;

    async fn receive(&mut self) -> Result<ReceivedMessage, WsError> {
        match self.incoming.next().await {
            Some(Incoming::Message(message)) => Ok(message),
            Some(Incoming::Failed) => Err(WsError::Failed),
            Some(Incoming::Closed { code, reason }) => Err(WsError::Closed {
                code,
                reason: if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                },
            }),
            None => Err(WsError::Closed {
                code: 1006,
                reason: String::new(),
            }),
        }
    }
}
