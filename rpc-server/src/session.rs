//! Per-connection session state.
//!
//! The server makes one [`Session`] for each WebSocket connection and builds the
//! connection's RPC middleware with a [`SessionLayer`] holding it; its [`SessionService`]
//! attaches the session to every call (batched ones included) as a request extension. The
//! session lives exactly as long as its connection: nothing to clean up, no global map that
//! grows with connection churn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use circles_identity::PublicKey;
use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::types::Request;

/// A sign-in challenge handed out by `fetch_nonce`, waiting for `authenticate`.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The key that must sign.
    pub caller: PublicKey,
    /// The exact text to be signed.
    pub message: String,
    /// When the challenge stops being accepted.
    pub deadline: Instant,
}

/// What one connection has established so far.
#[derive(Debug, Default)]
pub struct SessionState {
    /// At most one outstanding challenge; a new `fetch_nonce` replaces it and
    /// the first `authenticate` attempt consumes it.
    pub challenge: Option<Challenge>,
    /// The authenticated caller, once `authenticate` succeeded.
    pub caller: Option<PublicKey>,
}

/// Sessions alive in this process (see [`Session::live`]).
static LIVE_SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A connection's session, shared by the calls made on it.
#[derive(Debug, Default, Clone)]
pub struct Session(Arc<Counted>);

#[derive(Debug)]
struct Counted(Mutex<SessionState>);

impl Default for Counted {
    fn default() -> Self {
        LIVE_SESSIONS.fetch_add(1, Ordering::Relaxed);
        Counted(Mutex::default())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        LIVE_SESSIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Session {
    /// Locks the state. A poisoned lock (a panic while it was held) still
    /// yields the state: every update is a single assignment, so it is never
    /// half-written.
    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.0
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the connection has signed in (`authenticate` succeeded).
    pub fn is_signed_in(&self) -> bool {
        self.lock().caller.is_some()
    }

    /// How many sessions this process holds, across all circles: one per open
    /// connection. For tests and metrics (a count that only grows is a leak).
    pub fn live() -> usize {
        LIVE_SESSIONS.load(Ordering::Relaxed)
    }
}

/// Gives a connection's calls its [`Session`]: the server builds one for each connection.
#[derive(Clone, Debug, Default)]
pub struct SessionLayer {
    session: Session,
}

impl SessionLayer {
    /// The layer of the connection whose session is `session`.
    pub fn new(session: Session) -> Self {
        SessionLayer { session }
    }
}

impl<S> tower::Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> SessionService<S> {
        SessionService {
            inner,
            session: self.session.clone(),
        }
    }
}

/// Attaches the connection's [`Session`] to each call it carries.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    session: Session,
}

impl<S> RpcServiceT for SessionService<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        mut request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        request.extensions_mut().insert(self.session.clone());
        self.inner.call(request)
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut().flatten() {
            entry.extensions_mut().insert(self.session.clone());
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        mut notification: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        notification.extensions_mut().insert(self.session.clone());
        self.inner.notification(notification)
    }
}
