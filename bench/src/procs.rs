//! The processes the bench starts (the launcher, the echo server, busy loops) and what it
//! reads of them in /proc.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::Res;

/// Lets `command`'s process die with the bench (SIGKILL when the thread that spawned it, the
/// bench's main thread, ends), so an interrupted run leaves no server behind.
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `binary args…` with its file descriptor limit raised to the hard limit (10 000 connections
/// need more than the usual 1 024): `sh -c 'ulimit -n "$(ulimit -Hn)" && exec …'`, so the
/// process is `binary` itself, under the pid the bench watches.
fn limited(binary: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -n "$(ulimit -Hn)" && exec "$0" "$@""#)
        .arg(binary)
        .args(args);
    die_with_parent(&mut command);
    command
}

/// A server process; killed when dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// (circle id, URL) for the launcher; ("echo", URL) for the echo server.
    pub urls: Vec<(String, String)>,
    /// The launcher's config and data, and its stderr (`launcher.log`).
    dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts the echo server (jsonrpsee's defaults, but `max_connections` when given) and
    /// reads its URL.
    pub fn echo(binary: &Path, max_connections: Option<u32>) -> Res<Server> {
        let max = max_connections.map(|n| n.to_string());
        let args: Vec<&str> = match &max {
            Some(max) => vec!["--max-connections", max],
            None => vec![],
        };
        let mut command = limited(binary, &args);
        command.stderr(Stdio::inherit());
        let (child, lines) = spawn_reading(command, binary)?;
        let mut server = Server {
            pid: child.id(),
            child,
            urls: Vec::new(),
            dir: None,
        };
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("{} printed no URL within 30 s", binary.display()))?;
        if !line.starts_with("ws://") {
            return Err(format!("{} printed {line:?}, not its URL", binary.display()).into());
        }
        server.urls.push(("echo".to_owned(), line));
        Ok(server)
    }

    /// Writes `circles` (a circles.json array; each circle's `db_path` `data/<id>` and
    /// `rhai_path` `scripts/<id>` are filled in) to a temp folder, starts the launcher on it
    /// and reads its table.
    pub fn launcher(binary: &Path, mut circles: Value) -> Res<Server> {
        let dir = tempfile::Builder::new().prefix("circles-bench").tempdir()?;
        let list = circles.as_array_mut().ok_or("circles must be an array")?;
        for circle in list.iter_mut() {
            let id = circle["id"]
                .as_str()
                .ok_or("each circle needs an id")?
                .to_owned();
            std::fs::create_dir_all(dir.path().join("scripts").join(&id))?;
            circle["db_path"] = Value::String(format!("data/{id}"));
            circle["rhai_path"] = Value::String(format!("scripts/{id}"));
        }
        let expected = list.len();
        let config = dir.path().join("circles.json");
        std::fs::write(&config, serde_json::to_string_pretty(&circles)?)?;
        let log = std::fs::File::create(dir.path().join("launcher.log"))?;
        let config_arg = config.to_string_lossy().into_owned();
        let mut command = limited(binary, &["--config", &config_arg]);
        command.stderr(log);
        let (child, lines) = spawn_reading(command, binary)?;
        let mut server = Server {
            pid: child.id(),
            child,
            urls: Vec::new(),
            dir: Some(dir),
        };
        loop {
            let Ok(line) = lines.recv_timeout(Duration::from_secs(60)) else {
                return Err(format!(
                    "the launcher printed no `ready:` line within 60 s (or exited); its log:\n{}",
                    server.log()
                )
                .into());
            };
            if line.starts_with("ready:") {
                break;
            }
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells.len() == 4 && cells[0] != "CIRCLE" {
                server.urls.push((cells[0].to_owned(), cells[1].to_owned()));
            }
        }
        if server.urls.len() != expected {
            return Err(format!("the launcher's table has {:?}", server.urls).into());
        }
        Ok(server)
    }

    pub fn url(&self, id: &str) -> Res<&str> {
        self.urls
            .iter()
            .find(|(circle, _)| circle == id)
            .map(|(_, url)| url.as_str())
            .ok_or_else(|| format!("no circle {id} in the launcher's table").into())
    }

    /// The launcher's stderr so far (empty for the echo server).
    pub fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.path().join("launcher.log")).ok())
            .unwrap_or_default()
    }

    /// The folder of its config and data (the launcher's).
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.path().to_owned())
    }

    /// CPU time (user + system, all threads) the process has used so far.
    pub fn cpu_time(&self) -> Res<Duration> {
        cpu_time(self.pid)
    }

    /// Resident memory now, in bytes (VmRSS).
    pub fn rss(&self) -> Res<u64> {
        rss(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` with its stdout read line by line on a thread (which keeps reading, so
/// the pipe never fills).
fn spawn_reading(mut command: Command, binary: &Path) -> Res<(Child, mpsc::Receiver<String>)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    Ok((child, rx))
}

/// `count` clock ticks of /proc's CPU times (clock ticks, USER_HZ) as a duration.
fn from_ticks(count: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_nanos(count.saturating_mul(1_000_000_000 / per_second))
}

/// CPU time (user + system, all threads) of this process so far.
pub fn own_cpu_time() -> Res<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// CPU time (user + system, all threads) of process `pid` so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Res<Duration> {
    cpu_time_of(&format!("/proc/{pid}/stat"))
}

/// CPU time the whole machine has spent busy so far (every core, every process: the first
/// line of /proc/stat without idle and iowait).
pub fn machine_cpu_time() -> Res<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().ok_or("an empty /proc/stat")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse::<u64>())
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(at, _)| *at != 3 && *at != 4)
        .map(|(_, value)| value)
        .sum();
    Ok(from_ticks(busy))
}

fn cpu_time_of(path: &str) -> Res<Duration> {
    let stat = std::fs::read_to_string(path)?;
    // The fields after the command name (in parentheses, which may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |at: usize| -> Res<u64> {
        Ok(fields
            .get(at)
            .ok_or("a short /proc/PID/stat")?
            .parse::<u64>()?)
    };
    // utime and stime, fields 14 and 15 of the line: 11 and 12 after the name.
    Ok(from_ticks(field(11)? + field(12)?))
}

/// Resident memory of process `pid` in bytes (VmRSS of /proc/PID/status).
pub fn rss(pid: u32) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or("no VmRSS in /proc/PID/status")?;
    Ok(kib * 1024)
}

/// The machine's load average (1, 5, 15 minutes).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// `nice -n 19 sh -c 'while :; do :; done'` processes, killed when dropped.
pub struct BusyLoops(Vec<Child>);

impl BusyLoops {
    pub fn start(count: usize) -> Res<BusyLoops> {
        let mut loops = BusyLoops(Vec::new());
        for _ in 0..count {
            let mut command = Command::new("nice");
            command
                .args(["-n", "19", "sh", "-c", "while :; do :; done"])
                .stdin(Stdio::null());
            die_with_parent(&mut command);
            loops.0.push(
                command
                    .spawn()
                    .map_err(|e| format!("cannot start a busy loop: {e}"))?,
            );
        }
        Ok(loops)
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Raises this process's file descriptor limit to its hard limit; the new limit.
pub fn raise_nofile() -> Res<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    Ok(limit.rlim_cur)
}
