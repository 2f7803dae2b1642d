//! A run's writes, buffered until the run ends and then committed all at once (see
//! [Writes](crate#writes)).
//!
//! A [`WriteSet`] checks each write when it is made, against what the run sees (the
//! committed entries with the run's own changes over them): key, value, reserved segments,
//! ownership, and the quotas with the run's own growth added to the committed counters. Its
//! reads show the run's changes. Committing it ([`Batch::apply`], on the store's committer)
//! checks everything again in the transaction, since other runs may have committed since.

use std::collections::BTreeMap;

use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde_json::Value;

use crate::database::{ENTRIES, ENTRY_SIZES, USAGE_BY_AUTHOR, USAGE_TOTAL, read_usage};
use crate::error::{CommitError, QuotaScope, WriteOp, check_owner, check_quota, storage};
use crate::keys::{check_key, check_reserved};
use crate::record::{decode, encode, entry_bytes};
use crate::{
    Entry, ListPage, MAX_AUTHOR_BYTES, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, PageRequest, Store,
    StoreError, StoreLimits, Usage, depth_exceeds, now_millis,
};

/// One key's change in a write set.
#[derive(Debug)]
pub(crate) enum Change {
    /// Written: the record as the store keeps it. `committed`: the key had a committed entry
    /// when the run first touched it (so that deleting it again must be committed too).
    Put { record: Vec<u8>, committed: bool },
    /// Deleted (a committed entry).
    Delete,
}

impl Change {
    /// The entry's size as the run sees it (`None`: no entry).
    fn visible_size(&self, key: &str) -> Option<u64> {
        match self {
            Change::Put { record, .. } => Some(entry_bytes(key, record.len())),
            Change::Delete => None,
        }
    }

    fn committed(&self) -> bool {
        match self {
            Change::Put { committed, .. } => *committed,
            Change::Delete => true,
        }
    }

    fn op(&self) -> WriteOp {
        match self {
            Change::Put { .. } => WriteOp::Set,
            Change::Delete => WriteOp::Delete,
        }
    }
}

/// What a write set commits: its author's changes, by key (the last change of a key wins).
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) author: String,
    pub(crate) changes: BTreeMap<String, Change>,
}

/// What a run's changes add to its author's (and so to the store's) counters: every entry a
/// run changes is its author's.
#[derive(Debug, Clone, Copy, Default)]
struct Delta {
    bytes: i128,
    entries: i128,
}

impl Delta {
    fn on(self, usage: Usage) -> Usage {
        let add = |count: u64, delta: i128| {
            u64::try_from((i128::from(count) + delta).max(0)).unwrap_or(u64::MAX)
        };
        Usage {
            bytes: add(usage.bytes, self.bytes),
            entries: add(usage.entries, self.entries),
        }
    }

    /// After the entry of `old` bytes (none: no entry) became `new` bytes (none: deleted).
    fn changing(self, old: Option<u64>, new: Option<u64>) -> Self {
        let size = |s: Option<u64>| i128::from(s.unwrap_or(0));
        let count = |s: Option<u64>| i128::from(u8::from(s.is_some()));
        Delta {
            bytes: self.bytes + size(new) - size(old),
            entries: self.entries + count(new) - count(old),
        }
    }
}

/// A run's writes to one store, by one author, not yet committed (see
/// [Writes](crate#writes)): checked as they are made, seen by the set's reads, committed all
/// or none. Made by [`Store::write_set`]; dropping it drops the writes.
pub struct WriteSet {
    store: Store,
    batch: Batch,
    delta: Delta,
}

impl std::fmt::Debug for WriteSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSet")
            .field("store", &self.store.path())
            .field("author", &self.batch.author)
            .field("changed_keys", &self.batch.changes.len())
            .finish_non_exhaustive()
    }
}

/// What the store holds, read in one transaction, for checking a write.
struct Committed {
    /// The size of the entry under the key asked for (which the author owns).
    entry: Option<u64>,
    mine: Usage,
    all: Usage,
}

impl WriteSet {
    pub(crate) fn new(store: Store, author: &str) -> Result<WriteSet, StoreError> {
        if author.len() > MAX_AUTHOR_BYTES {
            return Err(StoreError::AuthorInvalid(format!(
                "{} bytes, the limit is {MAX_AUTHOR_BYTES}",
                author.len()
            )));
        }
        Ok(WriteSet {
            store,
            batch: Batch {
                author: author.to_owned(),
                changes: BTreeMap::new(),
            },
            delta: Delta::default(),
        })
    }

    /// The store it writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Who writes.
    pub fn author(&self) -> &str {
        &self.batch.author
    }

    /// True when it changes nothing (committing it is a no-op).
    pub fn is_empty(&self) -> bool {
        self.batch.changes.is_empty()
    }

    /// Writes `value` under `key`, as [`Store::set`] would, checked against what the run
    /// sees; returns the entry as it will be stored.
    pub fn set(&mut self, key: &str, value: &Value) -> Result<Entry, StoreError> {
        let written_at = self.put(key, value)?;
        Ok(Entry {
            key: key.to_owned(),
            value: value.clone(),
            author: self.batch.author.clone(),
            written_at,
        })
    }

    /// [`WriteSet::set`], without copying the value into an entry: when it was written.
    pub(crate) fn put(&mut self, key: &str, value: &Value) -> Result<u64, StoreError> {
        let author = self.batch.author.as_str();
        check_key(key)?;
        check_reserved(key, author)?;
        if depth_exceeds(value, MAX_VALUE_DEPTH) {
            return Err(StoreError::ValueTooDeep {
                limit: MAX_VALUE_DEPTH,
            });
        }
        let json = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            key: key.to_owned(),
            reason: format!("cannot encode the value: {e}"),
        })?;
        if json.len() > MAX_VALUE_BYTES {
            return Err(StoreError::ValueTooLarge {
                bytes: json.len(),
                limit: MAX_VALUE_BYTES,
            });
        }
        let written_at = now_millis();
        let record = encode(written_at, author, &json);
        let own = self.batch.changes.get(key);
        let stored = self.committed(own.is_none().then_some(key))?;
        let (old, committed) = match own {
            Some(change) => (change.visible_size(key), change.committed()),
            None => (stored.entry, stored.entry.is_some()),
        };
        let new = entry_bytes(key, record.len());
        let after = self.delta.changing(old, Some(new));
        let limits = self.store.limits();
        check_quota(
            QuotaScope::Author,
            self.delta.on(stored.mine),
            after.on(stored.mine),
            limits.max_bytes_per_author,
            limits.max_entries_per_author,
        )?;
        check_quota(
            QuotaScope::Circle,
            self.delta.on(stored.all),
            after.on(stored.all),
            limits.max_bytes,
            limits.max_entries,
        )?;
        self.delta = after;
        self.batch
            .changes
            .insert(key.to_owned(), Change::Put { record, committed });
        Ok(written_at)
    }

    /// Deletes the entry under `key`, as [`Store::delete`] would (only its author may):
    /// `true` if the run saw one.
    pub fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let (old, committed) = match self.batch.changes.get(key) {
            Some(change) => (change.visible_size(key), change.committed()),
            None => {
                let entry = self.committed(Some(key))?.entry;
                (entry, entry.is_some())
            }
        };
        if old.is_none() {
            return Ok(false);
        }
        self.delta = self.delta.changing(old, None);
        if committed {
            self.batch.changes.insert(key.to_owned(), Change::Delete);
        } else {
            // Written by this run only: deleting it leaves nothing to commit.
            self.batch.changes.remove(key);
        }
        Ok(true)
    }

    /// The entry under `key` as the run sees it.
    pub fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        check_key(key)?;
        match self.batch.changes.get(key) {
            Some(Change::Put { record, .. }) => decode(key, record).map(Some),
            Some(Change::Delete) => Ok(None),
            None => self.store.get(key),
        }
    }

    /// A page of entries as [`Store::page`] returns it, with the run's changes: its writes
    /// listed in key order in place of what the store holds, its deletes left out.
    pub fn page(&self, prefix: &str, request: &PageRequest<'_>) -> Result<ListPage, StoreError> {
        self.store
            .page_with(prefix, request, Some(&self.batch.changes))
    }

    /// What the author and the whole store hold, as the run sees it: the committed counters
    /// plus the run's changes.
    pub fn usage(&self) -> Result<(Usage, Usage), StoreError> {
        let stored = self.committed(None)?;
        Ok((self.delta.on(stored.mine), self.delta.on(stored.all)))
    }

    /// Commits the writes durably, all or none, and waits until they are (on the store's
    /// committer, in a group with other write sets committed at the same time).
    pub fn commit(self) -> Result<(), CommitError> {
        if self.is_empty() {
            return Ok(());
        }
        let Self { store, batch, .. } = self;
        store.committer.commit(batch)
    }

    /// Hands the writes to the store's committer now; the future resolves once they are
    /// durable (or failed, leaving none of them). Dropping the future does not stop the
    /// commit.
    pub fn commit_later(self) -> impl Future<Output = Result<(), CommitError>> + Send + 'static {
        let Self { store, batch, .. } = self;
        let empty = batch.changes.is_empty();
        let commit = (!empty).then(|| store.committer.commit_later(batch));
        async move {
            match commit {
                Some(commit) => commit.await,
                None => Ok(()),
            }
        }
    }

    /// The committed entry under `key` (if asked for; refused when someone else owns it)
    /// and the committed counters.
    fn committed(&self, key: Option<&str>) -> Result<Committed, StoreError> {
        let author = self.batch.author.as_str();
        self.store.inner.read(|db| {
            let txn = db.begin_read().map_err(storage)?;
            let entry = match key {
                Some(key) => {
                    let entries = txn.open_table(ENTRIES).map_err(storage)?;
                    match entries.get(key).map_err(storage)? {
                        Some(record) => {
                            check_owner(key, record.value(), author)?;
                            Some(entry_bytes(key, record.value().len()))
                        }
                        None => None,
                    }
                }
                None => None,
            };
            let by_author = txn.open_table(USAGE_BY_AUTHOR).map_err(storage)?;
            let total = txn.open_table(USAGE_TOTAL).map_err(storage)?;
            Ok(Committed {
                entry,
                mine: read_usage(by_author.get(author).map_err(storage)?),
                all: read_usage(total.get(()).map_err(storage)?),
            })
        })
    }
}

impl Batch {
    /// `Set` when it writes something, else (it only deletes) `Delete`.
    pub(crate) fn op(&self) -> WriteOp {
        if self.writes() {
            WriteOp::Set
        } else {
            WriteOp::Delete
        }
    }

    /// True when it writes an entry (which needs room on the disk; deletes do not).
    pub(crate) fn writes(&self) -> bool {
        self.changes
            .values()
            .any(|change| matches!(change, Change::Put { .. }))
    }

    /// Applies the changes in one transaction, committed without making it durable (the
    /// committer does that for a group of them), after checking them again against what
    /// the store holds now: nothing is applied when a check fails.
    pub(crate) fn apply(&self, db: &Database, limits: &StoreLimits) -> Result<(), CommitError> {
        let author = self.author.as_str();
        let whole = |error| CommitError {
            op: self.op(),
            error,
        };
        let mut txn = db.begin_write().map_err(storage).map_err(whole)?;
        txn.set_durability(Durability::None)
            .map_err(storage)
            .map_err(whole)?;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(storage).map_err(whole)?;
            let mut sizes = txn
                .open_table(ENTRY_SIZES)
                .map_err(storage)
                .map_err(whole)?;
            let mut by_author = txn
                .open_table(USAGE_BY_AUTHOR)
                .map_err(storage)
                .map_err(whole)?;
            let mut total = txn
                .open_table(USAGE_TOTAL)
                .map_err(storage)
                .map_err(whole)?;
            let mine_before = read_usage(by_author.get(author).map_err(storage).map_err(whole)?);
            let all_before = read_usage(total.get(()).map_err(storage).map_err(whole)?);
            let (mut mine, mut all) = (mine_before, all_before);
            for (key, change) in &self.changes {
                let op = change.op();
                let failed = |error| CommitError { op, error };
                let old = match entries.get(key.as_str()).map_err(storage).map_err(failed)? {
                    Some(old) => {
                        check_owner(key, old.value(), author).map_err(failed)?;
                        Some(entry_bytes(key, old.value().len()))
                    }
                    None => None,
                };
                match change {
                    Change::Put { record, .. } => {
                        check_key(key).map_err(failed)?;
                        check_reserved(key, author).map_err(failed)?;
                        let new = entry_bytes(key, record.len());
                        entries
                            .insert(key.as_str(), record.as_slice())
                            .map_err(storage)
                            .map_err(failed)?;
                        sizes
                            .insert(key.as_str(), new)
                            .map_err(storage)
                            .map_err(failed)?;
                        mine = mine.replacing(old, new);
                        all = all.replacing(old, new);
                    }
                    Change::Delete => {
                        // Deleted by someone else since (its author, in another run).
                        let Some(old) = old else { continue };
                        entries
                            .remove(key.as_str())
                            .map_err(storage)
                            .map_err(failed)?;
                        sizes
                            .remove(key.as_str())
                            .map_err(storage)
                            .map_err(failed)?;
                        mine = mine.removing(old);
                        all = all.removing(old);
                    }
                }
            }
            // The run's writes as a whole: growth over a quota is refused (whatever made
            // room within the run counts).
            let quota = |error| CommitError {
                op: WriteOp::Set,
                error,
            };
            check_quota(
                QuotaScope::Author,
                mine_before,
                mine,
                limits.max_bytes_per_author,
                limits.max_entries_per_author,
            )
            .map_err(quota)?;
            check_quota(
                QuotaScope::Circle,
                all_before,
                all,
                limits.max_bytes,
                limits.max_entries,
            )
            .map_err(quota)?;
            if mine != mine_before {
                if mine == Usage::default() {
                    by_author.remove(author).map_err(storage).map_err(whole)?;
                } else {
                    by_author
                        .insert(author, mine.row())
                        .map_err(storage)
                        .map_err(whole)?;
                }
            }
            if all != all_before {
                total
                    .insert((), all.row())
                    .map_err(storage)
                    .map_err(whole)?;
            }
        }
        txn.commit().map_err(storage).map_err(whole)
    }
}
