//! The calling side: one signed-in connection per peer, reused by every run of the circle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use circles_identity::SecretKey;
use rpc_client::{CircleClient, PlayResult, Transport, Via};
use tokio::runtime::Handle;

use crate::directory::{Directory, PeerAddress};

/// Codes of the failures that arise in the calling circle, not in the peer. Failures of the
/// connection and sign-in keep the client's codes (`rpc_client::client_code`); the peer's
/// own errors keep their JSON-RPC codes.
pub mod peer_code {
    /// The name is not in the circle's peer directory.
    pub const UNKNOWN_PEER: i32 = 1101;
}

/// What to ask of a peer.
#[derive(Debug, Clone)]
pub enum Request {
    /// `call`: a published function of its script library.
    Call {
        module: String,
        function: String,
        args: Vec<serde_json::Value>,
    },
    /// `play`: a script.
    Play { script: String },
}

/// Why a peer call failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The name is not in the directory.
    #[error("no peer named {peer:?} in this circle's directory (known: {known})")]
    UnknownPeer { peer: String, known: String },
    /// Connecting, signing in or the request itself failed, or the peer answered with an
    /// error (its code, message and data are the client error's).
    #[error("peer {peer}: {source}")]
    Failed {
        peer: String,
        #[source]
        source: Box<rpc_client::Error>,
    },
    /// No answer came in the time the run had left.
    #[error("peer {peer} did not answer within {} ms", waited.as_millis())]
    TimedOut { peer: String, waited: Duration },
}

impl PeerError {
    /// The peer's JSON-RPC error code, the client's code for a failure on the way, or
    /// [`peer_code::UNKNOWN_PEER`].
    pub fn code(&self) -> i32 {
        match self {
            PeerError::UnknownPeer { .. } => peer_code::UNKNOWN_PEER,
            PeerError::Failed { source, .. } => source.code(),
            PeerError::TimedOut { .. } => rpc_client::client_code::TRANSPORT,
        }
    }

    /// The peer's error message when it answered with one, else the whole description.
    pub fn message(&self) -> String {
        match self {
            PeerError::Failed { source, .. } => source.message(),
            other => other.to_string(),
        }
    }

    /// The peer's error data when it answered with some, or the details of a failure on
    /// the way.
    pub fn data(&self) -> Option<serde_json::Value> {
        match self {
            PeerError::Failed { source, .. } => source.data(),
            PeerError::UnknownPeer { known, .. } => Some(serde_json::json!({ "known": known })),
            PeerError::TimedOut { waited, .. } => {
                Some(serde_json::json!({ "waited_ms": waited.as_millis() as u64 }))
            }
        }
    }

    /// The limit the peer's run ended with, when it answered with a limit error.
    pub fn remote_limit(&self) -> Option<rpc_client::LimitName> {
        use rpc_client::{CallError, Error, LimitExceededData, PlayError};
        let PeerError::Failed { source, .. } = self else {
            return None;
        };
        match &**source {
            Error::Call(CallError::ScriptLimitExceeded(LimitExceededData { limit, .. }))
            | Error::Play(PlayError::ScriptLimitExceeded(LimitExceededData { limit, .. })) => {
                Some(*limit)
            }
            _ => None,
        }
    }
}

/// A signed-in connection to one peer.
struct Connection {
    /// The address it was made to: a directory change makes a new one.
    address: PeerAddress,
    client: CircleClient<Transport>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// A circle's way to its peers: the directory, the circle's identity, and one signed-in
/// connection per peer, made on first use and again after it drops. Concurrent runs share a
/// connection (requests are multiplexed on it).
pub struct Peers {
    directory: Directory,
    identity: SecretKey,
    runtime: Handle,
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("directory", &self.directory)
            .field("identity", &self.identity.public_key())
            .finish_non_exhaustive()
    }
}

impl Peers {
    /// Peers of the circle whose key is `identity`; connections live on `runtime`.
    pub fn new(directory: Directory, identity: SecretKey, runtime: Handle) -> Self {
        Peers {
            directory,
            identity,
            runtime,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// [`Peers::request`] from a thread that is not the runtime's (a sandbox worker):
    /// blocks it for at most `wait`.
    pub fn request_blocking(
        &self,
        peer: &str,
        request: Request,
        via: Via,
        wait: Duration,
    ) -> Result<PlayResult, PeerError> {
        self.runtime.block_on(async {
            tokio::time::timeout(wait, self.request(peer, request, via))
                .await
                .unwrap_or_else(|_| {
                    Err(PeerError::TimedOut {
                        peer: peer.to_owned(),
                        waited: wait,
                    })
                })
        })
    }

    /// Sends `request` to `peer` on its connection, signing in first if there is none.
    pub async fn request(
        &self,
        peer: &str,
        request: Request,
        via: Via,
    ) -> Result<PlayResult, PeerError> {
        let failed = |source| PeerError::Failed {
            peer: peer.to_owned(),
            source: Box::new(source),
        };
        let address = self
            .directory
            .get(peer)
            .ok_or_else(|| PeerError::UnknownPeer {
                peer: peer.to_owned(),
                known: self.directory.names().join(", "),
            })?;
        let slot = self.slot(peer);
        let mut resent = false;
        loop {
            let connection = self
                .connection(&slot, address.clone())
                .await
                .map_err(failed)?;
            let client = &connection.client;
            let result = match request.clone() {
                Request::Call {
                    module,
                    function,
                    args,
                } => {
                    client
                        .call_via(&module, &function, args, Some(via.clone()))
                        .await
                }
                Request::Play { script } => client.play_via(&script, Some(via.clone())).await,
            };
            if let Err(error @ rpc_client::Error::Transport(_)) = &result {
                // The connection may be gone: the next request makes a new one. One that
                // was never sent (the connection had closed) is sent again on it at once.
                let mut held = slot.lock().await;
                if held.as_ref().is_some_and(|h| Arc::ptr_eq(h, &connection)) {
                    *held = None;
                }
                if error.is_connection_closed() && !resent {
                    resent = true;
                    continue;
                }
            }
            return result.map_err(failed);
        }
    }

    fn slot(&self, peer: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(peer.to_owned()).or_default())
    }

    /// The slot's connection if it is still up and still for `address`, else a new one,
    /// signed in. One caller at a time makes it; the others wait for it and share it.
    async fn connection(
        &self,
        slot: &Slot,
        address: PeerAddress,
    ) -> Result<Arc<Connection>, rpc_client::Error> {
        let mut slot = slot.lock().await;
        if let Some(held) = slot.as_ref()
            && held.address == address
            && held.client.api().inner().is_connected()
        {
            return Ok(Arc::clone(held));
        }
        *slot = None;
        let client = rpc_client::connect(&address.url).await?;
        client
            .authenticate(&self.identity, Some(&address.public_key))
            .await?;
        tracing::debug!(url = %address.url, "signed in to a peer");
        let connection = Arc::new(Connection { address, client });
        *slot = Some(Arc::clone(&connection));
        Ok(connection)
    }
}
