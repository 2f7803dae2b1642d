//! Turning a script's final value into the `output` text and the JSON `value`.

use rhai::{Dynamic, Engine, ImmutableString};
use serde_json::Value;

use crate::error::{LimitKind, ScriptError};
use crate::json::{JsonLimits, JsonMode, ToJsonError, to_json};

/// How deeply a result value may nest, in JSON levels (a scalar is depth 0, `[1]` and `[]`
/// depth 1). Deeper values (or cyclic ones, which a closure capturing its own array can
/// build) are refused instead of recursing without bound.
pub(crate) const MAX_RESULT_DEPTH: usize = 128;

/// The JSON `value` of a result. Lenient, because it is shown, never read back: see
/// [`JsonMode::Lenient`] for what becomes of values JSON has no form for.
///
/// Bounded in total by the engine's size limits: rhai checks each value it builds, but not
/// what is reachable through function pointers (captured variables), so a script could
/// return a small value that expands enormously.
pub(crate) fn result_json(value: &Dynamic, engine: &Engine) -> Result<Value, ScriptError> {
    let limits = JsonLimits {
        max_depth: MAX_RESULT_DEPTH,
        max_items: engine
            .max_array_size()
            .saturating_add(engine.max_map_size())
            .saturating_add(1),
        max_string_bytes: engine.max_string_size(),
    };
    to_json(value, JsonMode::Lenient, limits).map_err(|e| refused(&e))
}

/// The error a refused result is reported as: the limit it ran into.
pub(crate) fn refused(e: &ToJsonError) -> ScriptError {
    match e {
        ToJsonError::TooDeep { max_depth } => ScriptError::limit_exceeded(
            LimitKind::ExpressionDepth,
            format!("the script's result nests more than {max_depth} levels deep"),
        ),
        ToJsonError::TooManyItems => ScriptError::limit_exceeded(
            LimitKind::ArraySize,
            "the script's result has too many elements",
        ),
        ToJsonError::TooManyStringBytes => ScriptError::limit_exceeded(
            LimitKind::StringSize,
            "the script's result holds too many string bytes",
        ),
        // Lenient mode renders every type, so these do not happen; should that change, the
        // run still fails with a message rather than a panic.
        ToJsonError::NotFinite(_) | ToJsonError::Unsupported { .. } => {
            ScriptError::runtime(format!("the script's result cannot be returned: {e}"))
        }
    }
}

/// The `output` text: `""` for unit, the string itself for strings, rhai's display form
/// otherwise. Only call after [`result_json`] succeeded (it bounds the nesting depth).
pub(crate) fn to_output(value: &Dynamic) -> String {
    if value.is_unit() {
        return String::new();
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return s.as_str().to_owned();
    }
    value.to_string()
}
