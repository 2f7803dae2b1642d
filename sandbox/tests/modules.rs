//! The script library: imports confined to the circle's folder, under the run's limits and
//! context.

mod common;

use std::fs;
use std::path::Path;

use circles_sandbox::{
    Caller, LimitKind, Limits, NotCallable, PublishedFunction, RunContext, Sandbox, ScriptError,
    ScriptLibrary,
};
use common::*;
use serde_json::json;
use tempfile::TempDir;

const BOB: &str = "02cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

/// `<tmp>/outside.rhai` and `<tmp>/lib/` (the library root) with a few modules.
struct Library {
    tmp: TempDir,
}

impl Library {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join("outside.rhai"), "fn secret() { 42 }").expect("write");
        let lib = Self { tmp };
        lib.write(
            "util.rhai",
            "export const NAME = \"util\"; fn double(x) { x * 2 } private fn hidden() { 1 }",
        );
        lib.write("sub/greet.rhai", "fn hello(n) { \"hello \" + n }");
        lib
    }

    fn root(&self) -> std::path::PathBuf {
        self.tmp.path().join("lib")
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.root().join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    fn sandbox(&self, limits: Limits) -> Sandbox {
        self.sandbox_with(ScriptLibrary::new(self.root()).expect("library"), limits)
    }

    fn sandbox_with(&self, library: ScriptLibrary, limits: Limits) -> Sandbox {
        Sandbox::builder(circle(), limits)
            .configure(|engine| {
                engine.register_fn("whoami", || {
                    RunContext::with_current(|c| c.caller_public_key().to_owned())
                        .unwrap_or_default()
                });
            })
            .script_library(library)
            .build()
            .expect("sandbox")
    }
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// A runtime error whose message contains every one of `needles`.
async fn runtime_error(sb: &Sandbox, script: &str, needles: &[&str]) {
    let (err, _) = fails(sb, script).await;
    let ScriptError::Runtime { message, .. } = &err else {
        panic!("{script:?}: expected a runtime error, got {err:?}");
    };
    for needle in needles {
        assert!(
            message.contains(needle),
            "{script:?}: {message:?} lacks {needle:?}"
        );
    }
}

#[tokio::test]
async fn modules_in_the_root_and_in_subfolders_import() {
    let lib = Library::new();
    let sb = lib.sandbox(limits());
    let out = ok(
        &sb,
        r#"import "util" as u; import "sub/greet" as g; import "util.rhai" as u2;
           [u::double(21), u::NAME, g::hello("bob"), u2::double(1)]"#,
    )
    .await;
    assert_eq!(out.value, json!([42, "util", "hello bob", 2]));

    // Private functions stay private.
    runtime_error(&sb, r#"import "util" as u; u::hidden()"#, &["hidden"]).await;
}

#[tokio::test]
async fn escaping_the_root_is_refused() {
    let lib = Library::new();
    let outside = lib.tmp.path().join("outside.rhai");
    // A symlink to a file outside, and one to a folder outside.
    symlink(&outside, &lib.root().join("evil.rhai"));
    symlink(lib.tmp.path(), &lib.root().join("up"));
    let sb = lib.sandbox(limits());

    // The file exists: without the checks each of these would load it.
    assert!(outside.is_file());
    let absolute = outside.with_extension("");
    let absolute = absolute.to_str().expect("utf-8 path");
    let cases: &[(&str, &[&str])] = &[
        ("../outside", &["\"../outside\" refused", "'..'"]),
        (
            "sub/../../outside",
            &["\"sub/../../outside\" refused", "'..'"],
        ),
        ("/etc/passwd", &["\"/etc/passwd\" refused", "absolute"]),
        (absolute, &["refused", "absolute"]),
        (
            "evil",
            &["\"evil\" refused", "outside the circle's script library"],
        ),
        ("up/outside", &["\"up/outside\" refused", "outside"]),
        ("", &["refused", "empty"]),
        ("sub\\greet", &["refused", "backslash"]),
        ("./util", &["refused", "'.'"]),
    ];
    for (name, needles) in cases {
        let script = format!("import {name:?} as m; m::secret()");
        runtime_error(&sb, &script, needles).await;
    }
    runtime_error(&sb, r#"import "util\x00" as m; 1"#, &["refused", "NUL"]).await;
    // Error messages do not disclose where the library lives.
    let (err, _) = fails(&sb, r#"import "evil" as m; 1"#).await;
    let root = lib.tmp.path().to_str().expect("utf-8");
    assert!(!err.to_string().contains(root), "{err}");
}

#[tokio::test]
async fn symlinks_that_stay_inside_the_root_are_fine() {
    let lib = Library::new();
    symlink(
        &lib.root().join("util.rhai"),
        &lib.root().join("alias.rhai"),
    );
    symlink(&lib.root().join("sub"), &lib.root().join("linked"));
    // A relative link that goes up and comes back inside.
    symlink(
        Path::new("../lib/sub/greet.rhai"),
        &lib.root().join("rel.rhai"),
    );
    let sb = lib.sandbox(limits());
    let out = ok(
        &sb,
        r#"import "alias" as a; import "linked/greet" as g; import "rel" as r;
           [a::double(2), g::hello("x"), r::hello("y")]"#,
    )
    .await;
    assert_eq!(out.value, json!([4, "hello x", "hello y"]));
}

#[tokio::test]
async fn missing_modules_are_reported() {
    let lib = Library::new();
    let sb = lib.sandbox(limits());
    for name in ["nope", "sub/nope", "sub", "nodir/x", "util.rhai/x"] {
        let script = format!("import {name:?} as m; 1");
        runtime_error(&sb, &script, &["Module not found", name]).await;
    }
}

#[tokio::test]
async fn max_modules_applies_to_direct_and_nested_imports() {
    let lib = Library::new();
    lib.write("a.rhai", "import \"b\" as b; fn f() { b::f() + 1 }");
    lib.write("b.rhai", "import \"c\" as c; fn f() { c::f() + 1 }");
    lib.write("c.rhai", "fn f() { 1 }");
    let two = Limits {
        max_modules: 2,
        ..limits()
    };
    let sb = lib.sandbox(two.clone());
    // Two imports are fine, the third is refused.
    let out = ok(&sb, r#"import "c" as c; import "util" as u; c::f()"#).await;
    assert_eq!(out.value, json!(1));
    let (err, _) = fails(
        &sb,
        r#"import "c" as c; import "util" as u; import "sub/greet" as g; 1"#,
    )
    .await;
    assert_eq!(err.limit(), Some(LimitKind::Modules), "{err:?}");
    // A module importing a module counts twice; a chain of three is refused.
    let out = ok(&sb, r#"import "b" as b; b::f()"#).await;
    assert_eq!(out.value, json!(2));
    let (err, _) = fails(&sb, r#"import "a" as a; a::f()"#).await;
    assert_eq!(err.limit(), Some(LimitKind::Modules), "{err:?}");
    // ...and counts against the run's total.
    let (err, _) = fails(&sb, r#"import "util" as u; import "b" as b; 1"#).await;
    assert_eq!(err.limit(), Some(LimitKind::Modules), "{err:?}");
    // With enough room the chain works.
    let out = ok(&lib.sandbox(limits()), r#"import "a" as a; a::f()"#).await;
    assert_eq!(out.value, json!(3));

    // max_modules = 0 refuses every import.
    let none = lib.sandbox(Limits {
        max_modules: 0,
        ..limits()
    });
    let (err, _) = fails(&none, r#"import "util" as u; 1"#).await;
    assert_eq!(err.limit(), Some(LimitKind::Modules), "{err:?}");
}

#[tokio::test]
async fn import_cycles_are_refused() {
    let lib = Library::new();
    lib.write("x.rhai", "import \"y\" as y; fn f() { 1 }");
    lib.write("y.rhai", "import \"x\" as x; fn f() { 2 }");
    lib.write("self.rhai", "import \"self\" as me; fn f() { 3 }");
    let sb = lib.sandbox(limits());
    runtime_error(
        &sb,
        r#"import "x" as x; 1"#,
        &["circular import", "\"x\" -> \"y\" -> \"x\""],
    )
    .await;
    runtime_error(&sb, r#"import "self" as s; 1"#, &["circular import"]).await;
    still_works(&sb).await;
}

#[tokio::test]
async fn modules_run_in_the_callers_context() {
    let lib = Library::new();
    lib.write(
        "ctx.rhai",
        "export const OWNER = CALLER_PUBLIC_KEY; export const AT_LOAD = whoami(); \
         fn who() { caller_public_key() } fn via_host() { whoami() } \
         fn circle() { circle_id() }",
    );
    let sb = lib.sandbox(limits());
    let script = r#"let CALLER_PUBLIC_KEY = "fake"; import "ctx" as c;
        [c::OWNER, c::AT_LOAD, c::who(), c::via_host(), c::circle()]"#;
    let out = ok(&sb, script).await;
    assert_eq!(out.value, json!([ALICE, ALICE, ALICE, ALICE, CIRCLE_ID]));
    // The compiled module is cached, but built again for each run: nothing of Alice's run
    // leaks into Bob's.
    let out = sb
        .run(script.to_owned(), Caller::new(BOB))
        .await
        .expect("bob");
    assert_eq!(out.value, json!([BOB, BOB, BOB, BOB, CIRCLE_ID]));
    let out = sb
        .run(script.to_owned(), Caller::anonymous())
        .await
        .expect("anonymous");
    assert_eq!(out.value, json!(["", "", "", "", CIRCLE_ID]));
}

#[tokio::test]
async fn modules_run_under_the_runs_limits() {
    let lib = Library::new();
    lib.write("spin.rhai", "fn spin() { loop {} }");
    lib.write("deep.rhai", "fn down(n) { down(n + 1) }");
    lib.write("grow.rhai", "let s = \"x\"; loop { s += s; }");
    // Top-level code of ~6 000 operations.
    lib.write(
        "work.rhai",
        "let n = 0; for i in 0..2000 { n += 1; } export const N = n;",
    );
    let sb = lib.sandbox(limits());
    let (err, _) = fails(&sb, r#"import "spin" as s; s::spin()"#).await;
    assert!(
        matches!(err.limit(), Some(LimitKind::Operations | LimitKind::Time)),
        "{err:?}"
    );
    let (err, _) = fails(&sb, r#"import "deep" as d; d::down(0)"#).await;
    assert_eq!(err.limit(), Some(LimitKind::CallDepth), "{err:?}");
    let (err, _) = fails(&sb, r#"import "grow" as g; 1"#).await;
    assert_eq!(err.limit(), Some(LimitKind::StringSize), "{err:?}");

    // A module's top-level code counts against the run's operations: the module alone and
    // the script's own loop alone fit, together they do not.
    let tight = lib.sandbox(Limits {
        max_operations: 10_000,
        ..limits()
    });
    let out = ok(&tight, r#"import "work" as w; w::N"#).await;
    assert_eq!(out.value, json!(2000));
    let own_loop = "let n = 0; for i in 0..2000 { n += 1; } n";
    assert_eq!(ok(&tight, own_loop).await.value, json!(2000));
    let (err, _) = fails(&tight, &format!("import \"work\" as w; {own_loop}")).await;
    assert_eq!(err.limit(), Some(LimitKind::Operations), "{err:?}");
}

#[tokio::test]
async fn module_files_are_size_capped_and_compiled_with_the_engine() {
    let lib = Library::new();
    lib.write("big.rhai", &format!("fn f() {{ \"{}\" }}", "x".repeat(200)));
    lib.write("broken.rhai", "fn f( {");
    lib.write("binary.rhai", "fn f() { 1 }");
    fs::write(lib.root().join("binary.rhai"), [0xff, 0xfe, 0x00]).expect("write");
    let sb = lib.sandbox_with(
        ScriptLibrary::new(lib.root())
            .expect("library")
            .with_max_script_bytes(100),
        limits(),
    );
    runtime_error(
        &sb,
        r#"import "big" as b; 1"#,
        &["\"big\" refused", "the limit is 100"],
    )
    .await;
    runtime_error(&sb, r#"import "binary" as b; 1"#, &["not UTF-8"]).await;
    let (err, _) = fails(&sb, r#"import "broken" as b; 1"#).await;
    assert!(matches!(err, ScriptError::Compile { .. }), "{err:?}");
    // The small module still works.
    assert_eq!(
        ok(&sb, r#"import "util" as u; u::double(5)"#).await.value,
        json!(10)
    );
}

#[tokio::test]
async fn changed_modules_are_reloaded() {
    let lib = Library::new();
    lib.write("v.rhai", "fn v() { 1 }");
    let sb = lib.sandbox(limits());
    assert_eq!(ok(&sb, r#"import "v" as v; v::v()"#).await.value, json!(1));
    lib.write("v.rhai", "fn v() { 2 + 0 }");
    assert_eq!(ok(&sb, r#"import "v" as v; v::v()"#).await.value, json!(2));
}

#[test]
fn the_root_must_be_an_existing_directory() {
    let lib = Library::new();
    assert!(ScriptLibrary::new(lib.tmp.path().join("missing")).is_err());
    let err = ScriptLibrary::new(lib.root().join("util.rhai")).expect_err("a file");
    assert_eq!(err.kind(), std::io::ErrorKind::NotADirectory);
    let library = ScriptLibrary::new(lib.root().join("sub/..")).expect("library");
    assert_eq!(
        library.root(),
        fs::canonicalize(lib.root()).expect("canonical")
    );
}

// Published functions: `Sandbox::call` and `Sandbox::published_functions`.

fn published_library() -> Library {
    let lib = Library::new();
    lib.write(
        "book.rhai",
        r#"
/// Signs the book.
/// Returns who signed.
fn sign(text) { `${caller_public_key()} ${caller_is_member()}: ${text}` }

/** Echoes its arguments back. */
fn echo(a) { a }
fn echo(a, b) { [a, b] }
private fn secret() { 42 }
fn whoami() { whoami() }
"#,
    );
    lib.write("broken.rhai", "fn oops( {");
    lib
}

async fn call(
    sb: &Sandbox,
    module: &str,
    function: &str,
    args: serde_json::Value,
) -> Result<serde_json::Value, ScriptError> {
    let args = args.as_array().cloned().unwrap_or_default();
    sb.call(
        module.into(),
        function.into(),
        args,
        Caller::new(BOB).member(true),
    )
    .await
    .map(|outcome| outcome.value)
}

#[tokio::test]
async fn a_published_function_runs_with_data_arguments_as_the_caller() {
    let lib = published_library();
    let sb = lib.sandbox(limits());
    assert_eq!(
        call(&sb, "book", "sign", json!(["hi"]))
            .await
            .expect("sign"),
        json!(format!("{BOB} true: hi"))
    );
    // Arguments are data: text that looks like code stays text, values keep their type.
    for arg in [
        json!("40 + 2"),
        json!("\"); loop {} //"),
        json!({"a": [1, 2.5, null]}),
        json!(7),
    ] {
        assert_eq!(
            call(&sb, "book", "echo", json!([arg.clone()]))
                .await
                .expect("echo"),
            arg
        );
    }
    assert_eq!(
        call(&sb, "book", "echo", json!([1, "x"]))
            .await
            .expect("echo/2"),
        json!([1, "x"])
    );
    // A non-member, and an anonymous caller.
    let outcome = sb
        .call(
            "book".into(),
            "sign".into(),
            vec![json!("yo")],
            Caller::new(BOB),
        )
        .await
        .expect("sign");
    assert_eq!(outcome.value, json!(format!("{BOB} false: yo")));
    let outcome = sb
        .call(
            "sub/greet".into(),
            "hello".into(),
            vec![json!("x")],
            Caller::anonymous(),
        )
        .await
        .expect("hello");
    assert_eq!(outcome.value, json!("hello x"));
}

#[tokio::test]
async fn what_is_not_published_cannot_be_called() {
    let lib = published_library();
    let sb = lib.sandbox(limits());
    let not_callable =
        |reason: NotCallable, module: &str, function: &str| ScriptError::NotCallable {
            module: module.into(),
            function: function.into(),
            reason,
        };
    let cases = [
        ("book", "secret", json!([]), NotCallable::NoFunction),
        ("book", "missing", json!([]), NotCallable::NoFunction),
        ("nope", "sign", json!(["x"]), NotCallable::NoModule),
        (
            "book",
            "sign",
            json!([]),
            NotCallable::Arity {
                expected: vec![1],
                given: 0,
            },
        ),
        (
            "book",
            "echo",
            json!([1, 2, 3]),
            NotCallable::Arity {
                expected: vec![1, 2],
                given: 3,
            },
        ),
    ];
    for (module, function, args, reason) in cases {
        assert_eq!(
            call(&sb, module, function, args).await,
            Err(not_callable(reason, module, function)),
            "{module}::{function}"
        );
    }
    // Names that are not module paths or identifiers never reach a script.
    for (module, function) in [
        ("../outside", "secret"),
        ("/etc/x", "f"),
        ("book\"", "sign"),
        ("book", "sign(1)"),
        ("book", "a-b"),
        ("book", ""),
    ] {
        match call(&sb, module, function, json!([])).await {
            Err(ScriptError::NotCallable {
                reason: NotCallable::BadName(_),
                ..
            }) => {}
            other => panic!("{module:?}::{function:?}: {other:?}"),
        }
    }
    // A module that does not compile reports its compile error.
    match call(&sb, "broken", "oops", json!([])).await {
        Err(ScriptError::Compile { .. }) => {}
        other => panic!("broken module: {other:?}"),
    }
    still_works(&sb).await;
}

#[tokio::test]
async fn published_functions_are_listed_with_params_and_docs() {
    let lib = published_library();
    let sb = lib.sandbox(limits());
    let listed = sb.published_functions().expect("list");
    let function = |module: &str, name: &str, params: &[&str], doc: &str| PublishedFunction {
        module: module.into(),
        name: name.into(),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
        doc: doc.into(),
    };
    assert_eq!(
        listed,
        [
            function("book", "echo", &["a"], "Echoes its arguments back."),
            function("book", "echo", &["a", "b"], ""),
            function(
                "book",
                "sign",
                &["text"],
                "Signs the book.\nReturns who signed."
            ),
            function("book", "whoami", &[], ""),
            function("sub/greet", "hello", &["n"], ""),
            function("util", "double", &["x"], ""),
        ]
    );
    // Without a library there is nothing to list or call.
    let bare = Sandbox::new(circle(), limits()).expect("sandbox");
    assert_eq!(bare.published_functions().expect("list"), []);
}
