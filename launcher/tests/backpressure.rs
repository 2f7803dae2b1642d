//! A connection that sends calls and never reads the answers cannot grow the launcher: the
//! server stops reading it once `max_calls_in_flight` answers are waiting for it.
//!
//! The attack (no key needed): up to 200 000 `rpc.discover` calls, each answered with the
//! ~26 KB OpenRPC document, on one connection that does not read. Before the server bounded
//! calls in flight it read them all and kept every answer for the client: +0.5 GiB at 20 000
//! calls, ~3 GiB at 200 000 (here: killed at the test's 1 GiB heap limit).

mod support;

use std::time::{Duration, Instant};

use rpc_client::SecretKey;
use support::raw_ws::RawWs;
use support::{MIB, World, play_as};
use tokio::io::AsyncWriteExt;

const CALLS: usize = 200_000;
/// What the attack may add to the launcher's resident memory (it added ~500 MiB unbounded).
const BOUND: u64 = 48 * MIB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_reads_its_answers_holds_bounded_memory() {
    let world = World::new(&["alpha"]);
    // 1 GiB of heap at most: a regression fails the launcher, not the machine.
    let launcher = world.launch_limited(&["-d 1048576"], &[]);
    let url = launcher.url("alpha");
    let key = SecretKey::generate();
    let normal_call = || async {
        play_as(&url, &key, None, "40 + 2")
            .await
            .map(|answer| answer.output)
    };
    assert_eq!(normal_call().await.expect("before").as_str(), "42");
    let before = launcher.rss();
    let peak = launcher.sample_rss();

    let mut attacker = RawWs::connect([127, 0, 0, 1].into(), launcher.addr("alpha"))
        .await
        .expect("the attacker's WebSocket");
    let call = support::raw_ws::text_frame(r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#);
    let burst: Vec<u8> = call
        .iter()
        .copied()
        .cycle()
        .take(call.len() * 100)
        .collect();
    // Write as fast as the server takes them; once it stops reading, the writes block (the
    // socket buffers are full) and the attacker stops after a second.
    let started = Instant::now();
    let mut sent = 0;
    while sent < CALLS {
        let write = attacker.stream.write_all(&burst);
        match tokio::time::timeout(Duration::from_secs(1), write).await {
            Ok(Ok(())) => sent += 100,
            Ok(Err(error)) => panic!("the attacker's connection failed: {error}"),
            Err(_) => break,
        }
    }
    eprintln!(
        "attack: {sent} of {CALLS} calls written in {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The circle still serves others while the attacker's connection is held open.
    assert_eq!(normal_call().await.expect("during").as_str(), "42");
    let during = launcher.rss();
    // The attacker's connection was only slowed down: its answers are there when it reads.
    for _ in 0..50 {
        let answer = attacker.next_text().await.expect("read an answer");
        assert!(answer.is_some_and(|a| a.contains("openrpc")));
    }
    drop(attacker);
    assert_eq!(normal_call().await.expect("after").as_str(), "42");
    let peak = peak.peak();
    eprintln!(
        "launcher RSS: {} MiB before, {} MiB during the attack, peak {} MiB (bound: +{} MiB)",
        before / MIB,
        during / MIB,
        peak / MIB,
        BOUND / MIB
    );
    assert!(
        peak < before + BOUND,
        "the attack grew the launcher from {} MiB to {} MiB",
        before / MIB,
        peak / MIB
    );
}
