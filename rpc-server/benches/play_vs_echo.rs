//! Throughput and latency of `play("40 + 2")` next to a bare echo method on
//! the same server, over real WebSockets on loopback. Prints numbers; asserts
//! nothing about speed.
//!
//!     cargo bench -p rpc-server --bench play_vs_echo
//!
//! Environment: BENCH_CONNECTIONS (default 32), BENCH_SECONDS per phase (default 2),
//! BENCH_ROUNDS (default 5; the ratios printed last are medians over rounds), BENCH_WORKERS
//! (sandbox worker threads; default: the machine's parallelism).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use circles_identity::SecretKey;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use rpc_server::{Circle, CircleSettings, ServerSettings};

const SCRIPT: &str = "40 + 2";

#[derive(Clone, Copy)]
enum Call {
    Echo = 0,
    Play = 1,
}

impl Call {
    async fn once(self, client: &WsClient) -> Result<(), jsonrpsee::core::ClientError> {
        let method = match self {
            Call::Echo => "bench_echo",
            Call::Play => "play",
        };
        let mut params = jsonrpsee::core::params::ObjectParams::new();
        params.insert("script", SCRIPT)?;
        let _: serde_json::Value = client.request(method, params).await?;
        Ok(())
    }
}

struct Figures {
    calls_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn measure(
    url: &str,
    call: Call,
    connections: usize,
    seconds: u64,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(Arc::new(WsClientBuilder::default().build(url).await?));
    }
    // Warm up (and fill the compiled-script cache).
    for client in &clients {
        call.once(client).await?;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client in clients {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                call.once(&client).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, jsonrpsee::core::ClientError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    Ok(Figures {
        calls_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_row(label: &str, figures: &Figures) {
    println!(
        "{label:<28} {:>10.0} calls/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
        figures.calls_per_sec,
        figures.p50.as_secs_f64() * 1e6,
        figures.p99.as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let connections = env_or("BENCH_CONNECTIONS", 32) as usize;
    let seconds = env_or("BENCH_SECONDS", 2);
    let rounds = env_or("BENCH_ROUNDS", 5).max(1);

    let mut settings = CircleSettings {
        access: rpc_server::AccessPolicy {
            access: rpc_server::Access::OPEN,
            ..Default::default()
        },
        ..CircleSettings::new("bench")
    };
    if let Some(workers) = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        settings.limits.workers = workers;
    }
    let mut module = rpc_server::rpc_module(Circle::new(settings, &SecretKey::generate())?)?;
    // The ceiling: a method that does nothing but answer, through the same
    // server, middleware and client.
    module.register_method("bench_echo", |params, _, _| {
        params.parse::<serde_json::Value>().unwrap_or_default()
    })?;
    let server = rpc_server::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        module,
        &ServerSettings::default(),
    )
    .await?;
    let url = server.url();

    println!(
        "circles play vs echo: {connections} connections, {rounds} rounds of {seconds} s per phase, script {SCRIPT:?}"
    );
    // Rounds alternate which call goes first, and the figures are medians over rounds, so
    // that drift in the machine's load weighs on both calls alike.
    let mut throughput_ratios = Vec::new();
    let mut p50_ratios = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Call::Echo, Call::Play]
        } else {
            [Call::Play, Call::Echo]
        };
        let mut concurrent = [None, None];
        let mut single = [None, None];
        for call in order {
            concurrent[call as usize] = Some(measure(&url, call, connections, seconds).await?);
            single[call as usize] = Some(measure(&url, call, 1, seconds).await?);
        }
        let [Some(echo), Some(play)] = concurrent else {
            unreachable!("both calls were measured")
        };
        let [Some(echo_1), Some(play_1)] = single else {
            unreachable!("both calls were measured")
        };
        println!("round {}:", round + 1);
        print_row(&format!("echo, {connections} connections"), &echo);
        print_row(&format!("play, {connections} connections"), &play);
        print_row("echo, 1 connection", &echo_1);
        print_row("play, 1 connection", &play_1);
        throughput_ratios.push(play.calls_per_sec / echo.calls_per_sec);
        p50_ratios.push(play_1.p50.as_secs_f64() / echo_1.p50.as_secs_f64());
    }
    let show = |ratios: &[f64]| {
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "play/echo throughput ({connections} connections): median {:.2} of [{}]  (target >= 0.80)",
        median(&mut throughput_ratios),
        show(&throughput_ratios)
    );
    println!(
        "play/echo p50 latency (1 connection):      median {:.2} of [{}]  (target <= 1.20)",
        median(&mut p50_ratios),
        show(&p50_ratios)
    );
    server.stop().await;
    Ok(())
}
