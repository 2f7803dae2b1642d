//! The circles launcher as a library: read and validate a `circles.json`, then start every
//! circle in it, each isolated (own port, data directory, identity, store, script library,
//! sandbox), and stop them gracefully. `main.rs` is a thin command line over it.

pub mod activation;
pub mod config;
pub mod error;
pub mod members;
pub mod start;
pub mod validate;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rpc_server::ConsoleDir;

pub use activation::{Activation, ActivationError, PassedSocket};
pub use config::{CircleConfig, load, schema};
pub use error::{ConfigError, exit};
pub use start::{StartError, StartedCircle, start_circle, start_circle_on};

/// Reads `path` and checks everything that can be checked without starting anything.
pub fn check(path: &Path) -> Result<Vec<CircleConfig>, Vec<ConfigError>> {
    check_passed(path, &[])
}

/// Like [`check`], where the circles named in `passed` are to be served on sockets passed
/// by socket activation (their ports are not checked: they are not used).
pub fn check_passed(path: &Path, passed: &[&str]) -> Result<Vec<CircleConfig>, Vec<ConfigError>> {
    let circles = load(path).map_err(|error| vec![error])?;
    let errors = validate::validate_passed(&path.display().to_string(), &circles, passed);
    if errors.is_empty() {
        Ok(circles)
    } else {
        Err(errors)
    }
}

/// Starts every circle, in order. If one fails, those already started are stopped.
pub async fn start_all(
    circles: &[CircleConfig],
    console: Option<&ConsoleDir>,
) -> Result<Vec<StartedCircle>, (String, StartError)> {
    start_all_passed(circles, console, HashMap::new()).await
}

/// Like [`start_all`], serving each circle that has a socket in `passed` (by id, see
/// [`Activation::for_circles`]) on it instead of on its own `host` and `port`.
pub async fn start_all_passed(
    circles: &[CircleConfig],
    console: Option<&ConsoleDir>,
    mut passed: HashMap<String, PassedSocket>,
) -> Result<Vec<StartedCircle>, (String, StartError)> {
    let mut started: Vec<StartedCircle> = Vec::with_capacity(circles.len());
    for circle in circles {
        let socket = passed.remove(&circle.id);
        match start_circle_on(circle, console.cloned(), socket).await {
            Ok(circle) => started.push(circle),
            Err(error) => {
                stop_all(started, Duration::from_secs(5)).await;
                return Err((circle.id.clone(), error));
            }
        }
    }
    // Every circle is a peer of the others, now that their ports are known.
    for circle in &started {
        for other in &started {
            if other.config.id != circle.config.id {
                circle
                    .peers
                    .insert(other.config.id.clone(), other.peer_address());
            }
        }
    }
    Ok(started)
}

/// Stops accepting connections on every circle, gives calls in flight (running scripts) up
/// to `grace` to finish, waits for each circle's sandbox workers to exit (a stopped server
/// drops its circle, which closes the sandbox's queue), then closes the circle's store: the
/// workers held the other handles to it, so ours is the last. Store writes are committed
/// durably as they happen, so nothing acknowledged is lost either way; a clean close spares
/// the next start redb's recovery pass. False when something was still running after
/// `grace`.
pub async fn stop_all(circles: Vec<StartedCircle>, grace: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + grace;
    for circle in &circles {
        // An error only means it had stopped already.
        let _ = circle.server.handle().stop();
    }
    let mut clean = true;
    for circle in circles {
        let StartedCircle {
            config,
            server,
            sandbox_workers,
            store,
            ..
        } = circle;
        let stopped = async {
            server.stopped().await;
            sandbox_workers.exited().await;
        };
        // (Polled once even past the deadline: a circle that is done is closed cleanly.)
        if tokio::time::timeout_at(deadline, stopped).await.is_err() {
            tracing::warn!(circle = %config.id, "still running scripts after the grace period");
            clean = false;
        }
        drop(store);
    }
    clean
}

/// The grace period for running scripts at shutdown: the longest script time limit plus a
/// second.
pub fn shutdown_grace(circles: &[CircleConfig]) -> Duration {
    let longest = circles
        .iter()
        .map(|c| c.limits.max_time_ms)
        .max()
        .unwrap_or(0);
    Duration::from_millis(longest) + Duration::from_secs(1)
}

/// The start-up table: one row per circle.
pub fn table(circles: &[StartedCircle]) -> String {
    let rows: Vec<[String; 4]> = circles
        .iter()
        .map(|c| {
            [
                c.config.id.clone(),
                c.server.url(),
                c.public_key.to_hex(),
                c.config.db_path.display().to_string(),
            ]
        })
        .collect();
    let header = ["CIRCLE", "URL", "PUBLIC KEY", "DB PATH"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Waits for SIGINT or SIGTERM (Ctrl-C elsewhere) and names it.
pub async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = interrupt.recv() => Ok("SIGINT"),
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}
