//! Scripts that grew the launcher to gigabytes, against a real `launcher` process: its memory
//! (sampled from `/proc/PID/status` while they run) stays bounded, and its circle answers a
//! normal `play` during and after them. The launcher runs under an address-space limit, so a
//! regression fails the test instead of exhausting the machine.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rpc_client::{LimitName, PlayError, SecretKey};
use serde_json::json;
use support::{LAUNCHER, Launcher, World, play_error};

/// The launcher's address-space limit: room for its threads' stacks and allocator arenas,
/// far below what the attacks reached without the memory budget.
const ADDRESS_SPACE_LIMIT: u64 = 3 * 1024 * 1024 * 1024;

/// The most the launcher may have resident at once during the attacks: two runs (one per
/// worker) at their 64 MiB budget and one operation past it, the rest of the process, and
/// what the allocator keeps for reuse.
const MAX_RESIDENT: u64 = 400 * 1024 * 1024;

/// The memory tests start their own launcher each; one at a time, so that neither measures
/// the other's load.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts `world`'s launcher under [`ADDRESS_SPACE_LIMIT`]: through `prlimit` when it is
/// installed (it sets the limit, then runs the launcher in its own process), else by setting
/// it in the child before it runs the launcher.
fn launch_capped(world: &World) -> Launcher {
    let config = world.write();
    let mut command = if Command::new("prlimit").arg("--version").output().is_ok() {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--as={ADDRESS_SPACE_LIMIT}"))
            .arg("--")
            .arg(LAUNCHER);
        command
    } else {
        let mut command = Command::new(LAUNCHER);
        use std::os::unix::process::CommandExt;
        // SAFETY: runs in the forked child before exec; setrlimit is async-signal-safe and
        // the closure touches nothing else.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: ADDRESS_SPACE_LIMIT as libc::rlim_t,
                    rlim_max: ADDRESS_SPACE_LIMIT as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command
    };
    command
        .arg("--config")
        .arg(config)
        .arg("--no-console")
        .stderr(Stdio::inherit());
    Launcher::spawn(command, world.circles.len())
}

/// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples the process's resident memory every 10 ms until dropped; the highest seen.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(rss) = status_bytes(pid, "VmRSS:") {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler { peak, stop }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A signed-in connection to `url`.
async fn connect(url: &str) -> rpc_client::CircleClient<rpc_client::Transport> {
    let client = rpc_client::connect(url).await.expect("connect");
    client
        .authenticate(&SecretKey::generate(), None)
        .await
        .expect("sign in");
    client
}

const MIB: u64 = 1024 * 1024;

/// A 512 KiB string.
const BIG: &str = r#"let big = "x"; for i in 0..19 { big += big; }"#;

fn attacks() -> Vec<String> {
    vec![
        "let f = |x| x; loop { f = f.curry(f); }".to_owned(),
        format!(
            r#"{BIG} let fs = []; let i = 0; loop {{ fs.push(Fn("f").curry(big + i)); i += 1; }}"#
        ),
        format!("{BIG} let fs = []; let i = 0; loop {{ let s = big + i; fs.push(|| s); i += 1; }}"),
        format!("{BIG} let m = #{{}}; let i = 0; loop {{ m[`k${{i}}`] = big + i; i += 1; }}"),
        format!("{BIG} let a = []; a.pad(1000, 0); for i in 0..1000 {{ a[i] = big + i; }}"),
        r#"let a = []; a.pad(100000, 1); let f = Fn("x").curry(a); let b = []; b.pad(100000, f);"#
            .to_owned(),
        format!("{BIG} let f = || big; let a = []; a.pad(100000, f); `${{a}}`"),
        format!("{BIG} let f = || big; let a = []; a.pad(100000, f); #{{a: a}}.to_json()"),
        "let a = [0]; let f = || a; a[0] = f; #{a: a}.to_json()".to_owned(),
        format!("{BIG} let f = || big; let a = []; a.pad(100000, f); throw a;"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_attacks_stay_bounded_and_the_circle_keeps_answering() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut world = World::new(&["target"]);
    world.circles[0]["limits"] = json!({ "workers": 2 });
    let launcher = launch_capped(&world);
    let pid = launcher.child.id();
    let url = launcher.url("target");
    let sampler = RssSampler::start(pid);
    let baseline = status_bytes(pid, "VmRSS:").unwrap_or(0);

    // A caller playing normally all along, on its own connection.
    let normal = connect(&url).await;
    let attacking = Arc::new(AtomicBool::new(true));
    let normal_caller = {
        let attacking = Arc::clone(&attacking);
        tokio::spawn(async move {
            let (mut answered, mut slowest) = (0u32, Duration::ZERO);
            while attacking.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = normal
                    .play("40 + 2")
                    .await
                    .expect("a normal play is answered");
                assert_eq!(result.value, json!(42));
                slowest = slowest.max(started.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (answered, slowest)
        })
    };

    // Two attackers, so that both workers run attacks at once.
    let started = Instant::now();
    let mut attackers = Vec::new();
    for half in 0..2 {
        let client = connect(&url).await;
        attackers.push(tokio::spawn(async move {
            let mut limits = Vec::new();
            for script in attacks().into_iter().skip(half).step_by(2) {
                let error = client
                    .play(script.as_str())
                    .await
                    .expect_err("every attack is stopped");
                match play_error(&error) {
                    Some(PlayError::ScriptLimitExceeded(data)) => limits.push(data.limit),
                    // (a thrown value is a runtime error, reported in bounded space)
                    Some(PlayError::ScriptRuntimeError(data)) => {
                        assert!(data.message.len() <= 4100, "{}", data.message.len());
                    }
                    _ => panic!("{script:.60}: {error}"),
                }
            }
            limits
        }));
    }
    let mut limits = Vec::new();
    for attacker in attackers {
        limits.extend(attacker.await.expect("attacker"));
    }
    let attack_time = started.elapsed();
    attacking.store(false, Ordering::Relaxed);
    let (answered, slowest) = normal_caller.await.expect("normal caller");
    let sampled_peak = sampler.peak();
    let high_water = status_bytes(pid, "VmHWM:").unwrap_or(0);
    eprintln!(
        "attacks: {attack_time:?}; limits {limits:?}; resident: baseline {} MiB, sampled peak \
         {} MiB, high-water mark {} MiB; normal plays answered {answered}, slowest {slowest:?}",
        baseline / MIB,
        sampled_peak / MIB,
        high_water / MIB
    );

    assert!(
        limits.iter().filter(|l| **l == LimitName::Memory).count() >= 5,
        "{limits:?}"
    );
    assert!(sampled_peak > 0, "VmRSS is read");
    // (The kernel updates its counters lazily: either can be a little behind the other.)
    let peak = sampled_peak.max(high_water);
    assert!(
        peak < MAX_RESIDENT,
        "peak resident memory {} MiB",
        peak / MIB
    );
    assert!(
        answered >= 3,
        "the normal caller was answered {answered} times"
    );
    assert!(
        slowest < Duration::from_secs(5),
        "slowest normal play {slowest:?}"
    );

    // And after: the same circle, a new connection, a normal script.
    let after = connect(&url).await;
    let result = after.play("40 + 2").await.expect("play after the attacks");
    assert_eq!(result.value, json!(42));
    assert_eq!(
        launcher.signal("TERM"),
        Some(0),
        "the launcher survived and stops cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_distinct_scripts_do_not_pin_more_than_the_cache_bound() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut world = World::new(&["target"]);
    world.circles[0]["limits"] = json!({ "workers": 1, "max_operations": 10 });
    let launcher = launch_capped(&world);
    let pid = launcher.child.id();
    let client = connect(&launcher.url("target")).await;
    client.play("40 + 2").await.expect("warm up");
    let before = status_bytes(pid, "VmRSS:").unwrap_or(0);
    // 60 distinct scripts of 60 KiB, each compiling to about 1.6 MB: kept by entries alone
    // (1 024), about 96 MB; by bytes, at most `cache_bytes` (16 MiB).
    let body = "f(1, 2, 3);".repeat(5_500);
    for i in 0..60 {
        // (Each stops at once: `f` is no function; compiled and cached all the same.)
        let _ = client.play(format!("let v = {i}; {body}").as_str()).await;
    }
    let after = status_bytes(pid, "VmRSS:").unwrap_or(0);
    let grown = after.saturating_sub(before);
    eprintln!(
        "resident before {} MiB, after {} MiB",
        before / MIB,
        after / MIB
    );
    assert!(grown < 48 * MIB, "grew by {} MiB", grown / MIB);
    let result = client.play("40 + 2").await.expect("play after");
    assert_eq!(result.value, json!(42));
}
