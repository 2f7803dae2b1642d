//! End-to-end tests of the `circles` binary against a real circle served in-process on a
//! loopback port.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use circles_identity::SecretKey;
use rpc_server::{Circle, CircleSettings, RunningCircle, ServerSettings};
use serde_json::Value;

/// A circle served on 127.0.0.1 on a free port, on its own runtime so that the test thread
/// can block on the child process.
struct TestCircle {
    server: RunningCircle,
    key: SecretKey,
    // Dropped last: stops the server.
    _runtime: tokio::runtime::Runtime,
}

impl TestCircle {
    fn start(require_auth: bool) -> TestCircle {
        let access = if require_auth {
            rpc_server::Access {
                play: rpc_server::Audience::SignedIn,
                call: rpc_server::Audience::SignedIn,
            }
        } else {
            rpc_server::Access::OPEN
        };
        Self::start_with(access, None)
    }

    /// A circle with `access` and, when given, the script library `library`.
    fn start_with(access: rpc_server::Access, library: Option<&Path>) -> TestCircle {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let key = SecretKey::generate();
        let mut settings = CircleSettings::new("cli-test");
        settings.access.access = access;
        let library = library
            .map(|path| circles_sandbox::ScriptLibrary::new(path).expect("a script library"));
        let server = runtime.block_on(async {
            let circle = Circle::with_sandbox(settings, &key, |sandbox| match library {
                Some(library) => sandbox.script_library(library),
                None => sandbox,
            })
            .expect("valid circle settings");
            rpc_server::start(
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                circle,
                &ServerSettings::default(),
            )
            .await
            .expect("server starts on a free loopback port")
        });
        TestCircle {
            server,
            key,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn public_key(&self) -> String {
        self.key.public_key().to_hex()
    }
}

/// Runs `circles ARGS` with `stdin` (empty when `None`), without the CIRCLES_* variables of
/// the environment the tests run in, and with a home and config folder of its own, empty
/// (so no default key of whoever runs the tests is used).
fn circles(args: &[&str], stdin: Option<&str>) -> Output {
    circles_with_env(args, stdin, &[])
}

/// Like [`circles`], with `env` set on top (e.g. `XDG_CONFIG_HOME` of a test's own).
fn circles_with_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_circles"));
    command
        .args(args)
        .env_remove("CIRCLES_URL")
        .env_remove("CIRCLES_KEY")
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the circles binary runs");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("circles finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

fn json_stdout(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {:?}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\nstdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

/// A key saved in `dir`; returns it and its path.
fn key_file(dir: &Path) -> (SecretKey, PathBuf) {
    let key = SecretKey::generate();
    let path = dir.join("caller.key");
    key.save_to_file(&path).expect("save key");
    (key, path)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn keygen_out_writes_owner_only_key_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("me.key");
    let output = circles(&["keygen", "--out", path_str(&path)], None);
    assert_exit(&output, 0);

    let saved = SecretKey::load_from_file(&path).expect("keygen wrote a loadable key");
    let public_key = saved.public_key().to_hex();
    assert_eq!(stdout(&output).trim(), format!("public key: {public_key}"));
    assert!(
        !stdout(&output).contains(&saved.to_hex()),
        "the secret must not be printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }

    let before = std::fs::read(&path).expect("read key");
    let again = circles(&["keygen", "--out", path_str(&path)], None);
    assert_exit(&again, 7);
    assert!(stderr(&again).starts_with("error: "), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(&path).expect("read key"),
        before,
        "key file unchanged"
    );

    let json = circles(&["keygen", "--out", path_str(&path), "--json"], None);
    assert_exit(&json, 7);
    assert_eq!(json_stdout(&json)["error"]["kind"], "key");
}

#[test]
fn keygen_json_reports_public_key_and_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("me.key");
    let output = circles(&["keygen", "--json", "--out", path_str(&path)], None);
    assert_exit(&output, 0);
    let saved = SecretKey::load_from_file(&path).expect("key written");
    let json = json_stdout(&output);
    assert_eq!(json["public_key"], saved.public_key().to_hex());
    assert_eq!(json["path"], path_str(&path));
    assert!(json.get("secret_key").is_none(), "{json}");
}

#[test]
fn keygen_out_dash_prints_a_matching_secret_and_public_key() {
    let output = circles(&["keygen", "--out", "-"], None);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_owned()
    };
    let secret = SecretKey::from_hex(&field("secret key:")).expect("a valid secret key");
    assert_eq!(field("public key:"), secret.public_key().to_hex());
    assert!(stderr(&output).contains("SECRET"), "{}", stderr(&output));

    let json = json_stdout(&circles(&["keygen", "--json", "--out", "-"], None));
    let secret = SecretKey::from_hex(json["secret_key"].as_str().expect("secret_key"))
        .expect("a valid secret key");
    assert_eq!(json["public_key"], secret.public_key().to_hex());
    assert_eq!(json["path"], Value::Null);
}

#[test]
fn play_with_key_runs_as_that_key() {
    let circle = TestCircle::start(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, path) = key_file(dir.path());
    let output = circles(
        &[
            "play",
            "--url",
            &circle.url(),
            "--key",
            path_str(&path),
            r#"print("hello"); print("two\nlines"); CALLER_PUBLIC_KEY"#,
        ],
        None,
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{}\n", key.public_key().to_hex()));
    assert_eq!(stderr(&output), "[log] hello\n[log] two\n[log] lines\n");
}

#[test]
fn play_with_expected_circle_key_signs_in() {
    let circle = TestCircle::start(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, path) = key_file(dir.path());
    let output = circles(
        &[
            "play",
            "--url",
            &circle.url(),
            "--key",
            path_str(&path),
            "--expect-circle-key",
            &circle.public_key().to_uppercase(),
            "CALLER_PUBLIC_KEY + \" \" + CIRCLE_PUBLIC_KEY",
        ],
        None,
    );
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output).trim(),
        format!("{} {}", key.public_key().to_hex(), circle.public_key())
    );
}

#[test]
fn play_json_prints_the_whole_result() {
    let circle = TestCircle::start(false);
    let output = circles(
        &[
            "--json",
            "play",
            "--url",
            &circle.url(),
            r#"print("a"); print("b"); #{answer: 40 + 2, who: CALLER_PUBLIC_KEY}"#,
        ],
        None,
    );
    assert_exit(&output, 0);
    assert_eq!(stderr(&output), "", "logs are in the JSON, not on stderr");
    let json = json_stdout(&output);
    assert_eq!(json["logs"], serde_json::json!(["a", "b"]));
    assert_eq!(json["value"], serde_json::json!({"answer": 42, "who": ""}));
    assert!(
        json["output"]
            .as_str()
            .expect("output is text")
            .contains("42"),
        "{json}"
    );
}

#[test]
fn play_reads_the_script_from_a_file() {
    let circle = TestCircle::start(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, key_path) = key_file(dir.path());
    let script = dir.path().join("whoami.rhai");
    std::fs::write(
        &script,
        "let who = CALLER_PUBLIC_KEY;\nprint(\"from file\");\nwho\n",
    )
    .expect("write script");
    let output = circles(
        &[
            "play",
            "--url",
            &circle.url(),
            "--key",
            path_str(&key_path),
            "-f",
            path_str(&script),
        ],
        None,
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{}\n", key.public_key().to_hex()));
    assert_eq!(stderr(&output), "[log] from file\n");

    let missing = dir.path().join("missing.rhai");
    let output = circles(
        &["play", "--url", &circle.url(), "-f", path_str(&missing)],
        None,
    );
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("missing.rhai"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn play_reads_the_script_from_stdin_with_url_and_key_from_env() {
    let circle = TestCircle::start(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, key_path) = key_file(dir.path());
    let url = circle.url();
    let output = circles_with_env(
        &["play", "--json", "-f", "-"],
        Some("let x = 20;\nx * 2 + 2\n"),
        &[("CIRCLES_URL", &url), ("CIRCLES_KEY", path_str(&key_path))],
    );
    assert_exit(&output, 0);
    let json = json_stdout(&output);
    assert_eq!(json["value"], 42);
    assert_eq!(json["output"], "42");

    let output = circles_with_env(
        &["play", "-f", "-"],
        Some("CALLER_PUBLIC_KEY"),
        &[("CIRCLES_URL", &url), ("CIRCLES_KEY", path_str(&key_path))],
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).trim(), key.public_key().to_hex());
}

/// A loopback URL that refuses connections for as long as the returned socket lives. The
/// socket is bound to the port but does not listen, so a connection attempt is refused at
/// once (no listener), nobody else can bind the port meanwhile, and the system never picks
/// an explicitly bound port as the local end of an outgoing connection. (A port found free
/// and released again could be taken by anyone before the test uses it.)
fn refusing_url() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind a loopback port");
    let addr = socket.local_addr().expect("bound address");
    (socket, format!("ws://{addr}"))
}

#[test]
fn unreachable_url_exits_3() {
    let (_bound, url) = refusing_url();
    let output = circles(&["play", "--url", &url, "1"], None);
    assert_exit(&output, 3);
    let err = stderr(&output);
    assert!(err.starts_with("error: cannot connect to "), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let output = circles(&["discover", "--json", "--url", &url], None);
    assert_exit(&output, 3);
    let json = json_stdout(&output);
    assert_eq!(json["error"]["kind"], "transport");
    assert_eq!(json["error"]["code"], rpc_client::client_code::CONNECT);
}

#[test]
fn require_auth_circle_without_key_exits_4() {
    let circle = TestCircle::start(true);
    let output = circles(&["play", "--url", &circle.url(), "40 + 2"], None);
    assert_exit(&output, 4);
    assert_eq!(stdout(&output), "");
    let code = rpc_client::error_code::UNAUTHENTICATED;
    assert!(
        stderr(&output).contains(&format!("code {code}")),
        "{}",
        stderr(&output)
    );

    let output = circles(&["play", "--json", "--url", &circle.url(), "40 + 2"], None);
    assert_exit(&output, 4);
    let json = json_stdout(&output);
    assert_eq!(json["error"]["code"], code);
    assert_eq!(json["error"]["message"], "unauthenticated");
}

#[test]
fn wrong_expected_circle_key_exits_4_without_running_the_script() {
    // An open circle: were the script sent after the refusal, it would run and print.
    let circle = TestCircle::start(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key_path) = key_file(dir.path());
    let other = SecretKey::generate().public_key().to_hex();
    let output = circles(
        &[
            "play",
            "--url",
            &circle.url(),
            "--key",
            path_str(&key_path),
            "--expect-circle-key",
            &other,
            r#"print("ran"); "ran""#,
        ],
        None,
    );
    assert_exit(&output, 4);
    assert_eq!(stdout(&output), "", "the script must not run");
    let err = stderr(&output);
    assert!(!err.contains("ran"), "{err}");
    assert!(
        err.contains(&other) && err.contains(&circle.public_key()),
        "{err}"
    );

    let output = circles(
        &[
            "play",
            "--json",
            "--url",
            &circle.url(),
            "--key",
            path_str(&key_path),
            "--expect-circle-key",
            &other,
            r#"print("ran"); "ran""#,
        ],
        None,
    );
    assert_exit(&output, 4);
    let json = json_stdout(&output);
    assert_eq!(
        json["error"]["code"],
        rpc_client::client_code::WRONG_CIRCLE_KEY
    );
    assert_eq!(json["error"]["data"]["expected"], other.as_str());
    assert_eq!(json["error"]["data"]["got"], circle.public_key());
}

#[test]
fn script_errors_exit_5_with_position() {
    let circle = TestCircle::start(false);
    let script = "let a = 1;\nlet b = ;\n";
    let output = circles(&["play", "--json", "--url", &circle.url(), script], None);
    assert_exit(&output, 5);
    let json = json_stdout(&output);
    let code = rpc_client::error_code::SCRIPT_COMPILE_ERROR;
    assert_eq!(json["error"]["code"], code);
    let data = &json["error"]["data"];
    assert_eq!(data["line"], 2, "{json}");
    let column = data["column"].as_u64().expect("column");
    assert!(column > 0, "{json}");
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!(
            "error: script compile error at line 2, column {column} (code {code}): "
        )),
        "{err}"
    );
    assert!(
        err.contains(data["message"].as_str().expect("message")),
        "{err}"
    );

    let output = circles(
        &[
            "play",
            "--url",
            &circle.url(),
            "let x = 1;\nthrow \"boom\";",
        ],
        None,
    );
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(err.contains("runtime error at line 2"), "{err}");
    assert!(err.contains("boom"), "{err}");

    let output = circles(&["play", "--url", &circle.url(), "loop { }"], None);
    assert_exit(&output, 5);
    assert!(
        stderr(&output).contains("script limit exceeded"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn key_file_problems_exit_7_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let malformed = dir.path().join("bad.key");
    std::fs::write(&malformed, "not a key\n").expect("write");
    // The URL is never used: the key is checked first.
    let url = "ws://127.0.0.1:1";
    let output = circles(
        &["play", "--url", url, "--key", path_str(&malformed), "1"],
        None,
    );
    assert_exit(&output, 7);
    assert!(stderr(&output).contains("bad.key"), "{}", stderr(&output));

    let missing = dir.path().join("missing.key");
    let output = circles(
        &["play", "--url", url, "--key", path_str(&missing), "1"],
        None,
    );
    assert_exit(&output, 7);
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_2() {
    // No script.
    assert_exit(&circles(&["play", "--url", "ws://127.0.0.1:1"], None), 2);
    // Both a script and a file.
    assert_exit(
        &circles(&["play", "--url", "ws://127.0.0.1:1", "-f", "x", "1"], None),
        2,
    );
    // No URL.
    assert_exit(&circles(&["play", "1"], None), 2);
    // A malformed circle key.
    assert_exit(
        &circles(
            &[
                "play",
                "--url",
                "ws://127.0.0.1:1",
                "--key",
                "k",
                "--expect-circle-key",
                "zz",
                "1",
            ],
            None,
        ),
        2,
    );
    // A circle key to check but no key to sign in with.
    let output = circles(
        &[
            "play",
            "--url",
            "ws://127.0.0.1:1",
            "--expect-circle-key",
            &SecretKey::generate().public_key().to_hex(),
            "1",
        ],
        None,
    );
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--key"), "{}", stderr(&output));
}

#[test]
fn help_documents_the_exit_codes_once_and_examples_everywhere() {
    let rows = [
        "3  cannot connect",
        "4  authentication or authorization refused",
        "5  script error",
        "7  key problem",
    ];
    for help in ["--help", "-h"] {
        let output = circles(&[help], None);
        assert_exit(&output, 0);
        let text = stdout(&output);
        for row in rows {
            assert_eq!(text.matches(row).count(), 1, "{row:?} once in\n{text}");
        }
        assert!(text.contains("Examples:"), "{text}");
    }
    // In the main help only: each subcommand's shows examples of its own and points there.
    for (subcommand, example) in [
        ("keygen", "circles keygen --out"),
        ("play", "circles play --url"),
        ("call", "circles call --url"),
        ("functions", "circles functions --url"),
        ("discover", "circles discover --url"),
    ] {
        for help in ["--help", "-h"] {
            let output = circles(&[subcommand, help], None);
            assert_exit(&output, 0);
            let text = stdout(&output);
            assert!(!text.contains("Exit codes:\n"), "{subcommand}: {text}");
            for row in rows {
                assert!(!text.contains(row), "{subcommand}: {row:?} in\n{text}");
            }
            assert!(text.contains("Examples:"), "{subcommand}: {text}");
            assert!(
                text.contains(example),
                "{subcommand}: {example:?} in {text}"
            );
            assert!(
                text.contains("see `circles --help`"),
                "{subcommand}: {text}"
            );
        }
    }
}

#[test]
fn discover_json_is_the_spec_and_text_lists_methods() {
    let circle = TestCircle::start(true);
    let output = circles(&["discover", "--json", "--url", &circle.url()], None);
    assert_exit(&output, 0);
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openrpc.json");
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(spec_path).expect("read openrpc.json"))
            .expect("openrpc.json is JSON");
    assert_eq!(json_stdout(&output), spec);

    let output = circles(&["discover", "--url", &circle.url()], None);
    assert_exit(&output, 0);
    let text = stdout(&output);
    let title = spec["info"]["title"].as_str().expect("title");
    let version = spec["info"]["version"].as_str().expect("version");
    assert!(text.starts_with(&format!("{title} {version}")), "{text}");
    for method in spec["methods"].as_array().expect("methods") {
        let name = method["name"].as_str().expect("name");
        let summary = method["summary"].as_str().expect("summary");
        assert!(
            text.lines()
                .any(|line| line.trim_start().starts_with(name) && line.ends_with(summary)),
            "no line for {name} in\n{text}"
        );
    }
}

/// `circles … | head -0`: the reader is gone before anything is written. That
/// is no failure of the command: exit 0, and no "cannot write output" error.
#[test]
fn a_closed_stdout_pipe_is_not_a_failure() {
    let circle = TestCircle::start(false);
    for args in [
        &["discover", "--json", "--url", &circle.url()][..],
        &["play", "--url", &circle.url(), "\"x\".pad(200000, 'y')"][..],
        &["keygen", "--out", "-"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_circles"))
            .args(args)
            .env_remove("CIRCLES_URL")
            .env_remove("CIRCLES_KEY")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("the circles binary runs");
        assert_exit(&output, 0);
        assert!(
            !stderr(&output).contains("cannot write output"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// `call` and `functions` against a circle whose library has `book.rhai`; its play is for
/// members only (nobody), its published functions for anyone signed in.
#[test]
fn call_runs_published_functions_and_functions_lists_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let library = dir.path().join("lib");
    std::fs::create_dir(&library).expect("mkdir");
    std::fs::write(
        library.join("book.rhai"),
        "/// Greets you.\nfn greet(name) { print(`greeting ${name}`); `hello ${name}` }\nfn two(a, b) { a + b }",
    )
    .expect("write");
    let circle = TestCircle::start_with(
        rpc_server::Access {
            play: rpc_server::Audience::Members,
            call: rpc_server::Audience::SignedIn,
        },
        Some(&library),
    );
    let (_, key) = key_file(dir.path());
    let base = ["--url", &circle.url(), "--key", path_str(&key)];
    let with = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(base.iter().map(|a| (*a).to_owned()));
        all
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        circles(&args, None)
    };

    let output = run(with(&["call", "book", "greet", r#"["bob"]"#]));
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "hello bob\n");
    assert!(
        stderr(&output).contains("[log] greeting bob"),
        "{}",
        stderr(&output)
    );

    let output = run(with(&["call", "--json", "book", "two", "[1, 2]"]));
    assert_exit(&output, 0);
    assert_eq!(json_stdout(&output)["value"], 3);

    // Not callable: exit 5, the problem in words.
    let output = run(with(&["call", "book", "two", "[1]"]));
    assert_exit(&output, 5);
    assert!(
        stderr(&output).contains("book::two is not callable"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("takes 2 arguments, not 1"),
        "{}",
        stderr(&output)
    );
    // Arguments that are not a JSON array: a usage error, before connecting.
    for bad in ["bob", r#""bob""#] {
        let output = run(with(&["call", "book", "greet", bad]));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("ARGS_JSON"), "{}", stderr(&output));
    }
    // A name the spec refuses: a usage error too.
    let output = run(with(&["call", "book", "two words"]));
    assert_exit(&output, 2);
    // play is for members only: forbidden, exit 4.
    let output = run(with(&["play", "40 + 2"]));
    assert_exit(&output, 4);
    assert!(stderr(&output).contains("forbidden"), "{}", stderr(&output));

    let output = run(with(&["functions"]));
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "book::greet(name)  Greets you.\nbook::two(a, b)\n"
    );
    let output = run(with(&["functions", "--json"]));
    assert_exit(&output, 0);
    assert_eq!(
        json_stdout(&output)[0]["params"],
        serde_json::json!(["name"])
    );
}

/// The default key: `keygen` without `--out` writes it to `$XDG_CONFIG_HOME/circles/key`
/// (owner-only, in an owner-only folder), never overwrites it, and `play` signs in with it
/// when no `--key` is given.
#[test]
fn keygen_writes_the_default_key_to_the_config_folder_and_play_uses_it() {
    let circle = TestCircle::start(false);
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("config");
    let env = [
        ("HOME", path_str(home.path())),
        ("XDG_CONFIG_HOME", path_str(&config)),
    ];
    let work = tempfile::tempdir().expect("tempdir");
    let keygen = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_circles"));
        command
            .args(args)
            .current_dir(work.path())
            .env_remove("CIRCLES_URL")
            .env_remove("CIRCLES_KEY")
            .envs(env.iter().copied())
            .output()
            .expect("the circles binary runs")
    };

    let output = keygen(&["keygen"]);
    assert_exit(&output, 0);
    let path = config.join("circles").join("key");
    let key = SecretKey::load_from_file(&path).expect("keygen wrote the default key");
    let public_key = key.public_key().to_hex();
    assert_eq!(stdout(&output), format!("public key: {public_key}\n"));
    let err = stderr(&output);
    assert!(err.contains(path_str(&path)), "says where: {err}");
    assert!(
        err.contains("unless you pass --key"),
        "says how it is used: {err}"
    );
    assert_eq!(
        std::fs::read_dir(work.path()).expect("ls").count(),
        0,
        "nothing written to the working folder"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&config.join("circles")), 0o700);
    }

    // A second keygen keeps it, and says where it is and what it is.
    let before = std::fs::read(&path).expect("read key");
    for args in [&["keygen"][..], &["keygen", "--json"][..]] {
        let output = keygen(args);
        assert_exit(&output, 7);
        let err = stderr(&output);
        assert!(
            err.contains("you have a key already")
                && err.contains(path_str(&path))
                && err.contains(&public_key)
                && err.contains("--out FILE"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).expect("read key"), before);
    }

    // play signs in with it by default; --anonymous does not; CIRCLES_KEY and --key win.
    let play = |args: &[&str], extra: &[(&str, &str)]| {
        let mut all = env.to_vec();
        all.extend_from_slice(extra);
        circles_with_env(args, None, &all)
    };
    let url = circle.url();
    let output = play(&["play", "--url", &url, "CALLER_PUBLIC_KEY"], &[]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{public_key}\n"));
    let anonymous = r#"`anonymous: ${CALLER_PUBLIC_KEY == ""}`"#;
    let output = play(&["play", "--url", &url, "--anonymous", anonymous], &[]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "anonymous: true\n");
    let (other, other_path) = key_file(work.path());
    let other_hex = other.public_key().to_hex();
    let output = play(
        &["play", "--url", &url, "CALLER_PUBLIC_KEY"],
        &[("CIRCLES_KEY", path_str(&other_path))],
    );
    assert_eq!(stdout(&output), format!("{other_hex}\n"));
    let output = play(
        &[
            "play",
            "--url",
            &url,
            "--key",
            path_str(&other_path),
            "CALLER_PUBLIC_KEY",
        ],
        &[],
    );
    assert_eq!(stdout(&output), format!("{other_hex}\n"));
    // --anonymous wins over CIRCLES_KEY (the environment), not over --key (a contradiction).
    let output = play(
        &["play", "--url", &url, "--anonymous", anonymous],
        &[("CIRCLES_KEY", path_str(&other_path))],
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "anonymous: true\n");
    let output = play(
        &[
            "play",
            "--url",
            &url,
            "--anonymous",
            "--key",
            path_str(&other_path),
            "1",
        ],
        &[],
    );
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("--anonymous"),
        "{}",
        stderr(&output)
    );
    // --expect-circle-key works with the default key.
    let output = play(
        &[
            "play",
            "--url",
            &url,
            "--expect-circle-key",
            &circle.public_key(),
            "CALLER_PUBLIC_KEY",
        ],
        &[],
    );
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), format!("{public_key}\n"));

    // A broken default key is a key problem that names it and the ways around it.
    std::fs::write(&path, "not a key\n").expect("write");
    let output = play(&["play", "--url", &url, "1"], &[]);
    assert_exit(&output, 7);
    let err = stderr(&output);
    assert!(
        err.contains(path_str(&path)) && err.contains("--anonymous"),
        "{err}"
    );
}

/// Without XDG_CONFIG_HOME the default key goes to ~/.config/circles/key.
#[test]
fn keygen_default_key_falls_back_to_home() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_circles"));
    let output = command
        .args(["keygen", "--json"])
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home.path())
        .output()
        .expect("the circles binary runs");
    assert_exit(&output, 0);
    let path = home.path().join(".config/circles/key");
    let key = SecretKey::load_from_file(&path).expect("the default key");
    let json = json_stdout(&output);
    assert_eq!(json["path"], path_str(&path));
    assert_eq!(json["public_key"], key.public_key().to_hex());
}

/// `--url` takes the web console's forms: `http://` and a bare `HOST:PORT` mean `ws://`.
#[test]
fn urls_without_ws_scheme_are_accepted_as_the_console_does() {
    let circle = TestCircle::start(false);
    let url = circle.url();
    let addr = url.strip_prefix("ws://").expect("a ws:// URL");
    for given in [
        url.clone(),
        addr.to_owned(),
        format!("http://{addr}"),
        format!("HTTP://{addr}/"),
    ] {
        let output = circles(&["play", "--url", &given, "40 + 2"], None);
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), "42\n", "{given}");
    }
    let output = circles_with_env(&["discover", "--json"], None, &[("CIRCLES_URL", addr)]);
    assert_exit(&output, 0);
}

/// Other URL forms are usage errors (exit 2) that say what to write, before connecting.
#[test]
fn other_url_forms_are_usage_errors_with_a_hint() {
    for (url, hint) in [
        ("ftp://127.0.0.1:1", "is not a circle URL"),
        ("9101", "ws://127.0.0.1:9101"),
        ("localhost", "has no port"),
        ("ws://", "ws://HOST:PORT"),
    ] {
        for command in [
            &["play", "--url", url, "1"][..],
            &["discover", "--url", url],
        ] {
            let output = circles(command, None);
            assert_exit(&output, 2);
            let err = stderr(&output);
            assert!(err.starts_with("error: "), "{url}: {err}");
            assert!(err.contains(hint), "{url}: {hint:?} in {err}");
        }
    }
    let output = circles_with_env(&["play", "1"], None, &[("CIRCLES_URL", "gopher://x:1")]);
    assert_exit(&output, 2);
}

/// What a failed script printed comes on stderr before the error, as a successful run's
/// does; with --json it is the error's `data.logs`.
#[test]
fn a_failed_scripts_logs_are_printed() {
    let circle = TestCircle::start(false);
    let url = circle.url();
    let runtime_error = r#"print("before"); print("two\nlines"); throw "boom""#;
    let output = circles(&["play", "--url", &url, runtime_error], None);
    assert_exit(&output, 5);
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(
        err.starts_with("[log] before\n[log] two\n[log] lines\nerror: script runtime error"),
        "{err}"
    );
    assert!(err.contains("boom"), "{err}");

    let output = circles(&["play", "--json", "--url", &url, runtime_error], None);
    assert_exit(&output, 5);
    let json = json_stdout(&output);
    assert_eq!(
        json["error"]["data"]["logs"],
        serde_json::json!(["before", "two\nlines"])
    );
    let err = stderr(&output);
    assert!(!err.contains("[log]"), "the logs are in the JSON: {err}");
    assert!(err.starts_with("error: script runtime error"), "{err}");

    // A limit: the run is ended, what it printed is kept.
    let output = circles(
        &["play", "--url", &url, r#"print("looping"); loop { }"#],
        None,
    );
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(
        err.starts_with("[log] looping\nerror: script limit exceeded"),
        "{err}"
    );
    let output = circles(
        &[
            "play",
            "--json",
            "--url",
            &url,
            r#"print("looping"); loop { }"#,
        ],
        None,
    );
    assert_exit(&output, 5);
    assert_eq!(
        json_stdout(&output)["error"]["data"]["logs"],
        serde_json::json!(["looping"])
    );
}

/// A published function that fails: its logs too.
#[test]
fn a_failed_calls_logs_are_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let library = dir.path().join("lib");
    std::fs::create_dir(&library).expect("mkdir");
    std::fs::write(
        library.join("book.rhai"),
        "fn fail(x) { print(`got ${x}`); throw `bad ${x}` }",
    )
    .expect("write");
    let circle = TestCircle::start_with(rpc_server::Access::OPEN, Some(&library));
    let output = circles(
        &["call", "--url", &circle.url(), "book", "fail", "[7]"],
        None,
    );
    assert_exit(&output, 5);
    let err = stderr(&output);
    assert!(
        err.starts_with("[log] got 7\nerror: script runtime error"),
        "{err}"
    );
    assert!(err.contains("bad 7"), "{err}");
}
