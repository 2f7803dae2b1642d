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
//! One signed-in connection to each circle, one request at a time (latency, not
//! throughput), after a warm-up (the first cross call also makes alice's connection to bob).
//! Each round measures both, in alternating order, so that drift in the machine's load
//! weighs on both alike; the ratios printed last are medians over rounds.
//!
//! Environment: BENCH_ROUNDS (default 5), BENCH_CALLS per call and round (default 2000),
//! BENCH_WARMUP calls of each before the first round (default 200), BENCH_WORKERS (sandbox
//! worker threads of both circles; default: the machine's parallelism), BENCH_LAUNCHER (a
//! launcher binary to measure instead of this build's).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rpc_client::{CircleClient, PublicKey, SecretKey, Transport};
use serde_json::{Value, json};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_launcher");

const ECHO: &str = "fn ping(x) { x }\n";
const RELAY: &str = "fn ping(x) { peers::invoke(\"bob\", \"echo\", \"ping\", [x]) }\n";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Direct = 0,
    Cross = 1,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Direct => "direct  (client → bob)",
            Kind::Cross => "cross   (client → alice → bob)",
        }
    }

    fn module(self) -> &'static str {
        match self {
            Kind::Direct => "echo",
            Kind::Cross => "relay",
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The running launcher; killed when dropped.
struct Launcher {
    child: Child,
    /// `(id, url, public key)` per table row.
    rows: Vec<(String, String, PublicKey)>,
}

impl Launcher {
    /// Starts `binary` on `config` and reads its table until `ready:`.
    fn start(binary: &str, config: &Path) -> Launcher {
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("--no-console")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the launcher starts");
        let stdout = child.stdout.take().expect("the launcher's stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut rows = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the launcher prints its table and `ready:` within 60 s");
            if line.starts_with("ready:") {
                break;
            }
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells.first() == Some(&"CIRCLE") || cells.len() != 4 {
                continue;
            }
            let key = PublicKey::from_hex(cells[2]).expect("the table shows a valid key");
            rows.push((cells[0].to_owned(), cells[1].to_owned(), key));
        }
        Launcher { child, rows }
    }

    fn row(&self, id: &str) -> (&str, &PublicKey) {
        self.rows
            .iter()
            .find(|(row, _, _)| row == id)
            .map(|(_, url, key)| (url.as_str(), key))
            .expect("the circle is in the launcher's table")
    }

    /// CPU time (user and system) the launcher has used so far.
    fn cpu_time(&self) -> Duration {
        cpu_time(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

async fn ping(client: &CircleClient<Transport>, kind: Kind) {
    let result = client
        .call(kind.module(), "ping", vec![json!(1)])
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
}

async fn measure(
    client: &CircleClient<Transport>,
    kind: Kind,
    calls: usize,
    launcher: &Launcher,
) -> Figures {
    let mut latencies = Vec::with_capacity(calls);
    let (launcher_before, client_before) = (launcher.cpu_time(), cpu_time("/proc/self/stat"));
    for _ in 0..calls {
        let t = Instant::now();
        ping(client, kind).await;
        latencies.push(t.elapsed());
    }
    let (launcher_after, client_after) = (launcher.cpu_time(), cpu_time("/proc/self/stat"));
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    let per_call = |d: Duration| d / u32::try_from(calls).unwrap_or(u32::MAX);
    Figures {
        p50: at(0.50),
        p99: at(0.99),
        launcher_cpu: per_call(launcher_after.saturating_sub(launcher_before)),
        client_cpu: per_call(client_after.saturating_sub(client_before)),
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
}

/// The client is a current-thread runtime: one thread, no wake-ups between threads on this
/// side, so that what differs between the two calls is the launcher's.
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
        let mut circle = json!({
            "id": id,
            "port": 0,
            "db_path": format!("data/{id}"),
            "rhai_path": format!("scripts/{id}"),
            "access": {"play": "signed_in", "call": "signed_in"},
        });
        if let Some(workers) = workers {
            circle["limits"] = json!({ "workers": workers });
        }
        circle
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

    let launcher = Launcher::start(&binary, &config_path);
    let me = SecretKey::generate();
    let (alice_url, alice_key) = launcher.row("alice");
    let (bob_url, bob_key) = launcher.row("bob");
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
    for kind in [Kind::Direct, Kind::Cross] {
        for _ in 0..warmup {
            ping(&clients[kind as usize], kind).await;
        }
    }

    let mut p50_ratios = Vec::new();
    let mut p99_ratios = Vec::new();
    let mut p50s = [Vec::new(), Vec::new()];
    let mut p99s = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Kind::Direct, Kind::Cross]
        } else {
            [Kind::Cross, Kind::Direct]
        };
        let mut figures = [None, None];
        for kind in order {
            figures[kind as usize] =
                Some(measure(&clients[kind as usize], kind, calls, &launcher).await);
        }
        let [Some(direct), Some(cross)] = figures else {
            unreachable!("both calls were measured")
        };
        println!("round {}:", round + 1);
        print_row(Kind::Direct, &direct);
        print_row(Kind::Cross, &cross);
        let (r50, r99) = (ratio(cross.p50, direct.p50), ratio(cross.p99, direct.p99));
        println!("  cross/direct: p50 {r50:.2}×   p99 {r99:.2}×");
        p50_ratios.push(r50);
        p99_ratios.push(r99);
        for (i, f) in [&direct, &cross].into_iter().enumerate() {
            p50s[i].push(us(f.p50));
            p99s[i].push(us(f.p99));
        }
    }
    let show = |values: &[f64]| {
        values
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("medians over {rounds} rounds:");
    for kind in [Kind::Direct, Kind::Cross] {
        println!(
            "  {:<32} p50 {:>8.1} µs   p99 {:>8.1} µs",
            kind.label(),
            median(&p50s[kind as usize]),
            median(&p99s[kind as usize]),
        );
    }
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
