//! Each circle's persistent key-value store, and the Rhai module `store` that scripts use.
//!
//! A [`Store`] is one [redb](https://www.redb.org) database file, `<db_dir>/store.redb`, in the
//! circle's `db_path`, plus a reserve file `<db_dir>/store.reserve` (see [Full disk](#full-disk)).
//! It maps string keys to JSON values, and remembers for each entry who wrote it (the
//! caller's public key) and when.
//!
//! # Entries
//!
//! | part | what | limit |
//! | --- | --- | --- |
//! | key | a non-empty UTF-8 string | [`MAX_KEY_BYTES`] (1 024) bytes |
//! | value | any JSON value | [`MAX_VALUE_BYTES`] (1 MiB) of JSON text; containers nested at most [`MAX_VALUE_DEPTH`] (64) levels |
//! | author | the writer's public key (lower-case compressed hex); `""` for an anonymous caller | [`MAX_AUTHOR_BYTES`] (512) bytes |
//! | written_at | unix time of the write, in milliseconds | — |
//!
//! An entry's size ([`Entry::stored_bytes`]) is what the store keeps of it: key + value JSON +
//! author + 11 bytes; quotas and listing budgets count it.
//!
//! # Who may write what
//!
//! Only an entry's author may replace or delete it ([`StoreError::NotOwner`]).
//!
//! ## Reserved keys
//!
//! A key one of whose `/`-separated segments starts with `@` is reserved for the caller named
//! after the `@`: `guestbook/@02ab…` or `@02ab…/notes/1` can only be created or replaced by
//! the caller whose public key is `02ab…` (spelled as `CALLER_PUBLIC_KEY` spells it:
//! lower-case compressed hex); anyone else gets [`StoreError::Reserved`]. Anonymous callers
//! write no reserved key. Since the first writer of a key owns it, a module that keeps
//! something per caller should put the caller's `@` segment in its key: nobody can then take
//! that key first. (Deleting still needs only authorship.)
//!
//! # Quotas
//!
//! Every write is checked against the [`StoreLimits`] given to [`Store::open_with`]: the bytes
//! and entries of its author (all anonymous callers together are one author) and of the whole
//! store.
//!
//! | field | default | what it bounds |
//! | --- | --- | --- |
//! | `max_bytes` | 1 073 741 824 (1 GiB) | bytes of all entries of the circle |
//! | `max_entries` | 1 000 000 | entries of the circle |
//! | `max_bytes_per_author` | 16 777 216 (16 MiB) | bytes of the entries one author wrote |
//! | `max_entries_per_author` | 10 000 | entries one author wrote |
//! | `max_list_bytes` | 4 194 304 (4 MiB) | bytes of the entries one listing returns; at least [`MAX_ENTRY_BYTES`], so that a listing always makes progress |
//!
//! The counters live in the database and change in the same transaction as the
//! entries, so they are exact, also after a crash: a new entry adds its size and one entry, a
//! replace the difference of sizes, a delete gives both back. A write that would take a count
//! over its limit is refused with [`StoreError::QuotaExceeded`] (a shrinking replace never
//! is). Databases written before the counters existed are counted once, when opened.
//!
//! # Listing
//!
//! Keys are ordered by their bytes, so [`Store::list`] and [`Store::page`] return the entries
//! whose key starts with a prefix in that order, with a range scan (of the entries' sizes)
//! that starts at the prefix (or after a given key) and stops at the first key past it. A
//! listing stops at its entry limit, before the entry that would take it over
//! `max_list_bytes` (it always returns at least one entry when one matches), and when the
//! deadline given to it passes ([`StoreError::DeadlinePassed`]); it reads only the entries it
//! returns, and can leave out entries over a size without reading them.
//! [`Store::page`] says where to continue.
//!
//! # Encoding
//!
//! Table `entries`, key `&str` → value `&[u8]`. The value bytes are a fixed header followed by
//! the value's JSON text:
//!
//! | bytes | content |
//! | --- | --- |
//! | 1 | format version, `1` |
//! | 8 | `written_at`, u64 big-endian |
//! | 2 | length `n` of the author, u16 big-endian |
//! | `n` | the author, UTF-8 |
//! | rest | the value as compact JSON (`serde_json::to_vec`) |
//!
//! An entry that does not decode is reported as [`StoreError::Corrupt`], never a panic.
//! Tables `usage_by_author` (author → `(bytes, entries)`) and `usage_total` (`()` →
//! `(bytes, entries)`) hold the quota counters, and `entry_sizes` (key → size) every entry's
//! size, which listings scan so that they read only the entries they return; all change in
//! the transaction that changes the entry.
//!
//! # Durability
//!
//! Every write ([`Store::set`], [`Store::delete`]) is its own redb write transaction, committed
//! with [`redb::Durability::Immediate`] before the call returns: once a write is acknowledged
//! it survives a crash or `kill -9` of the process. redb's commits are atomic, so a crash in
//! the middle of a write leaves either the old or the new entry (and counters). redb also
//! takes a file lock: a database can be open in one [`Store`] (and one process) at a time; a
//! second [`Store::open`] of the same directory fails with [`StoreError::Open`]. Clone the
//! `Store` instead (it is an `Arc` inside) to share it between threads. redb's page cache is
//! limited to [`CACHE_BYTES`] (32 MiB) per store.
//!
//! # Full disk
//!
//! After an I/O error redb fails every later operation of the open database; the store then
//! closes and reopens it (redb repairs it from its last commit) and carries on, without a
//! restart. To keep room for that and for deletes when the disk fills up, the store keeps a
//! reserve file of 8 MiB beside the database. When the disk is full:
//! - a write fails with [`StoreError::DiskFull`]; the store deletes the reserve;
//! - reads and deletes keep working (on the reserve's room);
//! - writes resume once the disk has room for the reserve again (the store tries to write it
//!   again before a write, at most once a second).
//!
//! # The Rhai module `store`
//!
//! [`rhai::register`] installs a static module named `store` on a circle's engine, typically
//! through [`circles_sandbox::SandboxBuilder::configure`]:
//!
//! | function | result |
//! | --- | --- |
//! | `store::set(key, value)` | `()`; `value` is `()`, a bool, int, float, string, array or object map (nested); anything else is a runtime error; an existing entry may be replaced only by its author, a reserved key only by the caller it names |
//! | `store::get(key)` | the value, or `()` when there is no entry |
//! | `store::entry(key)` | `#{key, value, author, written_at}`, or `()` |
//! | `store::delete(key)` | `true` if there was an entry; only the entry's author may delete it |
//! | `store::list(prefix)` | array of entry maps whose key starts with `prefix`, in key order: at most [`rhai::MAX_LIST`] (1 000) entries, `max_list_bytes` and what the run's size limits let it return (see below) |
//! | `store::list(prefix, limit)` | the same, at most `limit` entries (capped at 1 000; a negative limit is an error) |
//! | `store::page(prefix, after)`, `store::page(prefix, after, limit)` | `#{entries, next, skipped}`: the entries `list` would return, starting after the key `after` (`""`: from the start); `next` is the key to pass as `after` for the rest, `()` when there is no more; `skipped` counts the entries left out for being too large for the run |
//! | `store::usage()` | `#{author: #{bytes, entries, max_bytes, max_entries}, circle: #{…}}`: what the caller and the circle have stored, and their quotas |
//!
//! A write over a quota ends the run with the limit error `store_quota`, which the script
//! cannot catch; a listing still running at the run's deadline ends it with `time`.
//!
//! A listing's result must also pass the run's size limits (`max_string_size`,
//! `max_array_size`, `max_map_size`, which count the strings, array elements and map
//! properties of a value and all values inside it together), or the run would fail: so a
//! listing stops before the entry that would take its result over them (like the byte
//! budget: `next` continues there), and leaves out an entry that is over them on its own
//! (`store::get` could not return it either; `skipped` counts them).
//!
//! Values cross between Rhai and JSON through [`circles_sandbox::json`] in its strict mode, so
//! that `store::get` gives back what `store::set` was given (an int stays an int, a float a
//! float); a value JSON cannot hold as it is (NaN, infinity, a char, a BLOB, a function
//! pointer…) is refused rather than stored as something else.
//!
//! The author of a write is the caller of the run, read from the sandbox's
//! [`circles_sandbox::RunContext`] (the server's call context), never from the script: a
//! script that shadows `CALLER_PUBLIC_KEY` writes under its real caller's key. Writes outside
//! a sandbox run are refused. Other store errors (invalid or reserved key, value too large,
//! full disk, storage failure) are Rhai runtime errors, which the server reports as
//! `ScriptRuntimeError` with the message.
//!
//! ```rhai
//! // a guest book: everyone may sign once, under a key reserved for them
//! let key = "guestbook/@" + CALLER_PUBLIC_KEY;
//! if store::get(key) == () {
//!     store::set(key, #{ message: "hello", stars: 5 });
//! }
//! let e = store::entry(key);   // #{key, value, author, written_at}
//! print(`signed by ${e.author} at ${e.written_at}`);
//! store::list("guestbook/@", 10).map(|e| e.value.message)
//! ```
//!
//! In Rust:
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use circles_sandbox::{CircleInfo, Limits, Sandbox};
//! use circles_store::{Store, StoreLimits};
//!
//! let store = Store::open_with(std::path::Path::new("data/alice"), StoreLimits::default())?;
//! store.set("greeting", &serde_json::json!("hello"), "")?;
//! let sandbox = Sandbox::builder(
//!     CircleInfo { id: "alice".into(), public_key: "02ab…".into() },
//!     Limits::default(),
//! )
//! .configure({
//!     let store = store.clone();
//!     move |engine| circles_store::rhai::register(engine, store)
//! })
//! .build()?;
//! # Ok(())
//! # }
//! ```

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod keys;
mod limits;
mod record;
pub mod rhai;
mod volume;

#[cfg(test)]
mod full_disk_tests;

pub use limits::{InvalidStoreLimits, StoreLimits};
/// The redb version this crate uses (its errors appear in [`StoreError`]).
pub use redb;

use keys::{check_key, check_reserved};
use record::{HEADER_BYTES, author_of, decode, encode, entry_bytes};
use volume::{FileSystem, RESERVE_BYTES, Volume, is_out_of_space};

/// The database file inside the store's directory.
pub const DB_FILE: &str = "store.redb";
/// The reserve file inside the store's directory (see [Full disk](crate#full-disk)).
pub const RESERVE_FILE: &str = "store.reserve";
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes of its JSON text.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Deepest nesting of arrays/objects inside a value (a scalar is depth 0, `[1]` depth 1).
pub const MAX_VALUE_DEPTH: usize = 64;
/// Longest author (public key hex), in bytes.
pub const MAX_AUTHOR_BYTES: usize = 512;
/// The largest entry, as [`Entry::stored_bytes`] counts it (1 050 123 bytes).
pub const MAX_ENTRY_BYTES: u64 =
    (MAX_KEY_BYTES + HEADER_BYTES + MAX_AUTHOR_BYTES + MAX_VALUE_BYTES) as u64;
/// redb's page cache per store: it keeps what it read, so it bounds what a store holds in
/// memory between calls (redb's default is 1 GiB).
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// How often, at most, a write tries to write the reserve again while the disk is full.
const RESERVE_RETRY: Duration = Duration::from_secs(1);

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// Bytes and entries per author (`""`: anonymous callers).
const USAGE_BY_AUTHOR: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage_by_author");
/// Bytes and entries of the whole store: one row, present once the counters are complete.
const USAGE_TOTAL: TableDefinition<(), (u64, u64)> = TableDefinition::new("usage_total");
/// Every entry's size ([`Entry::stored_bytes`]) under its key: listings scan these small rows
/// and read only the entries they return, so that entries they leave out (too large) cost
/// next to nothing, however large they are.
const ENTRY_SIZES: TableDefinition<&str, u64> = TableDefinition::new("entry_sizes");

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
    /// Public key (hex) of the caller that wrote it; `""` for an anonymous caller.
    pub author: String,
    /// When it was written: unix time in milliseconds.
    pub written_at: u64,
}

impl Entry {
    /// What the entry counts against quotas and listing budgets: its key, its value's JSON
    /// text and its author, plus 11 bytes (the bytes the store keeps).
    pub fn stored_bytes(&self) -> u64 {
        let json = serde_json::to_vec(&self.value).map_or(0, |json| json.len());
        entry_bytes(&self.key, HEADER_BYTES + self.author.len() + json)
    }
}

/// What an author, or the whole store, has stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Sum of [`Entry::stored_bytes`].
    pub bytes: u64,
    /// Number of entries.
    pub entries: u64,
}

impl Usage {
    fn from_row((bytes, entries): (u64, u64)) -> Self {
        Self { bytes, entries }
    }

    fn row(self) -> (u64, u64) {
        (self.bytes, self.entries)
    }

    /// After replacing an entry of `old` bytes (none: a new entry) by one of `new` bytes.
    fn replacing(self, old: Option<u64>, new: u64) -> Self {
        Self {
            bytes: self
                .bytes
                .saturating_sub(old.unwrap_or(0))
                .saturating_add(new),
            entries: self.entries.saturating_add(u64::from(old.is_none())),
        }
    }

    /// After deleting an entry of `bytes`.
    fn removing(self, bytes: u64) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(bytes),
            entries: self.entries.saturating_sub(1),
        }
    }
}

/// Whose quota a write would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// The writer's own (`max_bytes_per_author`, `max_entries_per_author`).
    Author,
    /// The whole store's (`max_bytes`, `max_entries`).
    Circle,
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaMeasure {
    /// Bytes ([`Entry::stored_bytes`]).
    Bytes,
    /// Entries.
    Entries,
}

/// What a listing ([`Store::page`]) should return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<'a> {
    /// Start after this key (`None`: from the first key with the prefix).
    pub after: Option<&'a str>,
    /// At most this many entries.
    pub limit: usize,
    /// At most this many bytes of entries ([`Entry::stored_bytes`]), when smaller than the
    /// store's `max_list_bytes`.
    pub max_bytes: Option<u64>,
    /// Leave out (count in [`ListPage::skipped`]) entries larger than this, without decoding
    /// them; they do not count against the page's bytes.
    pub max_entry_bytes: Option<u64>,
    /// Stop with [`StoreError::DeadlinePassed`] when this passes before the page is done.
    pub deadline: Option<Instant>,
}

impl PageRequest<'_> {
    /// At most `limit` entries from the start, bounded by `max_list_bytes` only.
    pub fn new(limit: usize) -> Self {
        PageRequest {
            after: None,
            limit,
            max_bytes: None,
            max_entry_bytes: None,
            deadline: None,
        }
    }
}

/// A page of a listing ([`Store::page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// The entries, in key order.
    pub entries: Vec<Entry>,
    /// When more entries match: the last key this page went through (returned or skipped),
    /// to continue after it.
    pub next: Option<String>,
    /// Entries left out for being larger than [`PageRequest::max_entry_bytes`].
    pub skipped: usize,
}

/// What went wrong with a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, e.g. because another process (or another `Store`
    /// in this process) holds it: `source` is then [`redb::DatabaseError::DatabaseAlreadyOpen`].
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// redb's reason.
        #[source]
        source: redb::DatabaseError,
    },
    /// The store's directory or reserve file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The limits given to [`Store::open_with`] are unusable.
    #[error(transparent)]
    InvalidLimits(#[from] InvalidStoreLimits),
    /// The key is empty or longer than [`MAX_KEY_BYTES`].
    #[error("invalid key: {0}")]
    KeyInvalid(String),
    /// The value's JSON text is longer than [`MAX_VALUE_BYTES`].
    #[error("value too large: {bytes} bytes of JSON, the limit is {limit}")]
    ValueTooLarge {
        /// Size of the value's JSON text.
        bytes: usize,
        /// [`MAX_VALUE_BYTES`].
        limit: usize,
    },
    /// The value nests arrays/objects more than [`MAX_VALUE_DEPTH`] levels deep.
    #[error("value nested too deeply: more than {limit} levels of arrays/objects")]
    ValueTooDeep {
        /// [`MAX_VALUE_DEPTH`].
        limit: usize,
    },
    /// The author is longer than [`MAX_AUTHOR_BYTES`].
    #[error("invalid author: {0}")]
    AuthorInvalid(String),
    /// An entry in the database does not decode.
    #[error("corrupt entry {key:?}: {reason}")]
    Corrupt {
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The entry under `key` was written by someone else: only its author may replace or
    /// delete it.
    #[error(
        "{key:?} belongs to {}: only its author may change or delete it",
        owner_name(owner)
    )]
    NotOwner {
        /// The entry's key.
        key: String,
        /// The entry's author.
        owner: String,
    },
    /// The key has a segment `@<owner>` and the writer is not `owner` (see
    /// [Reserved keys](crate#reserved-keys)).
    #[error("{}", reserved_message(key, owner))]
    Reserved {
        /// The key.
        key: String,
        /// The caller its `@` segment names (possibly empty).
        owner: String,
    },
    /// The write would take its author's or the store's bytes or entries over their limit.
    #[error("{}", quota_message(*scope, *measure, *limit, *would_be))]
    QuotaExceeded {
        /// Whose quota.
        scope: QuotaScope,
        /// Bytes or entries.
        measure: QuotaMeasure,
        /// The limit.
        limit: u64,
        /// The count the write would have led to.
        would_be: u64,
    },
    /// The disk is full: the write is refused (deletes still work; writes resume once the
    /// disk has room again).
    #[error("the disk is full: writes are refused until it has room again (deletes still work)")]
    DiskFull,
    /// A listing was still running at the deadline it was given.
    #[error("the deadline passed while listing")]
    DeadlinePassed,
    /// The database failed (I/O error, …).
    #[error("store storage error: {0}")]
    Storage(#[from] redb::Error),
}

fn owner_name(owner: &str) -> &str {
    if owner.is_empty() {
        "an anonymous caller"
    } else {
        owner
    }
}

fn reserved_message(key: &str, owner: &str) -> String {
    if owner.is_empty() {
        format!("{key:?} has an empty `@` segment: it names no caller, so nobody may write it")
    } else {
        format!(
            "{key:?} is reserved for the caller {owner} (its `@{owner}` segment): only they may write it"
        )
    }
}

fn quota_message(scope: QuotaScope, measure: QuotaMeasure, limit: u64, would_be: u64) -> String {
    let (whose, field) = match (scope, measure) {
        (QuotaScope::Author, QuotaMeasure::Bytes) => {
            ("the entries you wrote", "max_bytes_per_author")
        }
        (QuotaScope::Author, QuotaMeasure::Entries) => {
            ("the entries you wrote", "max_entries_per_author")
        }
        (QuotaScope::Circle, QuotaMeasure::Bytes) => ("the circle's store", "max_bytes"),
        (QuotaScope::Circle, QuotaMeasure::Entries) => ("the circle's store", "max_entries"),
    };
    let unit = match measure {
        QuotaMeasure::Bytes => "bytes",
        QuotaMeasure::Entries => "entries",
    };
    format!(
        "store quota exceeded: this write would bring {whose} to {would_be} {unit}, over {field} ({limit}); deleting entries gives room back"
    )
}

impl StoreError {
    /// The redb error that makes redb fail every later operation of this open database, so
    /// that it must be reopened: I/O errors (a full disk among them).
    fn leaves_database_unusable(&self) -> Option<&redb::Error> {
        match self {
            StoreError::Storage(
                error @ (redb::Error::Io(_)
                | redb::Error::PreviousIo
                | redb::Error::DatabaseClosed
                | redb::Error::LockPoisoned(_)),
            ) => Some(error),
            _ => None,
        }
    }

    fn is_out_of_space(&self) -> bool {
        match self {
            StoreError::DiskFull => true,
            StoreError::Storage(redb::Error::Io(e)) => is_out_of_space(e),
            StoreError::Open {
                source: redb::DatabaseError::Storage(redb::StorageError::Io(e)),
                ..
            } => is_out_of_space(e),
            _ => false,
        }
    }
}

/// Refuses a change of `key` by `author` when the stored entry has another author.
fn check_owner(key: &str, record: &[u8], author: &str) -> Result<(), StoreError> {
    let owner = author_of(key, record)?;
    if owner != author {
        return Err(StoreError::NotOwner {
            key: key.to_owned(),
            owner: owner.to_owned(),
        });
    }
    Ok(())
}

/// Refuses a change from `before` to `after` that raises a count over its limit (a change
/// that lowers it is fine, even over a limit lowered since).
fn check_quota(
    scope: QuotaScope,
    before: Usage,
    after: Usage,
    max_bytes: u64,
    max_entries: u64,
) -> Result<(), StoreError> {
    let refuse = |measure, limit, would_be| {
        Err(StoreError::QuotaExceeded {
            scope,
            measure,
            limit,
            would_be,
        })
    };
    if after.entries > before.entries && after.entries > max_entries {
        return refuse(QuotaMeasure::Entries, max_entries, after.entries);
    }
    if after.bytes > before.bytes && after.bytes > max_bytes {
        return refuse(QuotaMeasure::Bytes, max_bytes, after.bytes);
    }
    Ok(())
}

fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Storage(e.into())
}

/// A circle's key-value store. Cheap to clone; all clones share one database, which closes
/// (cleanly: the next open needs no recovery) when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    reserve_path: PathBuf,
    limits: StoreLimits,
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

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// When an operation is run again after its database handle failed and was reopened (once
/// at most: the failure may have been another thread's, or passing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads and deletes: the reopened database (with the reserve's room) can do them.
    Once,
    /// Writes: not when the disk is full, which the retry would only fill again.
    UnlessOutOfSpace,
}

impl Store {
    /// Opens (creating it and `db_dir` if needed) the store `db_dir/store.redb` with the
    /// default [`StoreLimits`].
    pub fn open(db_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(db_dir, StoreLimits::default())
    }

    /// Opens (creating it and `db_dir` if needed) the store `db_dir/store.redb` with `limits`.
    /// A store whose disk is full opens too: reads and deletes work, writes are refused until
    /// there is room.
    pub fn open_with(db_dir: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        limits.validate()?;
        std::fs::create_dir_all(db_dir).map_err(|source| StoreError::Io {
            path: db_dir.to_owned(),
            source,
        })?;
        let store = Self::open_on(
            Box::new(FileSystem),
            db_dir,
            limits,
            RESERVE_BYTES,
            RESERVE_RETRY,
        )?;
        // The circle's data is its own: owner-only, whatever the umask.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = store.path();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::Io {
                    path: path.to_owned(),
                    source,
                },
            )?;
        }
        Ok(store)
    }

    /// Opens the store in `db_dir` on `volume`: the reserve first (skipped when the disk is
    /// full), then the database.
    fn open_on(
        volume: Box<dyn Volume>,
        db_dir: &Path,
        limits: StoreLimits,
        reserve_bytes: u64,
        reserve_retry: Duration,
    ) -> Result<Store, StoreError> {
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
        let store = Store {
            inner: Arc::new(Inner {
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
            }),
        };
        store.reopen(0, false)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &StoreLimits {
        &self.inner.limits
    }

    /// Writes `value` under `key` by `author` and returns the entry as stored. An existing
    /// entry is replaced only if `author` wrote it ([`StoreError::NotOwner`] otherwise); a
    /// reserved key only by the caller it names ([`StoreError::Reserved`]); within the
    /// quotas ([`StoreError::QuotaExceeded`]). Durable when it returns.
    pub fn set(&self, key: &str, value: &Value, author: &str) -> Result<Entry, StoreError> {
        check_key(key)?;
        if author.len() > MAX_AUTHOR_BYTES {
            return Err(StoreError::AuthorInvalid(format!(
                "{} bytes, the limit is {MAX_AUTHOR_BYTES}",
                author.len()
            )));
        }
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
        self.ensure_reserve()?;
        let written_at = now_millis();
        let record = encode(written_at, author, &json);
        self.run(Retry::UnlessOutOfSpace, |db| {
            self.write(db, key, author, &record)
        })?;
        Ok(Entry {
            key: key.to_owned(),
            value: value.clone(),
            author: author.to_owned(),
            written_at,
        })
    }

    fn write(
        &self,
        db: &Database,
        key: &str,
        author: &str,
        record: &[u8],
    ) -> Result<(), StoreError> {
        let limits = &self.inner.limits;
        let txn = db.begin_write().map_err(storage)?;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(storage)?;
            let mut by_author = txn.open_table(USAGE_BY_AUTHOR).map_err(storage)?;
            let mut total = txn.open_table(USAGE_TOTAL).map_err(storage)?;
            let old = match entries.get(key).map_err(storage)? {
                Some(old) => {
                    check_owner(key, old.value(), author)?;
                    Some(entry_bytes(key, old.value().len()))
                }
                None => None,
            };
            let new = entry_bytes(key, record.len());
            let mine = read_usage(by_author.get(author).map_err(storage)?);
            let all = read_usage(total.get(()).map_err(storage)?);
            let (mine_after, all_after) = (mine.replacing(old, new), all.replacing(old, new));
            check_quota(
                QuotaScope::Author,
                mine,
                mine_after,
                limits.max_bytes_per_author,
                limits.max_entries_per_author,
            )?;
            check_quota(
                QuotaScope::Circle,
                all,
                all_after,
                limits.max_bytes,
                limits.max_entries,
            )?;
            entries.insert(key, record).map_err(storage)?;
            let mut sizes = txn.open_table(ENTRY_SIZES).map_err(storage)?;
            sizes.insert(key, new).map_err(storage)?;
            by_author
                .insert(author, mine_after.row())
                .map_err(storage)?;
            total.insert((), all_after.row()).map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }

    /// The entry under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        check_key(key)?;
        self.run(Retry::Once, |db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(ENTRIES).map_err(storage)?;
            let found = table.get(key).map_err(storage)?;
            found.map(|bytes| decode(key, bytes.value())).transpose()
        })
    }

    /// Removes the entry under `key` for `author`, who must have written it
    /// ([`StoreError::NotOwner`] otherwise); `true` if there was one. Works on a full disk.
    /// Durable when it returns.
    pub fn delete(&self, key: &str, author: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        self.run(Retry::Once, |db| {
            let txn = db.begin_write().map_err(storage)?;
            let existed = {
                let mut entries = txn.open_table(ENTRIES).map_err(storage)?;
                let bytes = match entries.get(key).map_err(storage)? {
                    Some(old) => {
                        check_owner(key, old.value(), author)?;
                        entry_bytes(key, old.value().len())
                    }
                    None => return Ok(false),
                };
                entries.remove(key).map_err(storage)?;
                let mut sizes = txn.open_table(ENTRY_SIZES).map_err(storage)?;
                sizes.remove(key).map_err(storage)?;
                let mut by_author = txn.open_table(USAGE_BY_AUTHOR).map_err(storage)?;
                let mine = read_usage(by_author.get(author).map_err(storage)?).removing(bytes);
                if mine == Usage::default() {
                    by_author.remove(author).map_err(storage)?;
                } else {
                    by_author.insert(author, mine.row()).map_err(storage)?;
                }
                let mut total = txn.open_table(USAGE_TOTAL).map_err(storage)?;
                let all = read_usage(total.get(()).map_err(storage)?).removing(bytes);
                total.insert((), all.row()).map_err(storage)?;
                true
            };
            txn.commit().map_err(storage)?;
            Ok(existed)
        })
    }

    /// At most `limit` entries whose key starts with `prefix` (`""`: all), in key (byte)
    /// order, within `max_list_bytes`: the entries of [`Store::page`] from the start.
    pub fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Entry>, StoreError> {
        Ok(self.page(prefix, &PageRequest::new(limit))?.entries)
    }

    /// Entries whose key starts with `prefix`, in key order, as `request` bounds them: after
    /// its `after` key, at most `limit` of them, as many as fit in `max_list_bytes` (or the
    /// request's smaller `max_bytes`; but at least one), leaving out (as `skipped`) those
    /// over `max_entry_bytes` without decoding them. `next` is set when more entries match.
    /// Stops with [`StoreError::DeadlinePassed`] when the request's deadline passes first.
    pub fn page(&self, prefix: &str, request: &PageRequest<'_>) -> Result<ListPage, StoreError> {
        let max_bytes = request
            .max_bytes
            .map_or(self.inner.limits.max_list_bytes, |max| {
                max.min(self.inner.limits.max_list_bytes)
            });
        let max_entry_bytes = request.max_entry_bytes.unwrap_or(u64::MAX);
        self.run(Retry::Once, |db| {
            let mut page = ListPage {
                entries: Vec::new(),
                next: None,
                skipped: 0,
            };
            if request.limit == 0 {
                return Ok(page);
            }
            let txn = db.begin_read().map_err(storage)?;
            let entries = txn.open_table(ENTRIES).map_err(storage)?;
            let sizes = txn.open_table(ENTRY_SIZES).map_err(storage)?;
            let range = match request.after {
                Some(after) if after >= prefix => {
                    sizes.range::<&str>((Bound::Excluded(after), Bound::Unbounded))
                }
                _ => sizes.range::<&str>(prefix..),
            }
            .map_err(storage)?;
            let mut bytes = 0u64;
            let mut last_key: Option<String> = None;
            for item in range {
                if request
                    .deadline
                    .is_some_and(|deadline| Instant::now() >= deadline)
                {
                    return Err(StoreError::DeadlinePassed);
                }
                let (key, size) = item.map_err(storage)?;
                let (key, size) = (key.value(), size.value());
                if !key.starts_with(prefix) {
                    break;
                }
                let full = page.entries.len() >= request.limit
                    || (!page.entries.is_empty() && bytes.saturating_add(size) > max_bytes);
                if full {
                    page.next = last_key;
                    return Ok(page);
                }
                if size > max_entry_bytes {
                    page.skipped += 1;
                } else if let Some(record) = entries.get(key).map_err(storage)? {
                    bytes = bytes.saturating_add(size);
                    page.entries.push(decode(key, record.value())?);
                }
                last_key = Some(key.to_owned());
            }
            Ok(page)
        })
    }

    /// What `author` (`""`: the anonymous callers) has stored.
    pub fn usage(&self, author: &str) -> Result<Usage, StoreError> {
        self.run(Retry::Once, |db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(USAGE_BY_AUTHOR).map_err(storage)?;
            Ok(read_usage(table.get(author).map_err(storage)?))
        })
    }

    /// What the whole store holds.
    pub fn total_usage(&self) -> Result<Usage, StoreError> {
        self.run(Retry::Once, |db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(USAGE_TOTAL).map_err(storage)?;
            Ok(read_usage(table.get(()).map_err(storage)?))
        })
    }

    /// Runs `op` on the open database. After an I/O error redb fails every later operation
    /// of that handle, so the store reopens the database (deleting the reserve first when the
    /// disk is full, to give the reopen and the deletes that follow room) and runs `op` once
    /// more as `retry` says.
    fn run<T>(
        &self,
        retry: Retry,
        op: impl Fn(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let (result, generation) = {
                let handle = self
                    .inner
                    .handle
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                (handle.db.as_ref().map(&op), handle.generation)
            };
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
                log_warning(&self.inner.path, "the disk is full", failure);
            }
            self.reopen(generation, out_of_space)?;
            if retried || (out_of_space && retry == Retry::UnlessOutOfSpace) {
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
    fn reopen(&self, generation: u64, out_of_space: bool) -> Result<(), StoreError> {
        let mut handle = self
            .inner
            .handle
            .write()
            .unwrap_or_else(PoisonError::into_inner);
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
            .inner
            .volume
            .open_database(&self.inner.path, &builder)
            .map_err(|source| StoreError::Open {
                path: self.inner.path.clone(),
                source,
            })?;
        prepare(&db)?;
        Ok(db)
    }

    /// Before a write: the reserve must be there, so that deletes will have room when this
    /// or a later write fills the disk. While the disk is full, writing it is tried at most
    /// once per `reserve_retry`; in between, writes are refused at once.
    fn ensure_reserve(&self) -> Result<(), StoreError> {
        let mut reserve = self.reserve();
        if reserve.present {
            return Ok(());
        }
        if reserve
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.inner.reserve_retry)
        {
            return Err(StoreError::DiskFull);
        }
        reserve.last_attempt = Some(Instant::now());
        let inner = &self.inner;
        match inner
            .volume
            .create_reserve(&inner.reserve_path, inner.reserve_bytes)
        {
            Ok(()) => {
                reserve.present = true;
                tracing::info!(path = %inner.reserve_path.display(), "store: the disk has room again; writes are accepted");
                Ok(())
            }
            Err(e) if is_out_of_space(&e) => Err(StoreError::DiskFull),
            Err(source) => Err(StoreError::Io {
                path: inner.reserve_path.clone(),
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
        match self.inner.volume.remove_reserve(&self.inner.reserve_path) {
            Ok(()) => {
                reserve.present = false;
                reserve.last_attempt = Some(Instant::now());
                true
            }
            Err(error) => {
                log_warning(
                    &self.inner.reserve_path,
                    "cannot delete the reserve",
                    &error,
                );
                false
            }
        }
    }

    fn reserve(&self) -> MutexGuard<'_, Reserve> {
        self.inner
            .reserve
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn log_warning(path: &Path, what: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(path = %path.display(), %error, "store: {what}");
}

fn read_usage(row: Option<redb::AccessGuard<'_, (u64, u64)>>) -> Usage {
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

/// True when `value` nests arrays/objects more than `limit` levels (without recursion).
fn depth_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        if depth >= limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_is_measured_without_recursion() {
        assert!(!depth_exceeds(&json!(1), 0));
        assert!(depth_exceeds(&json!([1]), 0));
        assert!(!depth_exceeds(&json!([1]), 1));
        assert!(depth_exceeds(&json!({"a": [[1]]}), 2));
        assert!(!depth_exceeds(&json!({"a": [[1]]}), 3));
        let mut deep = json!(0);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        assert!(depth_exceeds(&deep, MAX_VALUE_DEPTH));
        // Dropping a 100 000-deep serde_json value recurses; leak it instead of risking the
        // test thread's stack.
        std::mem::forget(deep);
    }

    #[test]
    fn quotas_refuse_growth_over_a_limit_only() {
        let at = |bytes, entries| Usage { bytes, entries };
        let check = |before, after| check_quota(QuotaScope::Author, before, after, 100, 2);
        assert!(check(at(0, 0), at(100, 1)).is_ok());
        assert!(matches!(
            check(at(0, 0), at(101, 1)),
            Err(StoreError::QuotaExceeded {
                measure: QuotaMeasure::Bytes,
                limit: 100,
                would_be: 101,
                ..
            })
        ));
        assert!(matches!(
            check(at(10, 2), at(20, 3)),
            Err(StoreError::QuotaExceeded {
                measure: QuotaMeasure::Entries,
                limit: 2,
                would_be: 3,
                ..
            })
        ));
        // Over a limit lowered since: shrinking and same-size replaces pass, growth does not.
        assert!(check(at(500, 5), at(400, 5)).is_ok());
        assert!(check(at(500, 5), at(500, 5)).is_ok());
        assert!(check(at(500, 5), at(501, 5)).is_err());
        assert!(check(at(500, 5), at(400, 6)).is_err());
        let usage = at(50, 1);
        assert_eq!(usage.replacing(Some(20), 30), at(60, 1));
        assert_eq!(usage.replacing(None, 30), at(80, 2));
        assert_eq!(usage.removing(50), at(0, 0));
        assert_eq!(at(0, 0).removing(5), at(0, 0), "never below zero");
    }
}
