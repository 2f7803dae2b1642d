//! Running circles from a temp config through the real launcher binary: storage that
//! survives restarts with its author, identities, script libraries, isolation, shutdown.

mod support;

use std::os::unix::fs::PermissionsExt;

use rpc_client::PlayError;
use rpc_client::SecretKey;
use serde_json::{Value, json};
use support::{World, play_as, play_error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_value_survives_a_restart_with_its_author_and_stays_in_its_circle() {
    let world = World::new(&["alpha", "beta"]);
    let key = SecretKey::generate();
    let me = key.public_key().to_hex();

    let launcher = world.launch();
    let alpha = launcher.row("alpha").clone();
    let stored = play_as(
        &alpha.url,
        &key,
        Some(&alpha.public_key),
        r#"let CALLER_PUBLIC_KEY = "02forged"; store::set("greeting", #{text: "hi", n: 2}); "stored""#,
    )
    .await
    .expect("play stores a value");
    assert_eq!(stored.output, "stored");
    assert_eq!(launcher.signal("TERM"), Some(0), "SIGTERM exits 0");
    assert!(
        !support::needs_repair(&alpha.db_path.join("store.redb")),
        "the store was closed cleanly"
    );

    let launcher = world.launch();
    let alpha = launcher.row("alpha").clone();
    let beta = launcher.row("beta").clone();
    let other = SecretKey::generate();
    let read = play_as(&alpha.url, &other, None, r#"store::entry("greeting")"#)
        .await
        .expect("play reads the value back");
    assert_eq!(read.value["key"], "greeting");
    assert_eq!(read.value["value"], json!({"text": "hi", "n": 2}));
    assert_eq!(
        read.value["author"],
        Value::String(me),
        "the author is the caller, not the shadowed constant"
    );
    assert!(read.value["written_at"].as_i64().unwrap_or(0) > 1_700_000_000_000);

    let in_beta = play_as(
        &beta.url,
        &key,
        None,
        r#"[store::get("greeting"), store::list("").len()]"#,
    )
    .await
    .expect("play in beta");
    assert_eq!(
        in_beta.value,
        json!([null, 0]),
        "beta sees nothing of alpha's store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_0_is_a_free_port_for_each_circle_shown_in_the_table_and_the_log() {
    let world = World::new(&["alpha", "beta"]);
    assert!(world.circles.iter().all(|c| c["port"] == 0));
    let log = world.path("launcher.log");
    let mut command = std::process::Command::new(support::LAUNCHER);
    command
        .arg("--config")
        .arg(world.write())
        .arg("--no-console")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).expect("log file"));
    let launcher = support::Launcher::spawn(command, 2);
    let rows = launcher.rows.clone();
    let ports: Vec<u16> = rows
        .iter()
        .map(|row| {
            let port = row.url.rsplit(':').next().expect("ws://host:port");
            port.parse().expect("a port number")
        })
        .collect();
    assert!(ports.iter().all(|&port| port != 0), "{ports:?}");
    assert_ne!(ports[0], ports[1], "each circle has its own port");
    let key = SecretKey::generate();
    for row in &rows {
        // The URL leads to the very circle of the row.
        let answer = play_as(&row.url, &key, Some(&row.public_key), "CIRCLE_ID")
            .await
            .expect("play");
        assert_eq!(answer.output, row.id);
    }
    assert_eq!(launcher.signal("TERM"), Some(0));
    let log = std::fs::read_to_string(&log).expect("log");
    for row in &rows {
        assert!(
            log.lines().any(|line| line.contains("circle started")
                && line.contains(&row.id)
                && line.contains(&row.url)),
            "the log names {}'s URL {}: {log}",
            row.id,
            row.url
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_are_stable_across_restarts_different_per_circle_and_owner_only() {
    let world = World::new(&["alpha", "beta"]);
    // A db_path that exists already is made owner-only too.
    std::fs::create_dir_all(world.path("data/beta")).expect("mkdir");
    std::fs::set_permissions(
        world.path("data/beta"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let first = world.launch();
    let (alpha, beta) = (first.row("alpha").clone(), first.row("beta").clone());
    assert_ne!(alpha.public_key, beta.public_key);
    assert_eq!(first.signal("INT"), Some(0), "SIGINT exits 0");

    for row in [&alpha, &beta] {
        let key_file = row.db_path.join("identity.key");
        let mode = std::fs::metadata(&key_file)
            .expect("the identity key is in db_path")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{} is owner-only", key_file.display());
        let dir_mode = std::fs::metadata(&row.db_path)
            .expect("db_path")
            .permissions()
            .mode();
        assert_eq!(
            dir_mode & 0o777,
            0o700,
            "{} is owner-only",
            row.db_path.display()
        );
        let store = row.db_path.join("store.redb");
        let store_mode = std::fs::metadata(&store)
            .expect("store")
            .permissions()
            .mode();
        assert_eq!(
            store_mode & 0o777,
            0o600,
            "{} is owner-only",
            store.display()
        );
    }

    let second = world.launch();
    assert_eq!(second.row("alpha").public_key, alpha.public_key);
    assert_eq!(second.row("beta").public_key, beta.public_key);
    // CIRCLE_PUBLIC_KEY is the key the table shows, and the sign-in checks it.
    let key = SecretKey::generate();
    let seen = play_as(
        &second.row("alpha").url,
        &key,
        Some(&alpha.public_key),
        "CIRCLE_PUBLIC_KEY",
    )
    .await
    .expect("play");
    assert_eq!(seen.output, alpha.public_key.to_hex());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_resolve_inside_rhai_path_only() {
    let world = World::new(&["alpha", "beta"]);
    world.write_script(
        "alpha",
        "greet.rhai",
        r#"fn hello(name) { `hello, ${name}` }"#,
    );
    world.write_script("alpha", "lib/math.rhai", "fn double(x) { x * 2 }");
    std::fs::write(world.path("secret.rhai"), "fn leak() { 42 }").expect("write");
    std::os::unix::fs::symlink(
        world.path("secret.rhai"),
        world.path("scripts/alpha/link.rhai"),
    )
    .expect("symlink");
    let launcher = world.launch();
    let alpha = launcher.row("alpha").url.clone();
    let beta = launcher.row("beta").url.clone();
    let key = SecretKey::generate();

    let ok = play_as(
        &alpha,
        &key,
        None,
        r#"import "greet" as g; import "lib/math" as m; g::hello("bob") + " " + m::double(21)"#,
    )
    .await
    .expect("modules inside rhai_path import");
    assert_eq!(ok.output, "hello, bob 42");

    for escape in ["../../secret", "/etc/passwd", "lib/../../../secret", "link"] {
        let script = format!(r#"import "{escape}" as s; s::leak()"#);
        let refused = play_as(&alpha, &key, None, &script)
            .await
            .expect_err("an import escaping rhai_path is refused");
        assert!(
            matches!(
                play_error(&refused),
                Some(PlayError::ScriptRuntimeError(_) | PlayError::ScriptCompileError(_))
            ),
            "{escape}: {refused}"
        );
    }
    // beta's library is its own: alpha's module is not there.
    let missing = play_as(&beta, &key, None, r#"import "greet" as g; g::hello("x")"#)
        .await
        .expect_err("beta cannot import alpha's module");
    assert!(missing.to_string().contains("greet"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_circle_does_not_stop_the_others() {
    let mut world = World::new(&["busy", "calm"]);
    world.circles[0]["access"] = json!({"play": "anyone", "call": "anyone"});
    world.circles[0]["limits"] = json!({"workers": 1, "queue": 1, "max_time_ms": 3000, "max_operations": 1_000_000_000_000u64});
    let launcher = world.launch();
    let busy = launcher.row("busy").url.clone();
    let calm = launcher.row("calm").url.clone();

    // Fill busy's only worker and its queue with endless loops.
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let url = busy.clone();
        hogs.push(tokio::spawn(async move {
            let circle = rpc_client::connect(&url).await?;
            circle.play("loop {}").await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let key = SecretKey::generate();
    let answer = play_as(&calm, &key, None, "40 + 2")
        .await
        .expect("the calm circle answers while the other is saturated");
    assert_eq!(answer.value, json!(42));
    assert!(
        hogs.iter().any(|hog| !hog.is_finished()),
        "busy was still saturated when calm answered"
    );
    // Each endless loop ends with a limit error: `time` for those that ran, `busy` for
    // those the full queue turned away.
    for hog in hogs {
        let error = hog
            .await
            .expect("task")
            .expect_err("an endless loop never succeeds");
        assert!(
            matches!(play_error(&error), Some(PlayError::ScriptLimitExceeded(_))),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_example_modules_store_and_read_back() {
    let world = World::new(&["alice", "bob"]);
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts");
    for (circle, module) in [("alice", "guestbook.rhai"), ("bob", "notes.rhai")] {
        let text = std::fs::read_to_string(format!("{shipped}/{circle}/{module}"))
            .expect("the example module is shipped");
        world.write_script(circle, module, &text);
    }
    let launcher = world.launch();
    let (me, you) = (SecretKey::generate(), SecretKey::generate());
    let alice = launcher.row("alice").url.clone();
    let bob = launcher.row("bob").url.clone();

    // An attacker tries to take my guestbook entry and my first note before I write them:
    // the store keeps keys with my `@` segment for me.
    let attacker = SecretKey::generate();
    for (url, key) in [
        (&alice, format!("guestbook/@{}", me.public_key())),
        (&bob, format!("notes/@{}/0", me.public_key())),
    ] {
        let squat = format!(r#"store::set("{key}", "squatted")"#);
        let refused = play_as(url, &attacker, None, &squat)
            .await
            .expect_err("squatting is refused");
        assert!(
            matches!(
                play_error(&refused),
                Some(PlayError::ScriptRuntimeError(data)) if data.message.contains("is reserved for the caller")
            ),
            "{key}: {refused}"
        );
    }

    let book = r#"import "guestbook" as book; book::sign("hi"); book::read()"#;
    play_as(&alice, &me, None, book)
        .await
        .expect("first signature");
    let read = play_as(&alice, &you, None, book)
        .await
        .expect("second signature");
    assert_eq!(
        read.value,
        json!([
            format!("{}: hi", me.public_key()),
            format!("{}: hi", you.public_key())
        ])
    );

    let notes = r#"import "notes" as notes; notes::add("mine"); notes::mine()"#;
    play_as(&bob, &me, None, notes).await.expect("note");
    let yours = play_as(&bob, &you, None, notes).await.expect("note");
    assert_eq!(
        yours.value,
        json!(["mine"]),
        "a caller sees only its own notes"
    );
    let mine = play_as(
        &bob,
        &me,
        None,
        r#"import "notes" as notes; notes::add("second"); [notes::mine(), store::entry(`notes/@${CALLER_PUBLIC_KEY}/0`).author]"#,
    )
    .await
    .expect("second note");
    assert_eq!(
        mine.value,
        json!([["mine", "second"], me.public_key().to_hex()])
    );
}

#[test]
fn the_web_console_is_served_on_each_circle_port() {
    let world = World::new(&["alpha", "beta"]);
    let console = concat!(env!("CARGO_MANIFEST_DIR"), "/../console");
    let launcher = support::Launcher::start_with(&world.write(), 2, &["--console-dir", console]);
    for row in &launcher.rows {
        let addr = row.url.trim_start_matches("ws://");
        let mut http = std::net::TcpStream::connect(addr).expect("connects");
        use std::io::{Read, Write};
        write!(
            http,
            "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut page = String::new();
        http.read_to_string(&mut page).expect("read");
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("<title>"), "the console page: {page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_script_finish_then_exits_0() {
    let mut world = World::new(&["alpha"]);
    world.circles[0]["access"] = json!({"play": "anyone", "call": "anyone"});
    world.circles[0]["limits"] = json!({"max_operations": 1_000_000_000u64, "max_time_ms": 5000});
    let launcher = world.launch();
    let url = launcher.row("alpha").url.clone();
    let circle = rpc_client::connect(&url).await.expect("connects");
    let running = tokio::spawn(async move {
        circle
            .play(r#"let t = timestamp(); while t.elapsed < 0.7 {} store::set("done", true); "finished""#)
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let pid = launcher.child.id();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let answer = running.await.expect("task");
    assert_eq!(
        answer
            .expect("the running script finished and answered")
            .output,
        "finished"
    );
    let store = launcher.row("alpha").db_path.join("store.redb");
    assert_eq!(launcher.wait_exit(), Some(0), "exit 0 after SIGTERM");
    assert!(!support::listening(&url), "no longer listening");
    assert!(
        !support::needs_repair(&store),
        "the store was closed cleanly, after the script's write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once() {
    let mut world = World::new(&["alpha"]);
    world.circles[0]["access"] = json!({"play": "anyone", "call": "anyone"});
    world.circles[0]["limits"] =
        json!({"max_operations": 1_000_000_000_000u64, "max_time_ms": 60000});
    let launcher = world.launch();
    let url = launcher.row("alpha").url.clone();
    let circle = rpc_client::connect(&url).await.expect("connects");
    let endless = tokio::spawn(async move { circle.play("loop {}").await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let pid = launcher.child.id().to_string();
    for _ in 0..2 {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status();
        assert!(sent.expect("kill runs").success());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A clean stop would wait for the script (60 s) and exit 0.
    assert_eq!(launcher.wait_exit(), Some(1), "cut short: exit 1");
    endless.abort();
}
