//! Attacks on a circle's store, against a real launcher process: filling the disk through one
//! caller, and listings of huge entries. (Squatting another caller's key is refused in
//! `circles_world.rs`, with the shipped modules.)

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rpc_client::{LimitName, PlayError, SecretKey};
use serde_json::json;
use support::{LAUNCHER, Launcher, World, play_as, play_error};

/// The launcher's address-space limit in these tests: far above what it needs (its worker
/// stacks and allocator arenas are mostly reserved, not used), far below what a regression
/// that loads every listed value would take; such a regression then fails the test, not the
/// machine.
const ADDRESS_SPACE_KIB: u64 = 4 * 1024 * 1024;

/// Starts the launcher on `world` under [`ADDRESS_SPACE_KIB`].
fn launch_limited(world: &World) -> Launcher {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            r#"ulimit -v {ADDRESS_SPACE_KIB} && exec "$0" "$@""#
        ))
        .arg(LAUNCHER)
        .arg("--config")
        .arg(world.write())
        .arg("--no-console");
    Launcher::spawn(command, world.circles.len())
}

/// Resident memory of process `pid`, in KiB (`VmRSS` of `/proc/PID/status`).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples `pid`'s resident memory every 5 ms until dropped; the peak.
struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(resident_kib(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (peak_kib, stop) = (peak_kib.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    peak_kib.fetch_max(resident_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Self {
            peak_kib,
            stop,
            thread: Some(thread),
        }
    }

    fn peak_kib(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("sampler");
        }
        self.peak_kib.load(Ordering::Relaxed)
    }
}

fn limit_of(error: &rpc_client::Error) -> Option<(LimitName, String)> {
    match play_error(error) {
        Some(PlayError::ScriptLimitExceeded(data)) => Some((data.limit, data.message.clone())),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_fills_its_quota_gets_store_quota_and_others_still_write() {
    let mut world = World::new(&["alpha"]);
    world.circles[0]["store"] = json!({
        "max_bytes": 2_000_000,
        "max_bytes_per_author": 500_000,
        "max_entries_per_author": 1_000,
    });
    let launcher = world.launch();
    let url = launcher.url("alpha");
    let (attacker, victim) = (SecretKey::generate(), SecretKey::generate());

    // As fast as it can, in one run, catching every error: the quota ends the run anyway.
    let flood = r#"
        let chunk = "";
        chunk.pad(60000, "x");
        let n = 0;
        loop {
            try { store::set(`flood/${n}`, chunk); } catch (e) { print(e); }
            n += 1;
        }
    "#;
    let error = play_as(&url, &attacker, None, flood)
        .await
        .expect_err("the flood is stopped");
    let (limit, message) = limit_of(&error).unwrap_or_else(|| panic!("{error}"));
    assert_eq!(limit, LimitName::StoreQuota, "{message}");
    assert!(
        message.contains("max_bytes_per_author (500000)"),
        "{message}"
    );
    // A run stopped by a limit leaves no writes.
    let usage = play_as(&url, &attacker, None, "store::usage()")
        .await
        .expect("usage");
    assert_eq!(usage.value["author"]["bytes"], json!(0), "{}", usage.value);
    // Filled up to the quota by a run that stops in time (it sees its own writes' usage).
    let fill = r#"
        let chunk = "";
        chunk.pad(60000, "x");
        let n = 0;
        while store::usage().author.bytes + 61000 <= 500000 { store::set(`flood/${n}`, chunk); n += 1; }
        n
    "#;
    play_as(&url, &attacker, None, fill).await.expect("fill");
    let usage = play_as(&url, &attacker, None, "store::usage()")
        .await
        .expect("usage");
    let stored = usage.value["author"]["bytes"].as_u64().expect("bytes");
    assert!(
        (440_000..=500_000).contains(&stored),
        "the attacker holds its quota, no more: {stored}"
    );
    // Again, in a new run: refused at the first write.
    let error = play_as(
        &url,
        &attacker,
        None,
        r#"let s = ""; s.pad(60000, "x"); store::set("one/more", s)"#,
    )
    .await
    .expect_err("still over");
    assert_eq!(
        limit_of(&error).map(|(limit, _)| limit),
        Some(LimitName::StoreQuota)
    );

    // Someone else writes as usual, and the circle answers.
    let ok = play_as(
        &url,
        &victim,
        None,
        r#"store::set("mine", "hello"); store::get("mine")"#,
    )
    .await
    .expect("another caller writes");
    assert_eq!(ok.value, json!("hello"));

    // The counters survive a restart: the attacker is still at its quota.
    drop(launcher);
    let launcher = world.launch();
    let url = launcher.url("alpha");
    let error = play_as(
        &url,
        &attacker,
        None,
        r#"let s = ""; s.pad(60000, "x"); store::set("after/restart", s)"#,
    )
    .await
    .expect_err("still over after a restart");
    assert_eq!(
        limit_of(&error).map(|(limit, _)| limit),
        Some(LimitName::StoreQuota)
    );
    // Deleting gives room back.
    play_as(
        &url,
        &attacker,
        None,
        r#"store::delete("flood/0"); store::set("flood/0", "small")"#,
    )
    .await
    .expect("room after a delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_guestbook_of_huge_entries_stays_within_the_time_limit_and_bounded_memory() {
    const HUGE_ENTRIES: usize = 64;
    let mut world = World::new(&["alice"]);
    world.circles[0]["limits"] = json!({"max_time_ms": 1000, "workers": 2});
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/alice/guestbook.rhai"
    );
    world.write_script(
        "alice",
        "guestbook.rhai",
        &std::fs::read_to_string(shipped).expect("the guestbook is shipped"),
    );
    // Written once by many callers (each under its own reserved key), before the circle
    // starts: 64 MiB of signatures, each as large as a value may be.
    {
        let store = circles_store::Store::open(&world.path("data/alice")).expect("store");
        let huge = json!("h".repeat(circles_store::MAX_VALUE_BYTES - 2));
        for i in 0..HUGE_ENTRIES {
            let author = format!("{i:066x}");
            store
                .set(&format!("guestbook/@{author}"), &huge, &author)
                .expect("set");
        }
    }
    let launcher = launch_limited(&world);
    let url = launcher.url("alice");
    let pid = launcher.child.id();
    let reader = SecretKey::generate();
    play_as(
        &url,
        &reader,
        None,
        r#"import "guestbook" as book; book::sign("hello")"#,
    )
    .await
    .expect("a real signature, listed after the huge ones");
    let read = r#"import "guestbook" as book; book::read()"#;
    let baseline_kib = resident_kib(pid);

    let sampler = RssSampler::start(pid);
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (url, reader) = (url.clone(), reader.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = play_as(&url, &reader, None, read).await;
                (answer, started.elapsed())
            })
        })
        .collect();
    // The circle answers a normal play meanwhile.
    let normal = play_as(&url, &SecretKey::generate(), None, "40 + 2")
        .await
        .expect("a normal play during the reads");
    assert_eq!(normal.value, json!(42));
    for task in readers {
        let (answer, elapsed) = task.await.expect("task");
        let answer = answer.expect("read() answers");
        // The huge entries are too large for a run's strings (1 MiB): they are skipped
        // without being decoded, and the real signature is found after them.
        assert_eq!(
            answer.value,
            json!([format!("{}: hello", reader.public_key())])
        );
        assert!(
            elapsed < Duration::from_secs(3),
            "answered within the time limit (plus waiting for a worker): {elapsed:?}"
        );
    }
    let peak_kib = sampler.peak_kib();
    let grown_mib = peak_kib.saturating_sub(baseline_kib) / 1024;
    eprintln!("resident: {baseline_kib} KiB before, peak {peak_kib} KiB during the reads");
    // Loading every entry would take over 64 MiB per read, two reads at a time (and redb's
    // default cache would keep up to 1 GiB of them); the store's cache is 32 MiB.
    assert!(grown_mib < 64, "memory grew by {grown_mib} MiB");
    let after = play_as(&url, &reader, None, "40 + 2")
        .await
        .expect("a normal play after the reads");
    assert_eq!(after.value, json!(42));
}
