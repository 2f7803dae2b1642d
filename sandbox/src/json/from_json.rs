//! JSON → Rhai.

use rhai::{Array, Dynamic, Map};
use serde_json::Value;

/// `value` as a script value: null → `()`, bools, integers that fit an `INT` → int, other
/// numbers → float, strings, arrays, objects → object maps. The inverse of
/// [`to_json`](super::to_json) in [`JsonMode::Strict`](super::JsonMode::Strict).
///
/// Written out instead of calling `rhai::serde::to_dynamic`: that one is fallible in its
/// signature for a conversion that cannot fail, and it goes through serde's data model, where
/// serde_json's `arbitrary_precision` feature (which any crate in the build could turn on)
/// makes every number a private struct, that is an object map for the script.
pub fn from_json(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().map_or(Dynamic::UNIT, Dynamic::from_float),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(a) => a.iter().map(from_json).collect::<Array>().into(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| (k.as_str().into(), from_json(v)))
            .collect::<Map>()
            .into(),
    }
}
