//! The rules a `circles.json` must follow beyond its shape: unique ids, fixed ports and data
//! directories, valid limits, and what the machine must offer (free ports, script folders).
//! Everything is checked before anything starts, and every problem is reported.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::config::CircleConfig;
use crate::error::ConfigError;

const MAX_ID_LEN: usize = 64;
const MAX_CHALLENGE_TTL_SECS: u64 = 86_400;

/// Every problem of `circles` (read from `file`), in file order; empty when they can start.
pub fn validate(file: &str, circles: &[CircleConfig]) -> Vec<ConfigError> {
    validate_passed(file, circles, &[])
}

/// Like [`validate`], where the circles named in `passed` are served on sockets passed by
/// socket activation (see [`crate::activation`]): their `host` and `port` are not used, so
/// whether the port is free is not checked (the passed socket may well hold it).
pub fn validate_passed(file: &str, circles: &[CircleConfig], passed: &[&str]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if circles.is_empty() {
        errors.push(ConfigError::invalid(file, "", "lists no circles"));
    }
    for (i, circle) in circles.iter().enumerate() {
        check_fields(file, i, circle, &mut errors);
    }
    check_across(file, circles, passed, &mut errors);
    errors
}

/// The problems of circle `i` on its own: its fields, and what the machine must offer it
/// (a free port when it is `bound` to its own, not served on a passed socket). What
/// [`validate`] checks across circles is left out.
pub fn check_circle(file: &str, i: usize, circle: &CircleConfig, bound: bool) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    check_fields(file, i, circle, &mut errors);
    check_machine(file, i, circle, bound, &mut errors);
    errors
}

fn check_across(
    file: &str,
    circles: &[CircleConfig],
    passed: &[&str],
    errors: &mut Vec<ConfigError>,
) {
    let places: Vec<Places> = circles.iter().map(Places::of).collect();
    check_unique(file, circles, &places, errors);
    check_paths_apart(file, circles, &places, errors);
    check_peers(file, circles, errors);
    // A port repeated in the file is reported as such above: only its first holder is tried.
    let mut tried = std::collections::HashSet::new();
    for (i, circle) in circles.iter().enumerate() {
        let first = circle.port == 0 || tried.insert(circle.port);
        let bound = first && !passed.contains(&circle.id.as_str());
        check_machine(file, i, circle, bound, errors);
    }
}

fn at(i: usize, field: &str) -> String {
    format!("[{i}].{field}")
}

/// Circle and peer ids: 1 to 64 characters of `a-z`, `0-9` and `-`.
fn check_id(file: &str, field: &str, id: &str, errors: &mut Vec<ConfigError>) {
    let id_ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        errors.push(ConfigError::invalid(
            file,
            field,
            format!("invalid id {id:?}: use 1 to {MAX_ID_LEN} characters of a-z, 0-9 and -"),
        ));
    }
}

fn check_fields(file: &str, i: usize, circle: &CircleConfig, errors: &mut Vec<ConfigError>) {
    check_id(file, &at(i, "id"), &circle.id, errors);
    if !(1..=MAX_CHALLENGE_TTL_SECS).contains(&circle.challenge_ttl_secs) {
        errors.push(ConfigError::invalid(
            file,
            &at(i, "challenge_ttl_secs"),
            format!("must be from 1 to {MAX_CHALLENGE_TTL_SECS}"),
        ));
    }
    if let Err(error) = circle.limits.validate() {
        errors.push(ConfigError::invalid(file, &at(i, "limits"), error));
    }
    if let Err(error) = circle.server.validate() {
        errors.push(ConfigError::invalid(file, &at(i, "server"), error));
    }
    if let Err(error) = circle.store.validate() {
        errors.push(ConfigError::invalid(file, &at(i, "store"), error));
    }
}

/// Each circle's peers: valid ids, unique among its peers and apart from the circles of the
/// file (which are its peers already), and `ws://` or `wss://` URLs with a host.
fn check_peers(file: &str, circles: &[CircleConfig], errors: &mut Vec<ConfigError>) {
    let local: HashMap<&str, usize> = circles
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    for (i, circle) in circles.iter().enumerate() {
        let mut seen = HashMap::new();
        for (j, peer) in circle.peers.iter().enumerate() {
            let field = |name: &str| at(i, &format!("peers[{j}].{name}"));
            check_id(file, &field("id"), &peer.id, errors);
            if let Some(&k) = local.get(peer.id.as_str()) {
                errors.push(ConfigError::invalid(
                    file,
                    &field("id"),
                    format!(
                        "{:?} is a circle of this file ([{k}]), and so already a peer of the \
                         others: give the remote circle another name",
                        peer.id
                    ),
                ));
            }
            if let Some(first) = seen.insert(peer.id.as_str(), j) {
                errors.push(ConfigError::invalid(
                    file,
                    &field("id"),
                    format!("peer {:?} is already listed as peers[{first}]", peer.id),
                ));
            }
            if let Err(why) = check_peer_url(&peer.url) {
                errors.push(ConfigError::invalid(
                    file,
                    &field("url"),
                    format!("{:?} {why}", peer.url),
                ));
            }
        }
    }
}

fn check_peer_url(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or("is not a WebSocket URL: write ws://host:port (or wss://)")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err("has no host: write ws://host:port");
    }
    Ok(())
}

/// Where a circle's directories really are: symlinks in the part that exists already are
/// followed, so that two spellings of one directory compare equal.
struct Places {
    db_path: PathBuf,
    rhai_path: PathBuf,
}

impl Places {
    fn of(circle: &CircleConfig) -> Places {
        Places {
            db_path: real_path(&circle.db_path),
            rhai_path: real_path(&circle.rhai_path),
        }
    }
}

/// `path` with its longest existing ancestor canonicalized (the rest, still to be created,
/// appended as written).
fn real_path(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Ids, ports and db_paths appear once each (but port 0, any free port, as often as wanted);
/// a repeat names the first holder.
fn check_unique(
    file: &str,
    circles: &[CircleConfig],
    places: &[Places],
    errors: &mut Vec<ConfigError>,
) {
    let mut ids = HashMap::new();
    let mut ports = HashMap::new();
    let mut db_paths = HashMap::new();
    for (i, circle) in circles.iter().enumerate() {
        let mut repeat = |field: &str, first: Option<usize>, what: String| {
            if let Some(first) = first {
                errors.push(ConfigError::invalid(
                    file,
                    &at(i, field),
                    format!(
                        "{what} is already used by [{first}] ({})",
                        circles[first].id
                    ),
                ));
            }
        };
        repeat(
            "id",
            ids.insert(circle.id.as_str(), i),
            format!("id {:?}", circle.id),
        );
        if circle.port != 0 {
            repeat(
                "port",
                ports.insert(circle.port, i),
                format!("port {}", circle.port),
            );
        }
        repeat(
            "db_path",
            db_paths.insert(&places[i].db_path, i),
            format!("db_path {}", circle.db_path.display()),
        );
    }
}

/// A db_path inside another circle's would let one circle's files sit in the other's; a
/// script library inside another circle's data (or the other way round) would mix them.
fn check_paths_apart(
    file: &str,
    circles: &[CircleConfig],
    places: &[Places],
    errors: &mut Vec<ConfigError>,
) {
    for (i, inner) in places.iter().enumerate() {
        for (j, outer) in places.iter().enumerate() {
            if i == j {
                continue;
            }
            let mut report = |field: &str, path: &Path, relation: &str, why: &str| {
                errors.push(ConfigError::invalid(
                    file,
                    &at(i, field),
                    format!(
                        "{} is {relation} of [{j}] ({}): {why}",
                        path.display(),
                        circles[j].id
                    ),
                ));
            };
            if inner.db_path != outer.db_path && inner.db_path.starts_with(&outer.db_path) {
                report(
                    "db_path",
                    &circles[i].db_path,
                    "inside the db_path",
                    "circles' data directories must not nest",
                );
            }
            if inner.rhai_path.starts_with(&outer.db_path)
                || outer.db_path.starts_with(&inner.rhai_path)
            {
                report(
                    "rhai_path",
                    &circles[i].rhai_path,
                    "overlaps the db_path",
                    "a circle's scripts and another circle's data must be apart",
                );
            }
        }
    }
}

/// What the machine must offer: a script folder, a usable data directory, a free port (port
/// 0 is chosen when the circle starts, among the free ones) when the circle is `bound` to its
/// own port rather than served on a passed socket.
fn check_machine(
    file: &str,
    i: usize,
    circle: &CircleConfig,
    bound: bool,
    errors: &mut Vec<ConfigError>,
) {
    if !circle.rhai_path.is_dir() {
        errors.push(ConfigError::unavailable(
            file,
            &at(i, "rhai_path"),
            format!(
                "{} is not a directory: create it (it holds the circle's .rhai scripts)",
                circle.rhai_path.display()
            ),
        ));
    }
    if circle.db_path.exists() && !circle.db_path.is_dir() {
        errors.push(ConfigError::unavailable(
            file,
            &at(i, "db_path"),
            format!("{} exists and is not a directory", circle.db_path.display()),
        ));
    }
    if bound && circle.port != 0 {
        let addr = SocketAddr::new(circle.host, circle.port);
        if let Err(error) = TcpListener::bind(addr) {
            errors.push(ConfigError::unavailable(
                file,
                &at(i, "port"),
                port_taken(addr, &error),
            ));
        }
    }
}

/// Why `addr` cannot be listened on. A port in use is probed: a circle answering there is
/// most likely this file's, started before.
fn port_taken(addr: SocketAddr, error: &std::io::Error) -> String {
    if error.kind() != std::io::ErrorKind::AddrInUse {
        return format!("cannot listen on {addr}: {error}");
    }
    match crate::probe::running_circle(addr) {
        Some(circle) => {
            let which = match (&circle.id, &circle.public_key) {
                (Some(id), Some(key)) => format!("circle {id:?} (key {key}) at {}", circle.url),
                _ => format!("a circle at {}", circle.url),
            };
            format!(
                "port {} is in use by a running circle: {which}. Is the launcher already \
                 running? Stop it first (Ctrl-C), or give this circle another port",
                addr.port()
            )
        }
        None => format!(
            "cannot listen on {addr}: {error} (another program uses the port: stop it, or give \
             this circle another port)"
        ),
    }
}
