//! The `store` module's part of a run: its writes, buffered in a [`WriteSet`] made on its
//! first write, dropped with the run if it fails (or is an abandoned inline attempt), and
//! committed when it succeeds: the run's answer waits until they are durable.

use circles_sandbox::{LimitKind, Pending, RunContext, RunState, ScriptError};

use crate::{CommitError, Store, StoreError, WriteSet};

/// The run's write sets: one per store it writes to (a circle has one).
#[derive(Default)]
pub(super) struct RunWrites {
    sets: Vec<WriteSet>,
}

impl RunWrites {
    fn find(&self, store: &Store) -> Option<&WriteSet> {
        self.sets.iter().find(|set| set.store().same(store))
    }

    fn for_store(&mut self, store: &Store, author: &str) -> Result<&mut WriteSet, StoreError> {
        let index = match self.sets.iter().position(|set| set.store().same(store)) {
            Some(index) => index,
            None => {
                self.sets.push(store.write_set(author)?);
                self.sets.len() - 1
            }
        };
        // Just found or pushed.
        self.sets
            .get_mut(index)
            .ok_or_else(|| StoreError::Committer("lost the run's writes".to_owned()))
    }
}

impl RunState for RunWrites {
    fn finish(self) -> Option<Pending> {
        let commits: Vec<_> = self
            .sets
            .into_iter()
            .filter(|set| !set.is_empty())
            .map(WriteSet::commit_later)
            .collect();
        if commits.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            for commit in commits {
                commit.await.map_err(commit_failed)?;
            }
            Ok(())
        }))
    }
}

/// Calls `read` with the current run's write set for `store`: `None` outside a run, or
/// before the run's first write.
pub(super) fn reading<R>(store: &Store, read: impl Fn(Option<&WriteSet>) -> R) -> R {
    RunContext::with_state(|run: &mut RunWrites| read(run.find(store)))
        .unwrap_or_else(|| read(None))
}

/// Calls `write` with the current run's write set for `store` (by `author`), made on first
/// use; `None` outside a run.
pub(super) fn writing<R>(
    store: &Store,
    author: &str,
    write: impl FnOnce(&mut WriteSet) -> Result<R, StoreError>,
) -> Option<Result<R, StoreError>> {
    RunContext::with_state(|run: &mut RunWrites| run.for_store(store, author).and_then(write))
}

/// A commit's failure as the run's: a quota is the limit `store_quota`; anything else a
/// runtime error (with no position: it is the run's writes as a whole that failed).
fn commit_failed(failed: CommitError) -> ScriptError {
    let (quota, message) = super::describe(failed.op.name(), &failed.error);
    if quota {
        ScriptError::limit_exceeded(LimitKind::StoreQuota, message)
    } else {
        ScriptError::runtime(message)
    }
}
