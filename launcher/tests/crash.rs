//! A write acknowledged to the caller survives `kill -9` of the launcher, also during
//! concurrent writes from many connections (group-committed), round after round; a run's
//! writes are there all or none.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Every key the circle holds (page after page) and its usage as `as_key` sees it.
async fn everything(url: &str, as_key: &SecretKey) -> (Vec<String>, serde_json::Value) {
    let answer = play_as(
        url,
        as_key,
        None,
        r#"
        let keys = [];
        let after = "";
        loop {
            let page = store::page("", after);
            keys += page.entries.map(|e| e.key);
            if page.next == () { break; }
            after = page.next;
        }
        #{keys: keys, usage: store::usage()}
        "#,
    )
    .await
    .expect("list everything");
    let keys = answer.value["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("a key").to_owned())
        .collect();
    (keys, answer.value["usage"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acknowledged_writes_survive_kill_9_round_after_round() {
    const ROUNDS: usize = 5;
    const CONNECTIONS: usize = 16;
    const ACKS_BEFORE_KILL: usize = 15;
    let mut world = World::new(&["alpha"]);
    world.circles[0]["limits"] = json!({"workers": 2});
    let writers: Vec<SecretKey> = (0..CONNECTIONS).map(|_| SecretKey::generate()).collect();
    let reader = SecretKey::generate();
    let mut acknowledged: Vec<Vec<String>> = vec![Vec::new(); CONNECTIONS];
    for round in 0..=ROUNDS {
        let launcher = world.launch();
        let url = launcher.url("alpha");

        // The store reopened, with every write acknowledged so far, and counters that match
        // what it holds (writes that were committed but not acknowledged may be there too).
        // Each run wrote two entries: both are there, or neither.
        let (keys, usage) = everything(&url, &reader).await;
        for key in &keys {
            let (run, part) = key.rsplit_once('/').expect("run/part");
            let other = if part == "a" { "b" } else { "a" };
            assert!(
                keys.binary_search(&format!("{run}/{other}")).is_ok(),
                "round {round}: {key} is there without {run}/{other}"
            );
        }
        for (writer, acked) in writers.iter().zip(&acknowledged) {
            for run in acked {
                for part in ["a", "b"] {
                    let key = format!("{run}/{part}");
                    assert!(
                        keys.binary_search(&key).is_ok(),
                        "round {round}: acknowledged {key} is missing"
                    );
                }
            }
            let prefix = format!("@{}/", writer.public_key());
            let held = keys.iter().filter(|k| k.starts_with(&prefix)).count();
            let (_, mine) = everything(&url, writer).await;
            assert_eq!(
                mine["author"]["entries"],
                json!(held),
                "round {round}: the writer's counter"
            );
        }
        assert_eq!(usage["circle"]["entries"], json!(keys.len()));
        if round == ROUNDS {
            break;
        }

        // Writers on their own connections, each writing as fast as it is answered, until
        // the launcher dies under them.
        let acks = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = writers
            .iter()
            .map(|key| {
                let (url, key, acks) = (url.clone(), key.clone(), acks.clone());
                tokio::spawn(async move {
                    let circle = rpc_client::connect(&url).await.expect("connects");
                    circle.authenticate(&key, None).await.expect("signs in");
                    let mut acked = Vec::new();
                    for n in 0.. {
                        let entry = format!("@{}/{round}/{n:05}", key.public_key());
                        let script = format!(
                            r#"let v = #{{round: {round}, n: {n}, pad: "{}"}};
                               store::set("{entry}/a", v); store::set("{entry}/b", v); "ok""#,
                            "p".repeat(2000)
                        );
                        match circle.play(&script).await {
                            Ok(answer) => {
                                assert_eq!(answer.output, "ok");
                                acked.push(entry);
                                acks.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(rpc_client::Error::Play(error)) => panic!("{entry}: {error}"),
                            // The launcher is gone.
                            Err(_) => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        let started = std::time::Instant::now();
        while acks.load(Ordering::SeqCst) < ACKS_BEFORE_KILL * CONNECTIONS {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the writers are too slow"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // Killed while every connection has a write in flight: no shutdown, no flush.
        let store = launcher.row("alpha").db_path.join("store.redb");
        assert_eq!(launcher.signal("KILL"), None, "killed by the signal");
        for (task, acked) in tasks.into_iter().zip(&mut acknowledged) {
            acked.extend(task.await.expect("writer"));
        }
        assert!(
            support::needs_repair(&store),
            "redb sees the unclean stop (and recovers)"
        );
    }
    let total: usize = acknowledged.iter().map(Vec::len).sum();
    eprintln!("{total} acknowledged writes over {ROUNDS} rounds");
    assert!(total >= ROUNDS * CONNECTIONS * ACKS_BEFORE_KILL, "{total}");
}
