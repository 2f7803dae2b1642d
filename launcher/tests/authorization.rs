//! The shipped example under the default access policy, against the real launcher: a
//! stranger calls alice's published guestbook but may not run scripts of its own, until the
//! circle's owner makes its key a member (an edit of circles.json, as the README shows).

mod support;

use rpc_client::{CallError, Error, PlayError, SecretKey};
use serde_json::{Value, json};
use support::World;

/// A world with the shipped circles' modules and no `access` (the defaults), on port 0.
fn shipped_world() -> World {
    let mut world = World::new(&["alice", "bob"]);
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts");
    for (circle, module) in [
        ("alice", "guestbook.rhai"),
        ("bob", "notes.rhai"),
        ("bob", "neighbours.rhai"),
    ] {
        let text = std::fs::read_to_string(format!("{shipped}/{circle}/{module}"))
            .expect("the example module is shipped");
        world.write_script(circle, module, &text);
    }
    for circle in &mut world.circles {
        circle
            .as_object_mut()
            .expect("a circle is an object")
            .remove("access");
    }
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_calls_the_guestbook_is_refused_play_and_plays_once_a_member() {
    let mut world = shipped_world();
    world.write();
    let launcher = world.launch();
    let alice = launcher.url("alice");
    let stranger = SecretKey::generate();

    let circle = rpc_client::connect(&alice).await.expect("connect");
    circle.authenticate(&stranger, None).await.expect("sign in");
    let signed = circle
        .call("guestbook", "sign", vec![json!("hello from a stranger")])
        .await
        .expect("anyone signed in may call published functions");
    assert_eq!(signed.value, json!(1));
    let read = circle
        .call("guestbook", "read", vec![])
        .await
        .expect("read");
    assert_eq!(
        read.value,
        json!([format!("{}: hello from a stranger", stranger.public_key())]),
        "the function saw the caller's key"
    );
    let listed = circle.list_functions().await.expect("list");
    let names: Vec<(String, String)> = listed
        .iter()
        .map(|f| ((*f.module).clone(), (*f.name).clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("guestbook".into(), "read".into()),
            ("guestbook".into(), "sign".into()),
            ("guestbook".into(), "visitor".into()),
        ]
    );
    match circle.play("40 + 2").await {
        Err(Error::Play(PlayError::Forbidden(data))) => {
            assert_eq!(data.action, rpc_client::Action::Play);
            assert_eq!(data.allowed, rpc_client::Audience::Members);
        }
        other => panic!("a stranger's play must be forbidden: {other:?}"),
    }
    // Anonymous: not even the published functions (the default is signed-in callers).
    let anonymous = rpc_client::connect(&alice).await.expect("connect");
    assert!(matches!(
        anonymous.call("guestbook", "read", vec![]).await,
        Err(Error::Call(CallError::Unauthenticated))
    ));
    drop(launcher);

    // The owner makes the stranger a member, and restarts.
    world.circles[0]["members"] = json!([stranger.public_key().to_hex()]);
    world.write();
    let launcher = world.launch();
    let member = rpc_client::connect(&launcher.url("alice"))
        .await
        .expect("connect");
    member.authenticate(&stranger, None).await.expect("sign in");
    let played = member
        .play("import \"guestbook\" as book; [CALLER_IS_MEMBER, book::read().len()]")
        .await
        .expect("a member plays");
    assert_eq!(
        played.value,
        json!([true, 1]),
        "and its entry survived the restart"
    );
    // bob's circle has its own policy: the stranger is no member there.
    let bob = rpc_client::connect(&launcher.url("bob"))
        .await
        .expect("connect");
    bob.authenticate(&stranger, None).await.expect("sign in");
    assert!(matches!(
        bob.play("1").await,
        Err(Error::Play(PlayError::Forbidden(_)))
    ));
    let note: Value = bob
        .call("notes", "add", vec![json!("mine")])
        .await
        .expect("published")
        .value;
    assert!(
        note.as_str().is_some_and(|key| key.starts_with("notes/")),
        "{note}"
    );
}

#[test]
fn a_config_with_require_auth_says_what_replaced_it() {
    let mut world = World::new(&["alpha"]);
    world.circles[0]["require_auth"] = json!(false);
    let config = world.write();
    let out = support::run_launcher(&["check", &config.display().to_string()]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`require_auth` was replaced by `access`"),
        "{stderr}"
    );
    assert!(stderr.contains(r#""play": "anyone""#), "{stderr}");
}

#[test]
fn members_must_be_public_keys() {
    let mut world = World::new(&["alpha"]);
    world.circles[0]["members"] = json!(["not-a-key"]);
    let config = world.write();
    let out = support::run_launcher(&["check", &config.display().to_string()]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[0].members[0]"), "{stderr}");
}

#[test]
fn add_member_edits_the_config_and_keeps_the_rest() {
    let mut world = World::new(&["alpha", "beta"]);
    world.circles[1]["limits"] = json!({"max_time_ms": 700});
    let config = world.write();
    let config = config.display().to_string();
    let key = SecretKey::generate().public_key();
    // Upper-case and 0x-prefixed: stored normalised.
    let spelled = format!("0x{}", key.to_hex().to_uppercase());
    let out = support::run_launcher(&["--config", &config, "add-member", "beta", &spelled]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let edited: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("JSON");
    assert_eq!(edited[1]["members"], json!([key.to_hex()]));
    assert_eq!(
        edited[1]["limits"],
        json!({"max_time_ms": 700}),
        "the rest is kept"
    );
    assert!(
        edited[0].get("members").is_none(),
        "other circles untouched"
    );
    // Again: nothing changes.
    let out = support::run_launcher(&["--config", &config, "add-member", "beta", &key.to_hex()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already"));
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("JSON");
    assert_eq!(again, edited);
    // Refusals leave the file as it is.
    for (args, code) in [
        (vec!["add-member", "gamma", &key.to_hex()[..]], 4),
        (vec!["add-member", "beta", "not-a-key"], 2),
    ] {
        let mut all = vec!["--config", &config[..]];
        all.extend(args);
        let out = support::run_launcher(&all);
        assert_eq!(out.status.code(), Some(code), "{all:?}");
        let unchanged: Value =
            serde_json::from_str(&std::fs::read_to_string(&config).expect("read")).expect("JSON");
        assert_eq!(unchanged, edited, "{all:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_signs_alices_guestbook_as_bob_for_a_stranger() {
    let world = shipped_world();
    let launcher = world.launch();
    let bob_key = launcher.row("bob").public_key.to_hex();
    let stranger = SecretKey::generate();
    let me = stranger.public_key().to_hex();
    let bob = rpc_client::connect(&launcher.url("bob"))
        .await
        .expect("connect");
    bob.authenticate(&stranger, None).await.expect("sign in");

    let count = bob
        .call("neighbours", "greet_alice", vec![json!("hi from bob")])
        .await
        .expect("bob greets alice");
    assert_eq!(count.value, json!(1));
    let book = bob
        .call("neighbours", "alice_guestbook", vec![])
        .await
        .expect("bob reads alice's guestbook");
    assert_eq!(
        book.value,
        json!([format!("{bob_key}: hi from bob (asked by {me})")]),
        "the entry is bob's, and says who asked"
    );
    let seen = bob
        .call("neighbours", "ask_alice_who", vec![])
        .await
        .expect("bob asks alice");
    assert_eq!(
        seen.value,
        json!({"caller": bob_key, "chain": [me, bob_key], "member": false})
    );
    let failed = bob
        .call("neighbours", "try_alice", vec![json!("nope")])
        .await
        .expect("the failure is a value");
    assert_eq!(
        failed.value["failed"]["code"],
        rpc_client::error_code::NOT_CALLABLE
    );
    assert_eq!(failed.value["failed"]["peer"], "alice");
}
