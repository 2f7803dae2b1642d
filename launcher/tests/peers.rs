//! Circles calling circles (`peers::invoke`, `peers::play`) through the real launcher: the
//! callee sees the calling circle's key and the call chain, policies apply to circles like
//! to anyone, and every failure is a clear error that leaves both circles serving.

mod support;

use std::time::{Duration, Instant};

use circles_identity::{PublicKey, SecretKey};
use rpc_client::{LimitName, PlayError, PlayResult, Via};
use serde_json::json;
use support::peers::{circle_mut, connections_to, give_identity, signed_in};
use support::{Launcher, World};

/// Runs `script` on circle `id` as a fresh key.
async fn play(
    launcher: &Launcher,
    id: &str,
    script: &str,
) -> Result<PlayResult, rpc_client::Error> {
    let (_, client) = signed_in(launcher, id).await;
    client.play(script).await
}

/// A script that runs `call` and gives back what it threw (unit if nothing).
fn caught(call: &str) -> String {
    format!("let caught = (); try {{ {call}; }} catch (error) {{ caught = error; }} caught")
}

/// The limit a failed run reports.
fn limit_of(error: &rpc_client::Error) -> LimitName {
    match error {
        rpc_client::Error::Play(PlayError::ScriptLimitExceeded(data)) => data.limit,
        rpc_client::Error::Call(rpc_client::CallError::ScriptLimitExceeded(data)) => data.limit,
        other => panic!("expected a limit error, got {other}"),
    }
}

/// Asserts that circle `id` answers a plain script.
async fn serves(launcher: &Launcher, id: &str) {
    let result = play(launcher, id, "CIRCLE_ID").await.expect("a plain play");
    assert_eq!(result.value, json!(id), "{id} serves normally");
}

const WHO: &str = "/// Who called, as this circle sees it.
fn visitor() { #{ circle: circle_id(), caller: caller_public_key(), chain: call_chain() } }
/// The same, a hop further.
fn onward(peer) { peers::invoke(peer, \"who\", \"visitor\") }
";

#[tokio::test(flavor = "multi_thread")]
async fn a_script_calls_a_peer_as_its_circle_and_the_peer_sees_the_chain() {
    let world = World::new(&["alice", "bob", "carol"]);
    for id in ["alice", "bob", "carol"] {
        world.write_script(id, "who.rhai", WHO);
    }
    let launcher = world.launch();
    let alice = launcher.row("alice").public_key.to_hex();
    let bob = launcher.row("bob").public_key.to_hex();
    let (me, client) = signed_in(&launcher, "alice").await;
    let me = me.public_key().to_hex();

    let seen = client
        .play(r#"peers::invoke("bob", "who", "visitor")"#)
        .await
        .expect("alice calls bob");
    assert_eq!(
        seen.value,
        json!({"circle": "bob", "caller": alice, "chain": [me, alice]})
    );

    // A chain of three circles: carol sees bob calling, for alice, for me.
    let seen = client
        .play(r#"peers::invoke("bob", "who", "onward", ["carol"])"#)
        .await
        .expect("alice calls bob calls carol");
    assert_eq!(
        seen.value,
        json!({"circle": "carol", "caller": bob, "chain": [me, alice, bob]})
    );

    // A published function of alice's calling a peer works the same way.
    let seen = client
        .call("who", "onward", vec![json!("bob")])
        .await
        .expect("alice's function calls bob");
    assert_eq!(seen.value["chain"], json!([me, alice]));
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_play_is_refused_unless_the_calling_circle_is_a_member() {
    let mut world = World::new(&["alice", "bob", "carol"]);
    world.write_script("carol", "who.rhai", WHO);
    let alice = give_identity(&world, "alice").public_key().to_hex();
    for id in ["bob", "carol"] {
        circle_mut(&mut world, id)["access"] = json!({"play": "members"});
    }
    circle_mut(&mut world, "bob")["members"] = json!([alice]);
    let launcher = world.launch();

    let seen = play(
        &launcher,
        "alice",
        r##"peers::play("bob", "#{ caller: CALLER_PUBLIC_KEY, member: CALLER_IS_MEMBER, chain: CALL_CHAIN.len() }")"##,
    )
    .await
    .expect("alice, a member of bob, plays there");
    assert_eq!(
        seen.value,
        json!({"caller": alice, "member": true, "chain": 2})
    );

    let refused = play(
        &launcher,
        "alice",
        &caught(r#"peers::play("carol", "40 + 2")"#),
    )
    .await
    .expect("the refusal is catchable");
    assert_eq!(refused.value["peer"], "carol");
    assert_eq!(refused.value["code"], rpc_client::error_code::FORBIDDEN);
    assert_eq!(refused.value["data"]["action"], "play");
    assert_eq!(refused.value["data"]["allowed"], "members");
    // carol still serves what it publishes.
    let (_, client) = signed_in(&launcher, "carol").await;
    let seen = client.call("who", "visitor", vec![]).await.expect("a call");
    assert_eq!(seen.value["circle"], "carol");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_with_one_worker_each_ends_within_the_time_limit_and_both_serve_on() {
    let mut world = World::new(&["alice", "bob"]);
    let bounce =
        |to: &str| format!("fn back() {{ peers::invoke(\"{to}\", \"bounce\", \"back\") }}");
    world.write_script("alice", "bounce.rhai", &bounce("bob"));
    world.write_script("bob", "bounce.rhai", &bounce("alice"));
    for id in ["alice", "bob"] {
        circle_mut(&mut world, id)["limits"] = json!({"workers": 1, "max_time_ms": 1000});
    }
    let launcher = world.launch();
    let (_, client) = signed_in(&launcher, "alice").await;

    let started = Instant::now();
    let error = client
        .call("bounce", "back", vec![])
        .await
        .expect_err("alice's only worker waits for bob, whose call back to alice cannot start");
    assert_eq!(limit_of(&error), LimitName::Time, "{error}");
    // Not a speed check: it ends by the run's deadline instead of hanging.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    serves(&launcher, "alice").await;
    serves(&launcher, "bob").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_with_free_workers_ends_at_the_hop_limit() {
    let mut world = World::new(&["alice", "bob"]);
    let bounce =
        |to: &str| format!("fn back() {{ peers::invoke(\"{to}\", \"bounce\", \"back\") }}");
    world.write_script("alice", "bounce.rhai", &bounce("bob"));
    world.write_script("bob", "bounce.rhai", &bounce("alice"));
    for id in ["alice", "bob"] {
        circle_mut(&mut world, id)["limits"] =
            json!({"workers": 4, "max_time_ms": 10000, "max_hops": 3});
    }
    let launcher = world.launch();
    let (_, client) = signed_in(&launcher, "alice").await;
    let error = client
        .call("bounce", "back", vec![])
        .await
        .expect_err("alice → bob → alice → bob → alice is one hop too many");
    assert_eq!(limit_of(&error), LimitName::Hops, "{error}");
    assert!(error.to_string().contains("hops"), "{error}");
    serves(&launcher, "alice").await;
    serves(&launcher, "bob").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hop_limit_holds_on_both_sides() {
    let mut world = World::new(&["alice", "bob", "carol"]);
    for id in ["alice", "bob", "carol"] {
        world.write_script(id, "who.rhai", WHO);
    }
    circle_mut(&mut world, "bob")["limits"] = json!({"max_hops": 1});
    let launcher = world.launch();

    // bob accepts alice's request (one hop) but may not make a second one.
    let error = play(
        &launcher,
        "alice",
        r#"peers::invoke("bob", "who", "onward", ["carol"])"#,
    )
    .await
    .expect_err("bob refuses to go a hop further");
    assert_eq!(limit_of(&error), LimitName::Hops, "{error}");

    // A request asserting a longer chain than bob accepts is refused before it runs.
    let (_, client) = signed_in(&launcher, "bob").await;
    let chain = (0..2)
        .map(|_| SecretKey::generate().public_key().to_hex().parse())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain links");
    let via = Via {
        chain,
        time_left_ms: None,
    };
    let error = client
        .call_via("who", "visitor", vec![], Some(via))
        .await
        .expect_err("two circles before the caller: over bob's max_hops");
    assert_eq!(limit_of(&error), LimitName::Hops, "{error}");
    serves(&launcher, "bob").await;
    serves(&launcher, "carol").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_per_run_peer_call_limit_cannot_be_caught() {
    let mut world = World::new(&["alice", "bob"]);
    world.write_script("bob", "who.rhai", WHO);
    circle_mut(&mut world, "alice")["limits"] = json!({"max_peer_calls": 2});
    let launcher = world.launch();
    let script = r#"
        let answers = 0;
        for i in 0..3 {
            try { peers::invoke("bob", "who", "visitor"); answers += 1; } catch (e) { }
        }
        answers
    "#;
    let error = play(&launcher, "alice", script)
        .await
        .expect_err("the third call is one too many");
    assert_eq!(limit_of(&error), LimitName::PeerCalls, "{error}");
    serves(&launcher, "alice").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_peer_is_bounded_by_the_callers_time() {
    let mut world = World::new(&["alice", "bob"]);
    world.write_script(
        "bob",
        "slow.rhai",
        "fn spin() { let n = 0; loop { n += 1; } }",
    );
    circle_mut(&mut world, "alice")["limits"] = json!({"max_time_ms": 500});
    circle_mut(&mut world, "bob")["limits"] =
        json!({"max_time_ms": 60000, "max_operations": 1_000_000_000_000u64});
    let launcher = world.launch();
    let started = Instant::now();
    let error = play(
        &launcher,
        "alice",
        &caught(r#"peers::invoke("bob", "slow", "spin")"#),
    )
    .await
    .expect_err("bob's run ends with alice's time, and so does alice's");
    assert_eq!(limit_of(&error), LimitName::Time, "{error}");
    // bob's run was given alice's time, not its own minute.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    serves(&launcher, "bob").await;
}

/// A peer that accepts TCP connections and never says a word.
fn mute_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failure_is_a_clear_error_and_the_circles_serve_on() {
    // Peers outside the launcher: one down (bound, not listening), one whose key is not the
    // pinned one (a circle served by this test), one that never answers.
    let down = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    down.bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind a loopback port");
    let impostor = rpc_server::start(
        "127.0.0.1:0".parse().expect("addr"),
        rpc_server::Circle::new(
            rpc_server::CircleSettings::new("impostor"),
            &SecretKey::generate(),
        )
        .expect("a circle"),
        &rpc_server::ServerSettings::default(),
    )
    .await
    .expect("the impostor listens");
    let mute = mute_listener();
    let pinned: PublicKey = SecretKey::generate().public_key();

    let mut world = World::new(&["alice", "bob"]);
    world.write_script("bob", "who.rhai", WHO);
    world.write_script("bob", "broken.rhai", "fn f( { }");
    world.write_script(
        "bob",
        "fail.rhai",
        "fn boom() { throw \"boom\" }\nfn spin() { loop { } }",
    );
    circle_mut(&mut world, "bob")["limits"] = json!({"max_operations": 10000});
    // bob lets alice call its functions (anyone signed in may), not play.
    circle_mut(&mut world, "bob")["access"] = json!({"play": "members"});
    circle_mut(&mut world, "alice")["limits"] = json!({"max_time_ms": 2000});
    circle_mut(&mut world, "alice")["peers"] = json!([
        {"id": "down", "url": format!("ws://{}", down.local_addr().expect("addr")), "public_key": pinned.to_hex()},
        {"id": "impostor", "url": impostor.url(), "public_key": pinned.to_hex()},
        {"id": "mute", "url": format!("ws://{}", mute.local_addr().expect("addr")), "public_key": pinned.to_hex()},
    ]);
    let launcher = world.launch();

    let cases: [(&str, i32, &str); 7] = [
        (
            r#"peers::invoke("nobody", "who", "visitor")"#,
            circles_peers::peer_code::UNKNOWN_PEER,
            "nobody",
        ),
        (
            r#"peers::invoke("down", "who", "visitor")"#,
            rpc_client::client_code::CONNECT,
            "cannot connect",
        ),
        (
            r#"peers::invoke("impostor", "who", "visitor")"#,
            rpc_client::client_code::WRONG_CIRCLE_KEY,
            "refusing to sign",
        ),
        (
            r#"peers::play("bob", "40 + 2")"#,
            rpc_client::error_code::FORBIDDEN,
            "forbidden",
        ),
        (
            r#"peers::invoke("bob", "broken", "f")"#,
            rpc_client::error_code::SCRIPT_COMPILE_ERROR,
            "compile",
        ),
        (
            r#"peers::invoke("bob", "fail", "boom")"#,
            rpc_client::error_code::SCRIPT_RUNTIME_ERROR,
            "runtime",
        ),
        (
            r#"peers::invoke("bob", "fail", "spin")"#,
            rpc_client::error_code::SCRIPT_LIMIT_EXCEEDED,
            "limit",
        ),
    ];
    for (call, code, words) in cases {
        let thrown = play(&launcher, "alice", &caught(call))
            .await
            .unwrap_or_else(|e| panic!("{call}: the failure is catchable, got {e}"))
            .value;
        assert_eq!(thrown["code"], code, "{call}: {thrown}");
        let peer = call.split('"').nth(1).expect("the peer's name");
        assert_eq!(thrown["peer"], peer, "{call}: {thrown}");
        let said = format!("{} {}", thrown["message"], thrown["data"]).to_lowercase();
        assert!(said.contains(words), "{call}: {thrown}");
        serves(&launcher, "alice").await;
        let (_, client) = signed_in(&launcher, "bob").await;
        let seen = client.call("who", "visitor", vec![]).await;
        assert!(seen.is_ok(), "bob serves after {call}");
    }
    // The remote limit error carries its data: which limit.
    let thrown = play(
        &launcher,
        "alice",
        &caught(r#"peers::invoke("bob", "fail", "spin")"#),
    )
    .await
    .expect("catchable")
    .value;
    assert_eq!(thrown["data"]["limit"], "operations");

    // Uncaught, a peer's failure fails the run with the peer's words in it.
    let error = play(
        &launcher,
        "alice",
        r#"peers::invoke("bob", "fail", "boom")"#,
    )
    .await
    .expect_err("uncaught");
    assert_eq!(error.code(), rpc_client::error_code::SCRIPT_RUNTIME_ERROR);
    assert!(error.to_string().contains("boom"), "{error}");

    // A peer that never answers: the call waits as long as the run can, and no longer.
    let error = play(
        &launcher,
        "alice",
        &caught(r#"peers::invoke("mute", "who", "visitor")"#),
    )
    .await
    .expect_err("the run's time runs out");
    assert_eq!(limit_of(&error), LimitName::Time, "{error}");
    serves(&launcher, "alice").await;
    drop(mute);
    impostor.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_to_a_peer_share_one_signed_in_connection() {
    let world = World::new(&["alice", "bob"]);
    world.write_script("bob", "who.rhai", WHO);
    let launcher = world.launch();
    let bob_port = launcher.addr("bob").port();
    let (_, client) = signed_in(&launcher, "alice").await;
    for _ in 0..5 {
        client
            .play(
                r#"peers::invoke("bob", "who", "visitor"); peers::invoke("bob", "who", "visitor")"#,
            )
            .await
            .expect("alice calls bob twice");
    }
    assert_eq!(
        connections_to(bob_port),
        1,
        "ten calls in five runs, one connection from alice to bob"
    );
}
