//! One circle on loopback for browser tests and trying the web console:
//! `require_auth: true`, a fresh identity, no data directory.
//!
//!     cargo run -p rpc-server --example test_circle -- [--port N] [--console DIR]
//!
//! Prints the circle's URL (`ws://127.0.0.1:PORT`) as the first line of
//! stdout once it accepts connections, then its public key, and serves until
//! interrupted (Ctrl-C or SIGTERM). Port 0 (the default) picks a free port.
//! With `--console DIR` it also serves the web console in DIR at
//! `http://127.0.0.1:PORT/` (see `tools/wasm.sh`).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use circles_identity::SecretKey;
use rpc_server::{Circle, CircleSettings, ConsoleDir, ServerLimits};

const USAGE: &str = "usage: test_circle [--port N] [--console DIR]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut port = 0u16;
    let mut console = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(value)) => match value.parse() {
                Ok(value) => port = value,
                Err(_) => {
                    eprintln!("test_circle: --port {value}: not a port\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            ("--console", Some(dir)) => console = Some(ConsoleDir::new(PathBuf::from(dir))),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let key = SecretKey::generate();
    let circle = match Circle::new(CircleSettings::new("test-circle"), &key) {
        Ok(circle) => circle,
        Err(error) => {
            eprintln!("test_circle: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let running =
        match rpc_server::start_with_console(addr, circle, &ServerLimits::default(), console).await
        {
            Ok(running) => running,
            Err(error) => {
                eprintln!("test_circle: {error}");
                return ExitCode::FAILURE;
            }
        };
    let mut stdout = std::io::stdout().lock();
    // A closed stdout only means nobody reads the URL.
    let _ = writeln!(stdout, "{}", running.url());
    let _ = writeln!(stdout, "circle public key: {}", key.public_key());
    let _ = stdout.flush();
    drop(stdout);

    shutdown_signal().await;
    running.stop().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
