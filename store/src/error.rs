//! What can go wrong with a store, and the checks that say so: ownership and quotas.

use std::path::PathBuf;

use crate::record::author_of;
use crate::volume::is_out_of_space;
use crate::{InvalidStoreLimits, Usage};

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
    /// Bytes ([`Entry::stored_bytes`](crate::Entry::stored_bytes)).
    Bytes,
    /// Entries.
    Entries,
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
    /// The limits given to [`Store::open_with`](crate::Store::open_with) are unusable.
    #[error(transparent)]
    InvalidLimits(#[from] InvalidStoreLimits),
    /// The key is empty or longer than [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES).
    #[error("invalid key: {0}")]
    KeyInvalid(String),
    /// The value's JSON text is longer than [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES).
    #[error("value too large: {bytes} bytes of JSON, the limit is {limit}")]
    ValueTooLarge {
        /// Size of the value's JSON text.
        bytes: usize,
        /// [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES).
        limit: usize,
    },
    /// The value nests arrays/objects more than [`MAX_VALUE_DEPTH`](crate::MAX_VALUE_DEPTH) levels deep.
    #[error("value nested too deeply: more than {limit} levels of arrays/objects")]
    ValueTooDeep {
        /// [`MAX_VALUE_DEPTH`](crate::MAX_VALUE_DEPTH).
        limit: usize,
    },
    /// The author is longer than [`MAX_AUTHOR_BYTES`](crate::MAX_AUTHOR_BYTES).
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
    /// The store's committer thread could not be started (when opening), or is gone.
    #[error("the store's committer {0}")]
    Committer(String),
}

/// Which write of a [`WriteSet`](crate::WriteSet) a commit failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// A [`WriteSet::set`](crate::WriteSet::set) (also: the set as a whole, for quotas, a
    /// full disk or a storage failure of a set that writes).
    Set,
    /// A [`WriteSet::delete`](crate::WriteSet::delete) (also: a set that only deletes).
    Delete,
}

impl WriteOp {
    /// `"set"` or `"delete"`.
    pub fn name(self) -> &'static str {
        match self {
            WriteOp::Set => "set",
            WriteOp::Delete => "delete",
        }
    }
}

/// Why a [`WriteSet`](crate::WriteSet) was not committed: none of its writes were made.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CommitError {
    /// The write it failed on.
    pub op: WriteOp,
    /// What went wrong.
    pub error: StoreError,
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
    pub(crate) fn leaves_database_unusable(&self) -> Option<&redb::Error> {
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

    /// The same error, for each write set of a group commit that it failed (the sources of
    /// I/O and redb errors are not `Clone`: a copy keeps their kind and words).
    pub(crate) fn duplicate(&self) -> StoreError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            StoreError::DiskFull => StoreError::DiskFull,
            StoreError::Io { path, source } => StoreError::Io {
                path: path.clone(),
                source: io(source),
            },
            StoreError::Storage(redb::Error::Io(e)) => StoreError::Storage(redb::Error::Io(io(e))),
            StoreError::Storage(redb::Error::PreviousIo) => {
                StoreError::Storage(redb::Error::PreviousIo)
            }
            StoreError::Storage(redb::Error::DatabaseClosed) => {
                StoreError::Storage(redb::Error::DatabaseClosed)
            }
            StoreError::Committer(why) => StoreError::Committer(why.clone()),
            // Names the file too (and stays an error for the circle's log, not for callers).
            StoreError::Open { path, source } => StoreError::Io {
                path: path.clone(),
                source: std::io::Error::other(source.to_string()),
            },
            other => StoreError::Storage(redb::Error::Io(std::io::Error::other(other.to_string()))),
        }
    }

    pub(crate) fn is_out_of_space(&self) -> bool {
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
pub(crate) fn check_owner(key: &str, record: &[u8], author: &str) -> Result<(), StoreError> {
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
pub(crate) fn check_quota(
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

pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Storage(e.into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
