//! A write acknowledged to the caller survives `kill -9` of the launcher.

mod support;

use rpc_client::SecretKey;
use serde_json::json;
use support::{World, play_as};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let world = World::new(&["alpha"]);
    let key = SecretKey::generate();
    for round in 0..3 {
        let launcher = world.launch();
        let url = launcher.row("alpha").url.clone();
        if round > 0 {
            let before = play_as(&url, &key, None, r#"store::get("counter")"#)
                .await
                .expect("read");
            assert_eq!(
                before.value,
                json!(round),
                "round {round}: the last acknowledged write is there"
            );
        }
        let script = format!(
            r#"store::set("counter", {}); store::set("round-{round}", "x"); "ok""#,
            round + 1
        );
        let ack = play_as(&url, &key, None, &script).await.expect("write");
        assert_eq!(ack.output, "ok");
        // Killed at once after the acknowledgement: no shutdown, no flush.
        assert_eq!(launcher.signal("KILL"), None, "killed by the signal");
        assert!(
            support::needs_repair(&world.path("data/alpha/store.redb")),
            "redb sees the unclean stop (and recovers)"
        );
    }
    let launcher = world.launch();
    let all = play_as(
        &launcher.row("alpha").url,
        &key,
        None,
        r#"store::list("round-").map(|e| e.key)"#,
    )
    .await
    .expect("list");
    assert_eq!(all.value, json!(["round-0", "round-1", "round-2"]));
}
