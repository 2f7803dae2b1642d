//! Two launchers, as two machines would run them: each has its own `circles.json` naming the
//! other's circle as a peer (its URL and pinned key), and their circles call each other.
//! The ports are bound by the test and handed to the launchers (socket activation), so each
//! config can name the other's port before either launcher starts, without a race.

mod support;

use std::net::TcpListener;

use serde_json::json;
use support::peers::{connections_to, give_identity, signed_in};
use support::{Launcher, World, port_in_use};

const WHO: &str = "/// Who called, as this circle sees it.
fn visitor() { #{ circle: circle_id(), caller: caller_public_key(), chain: call_chain() } }
/// The same, asked of a peer.
fn ask(peer) { peers::invoke(peer, \"who\", \"visitor\") }
";

/// A one-circle world `id` (its identity key made in advance, as its owner would have it);
/// the world and the circle's public key.
fn machine(id: &str) -> (World, String) {
    let world = World::new(&[id]);
    world.write_script(id, "who.rhai", WHO);
    let key = give_identity(&world, id).public_key().to_hex();
    (world, key)
}

/// Names `peer`, at `port` with key `key`, as the peer of the world's circle.
fn add_peer(world: &mut World, peer: &str, port: u16, key: &str) {
    world.circles[0]["peers"] = json!([
        {"id": peer, "url": format!("ws://127.0.0.1:{port}"), "public_key": key},
    ]);
}

fn launch(world: &World, id: &str, listener: &TcpListener) -> Launcher {
    let copy = listener.try_clone().expect("a copy of the listener");
    world.launch_with_listeners([(id, copy)])
}

#[tokio::test(flavor = "multi_thread")]
async fn circles_of_two_launchers_call_each_other_as_themselves() {
    let (alice_listener, alice_port) = port_in_use();
    let (bob_listener, bob_port) = port_in_use();
    // Each machine knows the other's address and key, and nothing else.
    let (mut alice_world, alice_hex) = machine("alice");
    let (mut bob_world, bob_hex) = machine("bob");
    add_peer(&mut alice_world, "bob", bob_port, &bob_hex);
    add_peer(&mut bob_world, "alice", alice_port, &alice_hex);

    let alice = launch(&alice_world, "alice", &alice_listener);
    let bob = launch(&bob_world, "bob", &bob_listener);
    assert_eq!(alice.url("alice"), format!("ws://127.0.0.1:{alice_port}"));
    assert_eq!(bob.row("bob").public_key.to_hex(), bob_hex);

    let (me, to_alice) = signed_in(&alice, "alice").await;
    let me = me.public_key().to_hex();
    let seen = to_alice
        .call("who", "ask", vec![json!("bob")])
        .await
        .expect("alice calls bob on the other launcher");
    assert_eq!(
        seen.value,
        json!({"circle": "bob", "caller": alice_hex, "chain": [me, alice_hex]})
    );
    assert_eq!(
        connections_to(bob_port),
        1,
        "alice holds one connection to bob"
    );
    let (you, to_bob) = signed_in(&bob, "bob").await;
    let you = you.public_key().to_hex();
    let seen = to_bob
        .play(r#"peers::invoke("alice", "who", "visitor")"#)
        .await
        .expect("bob calls alice back");
    assert_eq!(
        seen.value,
        json!({"circle": "alice", "caller": bob_hex, "chain": [you, bob_hex]})
    );

    // bob's launcher restarts (on the same socket): alice's connection to it dropped, and
    // her next call makes a new one.
    assert_eq!(bob.signal("TERM"), Some(0), "bob stops cleanly");
    let bob = launch(&bob_world, "bob", &bob_listener);
    let seen = to_alice
        .call("who", "ask", vec![json!("bob")])
        .await
        .expect("alice calls bob again, on a new connection");
    assert_eq!(seen.value["caller"], alice_hex);
    assert_eq!(connections_to(bob_port), 1, "one connection again");
    drop(bob);
    drop(alice);
}
