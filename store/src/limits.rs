//! How much a circle's store may hold, per author and in all, and how much one listing may
//! return.
//!
//! (The fields and defaults are tabled in the [crate documentation](crate#quotas).)

use serde::{Deserialize, Serialize};

use crate::MAX_ENTRY_BYTES;

/// The store's quotas and listing budget, configurable per circle (`"store"` in
/// `circles.json`; every field optional, unknown fields refused). An entry counts its key,
/// its value's JSON text and its author, plus 11 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StoreLimits {
    /// Maximum bytes of all the circle's entries (default 1 GiB).
    pub max_bytes: u64,
    /// Maximum entries of the circle (default 1 000 000).
    pub max_entries: u64,
    /// Maximum bytes of the entries one author wrote (default 16 MiB); all anonymous callers
    /// count as one author.
    pub max_bytes_per_author: u64,
    /// Maximum entries one author wrote (default 10 000).
    pub max_entries_per_author: u64,
    /// Maximum bytes of the entries one `store::list`/`store::page` call returns (default
    /// 4 MiB, at least 1 050 123: the largest entry).
    pub max_list_bytes: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024 * 1024,
            max_entries: 1_000_000,
            max_bytes_per_author: 16 * 1024 * 1024,
            max_entries_per_author: 10_000,
            max_list_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why a [`StoreLimits`] value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store limit `{field}`: {reason}")]
pub struct InvalidStoreLimits {
    /// The offending field, as spelled in configuration.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl StoreLimits {
    /// Checks that the limits are usable: none is 0, a per-author limit is not above the
    /// circle's, and `max_list_bytes` holds the largest entry ([`MAX_ENTRY_BYTES`]).
    pub fn validate(&self) -> Result<(), InvalidStoreLimits> {
        let refuse = |field, reason: String| Err(InvalidStoreLimits { field, reason });
        for (field, value) in [
            ("max_bytes", self.max_bytes),
            ("max_entries", self.max_entries),
            ("max_bytes_per_author", self.max_bytes_per_author),
            ("max_entries_per_author", self.max_entries_per_author),
        ] {
            if value == 0 {
                return refuse(field, "must be at least 1".to_owned());
            }
        }
        if self.max_bytes_per_author > self.max_bytes {
            return refuse(
                "max_bytes_per_author",
                format!(
                    "{} is over max_bytes ({})",
                    self.max_bytes_per_author, self.max_bytes
                ),
            );
        }
        if self.max_entries_per_author > self.max_entries {
            return refuse(
                "max_entries_per_author",
                format!(
                    "{} is over max_entries ({})",
                    self.max_entries_per_author, self.max_entries
                ),
            );
        }
        if self.max_list_bytes < MAX_ENTRY_BYTES {
            return refuse(
                "max_list_bytes",
                format!(
                    "must be at least {MAX_ENTRY_BYTES} (the largest entry), so that every listing returns something"
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_nonsense_is_refused() {
        assert_eq!(StoreLimits::default().validate(), Ok(()));
        let field = |limits: StoreLimits| limits.validate().map_err(|e| e.field);
        let d = StoreLimits::default;
        assert_eq!(
            field(StoreLimits {
                max_bytes: 0,
                ..d()
            }),
            Err("max_bytes")
        );
        assert_eq!(
            field(StoreLimits {
                max_entries_per_author: 0,
                ..d()
            }),
            Err("max_entries_per_author")
        );
        assert_eq!(
            field(StoreLimits {
                max_bytes_per_author: d().max_bytes + 1,
                ..d()
            }),
            Err("max_bytes_per_author")
        );
        assert_eq!(
            field(StoreLimits {
                max_entries: 10,
                ..d()
            }),
            Err("max_entries_per_author")
        );
        assert_eq!(
            field(StoreLimits {
                max_list_bytes: MAX_ENTRY_BYTES - 1,
                ..d()
            }),
            Err("max_list_bytes")
        );
        assert_eq!(
            field(StoreLimits {
                max_list_bytes: MAX_ENTRY_BYTES,
                max_entries: 1,
                max_entries_per_author: 1,
                max_bytes: 1,
                max_bytes_per_author: 1,
            }),
            Ok(())
        );
    }
}
