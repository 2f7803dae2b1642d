//! Latency of a trivial cross-circle call next to the same call made directly, out of
//! process: the real `launcher` binary runs circles `alice` and `bob`, this process is
//! their client. Prints numbers; asserts nothing about speed.
//!
//!     cargo bench -p launcher --bench peer_call
//!
//! - direct: client → bob, `call("echo", "ping", [1])` (bob's `fn ping(x) { x }`);
//! - cross: client → alice, `call("relay", "ping", [1])`, whose script calls bob:
//!   `peers::invoke("bob", "echo", "ping", [x])` (signed in as alice, on the one connection
//!   alice keeps to bob).
//!
//! To see where the time goes it also measures `local`, client → alice,
//! `call("relay", "local", [1])` (`fn local(x) { x }`: alice's side of the cross call without
//! the peer call), and the alice → bob leg from inside alice's script (`relay::legs(n)`
//! times n `peers::invoke`s in a row; both circles get `max_peer_calls` 500 for it), and
//! shows the launcher's CPU time and context switches per call, by thread.
//!
//! One signed-in connection to each circle, one request at a time (latency, not
//! throughput), after a warm-up (the first cross call also makes alice's connection to bob).
//! Each round measures every call, in rotating order, so that drift in the machine's load
//! weighs on all alike; the ratios printed last are medians over rounds.
//!
//! Environment: BENCH_ROUNDS (default 5), BENCH_CALLS per call and round (default 2000),
//! BENCH_WARMUP calls of each before the first round (default 200), BENCH_WORKERS (sandbox
//! worker threads of both circles; default: the machine's parallelism), BENCH_LAUNCHER (a
//! launcher binary to measure instead of this build's).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rpc_client::{CircleClient, PublicKey, SecretKey, Transport};

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use support::{LAUNCHER, Launcher};

const ECHO: &str = "fn ping(x) { x }\n";
const RELAY: &str = r#"fn ping(x) { peers::invoke("bob", "echo", "ping", [x]) }

fn local(x) { x }

// Microseconds per peer call, `n` in a row, as alice's worker sees them.
fn legs(n) {
    let started = timestamp();
    for i in 0..n { peers::invoke("bob", "echo", "ping", [i]); }
    started.elapsed * 1e6 / n
}
"#;

/// Peer calls one `relay::legs` run makes.
const LEGS: u64 = 500;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Direct = 0,
    Local = 1,
    Cross = 2,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Direct, Kind::Local, Kind::Cross];

    fn label(self) -> &'static str {
        match self {
            Kind::Direct => "direct  (client → bob)",
            Kind::Local => "local   (client → alice)",
            Kind::Cross => "cross   (client → alice → bob)",
        }
    }

    /// The circle it calls (its client's index) and the function.
    fn target(self) -> (usize, &'static str, &'static str) {
        match self {
            Kind::Direct => (0, "echo", "ping"),
            Kind::Local => (1, "relay", "local"),
            Kind::Cross => (1, "relay", "ping"),
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Context switches so far of the launcher's threads, voluntary and not, by thread name
/// without its number (`sandbox-bob-1` counts as `sandbox-bob`). A voluntary switch is a
/// thread going to sleep, to be woken again (a hand-off); an involuntary one, a thread
/// that had to give way (it yielded while spinning, or was preempted).
fn switches(pid: u32) -> BTreeMap<String, (u64, u64)> {
    let mut counts = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return counts;
    };
    for task in tasks.flatten() {
        let read = |file: &str| std::fs::read_to_string(task.path().join(file));
        let (Ok(comm), Ok(status)) = (read("comm"), read("status")) else {
            continue;
        };
        let name = comm
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('-')
            .to_owned();
        let field = |field: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let entry = counts.entry(name).or_default();
        entry.0 += field("voluntary_ctxt_switches:");
        entry.1 += field("nonvoluntary_ctxt_switches:");
    }
    counts
}

/// utime + stime of `/proc/…/stat` (zero where there is no such file).
fn cpu_time(stat: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(stat) else {
        return Duration::ZERO;
    };
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn signed_in(url: &str, key: &SecretKey, circle: &PublicKey) -> CircleClient<Transport> {
    let client = rpc_client::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    client
        .authenticate(key, Some(circle))
        .await
        .unwrap_or_else(|e| panic!("sign in at {url}: {e}"));
    client
}

async fn ping(clients: &[CircleClient<Transport>], kind: Kind) {
    let (circle, module, function) = kind.target();
    let result = clients[circle]
        .call(module, function, vec![json!(1)])
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", kind.label()));
    assert_eq!(
        result.value,
        json!(1),
        "{} answers its argument",
        kind.label()
    );
}

struct Figures {
    p50: Duration,
    p99: Duration,
    /// The launcher's CPU time per call (both circles, all threads).
    launcher_cpu: Duration,
    /// This process's CPU time per call (the client).
    client_cpu: Duration,
    /// The launcher's context switches per call (voluntary, involuntary), by thread name.
    switches: Vec<(String, (f64, f64))>,
}

async fn measure(
    clients: &[CircleClient<Transport>],
    kind: Kind,
    calls: usize,
    launcher: &Launcher,
) -> Figures {
    let mut latencies = Vec::with_capacity(calls);
    let switches_before = switches(launcher.child.id());
    let (launcher_before, client_before) = (launcher.cpu_time(), cpu_time("/proc/self/stat"));
    for _ in 0..calls {
        let t = Instant::now();
        ping(clients, kind).await;
        latencies.push(t.elapsed());
    }
    let (launcher_after, client_after) = (launcher.cpu_time(), cpu_time("/proc/self/stat"));
    let switches = switches(launcher.child.id())
        .into_iter()
        .map(|(name, (voluntary, involuntary))| {
            let (v, i) = switches_before.get(&name).copied().unwrap_or_default();
            let per_call =
                |after: u64, before: u64| after.saturating_sub(before) as f64 / calls as f64;
            (name, (per_call(voluntary, v), per_call(involuntary, i)))
        })
        .collect();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    let per_call = |d: Duration| d / u32::try_from(calls).unwrap_or(u32::MAX);
    Figures {
        p50: at(0.50),
        p99: at(0.99),
        launcher_cpu: per_call(launcher_after.saturating_sub(launcher_before)),
        client_cpu: per_call(client_after.saturating_sub(client_before)),
        switches,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(cross: Duration, direct: Duration) -> f64 {
    cross.as_secs_f64() / direct.as_secs_f64()
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_row(kind: Kind, figures: &Figures) {
    println!(
        "  {:<32} p50 {:>8.1} µs   p99 {:>8.1} µs   CPU/call: launcher {:>6.1} µs, client {:>6.1} µs",
        kind.label(),
        us(figures.p50),
        us(figures.p99),
        us(figures.launcher_cpu),
        us(figures.client_cpu),
    );
    let by_thread = figures
        .switches
        .iter()
        .filter(|(_, (v, i))| v + i >= 0.05)
        .map(|(name, (v, i))| format!("{name} {v:.1}+{i:.1}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (v, i) = figures
        .switches
        .iter()
        .fold((0.0, 0.0), |(v, i), (_, (dv, di))| (v + dv, i + di));
    println!(
        "  {:<32} launcher switches/call, voluntary+involuntary: {v:.1}+{i:.1} ({by_thread})",
        ""
    );
}

/// The alice → bob leg as alice's script sees it: µs per `peers::invoke`, [`LEGS`] in a row.
async fn legs(clients: &[CircleClient<Transport>]) -> f64 {
    let result = clients[1]
        .call("relay", "legs", vec![json!(LEGS)])
        .await
        .unwrap_or_else(|e| panic!("relay::legs: {e}"));
    result.value.as_f64().expect("relay::legs answers a number")
}

/// The client is a current-thread runtime: one thread, no wake-ups between threads on this
/// side, so that what differs between the calls is the launcher's.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds = env_or("BENCH_ROUNDS", 5).max(1) as usize;
    let calls = env_or("BENCH_CALLS", 2000).max(1) as usize;
    let warmup = env_or("BENCH_WARMUP", 200) as usize;
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let binary = std::env::var("BENCH_LAUNCHER").unwrap_or_else(|_| LAUNCHER.to_owned());

    let dir = tempfile::tempdir().expect("a temp dir");
    let circle = |id: &str| {
        let mut limits = json!({ "max_peer_calls": LEGS });
        if let Some(workers) = workers {
            limits["workers"] = json!(workers);
        }
        json!({
            "id": id,
            "port": 0,
            "db_path": format!("data/{id}"),
            "rhai_path": format!("scripts/{id}"),
            "access": {"play": "signed_in", "call": "signed_in"},
            "limits": limits,
        })
    };
    let config = Value::Array(vec![circle("alice"), circle("bob")]);
    for (id, file, text) in [("bob", "echo.rhai", ECHO), ("alice", "relay.rhai", RELAY)] {
        let folder = dir.path().join("scripts").join(id);
        std::fs::create_dir_all(&folder).expect("create the scripts folder");
        std::fs::write(folder.join(file), text).expect("write the script");
    }
    let config_path = dir.path().join("circles.json");
    std::fs::write(
        &config_path,
        serde_json::to_string_pretty(&config).expect("the config as JSON"),
    )
    .expect("write circles.json");

    let mut command = Command::new(&binary);
    command
        .arg("--config")
        .arg(&config_path)
        .arg("--no-console")
        .stderr(Stdio::inherit());
    let launcher = Launcher::spawn(command, 2);
    let me = SecretKey::generate();
    let (alice, bob) = (launcher.row("alice"), launcher.row("bob"));
    let (alice_url, alice_key) = (alice.url.as_str(), &alice.public_key);
    let (bob_url, bob_key) = (bob.url.as_str(), &bob.public_key);
    let clients = [
        signed_in(bob_url, &me, bob_key).await,
        signed_in(alice_url, &me, alice_key).await,
    ];

    println!(
        "circles peer call, out of process: {rounds} rounds of {calls} sequential calls each, \
         {warmup} warm-up calls, workers per circle: {}",
        workers.map_or_else(|| "default".to_owned(), |w| w.to_string())
    );
    println!("  launcher {binary}");
    for kind in Kind::ALL {
        for _ in 0..warmup {
            ping(&clients, kind).await;
        }
    }

    let mut p50_ratios = Vec::new();
    let mut p99_ratios = Vec::new();
    let mut p50s = [Vec::new(), Vec::new(), Vec::new()];
    let mut p99s = [Vec::new(), Vec::new(), Vec::new()];
    let mut leg_outside = Vec::new();
    let mut leg_inside = Vec::new();
    for round in 0..rounds {
        let mut order = Kind::ALL;
        order.rotate_left(round % Kind::ALL.len());
        let mut figures = [None, None, None];
        for kind in order {
            figures[kind as usize] = Some(measure(&clients, kind, calls, &launcher).await);
        }
        let [Some(direct), Some(local), Some(cross)] = figures else {
            unreachable!("every call was measured")
        };
        let leg = legs(&clients).await;
        println!("round {}:", round + 1);
        for (kind, f) in Kind::ALL.into_iter().zip([&direct, &local, &cross]) {
            print_row(kind, f);
            p50s[kind as usize].push(us(f.p50));
            p99s[kind as usize].push(us(f.p99));
        }
        let (r50, r99) = (ratio(cross.p50, direct.p50), ratio(cross.p99, direct.p99));
        let outside = us(cross.p50) - us(local.p50);
        println!(
            "  cross/direct: p50 {r50:.2}×   p99 {r99:.2}×;   the alice → bob leg: p50 cross − local \
             {outside:.1} µs, {leg:.1} µs per peers::invoke in alice's script"
        );
        p50_ratios.push(r50);
        p99_ratios.push(r99);
        leg_outside.push(outside);
        leg_inside.push(leg);
    }
    let show = |values: &[f64]| {
        values
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("medians over {rounds} rounds:");
    for kind in Kind::ALL {
        println!(
            "  {:<32} p50 {:>8.1} µs   p99 {:>8.1} µs",
            kind.label(),
            median(&p50s[kind as usize]),
            median(&p99s[kind as usize]),
        );
    }
    println!(
        "  the alice → bob leg: p50 cross − local {:.1} µs; {:.1} µs per peers::invoke in alice's script ({LEGS} in a row)",
        median(&leg_outside),
        median(&leg_inside)
    );
    println!(
        "cross/direct p50: median {:.2} of [{}]  (target <= 2.50)",
        median(&p50_ratios),
        show(&p50_ratios)
    );
    println!(
        "cross/direct p99: median {:.2} of [{}]",
        median(&p99_ratios),
        show(&p99_ratios)
    );
    drop(launcher);
}
