//! The out-of-process benchmark: the real `launcher` (release build) and a bare jsonrpsee
//! echo server (`circles-bench-echo`, jsonrpsee's defaults) run as processes of their own, and
//! this process drives both over WebSockets on loopback, so that client and servers do not
//! share a runtime and each server's CPU time can be read from /proc. Every figure is a ratio
//! to an anchor measured in the same run (the echo server, or the circle unloaded), in
//! alternating rounds, so that the machine's load weighs on both sides alike; the table shows
//! the medians over rounds. Prints numbers; asserts nothing.
//!
//!     cargo build --release -p launcher -p circles-bench
//!     "${CARGO_TARGET_DIR:-target}"/release/circles-bench
//!
//! Environment: BENCH_ROUNDS (default 3), BENCH_SECONDS per phase (default 2), BENCH_ROWS
//! (e.g. `1,3,8`; default all), BENCH_IDLE (connections of row 8, default 10 000),
//! BENCH_LAUNCHER (another launcher binary; default the one beside this binary).
//! README.md ("Benchmark: out of process") explains the rows.

mod procs;
mod ws;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use circles_identity::SecretKey;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use procs::{BusyLoops, Server};
use ws::{Call, TRIVIAL, Tally, Ws};

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Connections and calls in flight on each of rows 1, 2 and 6.
const CONNECTIONS: usize = 64;
const IN_FLIGHT: usize = 10;
/// Connections running `loop {}` on circle A in row 5.
const LOOPING: usize = 32;
/// Sessions opened at once in row 7.
const SESSION_WORKERS: usize = 16;
/// Connections opened (or closed) at once.
const OPENING: usize = 64;

struct Knobs {
    rounds: usize,
    seconds: f64,
    rows: Vec<u8>,
    idle: usize,
}

impl Knobs {
    fn from_env() -> Res<Knobs> {
        fn number<T: std::str::FromStr>(name: &str, default: T) -> Res<T> {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}={text:?} is not a number").into()),
                Err(_) => Ok(default),
            }
        }
        let rows = match std::env::var("BENCH_ROWS") {
            Ok(text) => text
                .split(',')
                .map(|row| match row.trim().parse::<u8>() {
                    Ok(n @ 1..=8) => Ok(n),
                    _ => Err(format!("BENCH_ROWS={text:?}: rows are 1 to 8, e.g. 1,3,8")),
                })
                .collect::<Result<Vec<u8>, String>>()?,
            Err(_) => (1..=8).collect(),
        };
        let knobs = Knobs {
            rounds: number("BENCH_ROUNDS", 3usize)?.max(1),
            seconds: number("BENCH_SECONDS", 2.0f64)?,
            rows,
            idle: number("BENCH_IDLE", 10_000usize)?.max(1),
        };
        if !knobs.seconds.is_finite() || knobs.seconds <= 0.0 {
            return Err("BENCH_SECONDS must be a number of seconds above 0".into());
        }
        Ok(knobs)
    }

    fn wants(&self, rows: &[u8]) -> bool {
        rows.iter().any(|row| self.rows.contains(row))
    }

    fn phase(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }

    /// The unmeasured warm-up before a row's rounds.
    fn warm_up(&self) -> Duration {
        Duration::from_secs_f64((self.seconds / 2.0).min(1.0))
    }
}

/// One row of the final table.
struct Line {
    number: u8,
    row: String,
    measured: String,
    target: &'static str,
    met: bool,
}

/// CPU times at the start of a phase.
struct Clocks {
    at: Instant,
    server: Duration,
    bench: Duration,
    machine: Duration,
}

impl Clocks {
    fn read(server: &Server) -> Res<Clocks> {
        Ok(Clocks {
            at: Instant::now(),
            server: server.cpu_time()?,
            bench: procs::own_cpu_time()?,
            machine: procs::machine_cpu_time()?,
        })
    }

    /// What was spent since these were read.
    fn usage(&self, server: &Server) -> Res<Usage> {
        let usage = Usage {
            elapsed: self.at.elapsed(),
            server: server.cpu_time()?.saturating_sub(self.server),
            bench: procs::own_cpu_time()?.saturating_sub(self.bench),
            machine: procs::machine_cpu_time()?.saturating_sub(self.machine),
        };
        if let Ok(mut others) = OTHERS.lock() {
            others.push(usage.cores(usage.others()));
        }
        Ok(usage)
    }
}

/// The cores the rest of the machine kept busy during each phase, for the summary.
static OTHERS: std::sync::Mutex<Vec<f64>> = std::sync::Mutex::new(Vec::new());

/// Wall time and CPU time of a phase: the server's, the bench's own (the client), the whole
/// machine's.
struct Usage {
    elapsed: Duration,
    server: Duration,
    bench: Duration,
    machine: Duration,
}

impl Usage {
    fn cores(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per unit of work, in µs.
    fn server_per(&self, count: u64) -> f64 {
        self.server.as_secs_f64() * 1e6 / count.max(1) as f64
    }

    /// CPU time of the rest of the machine (other processes, the kernel's own work).
    fn others(&self) -> Duration {
        self.machine
            .saturating_sub(self.server)
            .saturating_sub(self.bench)
    }

    /// `cores busy: server S, bench B, others O` (others: the rest of the machine).
    fn describe(&self) -> String {
        let others = self.others();
        format!(
            "cores busy: server {:.2}, bench {:.2}, others {:.2}",
            self.cores(self.server),
            self.cores(self.bench),
            self.cores(others)
        )
    }
}

/// What one phase (one server, one kind of call, one round) measured.
struct Phase {
    tally: Tally,
    usage: Usage,
}

impl Phase {
    fn throughput(&self) -> f64 {
        self.tally.ok as f64 / self.usage.elapsed.as_secs_f64()
    }

    /// Server CPU time per answered call, in µs.
    fn cpu_per_call(&self) -> f64 {
        self.usage.server_per(self.tally.ok)
    }

    /// The server's cores busy: its CPU time over the phase's wall time.
    fn cores(&self) -> f64 {
        self.usage.cores(self.usage.server)
    }

    /// A latency percentile of the answered calls, in µs.
    fn percentile(&self, q: f64) -> f64 {
        let latencies = &self.tally.latencies;
        if latencies.is_empty() {
            return f64::NAN;
        }
        let at = ((latencies.len() - 1) as f64 * q).round() as usize;
        latencies[at] as f64 / 1e3
    }

    fn describe(&self) -> String {
        let mut text = if self.tally.ok > 0 {
            format!(
                "{:>6.0} calls/s, p50 {:>7.1} µs, p99 {:>8.1} µs, server CPU {:>5.1} µs/call; {}",
                self.throughput(),
                self.percentile(0.5),
                self.percentile(0.99),
                self.cpu_per_call(),
                self.usage.describe()
            )
        } else {
            format!("no call answered with a result; {}", self.usage.describe())
        };
        let errors = [
            (self.tally.busy, "busy refusals"),
            (self.tally.limit, "limit errors"),
            (self.tally.other, "other errors"),
        ];
        for (count, what) in errors {
            if count > 0 {
                let rate = count as f64 / self.usage.elapsed.as_secs_f64();
                text.push_str(&format!("; {count} {what} ({rate:.0}/s)"));
            }
        }
        if let Some(error) = &self.tally.first_error {
            text.push_str(&format!(" (first: {error})"));
        }
        text
    }
}

/// Runs `call` on every connection of `conns` with `in_flight` calls outstanding each, for
/// `length`; `server`'s CPU time is read before and after. Gives the connections back.
async fn phase(
    conns: Vec<Ws>,
    call: Call,
    in_flight: usize,
    length: Duration,
    server: &Server,
    tag: &str,
) -> Res<(Vec<Ws>, Phase)> {
    let clocks = Clocks::read(server)?;
    let deadline = clocks.at + length;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let tag = format!("{tag}c{i}");
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let result = ws::drive(&mut ws, call, in_flight, deadline, &tag, &mut tally).await;
                (ws, tally, result)
            })
        })
        .collect();
    let mut conns = Vec::new();
    let mut tally = Tally::default();
    for task in tasks {
        let (ws, part, result) = task.await?;
        result?;
        conns.push(ws);
        tally.merge(part);
    }
    let usage = clocks.usage(server)?;
    tally.latencies.sort_unstable();
    Ok((conns, Phase { tally, usage }))
}

/// `n` connections to the echo server, each having made one call.
async fn open_echo(url: &str, n: usize) -> Res<Vec<Ws>> {
    futures_util::stream::iter(0..n)
        .map(|_| async move {
            let mut ws = ws::connect(url).await?;
            ws::request(&mut ws, "echo", json!({"script": TRIVIAL})).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(ws)
        })
        .buffer_unordered(OPENING)
        .try_collect()
        .await
}

/// `n` connections to a circle, each signed in with a key of its own; with `play`, each has
/// run the trivial script once too.
async fn open_signed_in(url: &str, n: usize, play: bool) -> Res<Vec<Ws>> {
    futures_util::stream::iter(0..n)
        .map(|_| async move {
            let mut ws = ws::connect(url).await?;
            ws::sign_in(&mut ws, &SecretKey::generate()).await?;
            if play {
                ws::request(&mut ws, "play", json!({"script": TRIVIAL})).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(ws)
        })
        .buffer_unordered(OPENING)
        .try_collect()
        .await
}

async fn close_all(conns: Vec<Ws>) {
    futures_util::stream::iter(conns)
        .for_each_concurrent(256, ws::close)
        .await;
}

/// The median, smallest and largest of `values`.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let half = sorted.len() / 2;
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (sorted[half - 1] + sorted[half]) / 2.0,
        _ => sorted[half],
    };
    let min = sorted.first().copied().unwrap_or(f64::NAN);
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    (median, min, max)
}

/// `median (min–max)` of the rounds' values.
fn show(values: &[f64]) -> String {
    let (median, min, max) = spread(values);
    if values.len() == 1 {
        format!("{median:.2}")
    } else {
        format!("{median:.2} ({min:.2}–{max:.2})")
    }
}

fn median(values: &[f64]) -> f64 {
    spread(values).0
}

/// The default config, but that any signed-in caller may play (the default lets members only).
fn default_circle(id: &str) -> serde_json::Value {
    json!({"id": id, "port": 0, "access": {"play": "signed_in"}})
}

/// Rows 1 and 2: throughput and server CPU per call, 64 connections × 10 calls in flight.
async fn rows_1_2(knobs: &Knobs, circle: &Server, echo: &Server) -> Res<Vec<Line>> {
    println!(
        "\nrows 1, 2: {CONNECTIONS} connections × {IN_FLIGHT} in flight; echo vs play({TRIVIAL:?}) on signed-in connections"
    );
    let mut echo_conns = open_echo(echo.url("echo")?, CONNECTIONS).await?;
    let mut play_conns = open_signed_in(circle.url("bench")?, CONNECTIONS, true).await?;
    (echo_conns, _) = phase(
        echo_conns,
        Call::Echo,
        IN_FLIGHT,
        knobs.warm_up(),
        echo,
        "w",
    )
    .await?;
    let play = Call::Play(TRIVIAL);
    (play_conns, _) = phase(play_conns, play, IN_FLIGHT, knobs.warm_up(), circle, "w").await?;
    let (mut throughput, mut cpu, mut busy) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=knobs.rounds {
        let tag = format!("r{round}");
        let (conns, e) =
            phase(echo_conns, Call::Echo, IN_FLIGHT, knobs.phase(), echo, &tag).await?;
        echo_conns = conns;
        let (conns, p) = phase(play_conns, play, IN_FLIGHT, knobs.phase(), circle, &tag).await?;
        play_conns = conns;
        println!(
            "  round {round}\n    echo {}\n    play {}",
            e.describe(),
            p.describe()
        );
        throughput.push(p.throughput() / e.throughput());
        cpu.push(p.cpu_per_call() / e.cpu_per_call());
        busy.push(p.tally.busy as f64);
    }
    close_all(echo_conns).await;
    close_all(play_conns).await;
    let total_busy: f64 = busy.iter().sum();
    Ok(vec![
        Line {
            number: 1,
            row: format!("1. play/echo throughput, {CONNECTIONS}×{IN_FLIGHT}; busy refusals"),
            measured: format!(
                "{}; busy refusals {:.0} per {} s phase (median)",
                show(&throughput),
                median(&busy),
                knobs.seconds
            ),
            target: "≥ 0.8, no refusals",
            met: median(&throughput) >= 0.8 && total_busy == 0.0,
        },
        Line {
            number: 2,
            row: format!("2. server CPU per call, play/echo, {CONNECTIONS}×{IN_FLIGHT}"),
            measured: show(&cpu),
            target: "≤ 1.3",
            met: median(&cpu) <= 1.3,
        },
    ])
}

/// Rows 3 and 4: one connection, one call in flight; on a quiet machine, then beside two
/// `nice -n 19` busy loops.
async fn rows_3_4(knobs: &Knobs, circle: &Server, echo: &Server) -> Res<Vec<Line>> {
    let mut echo_conns = open_echo(echo.url("echo")?, 1).await?;
    let mut play_conns = open_signed_in(circle.url("bench")?, 1, true).await?;
    let play = Call::Play(TRIVIAL);
    (echo_conns, _) = phase(echo_conns, Call::Echo, 1, knobs.warm_up(), echo, "w").await?;
    (play_conns, _) = phase(play_conns, play, 1, knobs.warm_up(), circle, "w").await?;
    let mut lines = Vec::new();
    for busy_loops in [0, 2] {
        let row = if busy_loops == 0 { 3 } else { 4 };
        if !knobs.rows.contains(&row) {
            continue;
        }
        println!(
            "\nrow {row}: 1 connection × 1 in flight, {busy_loops} `nice -n 19` busy loops; load average {}",
            procs::loadavg()
        );
        let (mut p50, mut p99, mut cpu, mut cores_echo, mut cores_play) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 1..=knobs.rounds {
            let tag = format!("r{round}");
            let loops = BusyLoops::start(busy_loops)?;
            let (conns, e) = phase(echo_conns, Call::Echo, 1, knobs.phase(), echo, &tag).await?;
            drop(loops);
            echo_conns = conns;
            let loops = BusyLoops::start(busy_loops)?;
            let (conns, p) = phase(play_conns, play, 1, knobs.phase(), circle, &tag).await?;
            drop(loops);
            play_conns = conns;
            println!(
                "  round {round}\n    echo {}\n    play {}",
                e.describe(),
                p.describe()
            );
            p50.push(p.percentile(0.5) / e.percentile(0.5));
            p99.push(p.percentile(0.99) / e.percentile(0.99));
            cpu.push(p.cpu_per_call() / e.cpu_per_call());
            cores_echo.push(e.cores());
            cores_play.push(p.cores());
        }
        if busy_loops == 0 {
            lines.push(Line {
                number: 3,
                row: "3. 1 conn × 1: p50 play/echo; server CPU/call play/echo".to_owned(),
                measured: format!(
                    "p50 {}; CPU/call {}; cores busy: echo {:.2}, play {:.2}",
                    show(&p50),
                    show(&cpu),
                    median(&cores_echo),
                    median(&cores_play)
                ),
                target: "p50 ≤ 1.2, CPU/call ≤ 1.3",
                met: median(&p50) <= 1.2 && median(&cpu) <= 1.3,
            });
        } else {
            lines.push(Line {
                number: 4,
                row: "4. the same beside 2 `nice -n 19` busy loops: p50, p99 play/echo".to_owned(),
                measured: format!("p50 {}; p99 {}", show(&p50), show(&p99)),
                target: "p50 ≤ 1.5, p99 ≤ 3",
                met: median(&p50) <= 1.5 && median(&p99) <= 3.0,
            });
        }
    }
    close_all(echo_conns).await;
    close_all(play_conns).await;
    Ok(lines)
}

/// Row 5: circle B's p99 while circle A, in the same launcher, runs scripts that loop to
/// their operation limit from 32 connections.
async fn row_5(knobs: &Knobs, launcher: &Path) -> Res<Line> {
    let server = Server::launcher(launcher, json!([default_circle("a"), default_circle("b")]))?;
    println!(
        "\nrow 5: play({TRIVIAL:?}) on circle B, 1 connection × 1 in flight, alone and while {LOOPING} connections run `loop {{}}` on circle A (same launcher)"
    );
    let mut b_conns = open_signed_in(server.url("b")?, 1, true).await?;
    let mut a_conns = open_signed_in(server.url("a")?, LOOPING, false).await?;
    let play = Call::Play(TRIVIAL);
    let looping = Call::Play("loop {}");
    (b_conns, _) = phase(b_conns, play, 1, knobs.warm_up(), &server, "w").await?;
    let ramp = Duration::from_millis(300);
    let mut ratios = Vec::new();
    for round in 1..=knobs.rounds {
        let tag = format!("r{round}");
        let (conns, alone) = phase(b_conns, play, 1, knobs.phase(), &server, &tag).await?;
        let (a, b) = tokio::join!(
            phase(a_conns, looping, 1, ramp + knobs.phase(), &server, &tag),
            async {
                tokio::time::sleep(ramp).await;
                phase(conns, play, 1, knobs.phase(), &server, &tag).await
            }
        );
        let (conns, a) = a?;
        a_conns = conns;
        let (conns, loaded) = b?;
        b_conns = conns;
        println!(
            "  round {round}\n    B alone  {}\n    B loaded {}\n    A        {}",
            alone.describe(),
            loaded.describe(),
            a.describe()
        );
        ratios.push(loaded.percentile(0.99) / alone.percentile(0.99));
    }
    close_all(a_conns).await;
    close_all(b_conns).await;
    Ok(Line {
        number: 5,
        row: format!("5. isolation: B's p99 with A looping ({LOOPING} conn.) / alone"),
        measured: show(&ratios),
        target: "≤ 5",
        met: median(&ratios) <= 5.0,
    })
}

/// Row 6: durable writes of fresh keys next to the trivial play, 64 × 10.
async fn row_6(knobs: &Knobs, circle: &Server) -> Res<Line> {
    println!(
        "\nrow 6: {CONNECTIONS} connections × {IN_FLIGHT} in flight: play({TRIVIAL:?}), play(store::set(\"k/\" + UNIQUE, 1)), play(\"k/\" + UNIQUE) (fresh text, no write)"
    );
    let mut conns = open_signed_in(circle.url("bench")?, CONNECTIONS, true).await?;
    let play = Call::Play(TRIVIAL);
    (conns, _) = phase(conns, play, IN_FLIGHT, knobs.warm_up(), circle, "w").await?;
    let (mut ratios, mut unique_ratios, mut writes) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=knobs.rounds {
        let tag = format!("r{round}");
        let (c, p) = phase(conns, play, IN_FLIGHT, knobs.phase(), circle, &tag).await?;
        let (c, s) = phase(c, Call::StoreSet, IN_FLIGHT, knobs.phase(), circle, &tag).await?;
        let (c, u) = phase(c, Call::UniqueText, IN_FLIGHT, knobs.phase(), circle, &tag).await?;
        conns = c;
        println!(
            "  round {round}\n    play        {}\n    store::set  {}\n    unique text {}",
            p.describe(),
            s.describe(),
            u.describe()
        );
        ratios.push(s.throughput() / p.throughput());
        unique_ratios.push(u.throughput() / p.throughput());
        writes.push(s.throughput());
    }
    close_all(conns).await;
    Ok(Line {
        number: 6,
        row: format!("6. store::set (fresh key) writes/s / play/s, {CONNECTIONS}×{IN_FLIGHT}"),
        measured: format!(
            "{} ({:.0} writes/s); fresh text without the write: {}",
            show(&ratios),
            median(&writes),
            show(&unique_ratios)
        ),
        target: "≥ 0.5",
        met: median(&ratios) >= 0.5,
    })
}

#[derive(Clone, Copy)]
enum Session {
    /// connect, echo, close.
    Echo,
    /// connect, fetch_nonce, authenticate, close.
    SignIn,
}

struct Sessions {
    count: u64,
    failures: u64,
    first_failure: Option<String>,
    usage: Usage,
}

impl Sessions {
    fn rate(&self) -> f64 {
        self.count as f64 / self.usage.elapsed.as_secs_f64()
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "{:>5.0} sessions/s, server CPU {:>6.1} µs/session; {}",
            self.rate(),
            self.usage.server_per(self.count),
            self.usage.describe()
        );
        if self.failures > 0 {
            text.push_str(&format!(", {} failed", self.failures));
        }
        if let Some(failure) = &self.first_failure {
            text.push_str(&format!(" (first: {failure})"));
        }
        text
    }
}

async fn sessions(url: &str, kind: Session, length: Duration, server: &Server) -> Res<Sessions> {
    let clocks = Clocks::read(server)?;
    let deadline = clocks.at + length;
    let tasks: Vec<_> = (0..SESSION_WORKERS)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let key = SecretKey::generate();
                let (mut count, mut failures, mut first_failure) = (0u64, 0u64, None);
                while Instant::now() < deadline {
                    let session = async {
                        let mut ws = ws::connect(&url).await?;
                        match kind {
                            Session::Echo => {
                                ws::request(&mut ws, "echo", json!({"script": TRIVIAL})).await?;
                            }
                            Session::SignIn => ws::sign_in(&mut ws, &key).await?,
                        }
                        ws::close(ws).await;
                        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                    };
                    match session.await {
                        Ok(()) => count += 1,
                        Err(error) => {
                            failures += 1;
                            first_failure.get_or_insert_with(|| error.to_string());
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (count, failures, first_failure)
            })
        })
        .collect();
    let (mut count, mut failures, mut first_failure) = (0, 0, None);
    for task in tasks {
        let (done, failed, first) = task.await?;
        count += done;
        failures += failed;
        first_failure = first_failure.or(first);
    }
    Ok(Sessions {
        count,
        failures,
        first_failure,
        usage: clocks.usage(server)?,
    })
}

/// Row 7: signed-in sessions against echo sessions, 16 at a time.
async fn row_7(knobs: &Knobs, circle: &Server, echo: &Server) -> Res<Line> {
    println!(
        "\nrow 7: sessions, {SESSION_WORKERS} at a time: connect, echo, close vs connect, fetch_nonce, authenticate, close"
    );
    let (echo_url, circle_url) = (echo.url("echo")?, circle.url("bench")?);
    sessions(echo_url, Session::Echo, knobs.warm_up(), echo).await?;
    sessions(circle_url, Session::SignIn, knobs.warm_up(), circle).await?;
    let mut ratios = Vec::new();
    for round in 1..=knobs.rounds {
        let e = sessions(echo_url, Session::Echo, knobs.phase(), echo).await?;
        let s = sessions(circle_url, Session::SignIn, knobs.phase(), circle).await?;
        println!(
            "  round {round}\n    echo    {}\n    sign-in {}",
            e.describe(),
            s.describe()
        );
        ratios.push(s.rate() / e.rate());
    }
    Ok(Line {
        number: 7,
        row: format!("7. signed-in sessions/s / echo sessions/s ({SESSION_WORKERS} at a time)"),
        measured: show(&ratios),
        target: "≥ 0.5",
        met: median(&ratios) >= 0.5,
    })
}

struct Idle {
    per_connection: f64,
    closed_ratio: f64,
}

/// Opens `n` idle connections to `server` (signed in, for a circle) and closes them, three
/// times: the resident memory they add, per connection, and what stays after closing.
async fn idle_cycles(server: &Server, url: &str, n: usize, signed_in: bool) -> Res<Idle> {
    let open = |n| async move {
        if signed_in {
            open_signed_in(url, n, false).await
        } else {
            open_echo(url, n).await
        }
    };
    // Warm up whatever a server sets up on first use.
    close_all(open(OPENING).await?).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = server.rss()?;
    let mut open_rss = Vec::new();
    let mut closed_rss = Vec::new();
    for cycle in 1..=3 {
        let started = Instant::now();
        let conns = open(n).await?;
        let opened_in = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        open_rss.push(server.rss()?);
        close_all(conns).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        closed_rss.push(server.rss()?);
        println!(
            "    cycle {cycle}: opened in {:.1} s, RSS {:.1} MiB open, {:.1} MiB after closing (before: {:.1} MiB)",
            opened_in.as_secs_f64(),
            open_rss[cycle - 1] as f64 / MIB,
            closed_rss[cycle - 1] as f64 / MIB,
            base as f64 / MIB
        );
    }
    Ok(Idle {
        per_connection: open_rss[0].saturating_sub(base) as f64 / n as f64,
        closed_ratio: closed_rss[2] as f64 / closed_rss[0] as f64,
    })
}

const MIB: f64 = 1024.0 * 1024.0;

/// Row 8: memory per idle connection, and after three cycles of opening and closing them.
async fn row_8(knobs: &Knobs, launcher: &Path, echo_binary: &Path, nofile: u64) -> Res<Line> {
    let n = knobs.idle;
    if nofile < n as u64 + 256 {
        return Err(format!(
            "row 8 needs {} file descriptors and the hard limit is {nofile}: lower BENCH_IDLE or raise `ulimit -Hn`",
            n + 256
        )
        .into());
    }
    // Room for the row's connections from one address, on both servers (jsonrpsee's
    // default is 100 connections; a circle's 1 024, 64 per address).
    let room = u32::try_from(n + 1024)?;
    let echo = Server::echo(echo_binary, Some(room))?;
    let mut circle = default_circle("idle");
    circle["server"] = json!({"max_connections": room, "max_connections_per_ip": room});
    let circle = Server::launcher(launcher, json!([circle]))?;
    println!(
        "\nrow 8: {n} idle connections, opened and closed three times (echo: --max-connections {room}; circle: server.max_connections = max_connections_per_ip = {room})"
    );
    println!("  echo (one echo call on each)");
    let e = idle_cycles(&echo, echo.url("echo")?, n, false).await?;
    println!("  circle (signed in, each with a key of its own)");
    let c = idle_cycles(&circle, circle.url("idle")?, n, true).await?;
    println!(
        "  per connection: echo {:.1} KiB, circle {:.1} KiB; RSS after cycle 3 / after cycle 1 (closed): echo {:.2}, circle {:.2}",
        e.per_connection / 1024.0,
        c.per_connection / 1024.0,
        e.closed_ratio,
        c.closed_ratio
    );
    Ok(Line {
        number: 8,
        row: format!("8. RSS per idle signed-in conn. ({n}) vs echo's; RSS 3 cycles / 1"),
        measured: format!(
            "{:.1} KiB vs echo {:.1} KiB ({:.2}×); {:.2} (echo {:.2})",
            c.per_connection / 1024.0,
            e.per_connection / 1024.0,
            c.per_connection / e.per_connection,
            c.closed_ratio,
            e.closed_ratio
        ),
        target: "≤ echo's; ≤ 1.2",
        met: c.per_connection <= e.per_connection && c.closed_ratio <= 1.2,
    })
}

/// A binary beside this one (the bench is built into the same target folder).
fn sibling(name: &str) -> Res<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("the bench binary has no folder")?;
    Ok(dir.join(name))
}

fn binaries() -> Res<(PathBuf, PathBuf)> {
    const BUILD: &str = "cargo build --release -p launcher -p circles-bench";
    if cfg!(debug_assertions) {
        return Err(format!(
            "circles-bench is a debug build: build it and the launcher with `{BUILD}` and run the release binary"
        )
        .into());
    }
    let launcher = match std::env::var_os("BENCH_LAUNCHER") {
        Some(path) => PathBuf::from(path),
        None => sibling("launcher")?,
    };
    if !launcher.is_file() {
        return Err(format!(
            "no launcher binary at {}: build it with `{BUILD}` (with the same CARGO_TARGET_DIR as the bench), or name one with BENCH_LAUNCHER",
            launcher.display()
        )
        .into());
    }
    let echo = sibling("circles-bench-echo")?;
    if !echo.is_file() {
        return Err(format!(
            "no echo server binary at {}: build it with `{BUILD}`",
            echo.display()
        )
        .into());
    }
    Ok((launcher, echo))
}

async fn run() -> Res<()> {
    let knobs = Knobs::from_env()?;
    let (launcher, echo_binary) = binaries()?;
    let nofile = procs::raise_nofile()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "circles-bench: launcher {}, {} rounds of {} s per phase, rows {:?}; {cores} cores, load average {}",
        launcher.display(),
        knobs.rounds,
        knobs.seconds,
        knobs.rows,
        procs::loadavg()
    );
    let mut lines = Vec::new();
    if knobs.wants(&[1, 2, 3, 4, 6, 7]) {
        // One circle with the default config (but `access.play: signed_in`) and the echo
        // server, for the rows that compare the two.
        let circle = Server::launcher(&launcher, json!([default_circle("bench")]))?;
        let echo = Server::echo(&echo_binary, None)?;
        println!(
            "launcher pid {} ({}: one circle, default config but access.play \"signed_in\"); echo server pid {} ({})",
            circle.pid,
            circle.url("bench")?,
            echo.pid,
            echo.url("echo")?
        );
        if knobs.wants(&[1, 2]) {
            let mut both = rows_1_2(&knobs, &circle, &echo).await?;
            both.retain(|line| knobs.wants(&[line.number]));
            lines.extend(both);
        }
        if knobs.wants(&[3, 4]) {
            lines.extend(rows_3_4(&knobs, &circle, &echo).await?);
        }
        if knobs.wants(&[6]) {
            lines.push(row_6(&knobs, &circle).await?);
        }
        if knobs.wants(&[7]) {
            lines.push(row_7(&knobs, &circle, &echo).await?);
        }
        report_log(&circle);
    }
    if knobs.wants(&[5]) {
        lines.push(row_5(&knobs, &launcher).await?);
    }
    if knobs.wants(&[8]) {
        lines.push(row_8(&knobs, &launcher, &echo_binary, nofile).await?);
    }
    lines.sort_by_key(|line| line.number);
    println!("\n| row | measured now (median (min–max) over rounds) | target | met |");
    println!("| --- | --- | --- | --- |");
    for line in &lines {
        println!(
            "| {} | {} | {} | {} |",
            line.row,
            line.measured,
            line.target,
            if line.met { "yes" } else { "no" }
        );
    }
    let others = OTHERS.lock().map(|o| o.clone()).unwrap_or_default();
    let (median, min, max) = spread(&others);
    println!(
        "\nthe rest of the machine kept {median:.2} cores busy during a phase (median; {min:.2}–{max:.2}), of {cores}; load average now {}",
        procs::loadavg()
    );
    Ok(())
}

/// Notes what the launcher wrote to stderr (warnings: its default log level), if anything.
fn report_log(server: &Server) {
    let log = server.log();
    if log.is_empty() {
        return;
    }
    let lines: Vec<&str> = log.lines().collect();
    println!(
        "note: the launcher wrote {} lines to stderr ({}), e.g.:",
        lines.len(),
        server
            .dir()
            .map(|dir| dir.join("launcher.log").display().to_string())
            .unwrap_or_default()
    );
    for line in lines.iter().take(3) {
        println!("  {line}");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("circles-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
