//! Every bad config gets a message naming the file and the field, a non-zero exit, and
//! nothing started: no table printed, no data directory created.

mod support;

use serde_json::json;
use support::{World, port_in_use, run_launcher};

/// Runs both `launcher --config FILE` and `launcher check FILE` on the world's config and
/// checks they fail alike, with `code` and a message containing each of `needles`, and
/// start nothing.
fn assert_refused(world: &World, code: i32, needles: &[&str]) {
    let config = world.config_path();
    let config = config.to_str().expect("utf-8 path");
    for args in [
        vec!["--config", config, "--no-console"],
        vec!["check", config],
    ] {
        let out = run_launcher(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.contains("circles.json"),
            "{args:?}: names the file: {stderr}"
        );
        for needle in needles {
            assert!(stderr.contains(needle), "{args:?}: {needle:?} in {stderr}");
        }
        assert_started_nothing(world, &out);
    }
}

/// No circle was started: the launcher printed no table (it does once its circles listen)
/// and created no data directory (it does first when starting a circle).
fn assert_started_nothing(world: &World, out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("ws://") && !stdout.contains("ready:"),
        "no circle was started: {stdout}"
    );
    assert!(
        !world.path("data").exists(),
        "no data directory was created"
    );
}

fn world_with(change: impl FnOnce(&mut World)) -> World {
    let mut world = World::new(&["alpha", "beta"]);
    change(&mut world);
    world.write();
    world
}

#[test]
fn a_missing_file_is_unreadable() {
    let world = World::new(&["alpha"]);
    assert_refused(&world, 3, &["cannot read"]);
}

#[test]
fn invalid_json_names_line_and_column() {
    let world = World::new(&["alpha"]);
    std::fs::write(world.config_path(), "[{\"id\": \"alpha\",}]").expect("write");
    assert_refused(&world, 4, &["line 1 column"]);
}

#[test]
fn a_missing_field_is_named() {
    let world = world_with(|w| {
        w.circles[1].as_object_mut().expect("object").remove("port");
    });
    assert_refused(&world, 4, &["[1]", "missing field `port`"]);
}

#[test]
fn an_unknown_field_is_named() {
    let world = world_with(|w| w.circles[0]["prot"] = json!(1234));
    assert_refused(&world, 4, &["[0].prot", "unknown field `prot`"]);
}

#[test]
fn a_field_of_the_wrong_type_is_named() {
    let world = world_with(|w| w.circles[1]["limits"] = json!({"max_time_ms": "soon"}));
    assert_refused(&world, 4, &["[1].limits.max_time_ms", "invalid type"]);
}

#[test]
fn duplicate_ids_are_refused() {
    let world = world_with(|w| w.circles[1]["id"] = json!("alpha"));
    assert_refused(
        &world,
        4,
        &["[1].id", "id \"alpha\" is already used by [0]"],
    );
}

#[test]
fn duplicate_ports_are_refused() {
    // Any fixed port would do; one held by a listener cannot be bound by the launcher's
    // check meanwhile, which reports that too, but an invalid config wins the exit code.
    let (_taken, port) = port_in_use();
    let world = world_with(|w| {
        w.circles[0]["port"] = json!(port);
        w.circles[1]["port"] = json!(port);
    });
    assert_refused(&world, 4, &["[1].port", "is already used by [0] (alpha)"]);
}

#[test]
fn duplicate_db_paths_are_refused_however_spelled() {
    let world = world_with(|w| w.circles[1]["db_path"] = json!("./data/../data/alpha"));
    assert_refused(
        &world,
        4,
        &["[1].db_path", "is already used by [0] (alpha)"],
    );
}

#[test]
fn nested_db_paths_are_refused() {
    let world = world_with(|w| w.circles[1]["db_path"] = json!("data/alpha/beta"));
    assert_refused(
        &world,
        4,
        &["[1].db_path", "inside the db_path of [0] (alpha)"],
    );
}

#[test]
fn invalid_ids_are_refused() {
    for id in ["Alpha", "", "has space", "a/b", &"x".repeat(65)] {
        let world = world_with(|w| w.circles[0]["id"] = json!(id));
        assert_refused(&world, 4, &["[0].id", "invalid id"]);
    }
}

#[test]
fn invalid_limits_are_refused() {
    let world = world_with(|w| w.circles[0]["limits"] = json!({"workers": 0}));
    assert_refused(&world, 4, &["[0].limits", "workers"]);
    let world = world_with(|w| w.circles[1]["server"] = json!({"max_batch_calls": 0}));
    assert_refused(&world, 4, &["[1].server", "max_batch_calls"]);
    for (server, field) in [
        (json!({"max_calls_in_flight": 0}), "max_calls_in_flight"),
        (json!({"max_calls_in_flight": 5000}), "max_calls_in_flight"),
        (
            json!({"max_connections_per_ip": 0}),
            "max_connections_per_ip",
        ),
        (json!({"header_timeout_secs": 0}), "header_timeout_secs"),
        (
            json!({"header_timeout_secs": 60, "http_timeout_secs": 30}),
            "http_timeout_secs",
        ),
    ] {
        let world = world_with(|w| w.circles[1]["server"] = server.clone());
        assert_refused(&world, 4, &["[1].server", field]);
    }
    let world = world_with(|w| w.circles[0]["store"] = json!({"max_entries_per_author": 0}));
    assert_refused(
        &world,
        4,
        &["[0].store", "max_entries_per_author", "at least 1"],
    );
    let world = world_with(|w| {
        w.circles[1]["store"] = json!({"max_bytes": 1000, "max_bytes_per_author": 2000})
    });
    assert_refused(
        &world,
        4,
        &["[1].store", "max_bytes_per_author", "over max_bytes (1000)"],
    );
    let world = world_with(|w| w.circles[0]["store"] = json!({"max_list_bytes": 1024}));
    assert_refused(&world, 4, &["[0].store", "max_list_bytes", "largest entry"]);
    let world = world_with(|w| w.circles[0]["store"] = json!({"max_byts": 1}));
    assert_refused(&world, 4, &["[0].store.max_byts", "unknown field"]);
}

#[test]
fn an_empty_list_is_refused() {
    let world = world_with(|w| w.circles.clear());
    assert_refused(&world, 4, &["lists no circles"]);
}

#[test]
fn a_port_in_use_is_refused() {
    let mut world = World::new(&["alpha", "beta"]);
    // Held until the end of the test: the port stays in use whatever else runs meanwhile.
    let (taken, port) = port_in_use();
    world.circles[1]["port"] = json!(port);
    world.write();
    // Only beta's port is taken; alpha must not have been started either.
    let config = world.config_path();
    let out = run_launcher(&["--config", config.to_str().expect("utf-8"), "--no-console"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("[1].port") && stderr.contains("cannot listen"),
        "{stderr}"
    );
    assert_started_nothing(&world, &out);
    drop(taken);
}

#[test]
fn a_missing_rhai_path_is_refused() {
    let world = world_with(|w| w.circles[0]["rhai_path"] = json!("scripts/nowhere"));
    assert_refused(&world, 5, &["[0].rhai_path", "is not a directory"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let world = world_with(|w| {
        w.circles[0]["id"] = json!("BAD");
        w.circles[1]["rhai_path"] = json!("scripts/nowhere");
    });
    // The invalid config wins the exit code; both problems are listed.
    assert_refused(&world, 4, &["[0].id", "[1].rhai_path"]);
}

#[test]
fn a_good_config_checks_ok_and_starts_nothing() {
    let world = World::new(&["alpha", "beta"]);
    let config = world.write();
    let out = run_launcher(&["check", config.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both circles have port 0 (any free port): it may repeat, unlike fixed ports.
    assert!(world.circles.iter().all(|c| c["port"] == 0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (2 circles)"));
    assert!(!world.path("data").exists());
}

#[test]
fn help_explains_the_config_format() {
    let out = run_launcher(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for needle in [
        "db_path",
        "rhai_path",
        "members",
        "access",
        "0 for any free port",
        "Exit codes",
        "check",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}: {help}");
    }
}

#[test]
fn a_db_path_reached_through_a_symlink_is_the_same_db_path() {
    let world = world_with(|w| w.circles[1]["db_path"] = json!("data/alias"));
    std::fs::create_dir_all(world.path("data/alpha")).expect("mkdir");
    std::os::unix::fs::symlink(world.path("data/alpha"), world.path("data/alias"))
        .expect("symlink");
    let config = world.config_path();
    let out = run_launcher(&["check", config.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("[1].db_path") && stderr.contains("is already used by [0] (alpha)"),
        "{stderr}"
    );
    assert!(!world.path("data/alpha/identity.key").exists());
}

#[test]
fn a_script_library_over_another_circles_data_is_refused() {
    let world = world_with(|w| w.circles[1]["rhai_path"] = json!("data"));
    assert_refused(
        &world,
        4,
        &["[1].rhai_path", "overlaps the db_path of [0] (alpha)"],
    );
}

#[test]
fn every_mistake_is_reported_at_once_parse_errors_included() {
    let world = world_with(|w| {
        // [0]: a misspelled field (so `port` is missing) and a value of the wrong type.
        let alpha = w.circles[0].as_object_mut().expect("object");
        let port = alpha.remove("port").expect("port");
        alpha.insert("prot".into(), port);
        w.circles[0]["limits"] = json!({"max_time_ms": "soon", "max_time": 5});
        // [1]: parses, but its id is invalid and its script folder missing.
        w.circles[1]["id"] = json!("Beta");
        w.circles[1]["rhai_path"] = json!("scripts/nowhere");
        w.circles[1]["store"] = json!({"max_byts": 1});
        // [2]: not a circle at all.
        w.circles.push(json!("gamma"));
    });
    assert_refused(
        &world,
        4,
        &[
            "[0].prot: unknown field `prot`: did you mean `port`?",
            "[0]: missing field `port`",
            "[0].limits.max_time: unknown field `max_time`: did you mean `max_time_ms`?",
            "[0].limits.max_time_ms: invalid type: string \"soon\"",
            "[1].store.max_byts: unknown field `max_byts`: did you mean `max_bytes`?",
            "[1].id: invalid id \"Beta\"",
            "[1].rhai_path",
            "is not a directory",
            "[2]: a circle is a JSON object",
        ],
    );
}

#[test]
fn misspelled_fields_get_the_field_they_most_likely_mean() {
    let world = world_with(|w| {
        w.circles[0]["dbpath"] = json!("data/x");
        w.circles[0]["Host"] = json!("127.0.0.1");
        w.circles[0]["server"] = json!({"max_conections": 5});
        w.circles[0]["access"] = json!({"ply": "anyone"});
        w.circles[1]["max_time_ms"] = json!(100);
        w.circles[1]["colour"] = json!("blue");
        w.circles[1]["peers"] =
            json!([{"id": "far", "url": "ws://127.0.0.1:1", "publickey": "02"}]);
    });
    assert_refused(
        &world,
        4,
        &[
            "[0].dbpath: unknown field `dbpath`: did you mean `db_path`?",
            "[0].Host: unknown field `Host`: did you mean `host`?",
            "[0].server.max_conections: unknown field `max_conections`: did you mean `max_connections`?",
            "[0].access.ply: unknown field `ply`: did you mean `play`?",
            "[1].max_time_ms: unknown field `max_time_ms`: it is a field of `limits`",
            "[1].colour: unknown field `colour`, expected one of `access`",
            "[1].peers[0].publickey: unknown field `publickey`: did you mean `public_key`?",
            "[1].peers[0]: missing field `public_key`",
        ],
    );
}

#[test]
fn a_repeated_field_and_a_lone_circle_are_refused_with_what_to_do() {
    let world = World::new(&["alpha"]);
    std::fs::write(
        world.config_path(),
        r#"[{"id": "alpha", "port": 0, "port": 1, "db_path": "data/a", "rhai_path": "scripts/alpha"}]"#,
    )
    .expect("write");
    assert_refused(&world, 4, &["[0]", "duplicate field `port`"]);
    std::fs::write(
        world.config_path(),
        r#"{"id": "alpha", "port": 0, "db_path": "data/a", "rhai_path": "scripts/alpha"}"#,
    )
    .expect("write");
    assert_refused(
        &world,
        4,
        &["must be a JSON array of circles", "put it in [ ]"],
    );
}

/// A port held by a running launcher is named as such, by `launcher check` and by a second
/// launcher on the same file: the file is right, the launcher is running already.
#[test]
fn a_port_held_by_a_running_launcher_says_so() {
    let first = World::new(&["alpha"]);
    let running = first.launch();
    let port = running.addr("alpha").port();
    let circle_key = running.row("alpha").public_key.to_hex();

    let second = world_with(|w| {
        w.circles[0]["port"] = json!(port);
    });
    let config = second.config_path();
    let config = config.to_str().expect("utf-8");
    for args in [
        vec!["check", config],
        vec!["--config", config, "--no-console"],
    ] {
        let out = run_launcher(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {stderr}");
        for needle in [
            format!("[0].port: port {port} is in use by a running circle"),
            format!("circle \"alpha\" (key {circle_key})"),
            "Is the launcher already running?".to_owned(),
        ] {
            assert!(stderr.contains(&needle), "{args:?}: {needle:?} in {stderr}");
        }
        assert_eq!(stderr.lines().count(), 1, "one problem: {stderr}");
        assert_started_nothing(&second, &out);
    }
    drop(running);
}

#[test]
fn check_warns_of_a_circle_beyond_loopback_without_failing() {
    let world = world_with(|w| {
        w.circles[0]["host"] = json!("0.0.0.0");
        w.circles[1]["host"] = json!("::1");
    });
    let config = world.config_path();
    let out = run_launcher(&["check", config.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not an error: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (2 circles)"));
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "alpha only (beta is on ::1): {stderr}");
    for needle in [
        "launcher: warning: circle alpha listens on 0.0.0.0",
        "unencrypted",
        "TLS proxy",
        "127.0.0.1",
    ] {
        assert!(warnings[0].contains(needle), "{needle:?} in {stderr}");
    }
}
