//! A store on a disk that fills up, without root or a real small file system: a model of a
//! small disk behind [`Volume`]. The database lives in a real file (so that the store can be
//! reopened on the real file system at the end), while the model counts the 4 KiB blocks
//! written to it, as a file system allocates them (growing the file with `set_len` allocates
//! nothing: the file is sparse until written), plus the reserve, against a capacity that the
//! test sets. Writes past it fail as a full disk does, with `StorageFull` (ENOSPC).

use std::collections::BTreeSet;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::backends::FileBackend;
use redb::{BackendError, Builder, Database, DatabaseError, StorageBackend};
use serde_json::json;

use super::*;

const BLOCK: u64 = 4096;

#[derive(Debug, Default)]
struct DiskState {
    capacity: u64,
    /// Blocks of the database file that were written.
    db_blocks: BTreeSet<u64>,
    /// Whether the database file was opened on this disk before (else it came from elsewhere,
    /// written in full).
    db_known: bool,
    reserve: u64,
}

impl DiskState {
    fn used(&self) -> u64 {
        self.db_blocks.len() as u64 * BLOCK + self.reserve
    }
}

/// The model disk, shared by the volume and the database backends it opens.
#[derive(Debug, Default)]
struct SmallDisk {
    state: Mutex<DiskState>,
    /// How many of the next database writes fail with a plain I/O error (not "no space").
    failing_writes: AtomicU32,
}

impl SmallDisk {
    fn new(capacity: u64) -> Arc<Self> {
        let disk = Self::default();
        disk.state.lock().expect("disk").capacity = capacity;
        Arc::new(disk)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.state.lock().expect("disk")
    }

    fn set_capacity(&self, capacity: u64) {
        self.state().capacity = capacity;
    }

    fn used(&self) -> u64 {
        self.state().used()
    }

    fn reserve(&self) -> u64 {
        self.state().reserve
    }
}

fn no_space() -> io::Error {
    io::Error::from(io::ErrorKind::StorageFull)
}

struct SmallVolume(Arc<SmallDisk>);

impl Volume for SmallVolume {
    fn open_database(&self, path: &Path, builder: &Builder) -> Result<Database, DatabaseError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        let mut state = self.0.state();
        if !state.db_known {
            // A file from elsewhere: assume all of it is on the disk.
            state.db_blocks.extend(0..len.div_ceil(BLOCK));
            state.db_known = true;
        }
        drop(state);
        builder.create_with_backend(SmallDiskFile {
            inner: FileBackend::new(file)?,
            disk: self.0.clone(),
        })
    }

    fn create_reserve(&self, _path: &Path, bytes: u64) -> io::Result<()> {
        let mut state = self.0.state();
        if state.reserve == bytes {
            return Ok(());
        }
        if state.used() - state.reserve + bytes > state.capacity {
            return Err(no_space());
        }
        state.reserve = bytes;
        Ok(())
    }

    fn remove_reserve(&self, _path: &Path) -> io::Result<()> {
        self.0.state().reserve = 0;
        Ok(())
    }
}

/// The database file on the model disk.
#[derive(Debug)]
struct SmallDiskFile {
    inner: FileBackend,
    disk: Arc<SmallDisk>,
}

impl StorageBackend for SmallDiskFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        // Shrinking frees the blocks past the end; growing allocates nothing (sparse).
        self.disk
            .state()
            .db_blocks
            .retain(|&block| block < len.div_ceil(BLOCK));
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let fail = self
            .disk
            .failing_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if fail.is_ok() {
            return Err(io::Error::other("injected I/O error"));
        }
        if !data.is_empty() {
            let mut state = self.disk.state();
            let blocks = offset / BLOCK..(offset + data.len() as u64).div_ceil(BLOCK);
            let new = blocks
                .clone()
                .filter(|block| !state.db_blocks.contains(block))
                .count() as u64;
            if state.used() + new * BLOCK > state.capacity {
                return Err(no_space());
            }
            state.db_blocks.extend(blocks);
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

const ALICE: &str = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const RESERVE: u64 = 1024 * 1024;

fn open_small(dir: &Path, disk: &Arc<SmallDisk>) -> Store {
    Store::open_on(
        Box::new(SmallVolume(disk.clone())),
        dir,
        StoreLimits::default(),
        RESERVE,
        // Tests do not wait for the reserve to be retried.
        Duration::ZERO,
    )
    .expect("open on the small disk")
}

/// Every entry, page after page.
fn all_entries(store: &Store) -> Vec<Entry> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .page(
                "",
                &PageRequest {
                    after: after.as_deref(),
                    ..PageRequest::new(1000)
                },
            )
            .expect("page");
        all.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

fn all_keys(store: &Store) -> Vec<String> {
    all_entries(store).into_iter().map(|e| e.key).collect()
}

/// The usage counters against a count of what the store holds.
fn assert_counters_exact(store: &Store) {
    let all = all_entries(store);
    let bytes: u64 = all.iter().map(Entry::stored_bytes).sum();
    let counted = Usage {
        bytes,
        entries: all.len() as u64,
    };
    assert_eq!(store.total_usage().expect("usage"), counted);
    assert_eq!(store.usage(ALICE).expect("usage"), counted);
}

#[test]
fn a_full_disk_refuses_writes_lets_deletes_through_and_writes_resume_once_there_is_room() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::new(6 * 1024 * 1024);
    let store = open_small(tmp.path(), &disk);
    assert_eq!(disk.reserve(), RESERVE, "the reserve is written at open");

    // Fill the disk.
    let value = json!("x".repeat(30_000));
    let mut acknowledged = Vec::new();
    let error = loop {
        let key = format!("k{:04}", acknowledged.len());
        match store.set(&key, &value, ALICE) {
            Ok(_) => acknowledged.push(key),
            Err(error) => break error,
        }
        assert!(acknowledged.len() < 1000, "the disk never filled");
    };
    assert!(matches!(error, StoreError::DiskFull), "{error:?}");
    assert!(acknowledged.len() > 50, "{} writes", acknowledged.len());
    assert_eq!(disk.reserve(), 0, "the reserve was given to the database");
    // Whether the reserve would fit again depends on how full the last write left the disk:
    // something else takes some of its room meanwhile.
    disk.set_capacity(disk.used() + RESERVE / 2);

    // Still full: writes are refused at once, reads and deletes work.
    for _ in 0..3 {
        let error = store.set("more", &value, ALICE).expect_err("disk full");
        assert!(matches!(error, StoreError::DiskFull), "{error:?}");
    }
    assert_eq!(
        store
            .get(&acknowledged[0])
            .expect("get")
            .expect("present")
            .value,
        value
    );
    assert_eq!(all_keys(&store), acknowledged);
    for key in acknowledged.drain(..10) {
        assert!(store.delete(&key, ALICE).expect("delete on a full disk"));
    }
    let error = store
        .set("more", &value, ALICE)
        .expect_err("no room for the reserve yet");
    assert!(matches!(error, StoreError::DiskFull), "{error:?}");
    assert_counters_exact(&store);

    // Room again (another file was deleted): the reserve is written back, writes work.
    disk.set_capacity(disk.used() + 2 * RESERVE);
    store.set("more", &value, ALICE).expect("writes resume");
    acknowledged.push("more".to_owned());
    assert_eq!(disk.reserve(), RESERVE);
    assert_counters_exact(&store);

    // Nothing acknowledged was lost, on the real file system too.
    drop(store);
    let store = Store::open(tmp.path()).expect("reopen on the real file system");
    assert_eq!(all_keys(&store), acknowledged);
    assert_counters_exact(&store);
}

#[test]
fn a_store_opened_on_a_nearly_full_disk_reads_and_deletes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(tmp.path()).expect("open");
        for i in 0..20 {
            store
                .set(&format!("k{i:02}"), &json!(i), ALICE)
                .expect("set");
        }
    }
    // The database file is there, with little room left beside it: not enough for the reserve.
    let db_len = std::fs::metadata(tmp.path().join(DB_FILE))
        .expect("db")
        .len();
    let disk = SmallDisk::new(db_len.next_multiple_of(BLOCK) + 64 * 1024);
    let store = open_small(tmp.path(), &disk);
    assert_eq!(disk.reserve(), 0);
    assert_eq!(
        store.get("k03").expect("get").expect("present").value,
        json!(3)
    );
    for i in 0..5 {
        assert!(store.delete(&format!("k{i:02}"), ALICE).expect("delete"));
    }
    let error = store.set("k99", &json!(1), ALICE).expect_err("full");
    assert!(matches!(error, StoreError::DiskFull), "{error:?}");
    disk.set_capacity(disk.used() + 2 * RESERVE);
    store.set("k99", &json!(1), ALICE).expect("room again");
    assert_eq!(disk.reserve(), RESERVE);
    assert_eq!(all_keys(&store).len(), 16);
    assert_counters_exact(&store);
}

#[test]
fn after_an_io_error_the_store_reopens_the_database_and_carries_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::new(u64::MAX);
    let store = open_small(tmp.path(), &disk);
    store.set("before", &json!(1), ALICE).expect("set");

    // One failure: the write is retried on the reopened database. (redb alone would answer
    // PreviousIo to everything from now on, until a restart.)
    disk.failing_writes.store(1, Ordering::SeqCst);
    store.set("retried", &json!(2), ALICE).expect("retried");
    // Two: the reopen (whose repair writes) or the retry fails too, and the caller hears of
    // it; the next operation reopens the database again.
    disk.failing_writes.store(2, Ordering::SeqCst);
    let error = store
        .set("failed", &json!(3), ALICE)
        .expect_err("I/O error");
    assert!(
        error.to_string().contains("injected I/O error"),
        "{error:?}"
    );
    assert_eq!(
        disk.reserve(),
        RESERVE,
        "not a full disk: the reserve stays"
    );
    store
        .set("after", &json!(4), ALICE)
        .expect("a write works again");
    assert_eq!(store.get("failed").expect("get"), None);
    assert!(store.delete("before", ALICE).expect("delete"));
    disk.failing_writes.store(1, Ordering::SeqCst);
    assert!(store.delete("after", ALICE).expect("delete, retried"));
    assert_eq!(all_keys(&store), ["retried"]);
    assert_counters_exact(&store);
}

#[test]
fn clones_on_other_threads_carry_on_after_a_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::new(u64::MAX);
    let store = open_small(tmp.path(), &disk);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let disk = disk.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..40 {
                    if i % 10 == 5 {
                        disk.failing_writes.fetch_add(1, Ordering::SeqCst);
                    }
                    let key = format!("t{t}/{i:02}");
                    if store.set(&key, &json!(i), ALICE).is_ok() {
                        acknowledged.push(key);
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    acknowledged.sort();
    // The 16 injected failures: a group commit is retried once after a reopen, so it takes
    // two of them (in the commit, its retry or the reopen's repair) to fail a group, and
    // with it the write of each thread (4 at most).
    assert!(
        acknowledged.len() >= 4 * 40 - 8 * 4,
        "{}",
        acknowledged.len()
    );
    assert_eq!(
        all_keys(&store),
        acknowledged,
        "exactly the acknowledged writes"
    );
    assert_counters_exact(&store);
}
