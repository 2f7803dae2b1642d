//! The store itself: persistence, ordering, limits, locking, durability.

mod support;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use circles_store::{
    Entry, ListPage, MAX_ENTRY_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, PageRequest,
    QuotaMeasure, QuotaScope, Store, StoreError, StoreLimits, Usage,
};
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
    let acked = support::acks_before_kill_9("kill9_writer_child", CHILD_DIR, tmp.path(), 40);

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

fn open_limited(dir: &Path, limits: StoreLimits) -> Store {
    Store::open_with(dir, limits).expect("open")
}

fn quota(err: &StoreError) -> Option<(QuotaScope, QuotaMeasure, u64, u64)> {
    match err {
        StoreError::QuotaExceeded {
            scope,
            measure,
            limit,
            would_be,
        } => Some((*scope, *measure, *limit, *would_be)),
        _ => None,
    }
}

/// Sum of what the store holds, counted from its entries (page after page).
fn counted(store: &Store, author: Option<&str>) -> Usage {
    let mut usage = Usage::default();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .page(
                "",
                &PageRequest {
                    after: after.as_deref(),
                    ..PageRequest::new(1000)
                },
            )
            .expect("page");
        for entry in page
            .entries
            .iter()
            .filter(|e| author.is_none_or(|a| e.author == a))
        {
            usage.bytes += entry.stored_bytes();
            usage.entries += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return usage,
        }
    }
}

fn assert_counters_exact(store: &Store, authors: &[&str]) {
    assert_eq!(store.total_usage().expect("usage"), counted(store, None));
    for author in authors {
        assert_eq!(
            store.usage(author).expect("usage"),
            counted(store, Some(author)),
            "{author:?}"
        );
    }
}

#[test]
fn quotas_per_author_and_per_circle_count_exactly_and_survive_a_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = StoreLimits {
        max_bytes: 1000,
        max_entries: 8,
        max_bytes_per_author: 600,
        max_entries_per_author: 6,
        ..StoreLimits::default()
    };
    let store = open_limited(tmp.path(), limits.clone());
    let hundred = json!("x".repeat(100 - 2 - ALICE.len() - 11 - 2)); // 100 bytes with key "a0"
    let first = store.set("a0", &hundred, ALICE).expect("set");
    assert_eq!(first.stored_bytes(), 100);
    assert_eq!(
        store.usage(ALICE).expect("usage"),
        Usage {
            bytes: 100,
            entries: 1
        }
    );
    for i in 1..6 {
        store.set(&format!("a{i}"), &hundred, ALICE).expect("set");
    }
    // Six entries, 600 bytes: a seventh goes over both of Alice's quotas (entries are
    // checked first).
    let err = store.set("a6", &json!(1), ALICE).expect_err("over");
    assert_eq!(
        quota(&err),
        Some((QuotaScope::Author, QuotaMeasure::Entries, 6, 7))
    );
    assert!(err.to_string().contains("store quota exceeded"), "{err}");
    assert_eq!(store.get("a6").expect("get"), None, "nothing written");

    // A replace counts the difference: growing over the quota is refused, shrinking is not.
    let err = store
        .set("a0", &json!("y".repeat(150)), ALICE)
        .expect_err("grows over");
    assert_eq!(
        quota(&err),
        Some((
            QuotaScope::Author,
            QuotaMeasure::Bytes,
            600,
            500 + (2 + 11 + ALICE.len() + 152) as u64
        ))
    );
    store.set("a0", &json!(1), ALICE).expect("shrinks");
    store
        .set("a0", &hundred, ALICE)
        .expect("back to 100: exactly at the quota");
    assert_eq!(
        store.usage(ALICE).expect("usage"),
        Usage {
            bytes: 600,
            entries: 6
        }
    );

    // Another author still writes, until the circle's quota.
    let bob = store
        .set("b0", &json!("z".repeat(200)), BOB)
        .expect("bob writes");
    let err = store
        .set("b1", &json!("z".repeat(200)), BOB)
        .expect_err("circle bytes");
    assert_eq!(
        quota(&err),
        Some((
            QuotaScope::Circle,
            QuotaMeasure::Bytes,
            1000,
            600 + bob.stored_bytes() * 2
        ))
    );
    assert!(err.to_string().contains("max_bytes (1000)"), "{err}");
    // Anonymous callers are one author together.
    store.set("n0", &json!(0), "").expect("anonymous");
    let err = store.set("n1", &json!(0), "").expect_err("circle entries");
    assert_eq!(
        quota(&err),
        Some((QuotaScope::Circle, QuotaMeasure::Entries, 8, 9))
    );

    // Deletes give room back.
    assert!(store.delete("a5", ALICE).expect("delete"));
    store.set("n1", &json!(0), "").expect("room again");
    assert_counters_exact(&store, &[ALICE, BOB, ""]);
    let before = (
        store.total_usage().expect("usage"),
        store.usage(ALICE).expect("usage"),
    );

    drop(store);
    let store = open_limited(tmp.path(), limits);
    assert_eq!(
        (
            store.total_usage().expect("usage"),
            store.usage(ALICE).expect("usage")
        ),
        before
    );
    assert_counters_exact(&store, &[ALICE, BOB, ""]);

    // A limit lowered below what is stored: nothing is lost, shrinking still works, growth not.
    drop(store);
    let store = open_limited(
        tmp.path(),
        StoreLimits {
            max_bytes: 10,
            max_entries: 1,
            max_bytes_per_author: 10,
            max_entries_per_author: 1,
            ..StoreLimits::default()
        },
    );
    assert_eq!(store.total_usage().expect("usage"), before.0);
    store.set("a0", &json!(1), ALICE).expect("shrinks");
    assert!(store.set("a9", &json!(1), ALICE).is_err());
    assert!(store.delete("a1", ALICE).expect("delete"));
    assert_counters_exact(&store, &[ALICE, BOB, ""]);
}

#[test]
fn a_database_written_before_the_counters_is_counted_once_when_opened() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // An `entries` table as earlier versions wrote it, without counters (format version 1:
    // version, written_at, author length, author, JSON).
    let record = |author: &str, json: &str| {
        let mut out = vec![1u8];
        out.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
        out.extend_from_slice(&u16::try_from(author.len()).expect("len").to_be_bytes());
        out.extend_from_slice(author.as_bytes());
        out.extend_from_slice(json.as_bytes());
        out
    };
    {
        let db = redb::Database::create(tmp.path().join("store.redb")).expect("create");
        let txn = db.begin_write().expect("txn");
        {
            let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("entries");
            let mut table = txn.open_table(table).expect("table");
            table
                .insert("a", record(ALICE, r#"{"n":1}"#).as_slice())
                .expect("insert");
            table
                .insert("b", record(ALICE, "[1,2,3]").as_slice())
                .expect("insert");
            table
                .insert("c", record("", r#""anon""#).as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }
    let store = open(tmp.path());
    assert_eq!(
        store.get("a").expect("get").expect("kept").value,
        json!({"n": 1})
    );
    assert_eq!(store.usage(ALICE).expect("usage").entries, 2);
    assert_eq!(store.usage("").expect("usage").entries, 1);
    assert_eq!(store.total_usage().expect("usage").entries, 3);
    assert_eq!(keys(&store.list("", 10).expect("list")), ["a", "b", "c"]);
    assert_counters_exact(&store, &[ALICE, ""]);
}

#[test]
fn a_key_with_an_at_segment_is_written_only_by_the_caller_it_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let alices = format!("guestbook/@{ALICE}");
    // Bob cannot take Alice's key first, nor can an anonymous caller.
    for author in [BOB, ""] {
        let err = store
            .set(&alices, &json!("squat"), author)
            .expect_err("reserved");
        assert!(
            matches!(&err, StoreError::Reserved { owner, .. } if owner == ALICE),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("is reserved for the caller"),
            "{err}"
        );
    }
    assert_eq!(store.get(&alices).expect("get"), None);
    store
        .set(&alices, &json!("mine"), ALICE)
        .expect("alice writes it");
    store
        .set(&format!("@{ALICE}/notes/1"), &json!(1), ALICE)
        .expect("leading segment");
    // Case matters: keys are spelled as the server spells callers (lower-case hex).
    assert!(
        store
            .set(&format!("x/@{}", ALICE.to_uppercase()), &json!(1), ALICE)
            .is_err()
    );
    // "@" inside a segment reserves nothing.
    store
        .set("mail/bob@example", &json!(1), BOB)
        .expect("plain");
    // An empty @ segment names nobody.
    let err = store.set("x/@/y", &json!(1), ALICE).expect_err("nobody");
    assert!(err.to_string().contains("names no caller"), "{err}");
    assert!(store.delete(&alices, ALICE).expect("delete"));
}

fn page_after(store: &Store, prefix: &str, after: Option<&str>, limit: usize) -> ListPage {
    store
        .page(
            prefix,
            &PageRequest {
                after,
                ..PageRequest::new(limit)
            },
        )
        .expect("page")
}

#[test]
fn a_listing_stops_at_its_byte_budget_and_pages_continue_after_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open_limited(
        tmp.path(),
        StoreLimits {
            max_list_bytes: MAX_ENTRY_BYTES,
            ..StoreLimits::default()
        },
    );
    // Entries of ~400 KB: two fit in the budget, a third does not.
    let big = json!("b".repeat(400_000));
    for i in 0..7 {
        store.set(&format!("big/{i}"), &big, ALICE).expect("set");
    }
    store.set("big/small", &json!(1), ALICE).expect("set");
    store.set("other", &json!(1), ALICE).expect("set");

    let first = page_after(&store, "big/", None, 1000);
    assert_eq!(keys(&first.entries), ["big/0", "big/1"]);
    assert_eq!(first.next.as_deref(), Some("big/1"));
    assert_eq!(
        keys(&store.list("big/", 1000).expect("list")),
        ["big/0", "big/1"]
    );

    let mut all = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = page_after(&store, "big/", after.as_deref(), 1000);
        let bytes: u64 = page.entries.iter().map(Entry::stored_bytes).sum();
        assert!(bytes <= MAX_ENTRY_BYTES, "{bytes}");
        all.extend(page.entries.into_iter().map(|e| e.key));
        pages += 1;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(
        all,
        [
            "big/0",
            "big/1",
            "big/2",
            "big/3",
            "big/4",
            "big/5",
            "big/6",
            "big/small"
        ]
    );

    // The entry limit: `next` says there is more; the last page has none.
    let page = page_after(&store, "big/", Some("big/5"), 1);
    assert_eq!(
        (keys(&page.entries), page.next.as_deref()),
        (vec!["big/6"], Some("big/6"))
    );
    let page = page_after(&store, "big/", Some("big/6"), 1);
    assert_eq!((keys(&page.entries), page.next), (vec!["big/small"], None));
    // `after` before the prefix starts at the prefix; past it, nothing.
    let page = page_after(&store, "big/", Some("a"), 1);
    assert_eq!(keys(&page.entries), ["big/0"]);
    assert!(page_after(&store, "big/", Some("c"), 10).entries.is_empty());
    assert!(page_after(&store, "big/", None, 0).entries.is_empty());

    // A smaller budget, and entries too large for the caller left out without counting.
    let page = store
        .page(
            "big/",
            &PageRequest {
                max_bytes: Some(1000),
                max_entry_bytes: Some(1000),
                ..PageRequest::new(1000)
            },
        )
        .expect("page");
    assert_eq!(
        (keys(&page.entries), page.next, page.skipped),
        (vec!["big/small"], None, 7)
    );
    let page = store
        .page(
            "big/",
            &PageRequest {
                max_bytes: Some(1000),
                ..PageRequest::new(1000)
            },
        )
        .expect("page");
    assert_eq!(
        (keys(&page.entries), page.next.as_deref()),
        (vec!["big/0"], Some("big/0")),
        "at least one entry, whatever the budget"
    );

    // A deadline that has passed stops the listing.
    let err = store
        .page(
            "big/",
            &PageRequest {
                deadline: Some(std::time::Instant::now()),
                ..PageRequest::new(1000)
            },
        )
        .expect_err("deadline");
    assert!(matches!(err, StoreError::DeadlinePassed), "{err:?}");
    let later = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let page = store
        .page(
            "big/",
            &PageRequest {
                deadline: Some(later),
                ..PageRequest::new(1000)
            },
        )
        .expect("page");
    assert_eq!(page.entries.len(), 2);
}
