//! Why a value was not converted to JSON.

use rhai::FLOAT;

/// Why [`to_json`](super::to_json) refused a value. The first three are its
/// [`JsonLimits`](super::JsonLimits), in either mode; the last two only happen in
/// [`JsonMode::Strict`](super::JsonMode::Strict).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToJsonError {
    /// Arrays/maps nest deeper than `max_depth`.
    #[error("the value nests arrays/maps more than {max_depth} levels")]
    TooDeep {
        /// [`JsonLimits::max_depth`](super::JsonLimits::max_depth).
        max_depth: usize,
    },
    /// More elements than [`JsonLimits::max_items`](super::JsonLimits::max_items).
    #[error("the value has too many elements")]
    TooManyItems,
    /// More string bytes than
    /// [`JsonLimits::max_string_bytes`](super::JsonLimits::max_string_bytes).
    #[error("the value holds too many string bytes")]
    TooManyStringBytes,
    /// A NaN or infinite float (strict).
    #[error("the float {0} has no JSON form (JSON has no NaN/infinity)")]
    NotFinite(FLOAT),
    /// A value of another type than `()`, bool, int, float, string, array or object map
    /// (strict).
    #[error("a value of type '{type_name}' has no strict JSON form")]
    Unsupported {
        /// Rhai's name of its type (`type_of`), e.g. `Fn`, `blob`, `char`.
        type_name: &'static str,
    },
}
