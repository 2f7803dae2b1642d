//! How far one conversion may go: nesting depth and total size.

use super::ToJsonError;

/// The bounds of one [`to_json`](super::to_json) conversion.
///
/// rhai checks the size of each value it builds, but not what is reachable through function
/// pointers (curried arguments, captured variables): a small value can expand enormously, or
/// be cyclic. These bounds stop the conversion early instead of recursing or allocating
/// without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Deepest nesting of JSON arrays/objects: a scalar is depth 0, `[1]` and `[]` depth 1.
    pub max_depth: usize,
    /// Array elements, map entries, BLOB bytes and curried function pointers' names and
    /// arguments, all levels together.
    pub max_items: usize,
    /// Bytes of strings and map keys, all levels together.
    pub max_string_bytes: usize,
}

impl JsonLimits {
    /// Only a depth limit, for a caller that bounds the size another way (the store measures
    /// the JSON text).
    pub const fn depth_only(max_depth: usize) -> Self {
        JsonLimits {
            max_depth,
            max_items: usize::MAX,
            max_string_bytes: usize::MAX,
        }
    }
}

/// What is left of the [`JsonLimits`] while a conversion runs.
pub(super) struct Budget {
    max_depth: usize,
    items_left: usize,
    string_bytes_left: usize,
}

impl Budget {
    pub(super) fn new(limits: JsonLimits) -> Self {
        Budget {
            max_depth: limits.max_depth,
            items_left: limits.max_items,
            string_bytes_left: limits.max_string_bytes,
        }
    }

    /// Accounts for a container (what becomes a JSON array or object) found inside `depth`
    /// others, holding `items` elements.
    pub(super) fn enter(&mut self, depth: usize, items: usize) -> Result<(), ToJsonError> {
        if depth >= self.max_depth {
            return Err(ToJsonError::TooDeep {
                max_depth: self.max_depth,
            });
        }
        self.items_left = self
            .items_left
            .checked_sub(items)
            .ok_or(ToJsonError::TooManyItems)?;
        Ok(())
    }

    /// Accounts for a string (or map key) of `bytes` bytes.
    pub(super) fn take_string(&mut self, bytes: usize) -> Result<(), ToJsonError> {
        self.string_bytes_left = self
            .string_bytes_left
            .checked_sub(bytes)
            .ok_or(ToJsonError::TooManyStringBytes)?;
        Ok(())
    }
}
