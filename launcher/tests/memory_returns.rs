//! Memory comes back after connections close: a launcher that served hundreds of signed-in
//! connections shrinks again once they are gone, instead of staying at its peak.

mod support;

use std::time::{Duration, Instant};

use rpc_client::SecretKey;
use serde_json::json;
use support::{MIB, World};

/// Fewer than the 1 024 descriptors a process may have by default, this test's included.
const CONNECTIONS: usize = 700;

#[tokio::test(flavor = "multi_thread")]
async fn memory_comes_back_after_connections_close() {
    let mut world = World::new(&["alice"]);
    world.circles[0]["server"] = json!({"max_connections_per_ip": 1024});
    let launcher = world.launch();
    let url = launcher.url("alice");
    let before = launcher.rss();

    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = rpc_client::connect(&url).await.expect("connect");
        client
            .authenticate(&SecretKey::generate(), None)
            .await
            .expect("sign in");
        clients.push(client);
    }
    let open = launcher.rss();
    let grown = open.saturating_sub(before);
    assert!(
        grown > 4 * MIB,
        "{CONNECTIONS} connections should take some memory: {before} → {open} bytes"
    );
    drop(clients);

    // Given back within a few seconds: at least three quarters of what the connections took.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = launcher.rss();
    while now > before + grown / 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = launcher.rss();
    }
    assert!(
        now <= before + grown / 4,
        "RSS {before} at rest, {open} with {CONNECTIONS} connections, still {now} after they closed"
    );
}
