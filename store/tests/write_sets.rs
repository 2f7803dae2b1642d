//! Write sets: buffered writes that their reads see, committed all or none, in groups.

mod support;

use std::path::Path;

use circles_store::{
    CommitError, Entry, ListPage, PageRequest, QuotaScope, Store, StoreError, StoreLimits, Usage,
    WriteOp,
};
use serde_json::json;

const ALICE: &str = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const BOB: &str = "02cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

fn open(dir: &Path) -> Store {
    Store::open(dir).expect("open")
}

fn keys(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

/// Every page of `prefix`, `limit` entries at most each, as `page` returns them.
fn pages(
    page: impl Fn(&PageRequest<'_>) -> Result<ListPage, StoreError>,
    limit: usize,
    max_entry_bytes: Option<u64>,
) -> Vec<(Vec<String>, Option<String>, usize)> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let got = page(&PageRequest {
            after: after.as_deref(),
            max_entry_bytes,
            ..PageRequest::new(limit)
        })
        .expect("page");
        let next = got.next.clone();
        all.push((
            got.entries.iter().map(|e| e.key.clone()).collect(),
            got.next,
            got.skipped,
        ));
        match next {
            Some(next) => after = Some(next),
            None => return all,
        }
        assert!(all.len() < 100, "pages never end");
    }
}

#[test]
fn a_write_set_reads_its_own_writes_and_lists_them_as_the_store_will() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    for i in 0..10 {
        store.set(&format!("p/{i}"), &json!(i), ALICE).expect("set");
    }
    store.set("q/0", &json!(0), ALICE).expect("set");
    store.set("bobs", &json!(0), BOB).expect("set");

    let mut writes = store.write_set(ALICE).expect("write set");
    assert!(writes.delete("p/1").expect("delete a committed entry"));
    assert!(writes.delete("p/5").expect("delete"));
    assert!(!writes.delete("p/5").expect("deleted already"));
    writes
        .set("p/3", &json!("x".repeat(500)))
        .expect("overwrite");
    writes.set("p/35", &json!(35)).expect("new");
    writes.set("p/99", &json!(99)).expect("new, last");
    writes.set("p/", &json!("first")).expect("new, first");
    assert!(writes.delete("p/7").expect("delete"));
    writes.set("p/7", &json!("back")).expect("set again");
    writes.set("gone", &json!(1)).expect("new");
    assert!(writes.delete("gone").expect("delete an own write"));
    writes.set("q/1", &json!(1)).expect("another prefix");

    // Its reads see its changes; the store's do not yet.
    assert_eq!(
        writes.get("p/3").expect("get").expect("p/3").value,
        json!("x".repeat(500))
    );
    assert_eq!(writes.get("p/1").expect("get"), None);
    assert_eq!(writes.get("gone").expect("get"), None);
    assert_eq!(
        writes.get("p/7").expect("get").expect("p/7").value,
        json!("back")
    );
    assert_eq!(
        writes.get("p/2").expect("get").expect("p/2").value,
        json!(2)
    );
    assert_eq!(store.get("p/3").expect("get").expect("p/3").value, json!(3));
    assert_eq!(store.get("p/35").expect("get"), None);
    let expected = [
        "p/", "p/0", "p/2", "p/3", "p/35", "p/4", "p/6", "p/7", "p/8", "p/9", "p/99",
    ];
    let listed = writes.page("p/", &PageRequest::new(100)).expect("page");
    assert_eq!(keys(&listed.entries), expected);
    assert_eq!((listed.next, listed.skipped), (None, 0));

    // Usage: the committed counters plus its changes.
    let (mine, all) = writes.usage().expect("usage");
    let before = store.usage(ALICE).expect("usage");
    // 3 new under p/, 2 deleted, 1 new under q/.
    assert_eq!(mine.entries, before.entries + 2, "{mine:?}");
    assert_eq!(all.entries, mine.entries + 1, "bob's entry");

    // Every way of paging gives, before the commit, what the store gives after it.
    let big = Some(300);
    let mut before_commit = Vec::new();
    for limit in 1..=12 {
        for max_entry_bytes in [None, big] {
            before_commit.push(pages(|r| writes.page("p/", r), limit, max_entry_bytes));
        }
    }
    let starts: Vec<ListPage> = expected
        .iter()
        .chain(["", "a", "p", "p/00", "p/999", "z"].iter())
        .map(|after| {
            writes
                .page(
                    "p/",
                    &PageRequest {
                        after: Some(after),
                        ..PageRequest::new(2)
                    },
                )
                .expect("page")
        })
        .collect();
    writes.commit().expect("commit");

    let mut after_commit = Vec::new();
    for limit in 1..=12 {
        for max_entry_bytes in [None, big] {
            after_commit.push(pages(|r| store.page("p/", r), limit, max_entry_bytes));
        }
    }
    assert_eq!(before_commit, after_commit);
    let skipping = pages(|r| store.page("p/", r), 100, big);
    assert_eq!(skipping[0].2, 1, "the large entry is skipped");
    for (start, after) in starts.iter().zip(
        expected
            .iter()
            .chain(["", "a", "p", "p/00", "p/999", "z"].iter()),
    ) {
        let stored = store
            .page(
                "p/",
                &PageRequest {
                    after: Some(after),
                    ..PageRequest::new(2)
                },
            )
            .expect("page");
        assert_eq!(start, &stored, "after {after:?}");
    }
    assert_eq!(store.usage(ALICE).expect("usage"), mine);
    assert_eq!(store.total_usage().expect("usage"), all);
    assert_eq!(keys(&store.list("q/", 10).expect("list")), ["q/0", "q/1"]);
    assert_eq!(store.get("gone").expect("get"), None);
}

#[test]
fn a_write_set_is_checked_as_it_writes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(
        tmp.path(),
        StoreLimits {
            max_entries_per_author: 3,
            ..StoreLimits::default()
        },
    )
    .expect("open");
    store.set("bobs", &json!(1), BOB).expect("set");
    store.set("a", &json!(1), ALICE).expect("set");
    let mut writes = store.write_set(ALICE).expect("write set");
    let err = writes.set("bobs", &json!(2)).expect_err("not alice's");
    assert!(matches!(err, StoreError::NotOwner { .. }), "{err:?}");
    let err = writes.delete("bobs").expect_err("not alice's");
    assert!(matches!(err, StoreError::NotOwner { .. }), "{err:?}");
    let err = writes
        .set(&format!("x/@{BOB}"), &json!(1))
        .expect_err("bob's key");
    assert!(matches!(err, StoreError::Reserved { .. }), "{err:?}");
    let err = writes.set("", &json!(1)).expect_err("empty key");
    assert!(matches!(err, StoreError::KeyInvalid(_)), "{err:?}");
    // The quota counts the committed entries and the set's own.
    writes.set("b", &json!(1)).expect("2 of 3");
    writes.set("c", &json!(1)).expect("3 of 3");
    let err = writes.set("d", &json!(1)).expect_err("4 of 3");
    assert!(matches!(err, StoreError::QuotaExceeded { .. }), "{err:?}");
    writes.set("c", &json!(2)).expect("a replace adds no entry");
    assert!(writes.delete("a").expect("delete"));
    writes.set("d", &json!(1)).expect("room again");
    assert_eq!(writes.usage().expect("usage").0.entries, 3);
    // Nothing of it is in the store until it is committed, and dropping it drops all.
    drop(writes);
    assert_eq!(keys(&store.list("", 10).expect("list")), ["a", "bobs"]);
    assert!(
        store.write_set(&"x".repeat(513)).is_err(),
        "author too long"
    );
}

#[test]
fn a_commit_checks_again_and_fails_whole_when_others_wrote_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(
        tmp.path(),
        StoreLimits {
            max_entries: 4,
            max_entries_per_author: 4,
            ..StoreLimits::default()
        },
    )
    .expect("open");
    store.set("a", &json!(1), ALICE).expect("set");

    // Both fit on their own; together they are over the circle's 4 entries.
    let mut first = store.write_set(ALICE).expect("write set");
    first.set("a/1", &json!(1)).expect("set");
    first.set("a/2", &json!(1)).expect("set");
    let mut late = store.write_set(BOB).expect("write set");
    late.set("b/1", &json!(1)).expect("set");
    late.set("b/2", &json!(1)).expect("set");
    first.commit().expect("the first fits");
    let CommitError { op, error } = late.commit().expect_err("the late one does not");
    assert_eq!(op, WriteOp::Set);
    assert!(
        matches!(
            error,
            StoreError::QuotaExceeded {
                scope: QuotaScope::Circle,
                limit: 4,
                would_be: 5,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        keys(&store.list("", 10).expect("list")),
        ["a", "a/1", "a/2"],
        "none of the late set's writes"
    );

    // Someone else took a key meanwhile: the whole set fails, on that write.
    let mut mine = store.write_set(ALICE).expect("write set");
    assert!(mine.delete("a").expect("delete"));
    mine.set("contested", &json!("alice"))
        .expect("free when written");
    store
        .set("contested", &json!("bob"), BOB)
        .expect("bob first");
    let CommitError { op, error } = mine.commit().expect_err("not alice's any more");
    assert_eq!(op, WriteOp::Set);
    assert!(matches!(error, StoreError::NotOwner { .. }), "{error:?}");
    assert_eq!(
        store.get("a").expect("get").expect("not deleted").value,
        json!(1)
    );

    // A set that only deletes reports its failures as a delete's.
    let mut deleting = store.write_set(ALICE).expect("write set");
    assert!(deleting.delete("a").expect("delete"));
    assert!(deleting.delete("a/1").expect("delete"));
    store.delete("a/1", ALICE).expect("deleted meanwhile");
    store.set("a/1", &json!(1), BOB).expect("and taken by bob");
    let CommitError { op, error } = deleting.commit().expect_err("not alice's any more");
    assert_eq!(op, WriteOp::Delete);
    assert!(matches!(error, StoreError::NotOwner { .. }), "{error:?}");
    assert!(store.get("a").expect("get").is_some());
    assert_eq!(store.usage(ALICE).expect("usage").entries, 2);
}

#[test]
fn concurrent_write_sets_are_committed_in_groups_and_all_land() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let mut writes = store.write_set(ALICE).expect("write set");
                    writes
                        .set(&format!("a/{t:02}/{i:02}"), &json!(i))
                        .expect("set");
                    writes
                        .set(&format!("b/{t:02}/{i:02}"), &json!(i))
                        .expect("set");
                    writes.commit().expect("commit");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(store.list("a/", 1000).expect("list").len(), 320);
    assert_eq!(store.list("b/", 1000).expect("list").len(), 320);
    assert_eq!(
        store.usage(ALICE).expect("usage"),
        Usage {
            bytes: store.total_usage().expect("usage").bytes,
            entries: 640
        }
    );
}

const CHILD_DIR: &str = "CIRCLES_STORE_TEST_WRITE_SETS_CHILD_DIR";

/// Not a test on its own: the child process of `acknowledged_write_sets_survive_kill_9`.
#[test]
fn kill9_concurrent_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let store = open(Path::new(&dir));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let mut writes = store.write_set(ALICE).expect("write set");
                    for part in ["a", "b", "c"] {
                        writes
                            .set(&format!("{part}/{t}/{i:06}"), &json!(i))
                            .expect("set");
                    }
                    writes.commit().expect("commit");
                    println!("ack {t}/{i:06}");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn acknowledged_write_sets_survive_kill_9_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let acked =
        support::acks_before_kill_9("kill9_concurrent_writer_child", CHILD_DIR, tmp.path(), 400);

    let store = open(tmp.path());
    for id in &acked {
        for part in ["a", "b", "c"] {
            assert!(
                store.get(&format!("{part}/{id}")).expect("get").is_some(),
                "{part}/{id} lost"
            );
        }
    }
    // Whatever else was committed (not acknowledged yet) is there whole: all three or none.
    let listed = |part: &str| -> Vec<String> {
        store
            .list(&format!("{part}/"), 100_000)
            .expect("list")
            .into_iter()
            .map(|e| e.key[part.len()..].to_owned())
            .collect()
    };
    let a = listed("a");
    assert_eq!(a, listed("b"));
    assert_eq!(a, listed("c"));
    assert!(a.len() >= acked.len());
    assert_eq!(
        store.total_usage().expect("usage").entries,
        3 * a.len() as u64
    );
}
