//! The circle's accept loop: every TCP connection, WebSocket or plain HTTP (console), takes
//! a place under `max_connections` and under `max_connections_per_ip` for its remote
//! address before anything is read from it, and keeps it until it is closed. A connection
//! past either limit is answered HTTP 429 and closed. Failing `accept`s (out of file
//! descriptors) are retried after a growing pause instead of at once, so the loop does not
//! spin while the machine has no descriptor to give.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonrpsee::server::StopHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connection::{self, Serving};

/// The first pause after a failed `accept`; it doubles up to [`MAX_ACCEPT_PAUSE`].
const MIN_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Refused connections answered at once (each for at most [`REFUSAL_TIME`]); past that,
/// refused connections are closed without an answer.
const MAX_REFUSALS: usize = 32;
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// The places for connections: all of them, and per remote address.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    all: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, u32>>,
    max_per_address: u32,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooManyConnections,
    TooManyFromAddress,
}

impl Refusal {
    /// The HTTP answer a refused connection gets.
    fn answer(self) -> String {
        let text = match self {
            Refusal::TooManyConnections => "too many connections to this circle; try again later\n",
            Refusal::TooManyFromAddress => {
                "too many connections from your address; close some first\n"
            }
        };
        format!(
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
    }
}

/// A connection's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    _place: OwnedSemaphorePermit,
    address: IpAddr,
    limits: Arc<ConnectionLimits>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        crate::trim::closed();
        let mut per_address = self.limits.lock_per_address();
        if let Some(count) = per_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

impl ConnectionLimits {
    pub(crate) fn new(max_connections: u32, max_per_address: u32) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            all: Arc::new(Semaphore::new(max_connections as usize)),
            per_address: Mutex::new(HashMap::new()),
            max_per_address,
        })
    }

    /// A place for a connection from `peer`, if there is one.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let place = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::TooManyConnections)?;
        let address = address_key(peer);
        let mut per_address = self.lock_per_address();
        let count = per_address.entry(address).or_insert(0);
        if *count >= self.max_per_address {
            return Err(Refusal::TooManyFromAddress);
        }
        *count += 1;
        crate::trim::opened();
        Ok(ConnectionPermit {
            _place: place,
            address,
            limits: self.clone(),
        })
    }

    /// Connections open now (for tests and logs).
    pub(crate) fn open(&self) -> usize {
        self.lock_per_address().values().map(|&n| n as usize).sum()
    }

    fn lock_per_address(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        // Every update is a single arithmetic step: a poisoned map is still consistent.
        self.per_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The address a connection counts against: IPv4 addresses as they are, IPv6 ones by their
/// /64 (one subscriber's network), IPv4-mapped IPv6 as IPv4.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Accepts connections on `listener` until the server stops, serving each on its own task.
pub(crate) async fn accept_loop(listener: TcpListener, serving: Arc<Serving>, stop: StopHandle) {
    let mut stopped = pin!(stop.shutdown());
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut pause = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                pause = Duration::ZERO;
                match serving.limits.admit(peer.ip()) {
                    Ok(permit) => {
                        tokio::spawn(connection::serve(stream, peer, permit, serving.clone()));
                    }
                    Err(refusal) => refuse(stream, peer, refusal, &refusals),
                }
            }
            // The connection was gone before it could be accepted: take the next one.
            Err(error) if is_about_one_connection(&error) => {}
            Err(error) => {
                pause = (pause * 2).clamp(MIN_ACCEPT_PAUSE, MAX_ACCEPT_PAUSE);
                tracing::warn!(
                    %error,
                    open = serving.limits.open(),
                    "cannot accept connections (out of file descriptors?): retrying in {pause:?}"
                );
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

fn is_about_one_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// Answers a refused connection with 429 (when not too many are being refused already) and
/// closes it.
fn refuse(mut stream: TcpStream, peer: SocketAddr, refusal: Refusal, refusals: &Arc<Semaphore>) {
    tracing::debug!(%peer, ?refusal, "refused a connection");
    let Ok(place) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _place = place;
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            stream.write_all(refusal.answer().as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent, so that closing does not reset the connection
            // before it has read the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_per_ipv4_address_and_per_ipv6_64() {
        let key = |s: &str| address_key(s.parse().expect("ip"));
        assert_eq!(key("10.1.2.3"), key("10.1.2.3"));
        assert_ne!(key("10.1.2.3"), key("10.1.2.4"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.1.2.3"), key("10.1.2.3"));
    }

    #[test]
    fn places_are_limited_overall_and_per_address_and_given_back() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = limits.admit(a).expect("first");
        let second = limits.admit(a).expect("second");
        assert_eq!(
            limits.admit(a).map(|_| ()),
            Err(Refusal::TooManyFromAddress)
        );
        let third = limits.admit(b).expect("another address");
        assert_eq!(
            limits.admit(b).map(|_| ()),
            Err(Refusal::TooManyConnections)
        );
        assert_eq!(limits.open(), 3);
        drop((first, second, third));
        assert_eq!(limits.open(), 0);
        assert!(
            limits.lock_per_address().is_empty(),
            "no entry outlives its connections"
        );
        assert!(limits.admit(a).is_ok());
    }

    #[test]
    fn the_refusals_say_how_long_they_are() {
        for refusal in [Refusal::TooManyConnections, Refusal::TooManyFromAddress] {
            let answer = refusal.answer();
            assert!(answer.starts_with("HTTP/1.1 429 "));
            let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .and_then(|n| n.parse::<usize>().ok())
                .expect("a length");
            assert_eq!(length, body.len(), "{answer}");
        }
    }
}
