//! Each circle's persistent key-value store, and the Rhai module `store` that scripts use.
//!
//! A [`Store`] is one [redb](https://www.redb.org) database file, `<db_dir>/store.redb`, in the
//! circle's `db_path`. It maps string keys to JSON values, and remembers for each entry who
//! wrote it (the caller's public key) and when.
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
//! Keys are ordered by their bytes, so [`Store::list`] returns the entries whose key starts
//! with a prefix in that order, with a range scan that starts at the prefix and stops at the
//! first key past it (it never reads the whole table).
//!
//! # Encoding
//!
//! One redb table, `entries`, key `&str` → value `&[u8]`. The value bytes are a fixed header
//! followed by the value's JSON text:
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
//!
//! # Durability
//!
//! Every write ([`Store::set`], [`Store::delete`]) is its own redb write transaction, committed
//! with [`redb::Durability::Immediate`] before the call returns: once a write is acknowledged
//! it survives a crash or `kill -9` of the process. redb's commits are atomic, so a crash in
//! the middle of a write leaves either the old or the new entry. redb also takes a file lock:
//! a database can be open in one [`Store`] (and one process) at a time; a second
//! [`Store::open`] of the same directory fails with [`StoreError::Open`]. Clone the `Store`
//! instead (it is an `Arc` inside) to share it between threads.
//!
//! # The Rhai module `store`
//!
//! [`rhai::register`] installs a static module named `store` on a circle's engine, typically
//! through [`circles_sandbox::SandboxBuilder::configure`]:
//!
//! | function | result |
//! | --- | --- |
//! | `store::set(key, value)` | `()`; `value` is `()`, a bool, int, float, string, array or object map (nested); anything else is a runtime error; an existing entry may be replaced only by its author |
//! | `store::get(key)` | the value, or `()` when there is no entry |
//! | `store::entry(key)` | `#{key, value, author, written_at}`, or `()` |
//! | `store::delete(key)` | `true` if there was an entry; only the entry's author may delete it |
//! | `store::list(prefix)` | array of entry maps whose key starts with `prefix`, in key order, at most [`rhai::MAX_LIST`] (1 000) |
//! | `store::list(prefix, limit)` | the same, at most `limit` (capped at 1 000; a negative limit is an error) |
//!
//! Values cross between Rhai and JSON through [`circles_sandbox::json`] in its strict mode, so
//! that `store::get` gives back what `store::set` was given (an int stays an int, a float a
//! float); a value JSON cannot hold as it is (NaN, infinity, a char, a BLOB, a function
//! pointer…) is refused rather than stored as something else.
//!
//! The author of a write is the caller of the run, read from the sandbox's
//! [`circles_sandbox::RunContext`] (the server's call context), never from the script: a
//! script that shadows `CALLER_PUBLIC_KEY` writes under its real caller's key. Writes outside
//! a sandbox run are refused. Store errors (invalid key, value too large, storage failure)
//! are Rhai runtime errors, which the server reports as `-32011` with the message.
//!
//! ```rhai
//! // a guest book: everyone may sign once, under their own key
//! let key = "guestbook/" + CALLER_PUBLIC_KEY;
//! if store::get(key) == () {
//!     store::set(key, #{ message: "hello", stars: 5 });
//! }
//! let e = store::entry(key);   // #{key, value, author, written_at}
//! print(`signed by ${e.author} at ${e.written_at}`);
//! store::list("guestbook/", 10).map(|e| e.value.message)
//! ```
//!
//! In Rust:
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use circles_sandbox::{CircleInfo, Limits, Sandbox};
//! use circles_store::Store;
//!
//! let store = Store::open(std::path::Path::new("data/alice"))?;
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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod rhai;

/// The redb version this crate uses (its errors appear in [`StoreError`]).
pub use redb;

/// The file inside the store's directory.
pub const DB_FILE: &str = "store.redb";
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes of its JSON text.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Deepest nesting of arrays/objects inside a value (a scalar is depth 0, `[1]` depth 1).
pub const MAX_VALUE_DEPTH: usize = 64;
/// Longest author (public key hex), in bytes.
pub const MAX_AUTHOR_BYTES: usize = 512;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const FORMAT_VERSION: u8 = 1;
const HEADER_BYTES: usize = 1 + 8 + 2;

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
    /// The store's directory could not be created.
    #[error("cannot create the store directory {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
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
    /// The database failed (I/O error, full disk, …).
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

/// Refuses a change of `key` by `author` when the stored entry has another author.
fn check_owner(
    table: &impl redb::ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    author: &str,
) -> Result<(), StoreError> {
    if let Some(bytes) = table.get(key).map_err(storage)? {
        let owner = decode(key, bytes.value())?.author;
        if owner != author {
            return Err(StoreError::NotOwner {
                key: key.to_owned(),
                owner,
            });
        }
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
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating it and `db_dir` if needed) the store `db_dir/store.redb`.
    pub fn open(db_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(db_dir).map_err(|source| StoreError::Io {
            path: db_dir.to_owned(),
            source,
        })?;
        let path = db_dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        // The circle's data is its own: owner-only, whatever the umask.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::Io {
                    path: path.clone(),
                    source,
                },
            )?;
        }
        // Create the table once, so that readers always find it.
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(ENTRIES).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Store {
            inner: Arc::new(Inner { db, path }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes `value` under `key` by `author` and returns the entry as stored. An existing
    /// entry is replaced only if `author` wrote it ([`StoreError::NotOwner`] otherwise).
    /// Durable when it returns.
    pub fn set(&self, key: &str, value: &Value, author: &str) -> Result<Entry, StoreError> {
        check_key(key)?;
        if author.len() > MAX_AUTHOR_BYTES {
            return Err(StoreError::AuthorInvalid(format!(
                "{} bytes, the limit is {MAX_AUTHOR_BYTES}",
                author.len()
            )));
        }
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
        let bytes = encode(written_at, author, &json);

        let txn = self.inner.db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(storage)?;
            check_owner(&table, key, author)?;
            table.insert(key, bytes.as_slice()).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        Ok(Entry {
            key: key.to_owned(),
            value: value.clone(),
            author: author.to_owned(),
            written_at,
        })
    }

    /// The entry under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        check_key(key)?;
        let txn = self.inner.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTRIES).map_err(storage)?;
        let found = table.get(key).map_err(storage)?;
        found.map(|bytes| decode(key, bytes.value())).transpose()
    }

    /// Removes the entry under `key` for `author`, who must have written it
    /// ([`StoreError::NotOwner`] otherwise); `true` if there was one. Durable when it returns.
    pub fn delete(&self, key: &str, author: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let txn = self.inner.db.begin_write().map_err(storage)?;
        let existed = {
            let mut table = txn.open_table(ENTRIES).map_err(storage)?;
            check_owner(&table, key, author)?;
            table.remove(key).map_err(storage)?.is_some()
        };
        txn.commit().map_err(storage)?;
        Ok(existed)
    }

    /// At most `limit` entries whose key starts with `prefix` (`""`: all), in key (byte)
    /// order. A range scan from `prefix` that stops at the first key not starting with it.
    pub fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let txn = self.inner.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTRIES).map_err(storage)?;
        for item in table.range::<&str>(prefix..).map_err(storage)? {
            let (key, bytes) = item.map_err(storage)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push(decode(key, bytes.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::KeyInvalid("the key is empty".to_owned()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::KeyInvalid(format!(
            "the key is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
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

fn encode(written_at: u64, author: &str, json: &[u8]) -> Vec<u8> {
    // `author.len() <= MAX_AUTHOR_BYTES < u16::MAX`, checked by the caller.
    let author_len = u16::try_from(author.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(HEADER_BYTES + author.len() + json.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&written_at.to_be_bytes());
    out.extend_from_slice(&author_len.to_be_bytes());
    out.extend_from_slice(&author.as_bytes()[..usize::from(author_len)]);
    out.extend_from_slice(json);
    out
}

fn decode(key: &str, bytes: &[u8]) -> Result<Entry, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let (header, rest) = bytes
        .split_first_chunk::<HEADER_BYTES>()
        .ok_or_else(|| corrupt(format!("only {} bytes", bytes.len())))?;
    let [version, t0, t1, t2, t3, t4, t5, t6, t7, a0, a1] = *header;
    if version != FORMAT_VERSION {
        return Err(corrupt(format!("unknown format version {version}")));
    }
    let written_at = u64::from_be_bytes([t0, t1, t2, t3, t4, t5, t6, t7]);
    let author_len = usize::from(u16::from_be_bytes([a0, a1]));
    if rest.len() < author_len {
        return Err(corrupt("truncated author".to_owned()));
    }
    let (author, json) = rest.split_at(author_len);
    let author = std::str::from_utf8(author)
        .map_err(|e| corrupt(format!("author is not UTF-8: {e}")))?
        .to_owned();
    let value =
        serde_json::from_slice(json).map_err(|e| corrupt(format!("value is not JSON: {e}")))?;
    Ok(Entry {
        key: key.to_owned(),
        value,
        author,
        written_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let bytes = encode(1_700_000_000_123, "02ab", br#"{"a":[1,2.5,null]}"#);
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(bytes.len(), HEADER_BYTES + 4 + 18);
        let entry = decode("k", &bytes).expect("decode");
        assert_eq!(
            entry,
            Entry {
                key: "k".into(),
                value: json!({"a": [1, 2.5, null]}),
                author: "02ab".into(),
                written_at: 1_700_000_000_123,
            }
        );
        for bad in [
            &b""[..],
            &bytes[..5],
            &bytes[..HEADER_BYTES + 2],
            &bytes[..bytes.len() - 1],
        ] {
            assert!(
                matches!(decode("k", bad), Err(StoreError::Corrupt { .. })),
                "{bad:?}"
            );
        }
        let mut other_version = bytes.clone();
        other_version[0] = 9;
        let err = decode("k", &other_version).expect_err("version");
        assert!(err.to_string().contains("format version 9"), "{err}");
    }

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
