//! The store itself: persistence, ordering, limits, locking, durability.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use circles_store::{Entry, MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, Store, StoreError};
use serde_json::{Value, json};

const ALICE: &str = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const BOB: &str = "02cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("u64")
}

fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open")
}

fn keys(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

#[test]
fn entries_survive_close_and_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("circle").join("db"); // created by open
    let before = now_ms();
    let (first, second) = {
        let store = open(&dir);
        let first = store
            .set(
                "profile",
                &json!({"name": "alice", "tags": ["a", 1, 2.5, null, true]}),
                ALICE,
            )
            .expect("set");
        let second = store.set("anon", &json!("hi"), "").expect("set");
        (first, second)
    };
    let after = now_ms();
    assert!(dir.join("store.redb").is_file());
    assert!((before..=after).contains(&first.written_at), "{first:?}");
    assert!(first.written_at <= second.written_at);

    let store = open(&dir);
    assert_eq!(store.path(), dir.join("store.redb"));
    let got = store.get("profile").expect("get").expect("present");
    assert_eq!(got, first);
    assert_eq!(got.author, ALICE);
    assert_eq!(got.value["tags"], json!(["a", 1, 2.5, null, true]));
    assert_eq!(store.get("anon").expect("get"), Some(second));
    assert_eq!(store.get("missing").expect("get"), None);

    // The author overwriting replaces value and time.
    let third = store.set("profile", &json!(7), ALICE).expect("set");
    drop(store);
    let store = open(&dir);
    let got = store.get("profile").expect("get").expect("present");
    assert_eq!(got, third);
    assert_eq!((got.value, got.author.as_str()), (json!(7), ALICE));
    assert!(got.written_at >= first.written_at);
}

#[test]
fn list_scans_a_prefix_in_key_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    // Written out of order; "a/…" sorts before "ab" ('/' < 'b').
    for key in ["b", "abc", "a/2", "ac", "a", "ab", "a/1", "é", "aa"] {
        store.set(key, &json!(key), ALICE).expect("set");
    }
    let all = store.list("", 100).expect("list");
    assert_eq!(
        keys(&all),
        ["a", "a/1", "a/2", "aa", "ab", "abc", "ac", "b", "é"]
    );
    assert!(
        all.iter()
            .all(|e| e.value == json!(e.key) && e.author == ALICE)
    );

    let list = |prefix: &str, limit: usize| {
        let entries = store.list(prefix, limit).expect("list");
        keys(&entries)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(list("a", 100), ["a", "a/1", "a/2", "aa", "ab", "abc", "ac"]);
    assert_eq!(list("ab", 100), ["ab", "abc"]);
    assert_eq!(list("abc", 100), ["abc"]);
    assert_eq!(list("a/", 100), ["a/1", "a/2"]);
    assert_eq!(list("b", 100), ["b"]);
    assert_eq!(list("é", 100), ["é"]);
    assert!(list("abd", 100).is_empty());
    assert!(list("c", 100).is_empty());
    assert!(list("zzz", 100).is_empty());
    // Limits.
    assert_eq!(list("a", 2), ["a", "a/1"]);
    assert_eq!(list("", 1), ["a"]);
    assert!(list("a", 0).is_empty());
    // Deleted keys disappear from listings.
    assert!(store.delete("a/1", ALICE).expect("delete"));
    assert_eq!(list("a/", 100), ["a/2"]);
}

#[test]
fn delete_removes_durably() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let store = open(tmp.path());
        store.set("k", &json!(1), ALICE).expect("set");
        store.set("keep", &json!(2), ALICE).expect("set");
        assert!(store.delete("k", ALICE).expect("delete"));
        assert!(!store.delete("k", ALICE).expect("delete again"));
        assert!(!store.delete("never", ALICE).expect("delete missing"));
        assert_eq!(store.get("k").expect("get"), None);
    }
    let store = open(tmp.path());
    assert_eq!(store.get("k").expect("get"), None);
    assert_eq!(keys(&store.list("", 10).expect("list")), ["keep"]);
}

#[test]
fn invalid_keys_and_oversized_values_are_refused_without_losing_data() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    store.set("k", &json!("original"), ALICE).expect("set");

    // Keys: empty and too long are refused; exactly MAX_KEY_BYTES is fine.
    let long = "k".repeat(MAX_KEY_BYTES + 1);
    for key in ["", long.as_str()] {
        for err in [
            store.set(key, &json!(1), ALICE).expect_err("set"),
            store.get(key).expect_err("get"),
            store.delete(key, ALICE).expect_err("delete"),
        ] {
            assert!(matches!(err, StoreError::KeyInvalid(_)), "{err:?}");
        }
    }
    let err = store.set(&long, &json!(1), ALICE).expect_err("long");
    assert!(
        err.to_string().contains("1025 bytes, the limit is 1024"),
        "{err}"
    );
    let max_key = "k".repeat(MAX_KEY_BYTES);
    store.set(&max_key, &json!(1), ALICE).expect("longest key");

    // Values: the JSON text may be MAX_VALUE_BYTES long, not one byte more.
    let fits = Value::String("x".repeat(MAX_VALUE_BYTES - 2)); // + 2 quotes
    store.set("big", &fits, ALICE).expect("largest value");
    assert_eq!(store.get("big").expect("get").expect("present").value, fits);
    let too_big = Value::String("x".repeat(MAX_VALUE_BYTES - 1));
    let err = store.set("k", &too_big, ALICE).expect_err("too big");
    assert!(
        matches!(err, StoreError::ValueTooLarge { bytes, limit } if bytes == MAX_VALUE_BYTES + 1 && limit == MAX_VALUE_BYTES),
        "{err:?}"
    );

    // Nesting: MAX_VALUE_DEPTH levels are fine, one more is refused.
    let nest = |levels: usize| (0..levels).fold(json!(1), |v, _| json!([v]));
    store
        .set("deep", &nest(MAX_VALUE_DEPTH), ALICE)
        .expect("deepest value");
    let err = store
        .set("k", &nest(MAX_VALUE_DEPTH + 1), ALICE)
        .expect_err("too deep");
    assert!(matches!(err, StoreError::ValueTooDeep { .. }), "{err:?}");

    // Author.
    let err = store
        .set("k", &json!(1), &"a".repeat(513))
        .expect_err("author");
    assert!(matches!(err, StoreError::AuthorInvalid(_)), "{err:?}");

    // Nothing was lost or half-written, also after reopening.
    drop(store);
    let store = open(tmp.path());
    let k = store.get("k").expect("get").expect("present");
    assert_eq!((k.value, k.author.as_str()), (json!("original"), ALICE));
    assert_eq!(
        store.get("deep").expect("get").expect("present").value,
        nest(MAX_VALUE_DEPTH)
    );
    assert_eq!(
        keys(&store.list("", 10).expect("list")),
        ["big", "deep", "k", max_key.as_str()]
    );
}

#[test]
fn opening_an_open_store_again_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let err = Store::open(tmp.path()).expect_err("second open");
    assert!(
        matches!(
            &err,
            StoreError::Open { path, source: redb::DatabaseError::DatabaseAlreadyOpen }
                if path == &tmp.path().join("store.redb")
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&tmp.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("already open"), "{message}");

    // A clone shares the open database; once every handle is gone it opens again.
    let clone = store.clone();
    clone.set("k", &json!(1), "").expect("set through a clone");
    drop(store);
    assert!(Store::open(tmp.path()).is_err(), "the clone still holds it");
    drop(clone);
    let store = open(tmp.path());
    assert_eq!(
        store.get("k").expect("get").expect("present").value,
        json!(1)
    );
}

#[test]
fn a_directory_that_cannot_be_created_is_an_io_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let err = Store::open(&file.join("db")).expect_err("under a file");
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("file"), "{err}");
}

#[test]
fn clones_write_concurrently_from_threads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    store
                        .set(&format!("t{t}/{i:02}"), &json!([t, i]), ALICE)
                        .expect("set");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(store.list("", 1000).expect("list").len(), 100);
    let t2 = store.list("t2/", 1000).expect("list");
    assert_eq!(t2.len(), 25);
    assert_eq!(t2[24].value, json!([2, 24]));
}

const CHILD_DIR: &str = "CIRCLES_STORE_TEST_CHILD_DIR";

/// Not a test on its own: the child process of `acknowledged_writes_survive_kill_9`.
#[test]
fn kill9_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let store = open(Path::new(&dir));
    for i in 0.. {
        let key = format!("k{i:06}");
        store.set(&key, &json!(i), ALICE).expect("set");
        println!("ack {key}");
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "kill9_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        // libtest may print "test kill9_writer_child ... " on the same line as the first ack.
        if let Some((_, key)) = line.split_once("ack ") {
            acked.push(key.to_owned());
            if acked.len() == 40 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().expect("wait");
    assert_eq!(acked.len(), 40, "the child stopped early");

    let store = open(tmp.path());
    assert_eq!(acked[0], "k000000");
    for (i, key) in acked.iter().enumerate() {
        assert_eq!(key, &format!("k{i:06}"));
        let entry = store
            .get(key)
            .expect("get")
            .unwrap_or_else(|| panic!("{key} lost"));
        assert_eq!((entry.value, entry.author.as_str()), (json!(i), ALICE));
    }
}

#[test]
fn only_the_author_replaces_or_deletes_an_entry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    store.set("mine", &json!("alice's"), ALICE).expect("set");
    let bob = BOB.to_owned();
    for err in [
        store
            .set("mine", &json!("bob's"), &bob)
            .expect_err("bob cannot replace it"),
        store
            .set("mine", &json!("anon"), "")
            .expect_err("nor can an anonymous caller"),
    ] {
        assert!(
            matches!(&err, StoreError::NotOwner { owner, .. } if owner == ALICE),
            "{err:?}"
        );
    }
    let err = store
        .delete("mine", &bob)
        .expect_err("bob cannot delete it");
    assert!(err.to_string().contains("only its author"), "{err}");
    let entry = store.get("mine").expect("get").expect("still there");
    assert_eq!(
        (entry.value, entry.author.as_str()),
        (json!("alice's"), ALICE)
    );
    store
        .set("mine", &json!("updated"), ALICE)
        .expect("the author replaces it");
    assert!(store.delete("mine", ALICE).expect("the author deletes it"));
    store
        .set("mine", &json!("bob's now"), &bob)
        .expect("a free key is anyone's");
}
