//! Shared by the launcher tests: write a circles.json into a temp folder, run the real
//! `launcher` binary on it, and talk to its circles over WebSocket with the typed client.
#![allow(dead_code)] // each test binary uses a different part

pub mod peers;
pub mod raw_ws;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rpc_client::{PlayResult, PublicKey, SecretKey};
use serde_json::{Value, json};

pub const LAUNCHER: &str = env!("CARGO_BIN_EXE_launcher");

/// The launcher binary the tests run: this build's, or the one named by
/// `CIRCLES_TEST_LAUNCHER` (to measure another build with the same tests, e.g. before a
/// change).
pub fn launcher_binary() -> String {
    std::env::var("CIRCLES_TEST_LAUNCHER").unwrap_or_else(|_| LAUNCHER.to_owned())
}

/// A loopback port that is in use for as long as the returned listener lives: nobody else
/// can bind it meanwhile, so it stays taken however the test's timing goes. (A port found
/// free and released again could be taken, or freed, by anyone before it is used.)
pub fn port_in_use() -> (TcpListener, u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    let port = listener.local_addr().expect("bound address").port();
    (listener, port)
}

/// Sets `command` up to hand `fds` to its process as systemd's socket activation does: the
/// i-th fd becomes the child's fd 3+i, `LISTEN_FDS` counts them and `LISTEN_FDNAMES` names
/// them (`LISTEN_PID` is removed: the child's pid is not known before it runs, and the
/// launcher takes the fds when it is unset). The fds live in the command until it is dropped
/// (after spawning it), so they stay open until the child has its copies.
pub fn pass_fds(command: &mut Command, fds: Vec<(&str, OwnedFd)>) {
    let names: Vec<&str> = fds.iter().map(|(name, _)| *name).collect();
    command
        .env("LISTEN_FDS", fds.len().to_string())
        .env("LISTEN_FDNAMES", names.join(":"))
        .env_remove("LISTEN_PID");
    let fds: Vec<OwnedFd> = fds.into_iter().map(|(_, fd)| fd).collect();
    const MAX_FDS: usize = 64;
    assert!(fds.len() <= MAX_FDS, "at most {MAX_FDS} fds");
    let count = RawFd::try_from(fds.len()).expect("a few fds");
    // Runs in the child between fork and exec: only async-signal-safe calls (fcntl, dup2),
    // no allocation.
    let place = move || {
        // A source fd may itself be one of the targets 3..3+count (the test's listener may
        // be fd 3): first copy every source above the targets (close-on-exec, so these
        // copies vanish at exec), then put the copies in place; dup2 clears close-on-exec
        // on the targets, so the launcher inherits exactly those.
        let above = 3 + count;
        let mut copies = [0 as RawFd; MAX_FDS];
        for (copy, fd) in copies.iter_mut().zip(&fds) {
            // SAFETY: fcntl on an fd this closure owns (open for the command's life).
            *copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, above) };
            if *copy < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        for (i, copy) in copies[..fds.len()].iter().enumerate() {
            // SAFETY: dup2 of an open fd onto a number of the child's own.
            if unsafe { libc::dup2(*copy, 3 + i as RawFd) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: `place` makes only async-signal-safe calls and allocates nothing.
    unsafe { command.pre_exec(place) };
}

/// Whether something accepts TCP connections at `url` (`ws://host:port`).
pub fn listening(url: &str) -> bool {
    let addr = url.strip_prefix("ws://").expect("a ws:// URL");
    TcpStream::connect(addr).is_ok()
}

/// A temp folder holding `circles.json`, `data/` and one `scripts/<id>` folder per circle.
pub struct World {
    pub dir: tempfile::TempDir,
    pub circles: Vec<Value>,
}

impl World {
    /// Circles `ids`, each with port 0 (a free port chosen when the launcher starts it,
    /// read back from its table), `db_path` `data/<id>` and `rhai_path` `scripts/<id>`
    /// (created).
    pub fn new(ids: &[&str]) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let circles = ids
            .iter()
            .map(|id| {
                std::fs::create_dir_all(dir.path().join("scripts").join(id)).expect("mkdir");
                json!({
                    "id": id,
                    "port": 0,
                    "db_path": format!("data/{id}"),
                    "rhai_path": format!("scripts/{id}"),
                    // Any signed-in caller may play (by default only members may:
                    // `authorization.rs` tests the policy itself).
                    "access": {"play": "signed_in"},
                })
            })
            .collect();
        World { dir, circles }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("circles.json")
    }

    /// Writes `circles.json` from `self.circles`.
    pub fn write(&self) -> PathBuf {
        let path = self.config_path();
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&self.circles).expect("json"),
        )
        .expect("write config");
        path
    }

    pub fn write_script(&self, circle: &str, name: &str, text: &str) {
        let path = self.path(&format!("scripts/{circle}/{name}"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write script");
    }

    /// Writes the config and starts the launcher on it, waiting for its table.
    pub fn launch(&self) -> Launcher {
        Launcher::start(&self.write(), self.circles.len())
    }

    /// Like [`World::launch`], with `listeners` passed to the launcher by socket activation
    /// (see [`pass_fds`]): each `(circle id, listener)` serves that circle on the listener,
    /// whose port the test knew before the launcher started (and nobody could take in
    /// between). The test's copies of the listeners are closed once the launcher has its
    /// own, so the ports are the launcher's alone.
    pub fn launch_with_listeners<'a>(
        &self,
        listeners: impl IntoIterator<Item = (&'a str, TcpListener)>,
    ) -> Launcher {
        let mut command = Command::new(launcher_binary());
        command
            .arg("--config")
            .arg(self.write())
            .arg("--no-console")
            .stderr(Stdio::inherit());
        let fds = listeners
            .into_iter()
            .map(|(name, listener)| (name, OwnedFd::from(listener)))
            .collect();
        pass_fds(&mut command, fds);
        Launcher::spawn(command, self.circles.len())
    }

    /// Runs the launcher on this world to completion with `fds` passed as socket activation
    /// passes sockets (any fds: files and sockets that do not listen too, to test the
    /// launcher's checks), and `env` set on top (e.g. a malformed `LISTEN_FDS`).
    pub fn run_with_fds(&self, fds: Vec<(&str, OwnedFd)>, env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(launcher_binary());
        command
            .arg("--config")
            .arg(self.write())
            .arg("--no-console");
        pass_fds(&mut command, fds);
        command.envs(env.iter().copied());
        command.output().expect("launcher runs")
    }

    /// Like [`World::launch`], with the launcher under resource limits, as the shell's
    /// `ulimit` sets them (e.g. `["-d 1048576"]`: 1 GiB of data segment; `["-n 64"]`: 64 file
    /// descriptors), and extra launcher arguments instead of `--no-console`.
    pub fn launch_limited(&self, ulimits: &[&str], args: &[&str]) -> Launcher {
        let mut script = String::new();
        for limit in ulimits {
            script.push_str(&format!("ulimit {limit} && "));
        }
        script.push_str("exec \"$0\" \"$@\"");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg(launcher_binary())
            .arg("--config")
            .arg(self.write())
            .args(if args.is_empty() {
                &["--no-console"][..]
            } else {
                args
            })
            .stderr(Stdio::inherit());
        Launcher::spawn(command, self.circles.len())
    }
}

/// One row of the launcher's start-up table.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub url: String,
    pub public_key: PublicKey,
    pub db_path: PathBuf,
}

/// A running `launcher` process; killed when dropped.
pub struct Launcher {
    pub child: Child,
    pub rows: Vec<Row>,
    /// Every line it printed up to `ready:` (the table and the notes after it).
    pub printed: Vec<String>,
}

impl Launcher {
    pub fn start(config: &Path, circles: usize) -> Launcher {
        Self::start_with(config, circles, &["--no-console"])
    }

    /// Like [`Launcher::start`] with extra arguments instead of `--no-console`.
    pub fn start_with(config: &Path, circles: usize, args: &[&str]) -> Launcher {
        let mut command = Command::new(launcher_binary());
        command
            .arg("--config")
            .arg(config)
            .args(args)
            .stderr(Stdio::inherit());
        Self::spawn(command, circles)
    }

    /// Runs `command` (the launcher, configured) and reads its table from its stdout until
    /// `ready:`; the table must have `circles` rows.
    pub fn spawn(mut command: Command, circles: usize) -> Launcher {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("launcher starts");
        let stdout = child.stdout.take().expect("stdout");
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
        let mut printed = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the launcher prints its table and `ready:` within 60 s");
            printed.push(line.clone());
            if line.starts_with("ready:") {
                break;
            }
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells.first() == Some(&"CIRCLE") || cells.len() != 4 {
                continue;
            }
            rows.push(Row {
                id: cells[0].to_owned(),
                url: cells[1].to_owned(),
                public_key: PublicKey::from_hex(cells[2]).expect("the table shows a valid key"),
                db_path: PathBuf::from(cells[3]),
            });
        }
        assert_eq!(rows.len(), circles, "one table row per circle");
        Launcher {
            child,
            rows,
            printed,
        }
    }

    pub fn row(&self, id: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.id == id)
            .expect("the circle is in the table")
    }

    /// Circle `id`'s URL as the table shows it, with the port it really listens on.
    pub fn url(&self, id: &str) -> String {
        self.row(id).url.clone()
    }

    /// Circle `id`'s address.
    pub fn addr(&self, id: &str) -> std::net::SocketAddr {
        let url = self.url(id);
        url.strip_prefix("ws://")
            .and_then(|addr| addr.parse().ok())
            .expect("a ws://ip:port URL")
    }

    /// The launcher's resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmRSS:") * 1024
    }

    /// The CPU time the launcher has used so far (user and system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/PID/stat");
        // Fields after the command name (which may hold spaces) in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // The kernel's USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }

    /// Samples the launcher's resident memory every 10 ms on a thread until the sampler is
    /// stopped; the peak is what it returns.
    pub fn sample_rss(&self) -> RssSampler {
        RssSampler::start(self.child.id())
    }

    /// Sends `signal` (e.g. "TERM", "KILL") and waits for the exit status code.
    pub fn signal(mut self, signal: &str) -> Option<i32> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} delivered");
        let status = self.child.wait().expect("launcher exits");
        status.code()
    }
}

impl Launcher {
    /// Waits for the launcher to exit on its own; its exit code.
    pub fn wait_exit(mut self) -> Option<i32> {
        self.child.wait().expect("launcher exits").code()
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to `url`, signs in as `key` (checking the circle key when given) and runs
/// `script`.
pub async fn play_as(
    url: &str,
    key: &SecretKey,
    circle_key: Option<&PublicKey>,
    script: &str,
) -> Result<PlayResult, rpc_client::Error> {
    let circle = rpc_client::connect(url).await?;
    circle.authenticate(key, circle_key).await?;
    circle.play(script).await
}

/// The error of a failed `play`, if the circle answered with one.
pub fn play_error(error: &rpc_client::Error) -> Option<&rpc_client::PlayError> {
    match error {
        rpc_client::Error::Play(error) => Some(error),
        _ => None,
    }
}

/// Runs `launcher ARGS` to completion.
pub fn run_launcher(args: &[&str]) -> Output {
    Command::new(LAUNCHER)
        .args(args)
        .output()
        .expect("launcher runs")
}

/// Whether redb must repair the database before use (it was not closed cleanly).
pub fn needs_repair(path: &std::path::Path) -> bool {
    use circles_store::redb;
    let repaired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = repaired.clone();
    let db = redb::Database::builder()
        .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::SeqCst))
        .open(path)
        .expect("the store opens");
    drop(db);
    repaired.load(std::sync::atomic::Ordering::SeqCst)
}

/// A field of `/proc/PID/status` in KiB (e.g. `VmRSS:`); 0 once the process is gone.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|value| value.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The peak resident memory of a process, sampled on a thread.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(proc_status_kib(pid, "VmRSS:") * 1024);
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        RssSampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peak in bytes.
    pub fn peak(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("sampler thread"))
            .unwrap_or(0)
    }
}

pub const MIB: u64 = 1024 * 1024;
