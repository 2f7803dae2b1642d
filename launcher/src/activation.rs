//! Socket activation, as systemd does it (`sd_listen_fds(3)`): a parent process binds the
//! listening sockets and passes them down, so the port is taken before the launcher runs and
//! can never be lost to another program (systemd socket units, or tests that must know a
//! circle's port before it starts).
//!
//! The protocol: `LISTEN_FDS=N` passes N sockets as file descriptors 3 to 3+N-1;
//! `LISTEN_FDNAMES=alice:bob` names them, one name per fd, separated by `:`; when
//! `LISTEN_PID` is set and is not this process's id, the variables were meant for another
//! process (they are inherited by children) and are ignored. (systemd requires LISTEN_PID;
//! here it may be left out, since a parent that spawns the launcher does not know its pid
//! before it runs.) The launcher serves the circle whose `id` is an fd's name on that fd,
//! instead of binding the circle's `host` and `port`.

use std::collections::HashMap;
use std::net::TcpListener;

use crate::config::CircleConfig;
use crate::error::exit;

/// The first file descriptor passed (`SD_LISTEN_FDS_START`).
pub const FIRST_FD: i32 = 3;

/// A listening socket passed by the parent, for one circle.
#[derive(Debug)]
pub struct PassedSocket {
    /// The file descriptor it was passed as.
    pub fd: i32,
    pub listener: TcpListener,
}

/// Why the sockets passed by socket activation cannot be used. Each is the invocation's
/// fault (environment and file descriptors), so each exits with [`exit::USAGE`].
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error(
        "LISTEN_FDS={0:?} is not a number of file descriptors (LISTEN_FDS=N passes N sockets \
         as fds 3 to 3+N-1)"
    )]
    BadCount(String),
    #[error("LISTEN_PID={0:?} is not a process id")]
    BadPid(String),
    #[error(
        "LISTEN_FDS={fds} but LISTEN_FDNAMES is not set: name each fd after the circle to \
         serve on it (e.g. LISTEN_FDNAMES=alice:bob)"
    )]
    Unnamed { fds: usize },
    #[error(
        "LISTEN_FDNAMES={names:?} names {count} fd(s) but LISTEN_FDS={fds}: give one name per \
         fd, separated by ':'"
    )]
    NameCount {
        names: String,
        count: usize,
        fds: usize,
    },
    #[error("fd {fd} ({name:?}) is not a listening TCP socket: {why}")]
    NotListener { fd: i32, name: String, why: String },
    #[error("fds {first} and {second} are both named {name:?}: a circle is served on one socket")]
    DuplicateName {
        name: String,
        first: i32,
        second: i32,
    },
    #[error(
        "fd {fd} is named {name:?}, which is the id of no circle in the config ({ids}): \
         nothing would answer on it, so the launcher does not start (name each fd after the \
         circle to serve on it)"
    )]
    NoSuchCircle { fd: i32, name: String, ids: String },
    #[error("socket activation (LISTEN_FDS) is supported on Linux only")]
    Unsupported,
    #[error("the sockets passed by socket activation were taken already")]
    Taken,
}

impl ActivationError {
    pub fn exit_code(&self) -> u8 {
        exit::USAGE
    }
}

/// The sockets passed to this process, each under its name.
#[derive(Debug, Default)]
pub struct Activation {
    sockets: Vec<(String, PassedSocket)>,
}

impl Activation {
    /// Takes the sockets passed by the parent, as the environment describes them (empty when
    /// `LISTEN_FDS` is unset, or `LISTEN_PID` names another process). Each must be a
    /// listening TCP socket; it is made close-on-exec. Only the first call takes them (a
    /// second one fails with [`ActivationError::Taken`]); make it before the process opens
    /// listening sockets of its own (see `take_fd`).
    pub fn from_env() -> Result<Activation, ActivationError> {
        let var = |name| std::env::var(name).ok();
        Self::take(
            var("LISTEN_FDS").as_deref(),
            var("LISTEN_FDNAMES").as_deref(),
            var("LISTEN_PID").as_deref(),
        )
    }

    fn take(
        fds: Option<&str>,
        names: Option<&str>,
        pid: Option<&str>,
    ) -> Result<Activation, ActivationError> {
        let Some(fds) = fds else {
            return Ok(Activation::default());
        };
        if let Some(pid) = pid {
            let pid: u32 = pid
                .trim()
                .parse()
                .map_err(|_| ActivationError::BadPid(pid.to_owned()))?;
            if pid != std::process::id() {
                tracing::info!(
                    listen_pid = pid,
                    "LISTEN_PID names another process: the sockets passed are not ours"
                );
                return Ok(Activation::default());
            }
        }
        let count = parse_count(fds)?;
        let names = match (count, names) {
            (0, _) => Vec::new(),
            (_, None) => return Err(ActivationError::Unnamed { fds: count }),
            (_, Some(names)) => {
                let list: Vec<&str> = names.split(':').collect();
                if list.len() != count {
                    return Err(ActivationError::NameCount {
                        names: names.to_owned(),
                        count: list.len(),
                        fds: count,
                    });
                }
                list
            }
        };
        for (i, name) in names.iter().enumerate() {
            if let Some(j) = names[..i].iter().position(|other| other == name) {
                return Err(ActivationError::DuplicateName {
                    name: (*name).to_owned(),
                    first: fd_at(j),
                    second: fd_at(i),
                });
            }
        }
        if count == 0 {
            return Ok(Activation::default());
        }
        claim_once()?;
        let mut sockets = Vec::with_capacity(count);
        for (i, name) in names.into_iter().enumerate() {
            let fd = fd_at(i);
            let listener = take_fd(fd, name)?;
            sockets.push((name.to_owned(), PassedSocket { fd, listener }));
        }
        Ok(Activation { sockets })
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// The names of the sockets passed, in fd order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sockets.iter().map(|(name, _)| name.as_str())
    }

    /// Each socket under the id of the circle to serve on it. A socket named after no circle
    /// is an error: its parent expects an answer there that would never come.
    pub fn for_circles(
        self,
        circles: &[CircleConfig],
    ) -> Result<HashMap<String, PassedSocket>, ActivationError> {
        let mut by_circle = HashMap::with_capacity(self.sockets.len());
        for (name, socket) in self.sockets {
            if !circles.iter().any(|circle| circle.id == name) {
                let ids: Vec<&str> = circles.iter().map(|c| c.id.as_str()).collect();
                return Err(ActivationError::NoSuchCircle {
                    fd: socket.fd,
                    name,
                    ids: ids.join(", "),
                });
            }
            by_circle.insert(name, socket);
        }
        Ok(by_circle)
    }
}

/// `LISTEN_FDS` as a count of fds whose numbers all fit an `int`.
fn parse_count(fds: &str) -> Result<usize, ActivationError> {
    let bad = || ActivationError::BadCount(fds.to_owned());
    let count: usize = fds.trim().parse().map_err(|_| bad())?;
    let last = i32::try_from(count)
        .ok()
        .and_then(|n| FIRST_FD.checked_add(n));
    if last.is_none() {
        return Err(bad());
    }
    Ok(count)
}

/// The fd number of the `i`-th socket; `parse_count` checked that it fits.
fn fd_at(i: usize) -> i32 {
    FIRST_FD.saturating_add(i32::try_from(i).unwrap_or(i32::MAX))
}

/// Makes sure the passed fds are taken into ownership once only: two owners would close
/// the same fd twice.
fn claim_once() -> Result<(), ActivationError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static TAKEN: AtomicBool = AtomicBool::new(false);
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(ActivationError::Taken);
    }
    Ok(())
}

/// Takes `fd` as a listener after checking that it is an open, listening TCP socket (IPv4
/// or IPv6). An fd that fails a check is left alone: it is not closed, since it may be one
/// this process opened itself (when LISTEN_FDS counts more fds than were passed).
#[cfg(target_os = "linux")]
fn take_fd(fd: i32, name: &str) -> Result<TcpListener, ActivationError> {
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

    let not_listener = |why: String| ActivationError::NotListener {
        fd,
        name: name.to_owned(),
        why,
    };
    // SAFETY: fcntl(F_GETFD) only reads the fd's flags; any number may be asked about.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        let error = std::io::Error::last_os_error();
        return Err(not_listener(format!("it is not open ({error})")));
    }
    // SAFETY: the fd is open (checked just above), and it stays open while borrowed: nothing
    // here closes it, and no other part of the launcher knows of it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = socket2::SockRef::from(&borrowed);
    let kind = socket
        .r#type()
        .map_err(|error| not_listener(format!("it is not a socket ({error})")))?;
    let addr = socket
        .local_addr()
        .map_err(|error| not_listener(format!("it has no address ({error})")))?;
    let Some(addr) = addr.as_socket() else {
        return Err(not_listener("it is not an IPv4 or IPv6 socket".into()));
    };
    let protocol = socket
        .protocol()
        .map_err(|error| not_listener(format!("its protocol is unknown ({error})")))?;
    if kind != socket2::Type::STREAM || protocol.is_some_and(|p| p != socket2::Protocol::TCP) {
        return Err(not_listener(format!("{addr} is not a TCP socket")));
    }
    let listening = socket
        .is_listener()
        .map_err(|error| not_listener(format!("cannot tell whether it listens ({error})")))?;
    if !listening {
        return Err(not_listener(format!(
            "{addr} is a TCP socket that does not listen (a connection?)"
        )));
    }
    // SAFETY: the protocol hands fds 3.. to this process to own, and nothing in it owns this
    // one: `claim_once` lets the fds be taken once, and the checks above showed a listening
    // TCP socket, of which the launcher opens none before taking these (main takes them
    // first), so it is not one of the process's own fds counted by mistake.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let socket = socket2::Socket::from(owned);
    // A program the launcher might start must not inherit the circle's port.
    socket
        .set_cloexec(true)
        .map_err(|error| not_listener(format!("cannot make it close-on-exec ({error})")))?;
    Ok(socket.into())
}

#[cfg(not(target_os = "linux"))]
fn take_fd(_fd: i32, _name: &str) -> Result<TcpListener, ActivationError> {
    Err(ActivationError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(fds: &str, names: Option<&str>) -> String {
        match Activation::take(Some(fds), names, None) {
            Ok(_) => panic!("LISTEN_FDS={fds:?} LISTEN_FDNAMES={names:?} is refused"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn nothing_passed_is_no_socket() {
        let none = Activation::take(None, Some("alice"), None).expect("no LISTEN_FDS");
        assert!(none.is_empty());
        let zero = Activation::take(Some("0"), None, None).expect("LISTEN_FDS=0");
        assert!(zero.is_empty());
    }

    #[test]
    fn sockets_for_another_process_are_ignored() {
        let other = (std::process::id() + 1).to_string();
        let ignored = Activation::take(Some("garbage"), None, Some(&other)).expect("ignored");
        assert!(ignored.is_empty());
        assert!(Activation::take(Some("1"), Some("a"), Some("x")).is_err());
    }

    #[test]
    fn malformed_variables_are_refused() {
        for fds in ["", "x", "-1", "1.5", "4294967296", "2147483647"] {
            assert!(error(fds, Some("a")).contains("is not a number of file descriptors"));
        }
        assert!(error("2", None).contains("LISTEN_FDNAMES is not set"));
        assert!(error("2", Some("alice")).contains("names 1 fd(s) but LISTEN_FDS=2"));
        assert!(error("3", Some("a:b:a")).contains("fds 3 and 5 are both named \"a\""));
    }
}
