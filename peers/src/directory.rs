//! Where a circle's peers are, and which key each one must prove.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use circles_identity::PublicKey;

/// One peer: where it listens, and the key it must sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    /// `ws://host:port` (or `wss://`).
    pub url: String,
    /// The key pinned for it: a challenge naming another key is refused unsigned.
    pub public_key: PublicKey,
}

/// A circle's peer directory: name → [`PeerAddress`]. Cheap to clone (clones share the
/// entries), so a launcher can add its other circles once their ports are bound.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    entries: Arc<RwLock<BTreeMap<String, PeerAddress>>>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) peer `name`.
    pub fn insert(&self, name: impl Into<String>, address: PeerAddress) {
        // A poisoned lock only means a writer panicked between two whole inserts.
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        entries.insert(name.into(), address);
    }

    /// Peer `name`'s address.
    pub fn get(&self, name: &str) -> Option<PeerAddress> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.get(name).cloned()
    }

    /// The peers' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.keys().cloned().collect()
    }
}
