//! Hostile scripts are refused with the right limit, quickly, and leave the sandbox usable.

mod common;

use std::time::Duration;

use circles_sandbox::{LimitKind, Limits, Sandbox, ScriptError};
use common::*;

/// Runs a hostile script: it must fail with `limit` within 2 × `max_time_ms`, and a normal
/// script must work right after.
async fn refused(sb: &Sandbox, script: &str, limit: LimitKind) -> ScriptError {
    let (err, took) = fails(sb, script).await;
    assert_eq!(err.limit(), Some(limit), "{script:?} → {err:?}");
    let budget = Duration::from_millis(2 * sb.limits().max_time_ms);
    assert!(took < budget, "{script:?} took {took:?}");
    still_works(sb).await;
    err
}

#[tokio::test]
async fn endless_loop_runs_out_of_operations() {
    let sb = sandbox();
    let err = refused(&sb, "loop {}", LimitKind::Operations).await;
    assert!(matches!(err, ScriptError::LimitExceeded { .. }), "{err:?}");
}

#[tokio::test]
async fn endless_loop_runs_out_of_time() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_operations: u64::MAX,
            max_time_ms: 500,
            ..limits()
        },
    )
    .expect("sandbox");
    let (err, took) = fails(&sb, "loop {}").await;
    assert_eq!(err.limit(), Some(LimitKind::Time), "{err:?}");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_millis(1_000), "{took:?}");
    still_works(&sb).await;
    // A loop calling functions is stopped too.
    refused(&sb, "fn f() { 1 } loop { f(); }", LimitKind::Time).await;
}

#[tokio::test]
async fn deep_recursion_hits_call_depth() {
    let sb = sandbox();
    refused(&sb, "fn f(x){f(x+1)} f(0)", LimitKind::CallDepth).await;
}

#[tokio::test]
async fn deep_recursion_at_the_maximum_limits_does_not_overflow_the_stack() {
    // The largest depths `Limits::validate` accepts, with deeply nested expressions inside
    // every call: the worker's stack must hold it (in debug builds, too).
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_call_depth: 256,
            max_expr_depth: 256,
            max_function_expr_depth: 256,
            ..limits()
        },
    )
    .expect("sandbox");
    let nested = format!("{}x{}", "(".repeat(100), ")".repeat(100));
    let script = format!("fn f(x) {{ f({nested} + 1) }} f(0)");
    refused(&sb, &script, LimitKind::CallDepth).await;
    let script = format!("fn f(x) {{ {nested} + f(x + 1) }} f(0)");
    refused(&sb, &script, LimitKind::CallDepth).await;
}

#[tokio::test]
async fn string_doubling_hits_string_size() {
    let sb = sandbox();
    refused(
        &sb,
        r#"let s = "a"; loop { s += s; }"#,
        LimitKind::StringSize,
    )
    .await;
}

#[tokio::test]
async fn growing_array_hits_array_size() {
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_array_size: 1_000,
            ..limits()
        },
    )
    .expect("sandbox");
    refused(&sb, "let a = []; loop { a.push(1); }", LimitKind::ArraySize).await;
    refused(
        &sb,
        "let a = []; loop { a += [1, 2, 3]; }",
        LimitKind::ArraySize,
    )
    .await;
    refused(&sb, "blob(5000)", LimitKind::ArraySize).await;
}

#[tokio::test]
async fn growing_map_hits_map_size() {
    // Time enough for the map limit to be reached first on a loaded machine (nesting copies
    // the map each round: quadratic work in a debug build).
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_map_size: 1_000,
            max_time_ms: 10_000,
            ..limits()
        },
    )
    .expect("sandbox");
    refused(
        &sb,
        "let m = #{}; let i = 0; loop { let x = #{}; x[`k${i}`] = i; m += x; i += 1; }",
        LimitKind::MapSize,
    )
    .await;
    refused(
        &sb,
        "let m = #{}; m.fill_with(#{a: 1}); loop { m = #{a: m}; }",
        LimitKind::MapSize,
    )
    .await;

    // Known rhai gap: `m[key] = value` checks the value, not the map's size, so this loop
    // only ends by the operations or time limit (still within the time budget).
    let (err, took) = fails(
        &sb,
        "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; }",
    )
    .await;
    assert!(
        matches!(err.limit(), Some(LimitKind::Time | LimitKind::Operations)),
        "{err:?}"
    );
    assert!(
        took < Duration::from_millis(2 * sb.limits().max_time_ms),
        "{took:?}"
    );
    still_works(&sb).await;
}

#[tokio::test]
async fn deeply_nested_expression_hits_expression_depth() {
    let sb = sandbox();
    let script = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    refused(&sb, &script, LimitKind::ExpressionDepth).await;
    let script = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
    refused(&sb, &script, LimitKind::ExpressionDepth).await;
    let script = format!("{}{}", "{".repeat(1000), "}".repeat(1000));
    refused(&sb, &script, LimitKind::ExpressionDepth).await;
}

#[tokio::test]
async fn oversized_script_is_refused_before_running() {
    let sb = sandbox();
    let script = format!("let x = 1;{}", " ".repeat(65_536));
    let (err, _) = fails(&sb, &script).await;
    assert_eq!(
        err,
        ScriptError::TooLarge {
            limit: 65_536,
            actual: 65_546
        }
    );
    assert_eq!(err.limit(), Some(LimitKind::ScriptSize));
    assert_eq!(sb.cache_stats().misses, 0, "never compiled");
    // Exactly at the limit is fine.
    ok(&sb, &format!("1{}", " ".repeat(65_535))).await;
}

#[tokio::test]
async fn eval_is_refused() {
    let sb = sandbox();
    for script in [
        r#"eval("1")"#,
        r#"Fn("eval").call("1")"#,
        r#"let f = Fn("ev" + "al"); f.call("1")"#,
        r#"call(Fn("eval"), "40 + 2")"#,
    ] {
        let (err, _) = fails(&sb, script).await;
        assert!(
            matches!(&err, ScriptError::Compile { message, .. } if message.contains("eval")),
            "{script}: {err:?}"
        );
        still_works(&sb).await;
    }
}

#[tokio::test]
async fn imports_are_refused_without_a_resolver() {
    let sb = sandbox();
    refused(&sb, r#"import "secrets" as s; 1"#, LimitKind::Modules).await;
    refused(&sb, r#"import "/etc/passwd" as p; 1"#, LimitKind::Modules).await;
}

#[tokio::test]
async fn result_expanding_through_closures_is_refused() {
    // Captured variables are not counted by rhai's size checks; the result conversion is.
    let sb = sandbox();
    let script = "let x = [1, 2, 3]; let f = || x; let a = []; \
        for i in 0..1000 { a.push(f) } let g = || a; let b = []; \
        for i in 0..1000 { b.push(g) } b";
    refused(&sb, script, LimitKind::ArraySize).await;
}

#[tokio::test]
async fn print_flood_is_bounded() {
    let sb = sandbox();
    let (err, _) = fails(&sb, r#"let s = "x"; loop { print(s); s += s; }"#).await;
    assert_eq!(err.limit(), Some(LimitKind::StringSize));
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_log_bytes: 10_000,
            ..limits()
        },
    )
    .expect("sandbox");
    let out = ok(
        &sb,
        r#"let s = "0123456789"; for i in 0..20000 { print(s) } 1"#,
    )
    .await;
    let bytes: usize = out.logs.iter().map(|l| l.len() + 1).sum();
    assert!(bytes <= 10_000 + 100, "{bytes}");
    assert_eq!(
        out.logs.last().map(String::as_str),
        Some("[logs truncated]")
    );
}

#[tokio::test]
async fn result_nesting_is_limited_to_128_levels() {
    // Every array, map or BLOB is a level of the JSON result, an empty one too: 128 levels
    // are returned, 129 are refused.
    let sb = sandbox();
    let nested = |inner: &str, levels: usize| {
        format!(
            "let v = {inner}; for i in 0..{} {{ v = [v]; }} v",
            levels - 1
        )
    };
    for inner in ["[]", "[1]", "#{}", "blob(2)"] {
        let out = ok(&sb, &nested(inner, 128)).await;
        let mut level = &out.value;
        for _ in 0..127 {
            level = &level[0];
        }
        assert!(level.is_array() || level.is_object(), "{inner}: {level}");
        let err = refused(&sb, &nested(inner, 129), LimitKind::ExpressionDepth).await;
        assert!(err.to_string().contains("more than 128 levels"), "{err}");
    }
}

fn timed_sandbox(max_time_ms: u64) -> Sandbox {
    Sandbox::new(
        circle(),
        Limits {
            max_operations: u64::MAX,
            max_time_ms,
            ..limits()
        },
    )
    .expect("sandbox")
}

#[tokio::test]
async fn a_limit_swallowed_by_a_native_function_still_ends_the_run() {
    // `sort` ignores its comparator's errors; the time limit hit inside the
    // comparator must still end the run instead of letting the script go on.
    let sb = timed_sandbox(300);
    let script = "let a = [3, 1, 2]; a.sort(|x, y| { loop {} }); print(\"carried on\"); 42";
    let (err, took) = fails(&sb, script).await;
    assert_eq!(err.limit(), Some(LimitKind::Time), "{err:?}");
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    still_works(&sb).await;
}

#[tokio::test]
async fn a_limit_cannot_be_caught() {
    let sb = timed_sandbox(300);
    for script in [
        "try { loop {} } catch { } 42",
        "let n = 0; loop { try { loop { n += 1; } } catch (e) { n = 0; } }",
    ] {
        let (err, _) = fails(&sb, script).await;
        assert_eq!(err.limit(), Some(LimitKind::Time), "{script}: {err:?}");
    }
}

#[tokio::test]
async fn sleep_is_refused_at_once() {
    let sb = timed_sandbox(1_000);
    for script in ["sleep(3)", "sleep(2.5)"] {
        let (err, took) = fails(&sb, script).await;
        assert!(
            matches!(&err, ScriptError::Runtime { message, .. } if message.contains("sleep is not available")),
            "{script}: {err:?}"
        );
        assert!(
            took < Duration::from_millis(500),
            "{script}: slept {took:?}"
        );
    }
}

#[tokio::test]
async fn a_host_function_can_end_the_run_with_a_limit_the_script_cannot_swallow() {
    let sb = Sandbox::builder(circle(), limits())
        .configure(|engine| {
            engine.register_fn(
                "over_quota",
                |ctx: rhai::NativeCallContext| -> Result<(), Box<rhai::EvalAltResult>> {
                    Err(circles_sandbox::RunContext::exceed(
                        LimitKind::StoreQuota,
                        "quota of 1 byte",
                        ctx.call_position(),
                    ))
                },
            );
        })
        .build()
        .expect("sandbox");
    let (err, _) = fails(&sb, "try { over_quota() } catch { } 42").await;
    assert_eq!(
        err,
        ScriptError::limit_exceeded(LimitKind::StoreQuota, "quota of 1 byte")
    );
    still_works(&sb).await;
}
