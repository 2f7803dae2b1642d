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
    let usage = c.ok("store::usage()", ALICE).await;
    assert!(
        usage["author"]["bytes"].as_i64().expect("bytes") <= 2_000,
        "{usage}"
    );
    assert_eq!(usage["author"]["max_bytes"], json!(2_000));
    assert_eq!(usage["author"]["max_entries"], json!(100));
    assert_eq!(usage["circle"]["entries"], usage["author"]["entries"]);
    assert_eq!(usage["circle"]["max_bytes"], json!(1_073_741_824));
    // Another caller still writes; a delete gives Alice room back.
    assert_eq!(
        c.ok(r#"store::set("bob", 1); store::get("bob")"#, BOB)
            .await,
        json!(1)
    );
    c.ok(
        r#"store::delete("spam/0"); store::set("spam/0", "again")"#,
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
