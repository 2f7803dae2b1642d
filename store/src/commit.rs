//! The store's committer: one thread per store that commits write sets in groups, so that
//! concurrent runs share one `fsync` (see [Writes](crate#writes)).
//!
//! It takes every write set queued (up to [`MAX_GROUP`]), applies each in its own redb
//! transaction committed with [`Durability::None`] (one set's failure leaves the others
//! alone), then makes them all durable with one empty [`Durability::Immediate`] commit:
//! redb writes out a durable commit's root, which is the latest commit's, with every page
//! the non-durable commits before it left in memory. Only then does it answer each set.
//!
//! If that fails, none of the group is durable: the database is reopened (which rolls it
//! back to its last durable commit: redb's file layer latches the I/O error, so closing the
//! handle writes nothing more) and the group is tried once more, without the sets that
//! write when the disk is full (they fail with [`StoreError::DiskFull`]; deletes have the
//! reserve's room). A second failure fails every set left. (A failure that is not an I/O
//! error, or a panic, which would both be bugs, could leave sets applied that closing the
//! handle then makes durable: redb cannot take back a non-durable commit.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use redb::{Database, Durability};
use tokio::sync::oneshot;

use crate::database::{Inner, log_warning};
use crate::error::{CommitError, StoreError, storage};
use crate::writes::Batch;

/// Most write sets in one group: bounds the memory its non-durable commits hold and the
/// wait of its first set.
const MAX_GROUP: usize = 1024;

type Outcome = Result<(), CommitError>;

/// The committer thread of one store, and its queue. Dropping it closes the queue and waits
/// for the thread to commit what was queued and exit.
pub(crate) struct Committer {
    queue: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

struct Job {
    batch: Batch,
    reply: Reply,
}

/// Where a write set's outcome goes.
enum Reply {
    /// A caller blocked in [`Committer::commit`].
    Blocking(SyncSender<Outcome>),
    /// The future of [`Committer::commit_later`].
    Async(oneshot::Sender<Outcome>),
}

impl Reply {
    /// Sends the outcome; a caller that has gone away no longer wants it.
    fn send(self, outcome: Outcome) {
        match self {
            Reply::Blocking(reply) => drop(reply.send(outcome)),
            Reply::Async(reply) => drop(reply.send(outcome)),
        }
    }
}

fn stopped(batch: &Batch) -> CommitError {
    CommitError {
        op: batch.op(),
        error: StoreError::Committer("has stopped".to_owned()),
    }
}

impl Committer {
    pub(crate) fn start(inner: Arc<Inner>) -> Result<Committer, StoreError> {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-commit".to_owned())
            .spawn(move || run(&inner, &jobs))
            .map_err(|e| StoreError::Committer(format!("thread cannot start: {e}")))?;
        Ok(Committer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Commits `batch` and waits until it is durable (or failed).
    pub(crate) fn commit(&self, batch: Batch) -> Outcome {
        let (reply, outcome) = mpsc::sync_channel(1);
        let op = batch.op();
        self.submit(batch, Reply::Blocking(reply));
        outcome.recv().unwrap_or_else(|_| {
            Err(CommitError {
                op,
                error: StoreError::Committer("stopped before answering".to_owned()),
            })
        })
    }

    /// Queues `batch` now; the future resolves once it is durable (or failed).
    pub(crate) fn commit_later(
        &self,
        batch: Batch,
    ) -> impl Future<Output = Outcome> + Send + 'static + use<> {
        let (reply, outcome) = oneshot::channel();
        let op = batch.op();
        self.submit(batch, Reply::Async(reply));
        async move {
            outcome.await.unwrap_or_else(|_| {
                Err(CommitError {
                    op,
                    error: StoreError::Committer("stopped before answering".to_owned()),
                })
            })
        }
    }

    fn submit(&self, batch: Batch, reply: Reply) {
        let job = Job { batch, reply };
        let sent = match &self.queue {
            Some(queue) => queue.send(job).map_err(|mpsc::SendError(job)| job),
            // Only while dropping, when nobody can submit.
            None => Err(job),
        };
        if let Err(job) = sent {
            let error = stopped(&job.batch);
            job.reply.send(Err(error));
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("store: the committer thread panicked");
        }
    }
}

/// The committer thread: group after group until the queue is closed and empty.
fn run(inner: &Inner, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP
            && let Ok(job) = jobs.try_recv()
        {
            group.push(job);
        }
        let batches: Vec<&Batch> = group.iter().map(|job| &job.batch).collect();
        let outcomes = match catch_unwind(AssertUnwindSafe(|| commit_group(inner, &batches))) {
            Ok(outcomes) => outcomes,
            Err(_) => {
                // A bug (in redb or here): answer, and start again from a fresh handle.
                tracing::error!(
                    "store: a group commit panicked; its runs fail (writes it had applied may be kept)"
                );
                let (_, generation) = inner.with_database(|_| ());
                if let Err(error) = inner.reopen(generation, false) {
                    log_warning(&inner.path, "cannot reopen the database", &error);
                }
                let failed = |batch: &&Batch| {
                    Err(CommitError {
                        op: batch.op(),
                        error: StoreError::Committer("failed (the circle's log has more)".into()),
                    })
                };
                batches.iter().map(failed).collect()
            }
        };
        for (job, outcome) in group.into_iter().zip(outcomes) {
            job.reply.send(outcome);
        }
    }
}

/// Commits `batches` as a group (see the [module documentation](self)): each one's outcome.
fn commit_group(inner: &Inner, batches: &[&Batch]) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = batches.iter().map(|_| None).collect();
    // Writes need the reserve, so that deletes will still have room once they fill the disk.
    if batches.iter().any(|batch| batch.writes())
        && let Err(error) = inner.ensure_reserve()
    {
        let writing: Vec<usize> = batches
            .iter()
            .enumerate()
            .filter(|(_, batch)| batch.writes())
            .map(|(i, _)| i)
            .collect();
        fail(&mut outcomes, batches, &writing, error);
    }
    let mut retried = false;
    loop {
        let pending: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, outcome)| outcome.is_none())
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            break;
        }
        let (attempt, generation) =
            inner.with_database(|db| db.map(|db| apply_durably(db, inner, batches, &pending)));
        let failure = match attempt {
            Some(Ok(applied)) => {
                for (i, outcome) in applied {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some(outcome);
                    }
                }
                break;
            }
            Some(Err(failure)) => failure,
            None if !retried => {
                // The last reopen failed: try again.
                retried = true;
                match inner.reopen(generation, false) {
                    Ok(()) => continue,
                    Err(error) => {
                        fail(&mut outcomes, batches, &pending, error);
                        break;
                    }
                }
            }
            None => {
                let closed = StoreError::Storage(redb::Error::DatabaseClosed);
                fail(&mut outcomes, batches, &pending, closed);
                break;
            }
        };
        // Nothing of this attempt is durable, and the reopen drops what it applied.
        let out_of_space = failure.is_out_of_space();
        if out_of_space {
            log_warning(&inner.path, "the disk is full", &failure);
        }
        if let Err(error) = inner.reopen(generation, out_of_space) {
            fail(&mut outcomes, batches, &pending, error);
            break;
        }
        let failure = if out_of_space {
            StoreError::DiskFull
        } else {
            failure
        };
        if retried {
            fail(&mut outcomes, batches, &pending, failure);
            break;
        }
        if out_of_space {
            // Writing again would only fill the disk again; deletes have the reserve's room.
            let writing: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&i| batches.get(i).is_some_and(|batch| batch.writes()))
                .collect();
            fail(&mut outcomes, batches, &writing, failure);
        }
        retried = true;
    }
    outcomes
        .into_iter()
        .zip(batches)
        .map(|(outcome, batch)| outcome.unwrap_or_else(|| Err(stopped(batch))))
        .collect()
}

/// Applies the `pending` batches, each in its own non-durable transaction, then makes those
/// applied durable with one commit. `Ok`: each batch's outcome (its own errors leave the
/// others alone). `Err`: a failure of the database (or of the durable commit): none of them
/// is durable, and the handle must be reopened.
fn apply_durably(
    db: &Database,
    inner: &Inner,
    batches: &[&Batch],
    pending: &[usize],
) -> Result<Vec<(usize, Outcome)>, StoreError> {
    let mut outcomes = Vec::with_capacity(pending.len());
    let mut applied = false;
    for &i in pending {
        let Some(batch) = batches.get(i) else {
            continue;
        };
        match batch.apply(db, &inner.limits) {
            Err(failure) if failure.error.leaves_database_unusable().is_some() => {
                return Err(failure.error);
            }
            outcome => {
                applied |= outcome.is_ok();
                outcomes.push((i, outcome));
            }
        }
    }
    if applied {
        let mut txn = db.begin_write().map_err(storage)?;
        txn.set_durability(Durability::Immediate).map_err(storage)?;
        txn.commit().map_err(storage)?;
    }
    Ok(outcomes)
}

/// Fails the batches at `indices` with `error` (its first one with `error` itself, the
/// others with copies).
fn fail(
    outcomes: &mut [Option<Outcome>],
    batches: &[&Batch],
    indices: &[usize],
    error: StoreError,
) {
    let Some((&first, rest)) = indices.split_first() else {
        return;
    };
    for &i in rest {
        fail_one(outcomes, batches, i, error.duplicate());
    }
    fail_one(outcomes, batches, first, error);
}

fn fail_one(outcomes: &mut [Option<Outcome>], batches: &[&Batch], i: usize, error: StoreError) {
    if let (Some(slot), Some(batch)) = (outcomes.get_mut(i), batches.get(i)) {
        *slot = Some(Err(CommitError {
            op: batch.op(),
            error,
        }));
    }
}
