//! What holds a port the launcher cannot listen on: when it is a running circle (most
//! likely a launcher started before on the same file), the check says so instead of
//! leaving the user to suspect the file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use circles_identity::{ChallengeMessage, PublicKey, SecretKey};

/// How long the probe waits for an answer, all steps together.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A circle found answering on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningCircle {
    /// The URL it answered at.
    pub url: String,
    /// Its id and key, from a sign-in challenge (nothing is signed), when it gave one.
    pub id: Option<String>,
    pub public_key: Option<PublicKey>,
}

/// The circle that answers `rpc.discover` on `addr` (on loopback when `addr` is every
/// address), if any, within a few seconds. Runs on a thread of its own, so it may be called
/// from anywhere, inside an async runtime too.
pub fn running_circle(addr: SocketAddr) -> Option<RunningCircle> {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("ws://{addr}");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async { tokio::time::timeout(PROBE_TIMEOUT, ask(url)).await.ok()? })
    })
    .join()
    .ok()
    .flatten()
}

async fn ask(url: String) -> Option<RunningCircle> {
    let circle = rpc_client::connect(&url).await.ok()?;
    let document = circle.discover().await.ok()?;
    let serves_play = document
        .get("methods")
        .and_then(|methods| methods.as_array())
        .is_some_and(|methods| methods.iter().any(|method| method["name"] == "play"));
    if !serves_play {
        return None;
    }
    // A challenge names the circle; nothing is signed, and it expires on its own.
    let stranger = SecretKey::try_generate().ok()?.public_key();
    let challenge = circle
        .api()
        .fetch_nonce(rpc_types::FetchNonceParams { pubkey: stranger })
        .await
        .ok()
        .and_then(|challenge| ChallengeMessage::parse(&challenge.message).ok());
    Some(RunningCircle {
        url,
        id: challenge.as_ref().map(|c| c.circle_id.clone()),
        public_key: challenge.map(|c| c.circle_key),
    })
}
