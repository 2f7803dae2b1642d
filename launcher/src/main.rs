//! `launcher`: starts every circle of a `circles.json`.

mod config;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use circles_identity::{KeyFileError, SecretKey};
use clap::Parser;
use rpc_server::{Circle, CircleSettings, RunningCircle};

#[derive(Parser)]
#[command(
    name = "launcher",
    version,
    about = "Starts every circle of a circles.json"
)]
struct Cli {
    /// The circles to start.
    #[arg(long, default_value = "circles.json")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let circles = match config::load(&cli.config) {
        Ok(circles) => circles,
        Err(error) => {
            eprintln!("launcher: {error}");
            return ExitCode::from(2);
        }
    };
    let mut running: Vec<RunningCircle> = Vec::new();
    for circle in &circles {
        match start(circle).await {
            Ok((server, key)) => {
                println!(
                    "{:<16} {:<24} {}",
                    circle.id,
                    server.url(),
                    key.public_key()
                );
                running.push(server);
            }
            Err(error) => {
                eprintln!("launcher: circle {}: {error}", circle.id);
                return ExitCode::from(1);
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("launcher: cannot listen for Ctrl-C; stopping");
    }
    for server in running {
        server.stop().await;
    }
    ExitCode::SUCCESS
}

async fn start(circle: &config::CircleConfig) -> Result<(RunningCircle, SecretKey), String> {
    std::fs::create_dir_all(&circle.db_path)
        .map_err(|e| format!("cannot create db_path {}: {e}", circle.db_path.display()))?;
    let key = load_or_create_identity(&circle.db_path).map_err(|e| e.to_string())?;
    let settings = CircleSettings {
        id: circle.id.clone(),
        require_auth: circle.require_auth,
        challenge_ttl: Duration::from_secs(circle.challenge_ttl_secs),
        limits: circle.limits.clone(),
    };
    let api = Circle::new(settings, &key).map_err(|e| e.to_string())?;
    let addr = SocketAddr::new(circle.host, circle.port);
    let server = rpc_server::start(addr, api, &circle.server)
        .await
        .map_err(|e| e.to_string())?;
    Ok((server, key))
}

/// The circle's identity key, created in `db_path` on first start.
fn load_or_create_identity(db_path: &Path) -> Result<SecretKey, KeyFileError> {
    let path = db_path.join("identity.key");
    match SecretKey::load_from_file(&path) {
        Err(KeyFileError::Missing { .. }) => {
            let key = SecretKey::try_generate().map_err(|e| KeyFileError::Write {
                path: path.clone(),
                error: std::io::Error::other(e.to_string()),
            })?;
            key.save_to_file(&path)?;
            Ok(key)
        }
        other => other,
    }
}
