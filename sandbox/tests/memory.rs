//! The memory budget of a run (`max_memory_bytes`), enforced under the counting allocator
//! (installed in this test binary as the launcher installs it), and the bounded built-ins:
//! each attack that grew the launcher to gigabytes ends with a limit, quickly, having held
//! little more than the budget, and the sandbox carries on.

#[global_allocator]
static ALLOCATOR: circles_sandbox::alloc::CountingAllocator =
    circles_sandbox::alloc::CountingAllocator;

mod common;

use std::time::Duration;

use circles_sandbox::{LimitKind, Limits, Sandbox, ScriptError};
use common::*;

const BUDGET: u64 = 16 * 1024 * 1024;

/// A 512 KiB string, as the reproduced attacks used.
const BIG: &str = r#"let big = "x"; for i in 0..19 { big += big; }"#;

/// The test limits with a memory budget of `bytes`.
fn budget(bytes: u64) -> Limits {
    Limits {
        max_memory_bytes: bytes,
        ..limits()
    }
}

fn budgeted(limits: Limits) -> Sandbox {
    Sandbox::new(circle(), limits).expect("sandbox")
}

/// Runs `script` in a fresh sandbox: it must fail with one of `expected` within 2 ×
/// `max_time_ms`, having held at most `max_held` bytes at once; a normal script must work
/// right after. Returns the error.
async fn stopped(
    limits: Limits,
    script: &str,
    expected: &[LimitKind],
    max_held: u64,
) -> ScriptError {
    let sb = budgeted(limits);
    let (err, took) = fails(&sb, script).await;
    let held = sb.memory_stats().largest_run_bytes;
    assert!(
        err.limit().is_some_and(|l| expected.contains(&l)),
        "{script}: expected {expected:?}, got {err:?}"
    );
    assert!(
        took < Duration::from_millis(2 * sb.limits().max_time_ms),
        "{script}: took {took:?}"
    );
    assert!(
        held <= max_held,
        "{script}: held {held} bytes at once, over {max_held}"
    );
    still_works(&sb).await;
    err
}

#[tokio::test]
async fn the_budget_is_enforced_under_the_counting_allocator() {
    let sb = budgeted(budget(BUDGET));
    assert!(sb.memory_stats().enforced);
    still_works(&sb).await;
    // A run well within the budget is not disturbed, and what it held is measured.
    let out = ok(
        &sb,
        r#"let a = []; for i in 0..1000 { a.push(`item ${i}`) } a.len()"#,
    )
    .await;
    assert_eq!(out.output, "1000");
    let held = sb.memory_stats().largest_run_bytes;
    assert!(held > 10_000 && held < BUDGET, "{held}");
    assert_eq!(sb.memory_stats().runs_stopped, 0);
}

#[tokio::test]
async fn the_reproduced_attacks_end_with_the_memory_limit() {
    // Each grew the launcher to several GiB in one run.
    let attacks = [
        // A function pointer curried with itself doubles at every step.
        "let f = |x| x; loop { f = f.curry(f); }".to_owned(),
        r#"let f = Fn("x"); loop { f = f.curry(f); }"#.to_owned(),
        // 512 KiB strings kept in curried pointers, closures, maps and arrays, where rhai's
        // size limits do not look.
        format!(
            r#"{BIG} let fs = []; let i = 0; loop {{ fs.push(Fn("f").curry(big + i)); i += 1; }}"#
        ),
        format!("{BIG} let fs = []; let i = 0; loop {{ let s = big + i; fs.push(|| s); i += 1; }}"),
        format!("{BIG} let m = #{{}}; let i = 0; loop {{ m[`k${{i}}`] = big + i; i += 1; }}"),
        format!("{BIG} let a = []; a.pad(1000, 0); for i in 0..1000 {{ a[i] = big + i; }}"),
    ];
    for script in &attacks {
        let err = stopped(
            budget(BUDGET),
            script,
            &[LimitKind::Memory],
            // One operation past the budget: a doubling copies what is held.
            2 * BUDGET + 2 * 1024 * 1024,
        )
        .await;
        assert!(
            err.to_string().contains("memory limit exceeded"),
            "{script}: {err}"
        );
    }
}

#[tokio::test]
async fn a_limit_is_counted_and_the_worker_stays_usable_after_many_stops() {
    let sb = budgeted(budget(BUDGET));
    for _ in 0..3 {
        let (err, _) = fails(&sb, "let f = |x| x; loop { f = f.curry(f); }").await;
        assert_eq!(err.limit(), Some(LimitKind::Memory), "{err:?}");
    }
    assert_eq!(sb.memory_stats().runs_stopped, 3);
    still_works(&sb).await;
}

#[tokio::test]
async fn what_the_result_holds_counts() {
    // Within the budget while the script runs, over it once its result is converted to be
    // sent: the run is refused, not answered.
    let limits = Limits {
        max_array_size: 1_000_000,
        ..limits()
    };
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_memory_bytes: 4 * 1024 * 1024,
            ..limits.clone()
        },
    )
    .expect("sandbox");
    let (err, _) = fails(&sb, "let a = []; a.pad(150000, 0); a").await;
    assert_eq!(err.limit(), Some(LimitKind::Memory), "{err:?}");
    // The same result fits a larger budget.
    let sb = Sandbox::new(
        circle(),
        Limits {
            max_memory_bytes: 64 * 1024 * 1024,
            ..limits
        },
    )
    .expect("sandbox");
    let out = ok(&sb, "let a = []; a.pad(150000, 0); a").await;
    assert_eq!(out.value.as_array().map(Vec::len), Some(150_000));
}

#[tokio::test]
async fn padding_with_a_function_pointer_that_carries_an_array_is_refused_before_copying() {
    // rhai counts a function pointer as nothing: 100 000 copies of one that carries a
    // 100 000-element array passed its check and deep-copied 160 GB in one call.
    let script = r#"let a = []; a.pad(100000, 1); let f = Fn("x").curry(a);
        let b = []; b.pad(100000, f); b.len()"#;
    stopped(
        budget(BUDGET),
        script,
        &[LimitKind::Memory],
        8 * 1024 * 1024,
    )
    .await;
    // Padding that fits is done as before.
    let sb = budgeted(budget(BUDGET));
    let out = ok(
        &sb,
        r#"let a = [1, 2]; let f = Fn("x").curry([1, 2, 3]); a.pad(1000, f); a.len()"#,
    )
    .await;
    assert_eq!(out.output, "1000");
    // And rhai's own size check still applies.
    let (err, _) = fails(&sb, "let a = []; a.pad(1000000, 0)").await;
    assert_eq!(err.limit(), Some(LimitKind::ArraySize), "{err:?}");
}

/// 100 000 closures that all capture the same 512 KiB string: about 10 MB to hold, 50 GB to
/// print with rhai's fallback formatting (which shows captured values).
const SHARED_BIG: &str = r#"let big = "x"; for i in 0..19 { big += big; } let f = || big;
    let a = []; a.pad(100000, f);"#;

/// A budget that the tests of single operations do not reach, so that what they hold is
/// measured rather than cut short.
const LARGE_BUDGET: u64 = 64 * 1024 * 1024;

/// What [`SHARED_BIG`] holds, plus a few MB: nothing like the gigabytes it would print.
const HELD_WITH_SHARED_BIG: u64 = 24 * 1024 * 1024;

#[tokio::test]
async fn printing_values_that_share_big_strings_is_bounded() {
    for print in [
        "a.to_string()",
        "a.to_debug()",
        "print(a)",
        "debug(a)",
        "`${a}`",
        r#""" + a"#,
        r#"a + """#,
        r#"let s = ""; s += a; s"#,
        "`${#{a: a}}`",
        "#{a: a}.to_string()",
    ] {
        let script = format!("{SHARED_BIG} {print}");
        stopped(
            budget(LARGE_BUDGET),
            &script,
            &[LimitKind::StringSize],
            HELD_WITH_SHARED_BIG,
        )
        .await;
    }
    // Printing that fits reads as rhai prints it.
    let sb = budgeted(budget(BUDGET));
    let out = ok(
        &sb,
        r#"let f = Fn("g").curry("captured"); let m = #{b: [1, 2.5, "s", 'c', (), true, f]}; `${m}`"#,
    )
    .await;
    assert_eq!(out.output, r#"#{"b": [1, 2.5, "s", 'c', (), true, Fn(g)]}"#);
}

#[tokio::test]
async fn printing_at_the_moment_a_limit_is_hit_stays_bounded() {
    // When a limit ended a run with an error, rhai answered the failed call to `to_string`
    // in an interpolation by formatting the value itself: every captured string in full.
    // Ending the run at every possible operation of the loop must never do that.
    // (Rhai's formatting would have made 128 MB of this.)
    let setup = r#"let big = "x"; for i in 0..16 { big += big; } let f = || big;
        let a = []; a.pad(2000, f); "#;
    let body = "loop { let s = `${a}`; }";
    let sb = budgeted(budget(BUDGET));
    let ops_for_setup = {
        // Operations the setup takes (the loop's first operation is the next one).
        let mut n = 1;
        while run(
            &Sandbox::new(
                circle(),
                Limits {
                    max_operations: n,
                    ..limits()
                },
            )
            .expect("sandbox"),
            &format!("{setup} 1"),
        )
        .await
        .is_err()
        {
            n += 1;
        }
        n
    };
    for extra in 0..24 {
        let limits = Limits {
            max_operations: ops_for_setup + extra,
            max_memory_bytes: BUDGET,
            ..limits()
        };
        stopped(
            limits,
            &format!("{setup}{body}"),
            &[LimitKind::Operations],
            4 * 1024 * 1024,
        )
        .await;
    }
    still_works(&sb).await;
}

#[tokio::test]
async fn to_json_is_bounded_and_survives_cycles() {
    // Captured values expanded: 100 000 × 512 KiB.
    stopped(
        budget(LARGE_BUDGET),
        &format!("{SHARED_BIG} #{{a: a}}.to_json()"),
        &[LimitKind::StringSize, LimitKind::ArraySize],
        HELD_WITH_SHARED_BIG,
    )
    .await;
    // A closure that captures its own array: rhai's recursed until the stack overflowed and
    // the process aborted.
    stopped(
        budget(BUDGET),
        "let a = [0]; let f = || a; a[0] = f; #{a: a}.to_json()",
        &[LimitKind::ExpressionDepth],
        BUDGET,
    )
    .await;
    // What fits converts as JSON.
    let sb = budgeted(budget(BUDGET));
    let out = ok(&sb, r#"#{b: [1, 2.5, "s", ()], a: #{}}.to_json()"#).await;
    assert_eq!(out.output, r#"{"a":{},"b":[1,2.5,"s",null]}"#);
}

#[tokio::test]
async fn splitting_into_too_many_pieces_is_refused_before_building_them() {
    for split in [
        r#"s.split("")"#,
        "s.split('x')",
        r#"s.split("x", 1000000)"#,
        r#"s.split_rev("")"#,
        "s.split_rev('x')",
        "s.to_chars()",
        "s.split()",
    ] {
        // (1 MB of "x x x …")
        let script = format!(r#"let s = "x "; for i in 0..19 {{ s += s; }} {split}"#);
        stopped(
            budget(BUDGET),
            &script,
            &[LimitKind::ArraySize],
            // The 1 MB string and little else (rhai's built-ins held 70 MB here).
            4 * 1024 * 1024,
        )
        .await;
    }
    // Splitting that fits works as before.
    let sb = budgeted(budget(BUDGET));
    for (script, expected) in [
        (r#""a,b,,c".split(",")"#, r#"["a","b","","c"]"#),
        (r#""a,b,c".split(",", 2)"#, r#"["a","b,c"]"#),
        (r#""a,b,c".split(',')"#, r#"["a","b","c"]"#),
        (r#""a,b,c".split(',', 2)"#, r#"["a","b,c"]"#),
        (r#""a,b,c".split_rev(",")"#, r#"["c","b","a"]"#),
        (r#""a,b,c".split_rev(",", 2)"#, r#"["c","a,b"]"#),
        (r#""a,b,c".split_rev(',')"#, r#"["c","b","a"]"#),
        (r#""a,b,c".split_rev(',', 2)"#, r#"["c","a,b"]"#),
        (r#"" a  b ".split()"#, r#"["a","b"]"#),
        (r#""".split()"#, r#"[""]"#),
        (r#""abc".split("x")"#, r#"["abc"]"#),
        (r#""héllo".to_chars()"#, r#"["h","é","l","l","o"]"#),
        (r#""abc".split(1)"#, r#"["a","bc"]"#),
    ] {
        let out = ok(&sb, script).await;
        assert_eq!(out.value.to_string(), expected, "{script}");
    }
}

#[tokio::test]
async fn a_thrown_value_is_reported_in_bounded_space() {
    let sb = budgeted(budget(LARGE_BUDGET));
    let (err, _) = fails(&sb, &format!("{SHARED_BIG} throw a;")).await;
    let ScriptError::Runtime { message, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(message.len() <= 4096 + 3, "{}", message.len());
    assert!(message.ends_with('…'), "{message:.100}");
    assert!(sb.memory_stats().largest_run_bytes < HELD_WITH_SHARED_BIG);
    still_works(&sb).await;
}

#[tokio::test]
async fn the_cache_is_bounded_by_bytes() {
    // 24 distinct scripts of 22 KiB of calls, each compiling to about 550 KB: by entries
    // alone (1 024) they would all be kept, about 13 MB.
    let cache_bytes = 4 * 1024 * 1024;
    let sb = Sandbox::new(
        circle(),
        Limits {
            cache_bytes,
            max_operations: 10,
            ..limits()
        },
    )
    .expect("sandbox");
    let body = "f(1, 2, 3);".repeat(2_000);
    for i in 0..24 {
        // (Each fails at once: `f` does not exist; compiled and cached all the same.)
        let _ = run(&sb, &format!("let v = {i}; {body}")).await;
        let stats = sb.cache_stats();
        assert!(stats.bytes <= cache_bytes, "{stats:?}");
    }
    let stats = sb.cache_stats();
    assert_eq!(stats.misses, 24);
    assert!(
        stats.entries >= 1,
        "large scripts are still kept: {stats:?}"
    );
    assert!(stats.entries < 10, "{stats:?}");
    // What a large script weighs is what compiling it allocated: far more than its text.
    assert!(
        stats.bytes > stats.entries as u64 * 10 * body.len() as u64,
        "{stats:?}"
    );
    // Small scripts still fill the cache by entries.
    let sb = Sandbox::new(
        circle(),
        Limits {
            cache_entries: 16,
            ..limits()
        },
    )
    .expect("sandbox");
    for i in 0..40 {
        ok(&sb, &format!("{i} + 1")).await;
    }
    let stats = sb.cache_stats();
    assert!(stats.entries <= 16 && stats.entries >= 8, "{stats:?}");
    ok(&sb, "39 + 1").await;
    assert_eq!(sb.cache_stats().hits, stats.hits + 1);
}
