//! The open redb database behind a store, its tables, and what keeps it usable: reopening
//! it after an I/O error, and the reserve file for a full disk (see
//! [Full disk](crate#full-disk)).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::error::storage;
use crate::record::{author_of, entry_bytes};
use crate::volume::{Volume, is_out_of_space};
use crate::{CACHE_BYTES, DB_FILE, RESERVE_FILE, StoreError, StoreLimits, Usage};

pub(crate) const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// Bytes and entries per author (`""`: anonymous callers).
pub(crate) const USAGE_BY_AUTHOR: TableDefinition<&str, (u64, u64)> =
    TableDefinition::new("usage_by_author");
/// Bytes and entries of the whole store: one row, present once the counters are complete.
pub(crate) const USAGE_TOTAL: TableDefinition<(), (u64, u64)> = TableDefinition::new("usage_total");
/// Every entry's size ([`Entry::stored_bytes`](crate::Entry::stored_bytes)) under its key:
/// listings scan these small rows and read only the entries they return, so that entries
/// they leave out (too large) cost next to nothing, however large they are.
pub(crate) const ENTRY_SIZES: TableDefinition<&str, u64> = TableDefinition::new("entry_sizes");

/// A store's database and files, shared by its clones and its committer thread.
pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    reserve_path: PathBuf,
    pub(crate) limits: StoreLimits,
    volume: Box<dyn Volume>,
    reserve_bytes: u64,
    reserve_retry: Duration,
    /// Operations share it (read lock); reopening takes it alone, so that the old handle is
    /// closed (and its file lock released) before the file is opened again.
    handle: RwLock<Handle>,
    reserve: Mutex<Reserve>,
}

struct Handle {
    /// `None` when the last reopen failed: the next operation tries again.
    db: Option<Database>,
    /// Counts reopens, so that of the operations that saw one handle fail, one reopens it.
    generation: u64,
}

struct Reserve {
    present: bool,
    last_attempt: Option<Instant>,
}

impl Inner {
    /// Opens the store in `db_dir` on `volume`: the reserve first (skipped when the disk is
    /// full), then the database.
    pub(crate) fn open(
        volume: Box<dyn Volume>,
        db_dir: &Path,
        limits: StoreLimits,
        reserve_bytes: u64,
        reserve_retry: Duration,
    ) -> Result<Inner, StoreError> {
        let reserve_path = db_dir.join(RESERVE_FILE);
        let present = match volume.create_reserve(&reserve_path, reserve_bytes) {
            Ok(()) => true,
            Err(e) if is_out_of_space(&e) => false,
            Err(source) => {
                return Err(StoreError::Io {
                    path: reserve_path,
                    source,
                });
            }
        };
        let inner = Inner {
            path: db_dir.join(DB_FILE),
            reserve_path,
            limits,
            volume,
            reserve_bytes,
            reserve_retry,
            handle: RwLock::new(Handle {
                db: None,
                generation: 0,
            }),
            reserve: Mutex::new(Reserve {
                present,
                last_attempt: (!present).then(Instant::now),
            }),
        };
        inner.reopen(0, false)?;
        Ok(inner)
    }

    /// Calls `op` with the open database (`None` when the last reopen failed) and the
    /// generation of its handle, under the shared lock: a reopen waits for it.
    pub(crate) fn with_database<T>(&self, op: impl FnOnce(Option<&Database>) -> T) -> (T, u64) {
        let handle = self.handle.read().unwrap_or_else(PoisonError::into_inner);
        (op(handle.db.as_ref()), handle.generation)
    }

    /// Runs the read `op` on the open database. After an I/O error redb fails every later
    /// operation of that handle, so the store reopens the database (deleting the reserve
    /// first when the disk is full, to give the reopen room) and runs `op` once more (the
    /// failure may have been another thread's, or passing).
    pub(crate) fn read<T>(
        &self,
        op: impl Fn(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let (result, generation) = self.with_database(|db| db.map(&op));
            let error = match result {
                Some(Ok(value)) => return Ok(value),
                Some(Err(error)) => error,
                None if !retried => {
                    // The last reopen failed: try again, then run `op` as if for the first time.
                    self.reopen(generation, false)?;
                    retried = true;
                    continue;
                }
                // Reopened, but another caller's reopen has failed since.
                None => return Err(StoreError::Storage(redb::Error::DatabaseClosed)),
            };
            let Some(failure) = error.leaves_database_unusable() else {
                return Err(error);
            };
            let out_of_space = error.is_out_of_space();
            if out_of_space {
                log_warning(&self.path, "the disk is full", failure);
            }
            self.reopen(generation, out_of_space)?;
            if retried {
                return Err(if out_of_space {
                    StoreError::DiskFull
                } else {
                    error
                });
            }
            retried = true;
        }
    }

    /// Closes the database handle of `generation` (unless another caller has reopened it
    /// since) and opens the file again. `out_of_space`: delete the reserve first. A reopen that
    /// runs out of space deletes the reserve and tries once more.
    pub(crate) fn reopen(&self, generation: u64, out_of_space: bool) -> Result<(), StoreError> {
        let mut handle = self.handle.write().unwrap_or_else(PoisonError::into_inner);
        if handle.generation != generation && handle.db.is_some() {
            return Ok(());
        }
        // Closed before it is opened again: redb's file lock would refuse a second handle.
        drop(handle.db.take());
        handle.generation = handle.generation.wrapping_add(1);
        if out_of_space {
            self.release_reserve();
        }
        let opened = match self.open_database() {
            Err(error) if error.is_out_of_space() && self.release_reserve() => self.open_database(),
            other => other,
        };
        handle.db = Some(opened?);
        Ok(())
    }

    /// Opens the database file and makes sure its tables and quota counters are there.
    fn open_database(&self) -> Result<Database, StoreError> {
        let mut builder = redb::Builder::new();
        builder.set_cache_size(CACHE_BYTES);
        let db = self
            .volume
            .open_database(&self.path, &builder)
            .map_err(|source| StoreError::Open {
                path: self.path.clone(),
                source,
            })?;
        prepare(&db)?;
        Ok(db)
    }

    /// Before a write: the reserve must be there, so that deletes will have room when this
    /// or a later write fills the disk. While the disk is full, writing it is tried at most
    /// once per `reserve_retry`; in between, writes are refused at once.
    pub(crate) fn ensure_reserve(&self) -> Result<(), StoreError> {
        let mut reserve = self.reserve();
        if reserve.present {
            return Ok(());
        }
        if reserve
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.reserve_retry)
        {
            return Err(StoreError::DiskFull);
        }
        reserve.last_attempt = Some(Instant::now());
        match self
            .volume
            .create_reserve(&self.reserve_path, self.reserve_bytes)
        {
            Ok(()) => {
                reserve.present = true;
                tracing::info!(path = %self.reserve_path.display(), "store: the disk has room again; writes are accepted");
                Ok(())
            }
            Err(e) if is_out_of_space(&e) => Err(StoreError::DiskFull),
            Err(source) => Err(StoreError::Io {
                path: self.reserve_path.clone(),
                source,
            }),
        }
    }

    /// Deletes the reserve (if it is there) to give its room to the database; true if it was.
    fn release_reserve(&self) -> bool {
        let mut reserve = self.reserve();
        if !reserve.present {
            return false;
        }
        match self.volume.remove_reserve(&self.reserve_path) {
            Ok(()) => {
                reserve.present = false;
                reserve.last_attempt = Some(Instant::now());
                true
            }
            Err(error) => {
                log_warning(&self.reserve_path, "cannot delete the reserve", &error);
                false
            }
        }
    }

    fn reserve(&self) -> MutexGuard<'_, Reserve> {
        self.reserve.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn log_warning(path: &Path, what: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(path = %path.display(), %error, "store: {what}");
}

pub(crate) fn read_usage(row: Option<redb::AccessGuard<'_, (u64, u64)>>) -> Usage {
    row.map_or_else(Usage::default, |row| Usage::from_row(row.value()))
}

/// Creates the tables and, for a database written before the quota counters and entry sizes
/// existed, counts what it holds (in one transaction: all or nothing). Writes nothing when
/// all is there: a reopen on a full disk needs no room.
fn prepare(db: &Database) -> Result<(), StoreError> {
    let ready = {
        let txn = db.begin_read().map_err(storage)?;
        let tables = (
            txn.open_table(ENTRIES),
            txn.open_table(USAGE_BY_AUTHOR),
            txn.open_table(USAGE_TOTAL),
            txn.open_table(ENTRY_SIZES),
        );
        match tables {
            (Ok(_), Ok(_), Ok(total), Ok(_)) => total.get(()).map_err(storage)?.is_some(),
            (Err(TableError::TableDoesNotExist(_)), ..)
            | (_, Err(TableError::TableDoesNotExist(_)), ..)
            | (_, _, Err(TableError::TableDoesNotExist(_)), _)
            | (.., Err(TableError::TableDoesNotExist(_))) => false,
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                return Err(storage(e));
            }
        }
    };
    if ready {
        return Ok(());
    }
    let txn = db.begin_write().map_err(storage)?;
    {
        let entries = txn.open_table(ENTRIES).map_err(storage)?;
        let mut by_author = txn.open_table(USAGE_BY_AUTHOR).map_err(storage)?;
        let mut total = txn.open_table(USAGE_TOTAL).map_err(storage)?;
        let mut sizes = txn.open_table(ENTRY_SIZES).map_err(storage)?;
        let mut authors = std::collections::BTreeMap::<String, Usage>::new();
        let mut all = Usage::default();
        sizes.retain(|_, _| false).map_err(storage)?;
        for item in entries.iter().map_err(storage)? {
            let (key, record) = item.map_err(storage)?;
            let bytes = entry_bytes(key.value(), record.value().len());
            sizes.insert(key.value(), bytes).map_err(storage)?;
            all = all.replacing(None, bytes);
            // An entry that does not decode belongs to nobody: it counts for the store.
            if let Ok(author) = author_of(key.value(), record.value()) {
                let mine = authors.entry(author.to_owned()).or_default();
                *mine = mine.replacing(None, bytes);
            }
        }
        by_author.retain(|_, _| false).map_err(storage)?;
        for (author, usage) in &authors {
            by_author
                .insert(author.as_str(), usage.row())
                .map_err(storage)?;
        }
        total.insert((), all.row()).map_err(storage)?;
    }
    txn.commit().map_err(storage)
}
