//! The Rhai module `store`, used through a real sandbox.

use circles_sandbox::rhai::Engine;
use circles_sandbox::{
    Caller, CircleInfo, LimitKind, Limits, Outcome, RunContext, Sandbox, ScriptError,
};
use circles_store::{Store, StoreLimits};
use serde_json::json;
use tempfile::TempDir;

const CIRCLE_KEY: &str = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ALICE: &str = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const BOB: &str = "02cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

struct Circle {
    _tmp: TempDir,
    store: Store,
    sandbox: Sandbox,
}

fn circle_with(limits: Limits) -> Circle {
    circle_with_store(limits, StoreLimits::default())
}

fn circle_with_store(limits: Limits, store_limits: StoreLimits) -> Circle {
    circle_with_hook(limits, store_limits, |_| {})
}

/// A circle whose engine `hook` adds host functions to.
fn circle_with_hook(
    limits: Limits,
    store_limits: StoreLimits,
    hook: impl FnOnce(&mut Engine) + 'static,
) -> Circle {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open_with(tmp.path(), store_limits).expect("store");
    let sandbox = Sandbox::builder(
        CircleInfo {
            id: "garden".into(),
            public_key: CIRCLE_KEY.into(),
        },
        limits,
    )
    .configure({
        let store = store.clone();
        move |engine| {
            circles_store::rhai::register(engine, store);
            // Works past the run's deadline without an operation in between, as a long
            // store call would.
            engine.register_fn("sleep_past_the_deadline", || {
                if let Some(deadline) = RunContext::deadline() {
                    std::thread::sleep(
                        deadline.saturating_duration_since(std::time::Instant::now()),
                    );
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            });
            hook(engine);
        }
    })
    .build()
    .expect("sandbox");
    Circle {
        _tmp: tmp,
        store,
        sandbox,
    }
}

fn circle() -> Circle {
    circle_with(Limits {
        workers: 2,
        ..Limits::default()
    })
}

impl Circle {
    async fn run(&self, script: &str, caller: &str) -> Result<Outcome, ScriptError> {
        self.sandbox
            .run(script.to_owned(), Caller::new(caller))
            .await
    }

    async fn ok(&self, script: &str, caller: &str) -> serde_json::Value {
        match self.run(script, caller).await {
            Ok(out) => out.value,
            Err(e) => panic!("{script:?} failed: {e:?}"),
        }
    }

    /// The message of the runtime error `script` fails with.
    async fn runtime_error(&self, script: &str) -> String {
        match self.run(script, ALICE).await {
            Err(err @ ScriptError::Runtime { .. }) => {
                let ScriptError::Runtime { message, line, .. } = err else {
                    unreachable!()
                };
                assert!(line > 0, "{script:?}: no position");
                message
            }
            other => panic!("{script:?}: expected a runtime error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn set_get_entry_round_trip_with_the_callers_key() {
    let c = circle();
    let value = json!({"n": 1, "f": 2.5, "b": true, "u": null, "s": "x", "a": [1, [2, "3"]], "m": {"k": []}});
    let out = c
        .ok(
            r#"store::set("doc", #{n: 1, f: 2.5, b: true, u: (), s: "x", a: [1, [2, "3"]], m: #{k: []}});
               let e = store::entry("doc");
               [store::get("doc"), e.key, e.value, e.author, type_of(e.written_at)]"#,
            ALICE,
        )
        .await;
    assert_eq!(out, json!([value, "doc", value, ALICE, "i64"]));
    let stored = c.store.get("doc").expect("get").expect("present");
    assert_eq!(stored.value, value);
    assert_eq!(stored.author, ALICE);
    assert!(stored.written_at > 1_600_000_000_000, "{stored:?}");

    // Scalars and unit round-trip as themselves.
    let out = c
        .ok(
            r#"store::set("i", -7); store::set("f", 0.5); store::set("s", "");
               store::set("t", false); store::set("u", ());
               [store::get("i"), store::get("f"), store::get("s"), store::get("t"),
                type_of(store::get("u")), type_of(store::get("missing")),
                type_of(store::entry("missing"))]"#,
            ALICE,
        )
        .await;
    assert_eq!(out, json!([-7, 0.5, "", false, "()", "()", "()"]));
    assert_eq!(
        c.store.get("u").expect("get").expect("present").value,
        json!(null)
    );
}

#[tokio::test]
async fn the_author_comes_from_the_call_context_not_the_script() {
    let c = circle();
    // Shadowing the constant changes what the script sees, not who writes.
    let out = c
        .ok(
            r#"let CALLER_PUBLIC_KEY = "02ffff"; store::set("k", 1);
               [CALLER_PUBLIC_KEY, store::entry("k").author]"#,
            ALICE,
        )
        .await;
    assert_eq!(out, json!(["02ffff", ALICE]));
    // Nor does a script-defined `caller_public_key`.
    let out = c
        .ok(
            r#"fn caller_public_key() { "02ffff" } store::set("k2", 1); store::entry("k2").author"#,
            BOB,
        )
        .await;
    assert_eq!(out, json!(BOB));
    assert_eq!(c.store.get("k").expect("get").expect("k").author, ALICE);
    assert_eq!(c.store.get("k2").expect("get").expect("k2").author, BOB);

    // Bob cannot overwrite or delete Alice's entry; she can.
    for script in [r#"store::set("k", 2)"#, r#"store::delete("k")"#] {
        let err = c
            .sandbox
            .run(script.into(), Caller::new(BOB))
            .await
            .expect_err("not bob's entry");
        assert!(err.to_string().contains("only its author"), "{err}");
    }
    c.ok(r#"store::set("k", 2)"#, ALICE).await;
    let entry = c.store.get("k").expect("get").expect("k");
    assert_eq!((entry.value, entry.author.as_str()), (json!(2), ALICE));

    // An anonymous caller writes with an empty author.
    let out = c
        .sandbox
        .run(
            r#"store::set("anon", "hi"); store::entry("anon").author"#.into(),
            Caller::anonymous(),
        )
        .await
        .expect("anonymous run");
    assert_eq!(out.value, json!(""));
    assert_eq!(c.store.get("anon").expect("get").expect("anon").author, "");
}

#[tokio::test]
async fn delete_and_list() {
    let c = circle();
    for key in ["b", "ab", "a", "a/2", "a/1", "c"] {
        c.store.set(key, &json!(key), BOB).expect("set");
    }
    let out = c
        .ok(
            r#"[store::list("a").map(|e| e.key), store::list("ab").map(|e| e.key),
                store::list("a", 2).map(|e| e.key), store::list("", 0).len(),
                store::list("b")[0]]"#,
            ALICE,
        )
        .await;
    assert_eq!(out[0], json!(["a", "a/1", "a/2", "ab"]));
    assert_eq!(out[1], json!(["ab"]));
    assert_eq!(out[2], json!(["a", "a/1"]));
    assert_eq!(out[3], json!(0));
    assert_eq!(out[4]["key"], "b");
    assert_eq!(out[4]["value"], "b");
    assert_eq!(out[4]["author"], BOB);
    assert!(out[4]["written_at"].as_i64().expect("int") > 0);

    let out = c
        .ok(
            r#"[store::delete("a"), store::delete("a"), store::list("a").len()]"#,
            BOB,
        )
        .await;
    assert_eq!(out, json!([true, false, 3]));
    assert_eq!(c.store.get("a").expect("get"), None);

    let message = c.runtime_error(r#"store::list("a", -1)"#).await;
    assert!(message.contains("must not be negative"), "{message}");
}

#[tokio::test]
async fn list_is_capped_at_1000() {
    let c = circle();
    for i in 0..1005 {
        c.store
            .set(&format!("n/{i:04}"), &json!(i), "")
            .expect("set");
    }
    let out = c
        .ok(
            r#"[store::list("n/").len(), store::list("n/", 5000).len(), store::list("n/", 3).len(),
                store::list("n/")[999].value]"#,
            ALICE,
        )
        .await;
    assert_eq!(out, json!([1000, 1000, 3, 999]));
}

#[tokio::test]
async fn bad_values_and_keys_are_runtime_errors_and_store_nothing() {
    let c = circle_with(Limits {
        workers: 1,
        max_string_size: 4 * 1024 * 1024,
        ..Limits::default()
    });
    c.ok(r#"store::set("k", "original")"#, ALICE).await;
    for (script, needle) in [
        (r#"store::set("k", Fn("f"))"#, "type 'Fn' cannot be stored"),
        (r#"store::set("k", 'c')"#, "type 'char' cannot be stored"),
        (r#"store::set("k", blob(3))"#, "cannot be stored"),
        (
            r#"store::set("k", [1, #{x: timestamp()}])"#,
            "cannot be stored",
        ),
        (r#"store::set("k", 1.0 / 0.0)"#, "NaN/infinity"),
        (
            r#"store::set("", 1)"#,
            "store::set: invalid key: the key is empty",
        ),
        (r#"store::get("")"#, "store::get: invalid key"),
        (r#"store::delete("")"#, "store::delete: invalid key"),
        (
            r#"let s = ""; s.pad(1100000, "x"); store::set("k", s)"#,
            "store::set: value too large: 1100002 bytes of JSON, the limit is 1048576",
        ),
        (
            r#"let v = 1; for i in 0..70 { v = [v]; } store::set("k", v)"#,
            "nests arrays/maps more than 64 levels",
        ),
    ] {
        let message = c.runtime_error(script).await;
        assert!(message.contains(needle), "{script}: {message}");
    }
    assert_eq!(
        c.store.get("k").expect("get").expect("present").value,
        json!("original")
    );
    assert_eq!(c.store.list("", 10).expect("list").len(), 1);
}

#[tokio::test]
async fn values_nest_at_most_64_levels_an_empty_innermost_one_too() {
    let c = circle();
    for (inner, json) in [("[]", json!([])), ("[1]", json!([1])), ("#{}", json!({}))] {
        let nested = |levels: usize| {
            format!(
                "let v = {inner}; for i in 0..{} {{ v = [v]; }} v",
                levels - 1
            )
        };
        let out = c
            .ok(
                &format!(
                    r#"store::set("deep", {{ {} }}); store::get("deep")"#,
                    nested(64)
                ),
                ALICE,
            )
            .await;
        let expected = (1..64).fold(json, |v, _| json!([v]));
        assert_eq!(out, expected, "{inner}");
        assert_eq!(
            c.store.get("deep").expect("get").expect("deep").value,
            expected
        );

        let message = c
            .runtime_error(&format!(r#"store::set("deep", {{ {} }})"#, nested(65)))
            .await;
        assert!(
            message.contains("store::set: the value nests arrays/maps more than 64 levels"),
            "{inner}: {message}"
        );
    }
}

#[test]
fn writes_outside_a_sandbox_run_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("store");
    store.set("k", &json!(5), ALICE).expect("set");
    let mut engine = Engine::new();
    circles_store::rhai::register(&mut engine, store.clone());
    // Reading needs no caller...
    assert_eq!(engine.eval::<i64>(r#"store::get("k")"#).expect("get"), 5);
    // ...writing does.
    for script in [r#"store::set("k", 1)"#, r#"store::delete("k")"#] {
        let err = engine.eval::<()>(script).expect_err(script).to_string();
        assert!(err.contains("only allowed while a script runs"), "{err}");
    }
    assert_eq!(store.get("k").expect("get").expect("k").value, json!(5));
}

#[tokio::test]
async fn the_documented_example_runs() {
    let c = circle();
    let script = r#"
        // a guest book: everyone may sign once, under a key reserved for them
        let key = "guestbook/@" + CALLER_PUBLIC_KEY;
        if store::get(key) == () {
            store::set(key, #{ message: "hello", stars: 5 });
        }
        let e = store::entry(key);   // #{key, value, author, written_at}
        print(`signed by ${e.author} at ${e.written_at}`);
        store::list("guestbook/@", 10).map(|e| e.value.message)
    "#;
    let out = c.run(script, ALICE).await.expect("alice");
    assert_eq!(out.value, json!(["hello"]));
    assert!(
        out.logs[0].starts_with(&format!("signed by {ALICE} at ")),
        "{:?}",
        out.logs
    );
    let out = c.run(script, BOB).await.expect("bob");
    assert_eq!(out.value, json!(["hello", "hello"]));
}

#[tokio::test]
async fn a_write_over_a_quota_ends_the_run_with_store_quota_even_inside_try() {
    let c = circle_with_store(
        Limits {
            workers: 1,
            ..Limits::default()
        },
        StoreLimits {
            max_bytes_per_author: 2_000,
            max_entries_per_author: 100,
            ..StoreLimits::default()
        },
    );
    let fill = r#"
        let n = 0;
        let value = "";
        value.pad(100, "x");
        try {
            for i in 0..1000 { store::set(`spam/${i}`, value); n += 1; }
        } catch (e) { print("caught: " + e); }
        n
    "#;
    match c.run(fill, ALICE).await {
        Err(ScriptError::LimitExceeded { limit, message, .. }) => {
            assert_eq!(limit, LimitKind::StoreQuota);
            assert!(
                message.contains("store::set: store quota exceeded")
                    && message.contains("max_bytes_per_author (2000)"),
                "{message}"
            );
        }
        other => panic!("expected store_quota, got {other:?}"),
    }
    // The run failed: none of its writes were made, not even those within the quota.
    let usage = c.ok("store::usage()", ALICE).await;
    assert_eq!(usage["author"]["bytes"], json!(0), "{usage}");
    assert_eq!(usage["author"]["max_bytes"], json!(2_000));
    assert_eq!(usage["author"]["max_entries"], json!(100));
    assert_eq!(usage["circle"]["entries"], json!(0));
    assert_eq!(usage["circle"]["max_bytes"], json!(1_073_741_824));
    // Up to the quota in one run, then over it in the next.
    let written = c
        .ok(
            r#"let value = ""; value.pad(100, "x");
               store::set("spam/10", value);
               let size = store::usage().author.bytes;
               let n = 11;
               while store::usage().author.bytes + size <= 2_000 { store::set(`spam/${n}`, value); n += 1; }
               n - 10"#,
            ALICE,
        )
        .await;
    // 186 bytes each (key, value, author, 11): ten fit in 2 000.
    assert_eq!(written, json!(10));
    let one_more = r#"let value = ""; value.pad(100, "x"); store::set("spam/99", value)"#;
    match c.run(one_more, ALICE).await {
        Err(ScriptError::LimitExceeded { limit, .. }) => assert_eq!(limit, LimitKind::StoreQuota),
        other => panic!("expected store_quota, got {other:?}"),
    }
    // Another caller still writes; a delete gives Alice room back (in the same run too).
    assert_eq!(
        c.ok(r#"store::set("bob", 1); store::get("bob")"#, BOB)
            .await,
        json!(1)
    );
    c.ok(
        r#"store::delete("spam/10"); store::set("spam/more", "again")"#,
        ALICE,
    )
    .await;
}

#[tokio::test]
async fn reserved_keys_refuse_other_callers() {
    let c = circle();
    let script = format!(r#"store::set("guestbook/@{ALICE}", "hi")"#);
    let message = match c.run(&script, BOB).await {
        Err(ScriptError::Runtime { message, .. }) => message,
        other => panic!("expected a runtime error, got {other:?}"),
    };
    assert!(
        message.contains(&format!("is reserved for the caller {ALICE}")),
        "{message}"
    );
    c.ok(&script, ALICE).await;
    let out = c
        .ok(
            r#"store::set("notes/@" + CALLER_PUBLIC_KEY + "/1", 1); store::list("notes/@").len()"#,
            BOB,
        )
        .await;
    assert_eq!(out, json!(1));
}

#[tokio::test]
async fn pages_continue_where_a_listing_stopped() {
    let c = circle_with_store(
        Limits {
            workers: 1,
            max_string_size: 2 * 1024 * 1024,
            ..Limits::default()
        },
        StoreLimits {
            max_list_bytes: circles_store::MAX_ENTRY_BYTES,
            ..StoreLimits::default()
        },
    );
    let big = serde_json::Value::String("b".repeat(400_000));
    for i in 0..5 {
        c.store.set(&format!("p/{i}"), &big, ALICE).expect("set");
    }
    let out = c
        .ok(
            r#"
            let first = store::list("p/").map(|e| e.key);
            let keys = [];
            let pages = 0;
            let after = "";
            loop {
                let page = store::page("p/", after);
                pages += 1;
                keys += page.entries.map(|e| e.key);
                if page.next == () { break; }
                after = page.next;
            }
            let one = store::page("p/", "p/3", 1);
            [first, keys, pages, one.entries.len(), one.next, one.skipped]
            "#,
            ALICE,
        )
        .await;
    assert_eq!(
        out,
        json!([
            ["p/0", "p/1"],
            ["p/0", "p/1", "p/2", "p/3", "p/4"],
            3,
            1,
            null,
            0
        ])
    );
    let message = c.runtime_error(r#"store::page("p/", "", -1)"#).await;
    assert!(message.contains("must not be negative"), "{message}");
}

#[tokio::test]
async fn a_listing_at_the_deadline_ends_the_run_with_the_time_limit() {
    let c = circle_with(Limits {
        workers: 1,
        max_time_ms: 100,
        ..Limits::default()
    });
    for i in 0..10 {
        c.store.set(&format!("t/{i}"), &json!(i), "").expect("set");
    }
    // The deadline passes inside a host call; the listing right after it notices before
    // the sandbox's next check (every 64 operations), even under try.
    let started = std::time::Instant::now();
    let result = c
        .run(
            r#"try { sleep_past_the_deadline(); store::list("t/").len() } catch { -1 }"#,
            ALICE,
        )
        .await;
    match result {
        Err(ScriptError::LimitExceeded { limit, message, .. }) => {
            assert_eq!(limit, LimitKind::Time);
            assert!(message.contains("store::list"), "{message}");
        }
        other => panic!("expected the time limit, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(c.ok(r#"store::list("t/").len()"#, ALICE).await, json!(10));
}

#[tokio::test]
async fn a_listing_stays_within_the_runs_size_limits() {
    let c = circle_with(Limits {
        workers: 1,
        max_string_size: 10_000,
        max_array_size: 1_000,
        ..Limits::default()
    });
    // Too large for this run on its own (a string over max_string_size; an array over
    // max_array_size): left out of listings, counted as skipped.
    c.store
        .set("s/0-huge", &json!("h".repeat(20_000)), ALICE)
        .expect("set");
    c.store
        .set("s/1-wide", &json!(vec![0; 1_200]), ALICE)
        .expect("set");
    // 4 KB each: two fit in 10 000 bytes of strings, a third does not. (The first page also
    // spends its byte budget on the wide entry, which only the run's array limit leaves out.)
    for i in 2..6 {
        c.store
            .set(&format!("s/{i}"), &json!("m".repeat(4_000)), ALICE)
            .expect("set");
    }
    let out = c
        .ok(
            r#"
            let listed = store::list("s/").map(|e| e.key);
            let first = store::page("s/", "");
            let second = store::page("s/", first.next);
            let third = store::page("s/", second.next);
            [listed, first.entries.map(|e| e.key), first.skipped, first.next,
             second.entries.map(|e| e.key), third.entries.map(|e| e.key), third.next]
            "#,
            ALICE,
        )
        .await;
    assert_eq!(
        out,
        json!([["s/2"], ["s/2"], 2, "s/2", ["s/3", "s/4"], ["s/5"], null])
    );
}

/// Registers `both_ready()`: the run leaves for a worker and waits there (2 s at most) until
/// two runs have called it, so that both have written (and been checked) before either
/// commits.
fn rendezvous(engine: &mut Engine) {
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    engine.register_fn("both_ready", move || {
        RunContext::needs_worker();
        arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let started = std::time::Instant::now();
        while arrived.load(std::sync::atomic::Ordering::SeqCst) < 2
            && started.elapsed() < std::time::Duration::from_secs(2)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}

#[tokio::test]
async fn a_run_that_fails_or_hits_a_limit_leaves_no_writes() {
    let c = circle_with(Limits {
        workers: 1,
        max_operations: 20_000,
        ..Limits::default()
    });
    c.store.set("keep", &json!("kept"), ALICE).expect("set");
    for (script, limit) in [
        (
            r#"store::set("f/1", 1); store::set("keep", 2); store::delete("keep"); throw "boom""#,
            None,
        ),
        (
            r#"store::set("f/2", 1); store::delete("keep"); loop { }"#,
            Some(LimitKind::Operations),
        ),
        (
            r#"store::set("f/3", 1); let s = "x"; loop { s += s; }"#,
            Some(LimitKind::StringSize),
        ),
    ] {
        let error = c.run(script, ALICE).await.expect_err(script);
        assert_eq!(error.limit(), limit, "{script}: {error:?}");
    }
    assert_eq!(c.store.list("f/", 10).expect("list"), []);
    assert_eq!(
        c.store.get("keep").expect("get").expect("kept").value,
        json!("kept")
    );
    assert_eq!(c.store.total_usage().expect("usage").entries, 1);
}

#[tokio::test]
async fn a_run_reads_its_own_writes() {
    let c = circle();
    for (key, value) in [("r/a", 1), ("r/b", 2), ("r/c", 3)] {
        c.store.set(key, &json!(value), ALICE).expect("set");
    }
    c.store.set("r/z", &json!(26), BOB).expect("set");
    let before = c.ok("store::usage()", ALICE).await;
    let out = c
        .ok(
            r#"
            store::set("r/b", 20);            // overwrites a committed entry
            store::delete("r/c");             // deletes one
            store::set("r/d", #{ n: 4 });     // a new one
            store::set("r/e", 5);             // a new one, deleted again
            let deleted_own = store::delete("r/e");
            let p1 = store::page("r/", "", 3);
            let p2 = store::page("r/", p1.next, 3);
            #{
                b: store::get("r/b"), c: store::get("r/c"), d: store::entry("r/d"),
                e: store::get("r/e"), deleted_own: deleted_own,
                deleted_again: store::delete("r/c"),
                list: store::list("r/").map(|e| e.key),
                two: store::list("r/", 2).map(|e| e.value),
                p1: p1.entries.map(|e| e.key), n1: p1.next,
                p2: p2.entries.map(|e| e.key), n2: p2.next,
                usage: store::usage(),
            }
            "#,
            ALICE,
        )
        .await;
    assert_eq!(out["b"], json!(20));
    assert_eq!(out["c"], json!(null));
    assert_eq!(out["d"]["value"], json!({"n": 4}));
    assert_eq!(out["d"]["author"], json!(ALICE));
    assert_eq!(out["e"], json!(null));
    assert_eq!(out["deleted_own"], json!(true));
    assert_eq!(out["deleted_again"], json!(false));
    assert_eq!(out["list"], json!(["r/a", "r/b", "r/d", "r/z"]));
    assert_eq!(out["two"], json!([1, 20]));
    assert_eq!(out["p1"], json!(["r/a", "r/b", "r/d"]));
    assert_eq!(out["n1"], json!("r/d"));
    assert_eq!(out["p2"], json!(["r/z"]));
    assert_eq!(out["n2"], json!(null));
    // Three entries still (c went, d came), of other sizes; the circle's counts Bob's too.
    let usage = &out["usage"];
    assert_eq!(usage["author"]["entries"], json!(3));
    assert_eq!(usage["circle"]["entries"], json!(4));
    assert_ne!(usage["author"]["bytes"], before["author"]["bytes"]);
    // Committed as the run saw it.
    assert_eq!(c.ok("store::usage()", ALICE).await, *usage);
    let keys: Vec<String> = c
        .store
        .list("r/", 10)
        .expect("list")
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["r/a", "r/b", "r/d", "r/z"]);
}

#[tokio::test]
async fn short_writing_runs_stay_inline_and_an_abandoned_attempt_leaves_no_writes() {
    let c = circle();
    c.ok(r#"store::set("short", 1)"#, ALICE).await;
    assert_eq!(c.sandbox.run_stats().inline, 1, "a write needs no worker");
    assert_eq!(c.sandbox.run_stats().abandoned, 0);
    // Writes, then outgrows the inline budget: the attempt is abandoned (with its write)
    // and the run starts again on a worker, where it writes once.
    let out = c
        .ok(
            r#"let n = store::get("count"); if n == () { n = 0; }
               store::set("count", n + 1);
               let x = 0; for i in 0..5000 { x += i; }
               n"#,
            ALICE,
        )
        .await;
    assert_eq!(out, json!(0));
    assert_eq!(c.sandbox.run_stats().abandoned, 1);
    assert_eq!(
        c.store.get("count").expect("get").expect("count").value,
        json!(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_writing_distinct_keys_all_land() {
    let c = circle();
    let sandbox = std::sync::Arc::new(c.sandbox);
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..300 {
        let run = sandbox.run(
            format!(r#"store::set("a/{n:03}", {n}); store::set("b/{n:03}", {n}); {n}"#),
            Caller::new(if n % 2 == 0 { ALICE } else { BOB }),
        );
        runs.spawn(run);
    }
    let mut answered = 0;
    while let Some(outcome) = runs.join_next().await {
        outcome.expect("task").expect("run");
        answered += 1;
    }
    assert_eq!(answered, 300);
    for prefix in ["a/", "b/"] {
        let listed = c.store.list(prefix, 1000).expect("list");
        assert_eq!(listed.len(), 300, "{prefix}");
    }
    assert_eq!(c.store.usage(ALICE).expect("usage").entries, 300);
    assert_eq!(c.store.usage(BOB).expect("usage").entries, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_raced_at_commit_fails_exactly_the_late_run() {
    let c = circle_with_hook(
        Limits {
            workers: 2,
            ..Limits::default()
        },
        StoreLimits {
            max_entries: 3,
            max_entries_per_author: 3,
            ..StoreLimits::default()
        },
        rendezvous,
    );
    c.store.set("first", &json!(0), ALICE).expect("set");
    // Each fits on its own (1 + 2 of 3 entries); together they would not.
    let script = r#"store::set(`${CALLER_PUBLIC_KEY}/1`, 1); store::set(`${CALLER_PUBLIC_KEY}/2`, 2);
                    both_ready(); "done""#;
    let (alice, bob) = tokio::join!(c.run(script, ALICE), c.run(script, BOB));
    let (winner, loser, error) = match (alice, bob) {
        (Ok(_), Err(error)) => (ALICE, BOB, error),
        (Err(error), Ok(_)) => (BOB, ALICE, error),
        other => panic!("expected exactly one to fail: {other:?}"),
    };
    match error {
        ScriptError::LimitExceeded { limit, message, .. } => {
            assert_eq!(limit, LimitKind::StoreQuota);
            assert!(
                message.contains("store::set: store quota exceeded")
                    && message.contains("max_entries (3)"),
                "{message}"
            );
        }
        other => panic!("expected store_quota, got {other:?}"),
    }
    assert_eq!(
        c.store.list(&format!("{winner}/"), 10).expect("list").len(),
        2
    );
    assert_eq!(c.store.list(&format!("{loser}/"), 10).expect("list"), []);
    assert_eq!(c.store.total_usage().expect("usage").entries, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_taken_meanwhile_fails_the_late_run_with_a_runtime_error() {
    let c = circle_with_hook(
        Limits {
            workers: 2,
            ..Limits::default()
        },
        StoreLimits::default(),
        rendezvous,
    );
    let script = r#"store::set("mine/" + CALLER_PUBLIC_KEY, 1); store::set("contested", CALLER_PUBLIC_KEY);
                    both_ready(); "done""#;
    let (alice, bob) = tokio::join!(c.run(script, ALICE), c.run(script, BOB));
    let (winner, loser, error) = match (alice, bob) {
        (Ok(_), Err(error)) => (ALICE, BOB, error),
        (Err(error), Ok(_)) => (BOB, ALICE, error),
        other => panic!("expected exactly one to fail: {other:?}"),
    };
    match error {
        ScriptError::Runtime {
            message,
            line,
            column,
            ..
        } => {
            assert!(
                message.starts_with("store::set: \"contested\" belongs to ")
                    && message.contains("only its author may change or delete it"),
                "{message}"
            );
            assert_eq!(
                (line, column),
                (0, 0),
                "the run's writes failed, not a line"
            );
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
    let contested = c.store.get("contested").expect("get").expect("contested");
    assert_eq!(
        (contested.author.as_str(), contested.value),
        (winner, json!(winner))
    );
    assert!(
        c.store
            .get(&format!("mine/{winner}"))
            .expect("get")
            .is_some()
    );
    assert_eq!(c.store.get(&format!("mine/{loser}")).expect("get"), None);
}
