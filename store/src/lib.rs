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
//! is): when it is made, counting the committed entries and its [`WriteSet`]'s own changes,
//! and again when the set is committed, for the set's changes together. Databases written
//! before the counters existed are counted once, when opened.
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
//! # Writes
//!
//! Writes are buffered in a [`WriteSet`] ([`Store::write_set`]): one author's changes, kept
//! in memory and then committed all at once. The Rhai module keeps one per run (a
//! [`circles_sandbox::RunState`]); [`Store::set`] and [`Store::delete`] are write sets of one
//! change, committed before they return.
//!
//! - **Checked where they are made**: [`WriteSet::set`] and [`WriteSet::delete`] refuse at
//!   once an invalid key, value or author, a reserved key, someone else's entry (as the set
//!   sees it), and growth over a quota, counted as the committed counters plus the set's own
//!   changes: a script gets the error at the line that wrote.
//! - **Visible to the set at once**: its reads ([`WriteSet::get`], [`WriteSet::page`],
//!   [`WriteSet::usage`]) show its changes over what is committed, listings in key order
//!   with the same limits, `next` and `skipped` as [`Store::page`] will give once it is
//!   committed. Nobody else sees them before.
//! - **Atomic**: a commit applies all of the set's changes in one transaction, after
//!   checking them again against what the store holds then (other sets may have been
//!   committed since): ownership, reserved keys, and the quotas on the set's net growth. If
//!   one check fails, none of the changes is made ([`CommitError`] says on which write).
//!   A set that is dropped (the run failed, hit a limit, or was an inline attempt that was
//!   abandoned) leaves no writes.
//! - **Durable before answered**: [`WriteSet::commit`] returns, and the future of
//!   [`WriteSet::commit_later`] resolves (a run's answer waits for it), only once the
//!   changes are durable: they survive a crash or `kill -9` of the process. A crash before
//!   that loses the set whole (redb's commits are atomic), and its run was never answered.
//! - **Group-committed**: each store has one committer thread. It takes every set queued
//!   (up to 1 024), applies each in its own redb transaction committed with
//!   [`redb::Durability::None`] (one set's failure leaves the others alone), then makes
//!   them all durable with one [`redb::Durability::Immediate`] commit, one `fsync` however
//!   many runs wrote at the same time, and then answers each. Once a set is applied, new
//!   reads see it, a moment before it is durable: a crash in that moment loses it with the
//!   answer that was not sent yet. If the durable commit fails, none of the group is
//!   durable: the store reopens the database (which drops them) and tries the group once
//!   more (see [Full disk](#full-disk)); a second failure fails every set in it.
//!
//! redb takes a file lock: a database can be open in one [`Store`] (and one process) at a
//! time; a second [`Store::open`] of the same directory fails with [`StoreError::Open`].
//! Clone the `Store` instead (it is an `Arc` inside) to share it between threads. redb's
//! page cache is limited to [`CACHE_BYTES`] (32 MiB) per store.
//!
//! # Full disk
//!
//! After an I/O error redb fails every later operation of the open database; the store then
//! closes and reopens it (redb repairs it from its last durable commit) and carries on,
//! without a restart. To keep room for that and for deletes when the disk fills up, the
//! store keeps a reserve file of 8 MiB beside the database. When the disk is full:
//! - a write fails with [`StoreError::DiskFull`]; the store deletes the reserve (a group
//!   commit that ran out of space is tried again without its sets that write);
//! - reads and deletes keep working (on the reserve's room);
//! - writes resume once the disk has room for the reserve again (the store tries to write it
//!   again before a group that writes, at most once a second).
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
//! | `store::usage()` | `#{author: #{bytes, entries, max_bytes, max_entries}, circle: #{…}}`: what the caller and the circle have stored (with the run's own writes), and their quotas |
//!
//! A run's writes are its [`WriteSet`] (see [Writes](#writes)): its reads see them, and they
//! are committed, all or none, when it succeeds; its answer waits until they are durable. A
//! run that fails or hits a limit leaves no writes. A write over a quota ends the run with
//! the limit error `store_quota`, which the script cannot catch; a listing still running at
//! the run's deadline ends it with `time`. When the commit fails (another run wrote first),
//! the run fails as the write would have: `store_quota` over a quota, else a runtime error
//! with the same message (and no line: it is the run's writes as a whole that failed).
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

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod commit;
mod database;
mod error;
mod keys;
mod limits;
mod listing;
mod record;
pub mod rhai;
mod volume;
mod writes;

#[cfg(test)]
mod full_disk_tests;

pub use error::{CommitError, QuotaMeasure, QuotaScope, StoreError, WriteOp};
pub use limits::{InvalidStoreLimits, StoreLimits};
/// The redb version this crate uses (its errors appear in [`StoreError`]).
pub use redb;
pub use writes::WriteSet;

use commit::Committer;
use database::{ENTRIES, Inner, USAGE_BY_AUTHOR, USAGE_TOTAL, read_usage};
use error::storage;
use keys::check_key;
use record::{HEADER_BYTES, decode, entry_bytes};
use volume::{FileSystem, RESERVE_BYTES, Volume};
use writes::Change;

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
    pub(crate) fn from_row((bytes, entries): (u64, u64)) -> Self {
        Self { bytes, entries }
    }

    pub(crate) fn row(self) -> (u64, u64) {
        (self.bytes, self.entries)
    }

    /// After replacing an entry of `old` bytes (none: a new entry) by one of `new` bytes.
    pub(crate) fn replacing(self, old: Option<u64>, new: u64) -> Self {
        Self {
            bytes: self
                .bytes
                .saturating_sub(old.unwrap_or(0))
                .saturating_add(new),
            entries: self.entries.saturating_add(u64::from(old.is_none())),
        }
    }

    /// After deleting an entry of `bytes`.
    pub(crate) fn removing(self, bytes: u64) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(bytes),
            entries: self.entries.saturating_sub(1),
        }
    }
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
    pub deadline: Option<std::time::Instant>,
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

/// A circle's key-value store. Cheap to clone; all clones share one database and one
/// committer thread, which stop when the last clone is dropped (the database closes
/// cleanly: the next open needs no recovery).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    pub(crate) committer: Arc<Committer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
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

    /// Opens the store in `db_dir` on `volume` and starts its committer.
    fn open_on(
        volume: Box<dyn Volume>,
        db_dir: &Path,
        limits: StoreLimits,
        reserve_bytes: u64,
        reserve_retry: Duration,
    ) -> Result<Store, StoreError> {
        let inner = Arc::new(Inner::open(
            volume,
            db_dir,
            limits,
            reserve_bytes,
            reserve_retry,
        )?);
        let committer = Arc::new(Committer::start(Arc::clone(&inner))?);
        Ok(Store { inner, committer })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &StoreLimits {
        &self.inner.limits
    }

    /// True when `other` is a clone of this store (the same open database).
    pub fn same(&self, other: &Store) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// An empty [`WriteSet`] for `author` (`""`: anonymous), to buffer writes and commit them
    /// all at once (see [Writes](crate#writes)). Fails with [`StoreError::AuthorInvalid`]
    /// when `author` is longer than [`MAX_AUTHOR_BYTES`].
    pub fn write_set(&self, author: &str) -> Result<WriteSet, StoreError> {
        WriteSet::new(self.clone(), author)
    }

    /// Writes `value` under `key` by `author`, durably, and returns the entry as stored. An
    /// existing entry is replaced only if `author` wrote it ([`StoreError::NotOwner`]
    /// otherwise); a reserved key only by the caller it names ([`StoreError::Reserved`]);
    /// within the quotas ([`StoreError::QuotaExceeded`]). A write set of one write (see
    /// [`WriteSet::set`]), committed before it returns.
    pub fn set(&self, key: &str, value: &Value, author: &str) -> Result<Entry, StoreError> {
        let mut writes = self.write_set(author)?;
        let entry = writes.set(key, value)?;
        writes.commit().map_err(|failed| failed.error)?;
        Ok(entry)
    }

    /// Removes the entry under `key` for `author`, who must have written it
    /// ([`StoreError::NotOwner`] otherwise); `true` if there was one. Works on a full disk.
    /// Durable when it returns.
    pub fn delete(&self, key: &str, author: &str) -> Result<bool, StoreError> {
        let mut writes = self.write_set(author)?;
        let existed = writes.delete(key)?;
        writes.commit().map_err(|failed| failed.error)?;
        Ok(existed)
    }

    /// The entry under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        check_key(key)?;
        self.inner.read(|db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(ENTRIES).map_err(storage)?;
            let found = table.get(key).map_err(storage)?;
            found.map(|bytes| decode(key, bytes.value())).transpose()
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
        self.page_with(prefix, request, None)
    }

    /// [`Store::page`], with a write set's changes over what the store holds.
    pub(crate) fn page_with(
        &self,
        prefix: &str,
        request: &PageRequest<'_>,
        overlay: Option<&std::collections::BTreeMap<String, Change>>,
    ) -> Result<ListPage, StoreError> {
        let max_list_bytes = self.inner.limits.max_list_bytes;
        let max_bytes = request
            .max_bytes
            .map_or(max_list_bytes, |max| max.min(max_list_bytes));
        self.inner
            .read(|db| listing::page(db, prefix, request, max_bytes, overlay))
    }

    /// What `author` (`""`: the anonymous callers) has stored.
    pub fn usage(&self, author: &str) -> Result<Usage, StoreError> {
        self.inner.read(|db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(USAGE_BY_AUTHOR).map_err(storage)?;
            Ok(read_usage(table.get(author).map_err(storage)?))
        })
    }

    /// What the whole store holds.
    pub fn total_usage(&self) -> Result<Usage, StoreError> {
        self.inner.read(|db| {
            let txn = db.begin_read().map_err(storage)?;
            let table = txn.open_table(USAGE_TOTAL).map_err(storage)?;
            Ok(read_usage(table.get(()).map_err(storage)?))
        })
    }
}

/// True when `value` nests arrays/objects more than `limit` levels (without recursion).
pub(crate) fn depth_exceeds(value: &Value, limit: usize) -> bool {
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

pub(crate) fn now_millis() -> u64 {
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
}
