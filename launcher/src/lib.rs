//! The circles launcher as a library: read and validate a `circles.json`, then start every
//! circle in it, each isolated (own port, data directory, identity, store, script library,
//! sandbox), and stop them gracefully. `main.rs` is a thin command line over it.

pub mod activation;
pub mod config;
pub mod error;
pub mod members;
pub mod probe;
pub mod start;
pub mod validate;

use std::collections::HashMap;
use std::net::SocketAddr;
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
///
/// Every problem is reported at once: when some circles cannot be parsed, their parse
/// errors come with the problems of each circle's own fields that did parse (an invalid id,
/// a missing `rhai_path`…); the rules across circles (unique ids, ports, data directories;
/// peers) are checked once every circle parses.
pub fn check_passed(path: &Path, passed: &[&str]) -> Result<Vec<CircleConfig>, Vec<ConfigError>> {
    let file = path.display().to_string();
    let parsed = config::read(path).map_err(|error| vec![error])?;
    if parsed.errors.is_empty() {
        let circles: Vec<CircleConfig> = parsed
            .circles
            .into_iter()
            .flatten()
            .map(|circle| circle.config)
            .collect();
        let errors = validate::validate_passed(&file, &circles, passed);
        return if errors.is_empty() {
            Ok(circles)
        } else {
            Err(errors)
        };
    }
    let mut errors = parsed.errors;
    for (i, circle) in parsed.circles.iter().enumerate() {
        let Some(circle) = circle else { continue };
        let bound = !passed.contains(&circle.config.id.as_str());
        let found = validate::check_circle(&file, i, &circle.config, bound);
        errors.extend(found.into_iter().filter(|error| {
            error
                .field()
                .is_none_or(|field| !circle.failed.contains(field))
        }));
    }
    Err(errors)
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
/// workers held the other handles to it, so ours is the last (closing it waits for its
/// committer to finish what was queued). A run's writes are durable before it is answered,
/// so nothing acknowledged is lost either way; a clean close spares the next start redb's
/// recovery pass. False when something was still running after
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

/// The warning for a circle that listens on `addr` beyond this machine (not a loopback
/// address): its `ws://` is unencrypted, and says so. None on loopback.
pub fn beyond_loopback_warning(id: &str, addr: SocketAddr) -> Option<String> {
    if addr.ip().to_canonical().is_loopback() {
        return None;
    }
    let reach = if addr.ip().is_unspecified() {
        "every address of this machine"
    } else {
        "an address other machines may reach"
    };
    // Port 0 (from a config being checked): the port is chosen when the circle starts.
    let addr = if addr.port() == 0 {
        addr.ip().to_string()
    } else {
        addr.to_string()
    };
    Some(format!(
        "circle {id} listens on {addr} ({reach}) over plain ws://, which is unencrypted: \
         sign-ins, scripts and their results can be read, and the connection relayed, by anything \
         on the way. Put a TLS proxy in front of it (clients then use wss://) or set its \"host\" \
         to 127.0.0.1"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_circles_beyond_loopback_are_warned_of() {
        for addr in [
            "127.0.0.1:9101",
            "127.0.0.2:1",
            "[::1]:9101",
            "[::ffff:127.0.0.1]:1",
        ] {
            let addr: SocketAddr = addr.parse().expect("an address");
            assert_eq!(beyond_loopback_warning("a", addr), None, "{addr}");
        }
        for (addr, shown) in [
            ("0.0.0.0:9101", "0.0.0.0:9101 (every address"),
            ("0.0.0.0:0", "0.0.0.0 (every address"),
            ("[::]:9101", "[::]:9101 (every address"),
            (
                "192.0.2.1:9101",
                "192.0.2.1:9101 (an address other machines",
            ),
        ] {
            let addr: SocketAddr = addr.parse().expect("an address");
            let warning = beyond_loopback_warning("a", addr).expect("a warning");
            assert!(warning.contains(shown), "{warning}");
            assert!(
                warning.contains("unencrypted") && warning.contains("TLS"),
                "{warning}"
            );
        }
    }
}
