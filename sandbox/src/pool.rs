//! The circle's worker threads: runs that outgrow an inline attempt, or need a thread of
//! their own, wait in a bounded queue for one of them.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use crate::run::{Attempt, Reply, Shared, Work, run_job};
use crate::sandbox::Caller;

/// Niceness of the worker threads: runs that take long yield the CPU to short ones (run
/// inline on the server's threads, at normal priority) and to network I/O. The circles'
/// workers share what is left as the system shares it among threads: evenly.
const WORKER_NICE: i32 = 10;

/// A run waiting for a worker.
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) caller: Caller,
    /// The caller's own deadline, when it gave one: the run ends by then, and does not
    /// start once it has passed (its caller has given up on the answer).
    pub(crate) not_after: Option<Instant>,
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// A worker: runs jobs until the queue closes. Waits for them asleep, never spinning.
pub(crate) fn worker_loop(shared: &Arc<Shared>, rx: &Receiver<Job>) {
    lower_priority();
    while let Ok(job) = rx.recv() {
        if job.reply.is_closed() {
            continue; // the caller went away before the run started
        }
        match run_job(shared, &job.work, &job.caller, job.not_after, None) {
            Attempt::Ended(reply) => {
                let _ = job.reply.send(reply);
            }
            // Only inline attempts are abandoned; a worker's run always ends.
            Attempt::Abandoned => {
                tracing::warn!("a worker's run was abandoned as if inline");
            }
        }
    }
    tracing::debug!("sandbox worker stopped");
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: `gettid` has no preconditions; `setpriority` on this thread's id changes only
    // this thread's niceness (Linux keeps it per thread) and reads nothing through pointers.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, WORKER_NICE)
    };
    if result != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not lower a sandbox worker's priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
