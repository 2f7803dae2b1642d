//! Normal runs: constants, identity, logs, values, errors, cache.

mod common;

use circles_sandbox::{Caller, Limits, RunContext, Sandbox, ScriptError};
use common::*;
use serde_json::json;

#[tokio::test]
async fn constants_are_visible() {
    let sb = sandbox();
    let out = ok(&sb, "[CIRCLE_ID, CIRCLE_PUBLIC_KEY, CALLER_PUBLIC_KEY]").await;
    assert_eq!(out.value, json!([CIRCLE_ID, CIRCLE_KEY, ALICE]));

    let anon = sb
        .run("CALLER_PUBLIC_KEY".into(), Caller::anonymous())
        .await
        .expect("anonymous run");
    assert_eq!(anon.value, json!(""));
    assert_eq!(anon.output, "");
}

#[tokio::test]
async fn identity_functions_read_the_run_context() {
    let sb = sandbox();
    let out = ok(
        &sb,
        "[circle_id(), circle_public_key(), caller_public_key()]",
    )
    .await;
    assert_eq!(out.value, json!([CIRCLE_ID, CIRCLE_KEY, ALICE]));
    // Each run has its own caller.
    let bob = "02cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    let out = sb
        .run("caller_public_key()".into(), Caller::new(bob))
        .await
        .expect("bob");
    assert_eq!(out.value, json!(bob));
}

#[tokio::test]
async fn shadowing_caller_public_key_does_not_fake_provenance() {
    // Host function standing in for a later one (e.g. a store recording the author).
    let sb = Sandbox::builder(circle(), limits())
        .configure(|engine| {
            engine.register_fn("whoami", || {
                RunContext::with_current(|c| c.caller_public_key().to_owned()).unwrap_or_default()
            });
        })
        .build()
        .expect("sandbox");

    // rhai allows shadowing a constant with `let`: the script sees its own variable...
    let out = ok(
        &sb,
        r#"let CALLER_PUBLIC_KEY = "x"; [CALLER_PUBLIC_KEY, caller_public_key(), whoami()]"#,
    )
    .await;
    assert_eq!(out.value, json!(["x", ALICE, ALICE]));

    // ...but cannot assign to the constant.
    let (err, _) = fails(&sb, r#"CALLER_PUBLIC_KEY = "x";"#).await;
    assert!(
        matches!(&err, ScriptError::Runtime { message, line: 1, column: 1, .. } if message.contains("constant")),
        "{err:?}"
    );

    // A script-defined `caller_public_key` only fools the script itself; host functions
    // read the run context.
    let out = ok(
        &sb,
        r#"fn caller_public_key() { "fake" } [caller_public_key(), whoami()]"#,
    )
    .await;
    assert_eq!(out.value, json!(["fake", ALICE]));

    // Outside a run there is no context.
    assert!(RunContext::current().is_none());
}

#[tokio::test]
async fn print_and_debug_go_to_logs_in_order() {
    let sb = sandbox();
    let out = ok(
        &sb,
        r#"print("first"); print(2); debug("third"); for i in 0..3 { print(`loop ${i}`) } "done""#,
    )
    .await;
    assert_eq!(
        out.logs,
        ["first", "2", "\"third\"", "loop 0", "loop 1", "loop 2"]
    );
    assert_eq!(out.output, "done");
    // Logs belong to one run only.
    let out = ok(&sb, "1").await;
    assert!(out.logs.is_empty(), "{:?}", out.logs);
}

#[tokio::test]
async fn logs_are_capped() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_log_bytes: 100,
            ..limits()
        },
    )
    .expect("sandbox");
    let out = ok(&sb, r#"for i in 0..1000 { print("0123456789") } 7"#).await;
    assert_eq!(out.output, "7");
    assert_eq!(out.logs.len(), 10); // 9 lines of 11 bytes, then the marker
    assert_eq!(
        out.logs.last().map(String::as_str),
        Some("[logs truncated]")
    );
}

#[tokio::test]
async fn output_and_value_for_each_type() {
    let sb = sandbox();
    let cases = [
        ("40 + 2", "42", json!(42)),
        ("-7", "-7", json!(-7)),
        ("1.5 * 2.0", "3.0", json!(3.0)),
        ("0.25", "0.25", json!(0.25)),
        (r#""hello" + " world""#, "hello world", json!("hello world")),
        ("true", "true", json!(true)),
        ("1 > 2", "false", json!(false)),
        ("'c'", "c", json!("c")),
        (
            r#"[1, "a", 2.5, [true]]"#,
            r#"[1, "a", 2.5, [true]]"#,
            json!([1, "a", 2.5, [true]]),
        ),
        (
            "#{a: 1, b: [2], c: ()}",
            r#"#{"a": 1, "b": [2], "c": ()}"#,
            json!({"a": 1, "b": [2], "c": null}),
        ),
        ("()", "", json!(null)),
        ("let x = 1;", "", json!(null)),
        ("return 5;", "5", json!(5)),
    ];
    for (script, output, value) in cases {
        let out = ok(&sb, script).await;
        assert_eq!(out.output, output, "output of {script}");
        assert_eq!(out.value, value, "value of {script}");
        assert!(out.logs.is_empty());
    }
}

#[tokio::test]
async fn compile_error_has_line_and_column() {
    let sb = sandbox();
    let (err, _) = fails(&sb, "let x = 1;\nlet y = ;").await;
    match err {
        ScriptError::Compile {
            message,
            line,
            column,
        } => {
            assert_eq!((line, column), (2, 9));
            assert!(message.contains(';'), "{message}");
            assert!(
                !message.contains("line"),
                "position is not repeated: {message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn runtime_errors_have_line_and_column() {
    let sb = sandbox();

    let (err, _) = fails(&sb, "let x = 1;\n  throw \"boom\";").await;
    assert!(
        matches!(&err, ScriptError::Runtime { message, line: 2, column: 3, .. } if message.contains("boom")),
        "{err:?}"
    );

    let (err, _) = fails(&sb, "let x = 1;\nx + nope").await;
    assert!(
        matches!(&err, ScriptError::Runtime { message, line: 2, column: 5, .. } if message.contains("nope")),
        "{err:?}"
    );

    // Inside a function: the position inside the function is reported.
    let (err, _) = fails(&sb, "fn f(x) {\n  x / 0\n}\nf(1)").await;
    assert!(
        matches!(&err, ScriptError::Runtime { message, line: 2, .. } if message.contains("zero")),
        "{err:?}"
    );
    assert_eq!(
        err,
        ScriptError::Runtime {
            message: "Division by zero: 1 / 0".into(),
            line: 2,
            column: 5,
            logs: Vec::new(),
        }
    );
}

#[tokio::test]
async fn repeated_script_hits_the_cache() {
    let sb = sandbox();
    let before = sb.cache_stats();
    ok(&sb, "let a = 20; a * 2 + 2").await;
    let first = sb.cache_stats();
    assert_eq!(first.misses, before.misses + 1);
    assert_eq!(first.hits, before.hits);

    let out = ok(&sb, "let a = 20; a * 2 + 2").await;
    assert_eq!(out.output, "42");
    let second = sb.cache_stats();
    assert_eq!(second.hits, first.hits + 1);
    assert_eq!(second.misses, first.misses);
    assert_eq!(second.entries, 1);

    // A different text is compiled.
    ok(&sb, "let a = 20; a * 2 + 3").await;
    assert_eq!(sb.cache_stats().misses, first.misses + 1);

    // Cached scripts still see each run's own caller.
    let anon = sb
        .run("caller_public_key()".into(), Caller::anonymous())
        .await
        .expect("anon");
    let named = sb
        .run("caller_public_key()".into(), alice())
        .await
        .expect("alice");
    assert_eq!((anon.output.as_str(), named.output.as_str()), ("", ALICE));
}

#[tokio::test]
async fn cache_is_bounded() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            cache_entries: 8,
            ..limits()
        },
    )
    .expect("sandbox");
    for i in 0..100 {
        ok(&sb, &format!("{i} + 1")).await;
    }
    let stats = sb.cache_stats();
    assert!(stats.entries <= 8, "{stats:?}");
    assert!(stats.bytes <= sb.limits().cache_bytes, "{stats:?}");
}

#[tokio::test]
async fn without_the_counting_allocator_the_memory_budget_is_not_enforced() {
    // This test binary keeps the system allocator (the launcher installs the counting one;
    // `tests/memory.rs` does too): nothing is counted, so a run may pass its budget.
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_memory_bytes: 1 << 20,
            ..limits()
        },
    )
    .expect("sandbox");
    let stats = sb.memory_stats();
    assert!(!stats.enforced, "{stats:?}");
    let out = ok(&sb, r#"let a = []; a.pad(100000, "x"); a.len()"#).await;
    assert_eq!(out.output, "100000");
    assert_eq!(sb.memory_stats().largest_run_bytes, 0);
}

#[tokio::test]
async fn run_future_is_static_and_spawnable() {
    let sb = sandbox();
    let futures: Vec<_> = (0..20)
        .map(|i| tokio::spawn(sb.run(format!("{i} * 2"), alice())))
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        let out = f.await.expect("join").expect("run");
        assert_eq!(out.value, json!(i * 2));
    }
}

#[tokio::test]
async fn a_failed_run_keeps_what_it_printed() {
    let sb = sandbox();
    let (err, _) = fails(&sb, "print(\"one\"); debug(\"two\"); throw \"boom\"").await;
    assert_eq!(err.logs(), ["one", "\"two\""]);
    assert!(matches!(err, ScriptError::Runtime { .. }), "{err:?}");
    let (err, _) = fails(&sb, "print(\"started\"); loop {}").await;
    assert_eq!(err.logs(), ["started"]);
    assert!(matches!(err, ScriptError::LimitExceeded { .. }), "{err:?}");
    let (err, _) = fails(&sb, "print(\"never\"); let").await;
    assert!(
        err.logs().is_empty(),
        "a script that does not compile printed nothing"
    );
}
