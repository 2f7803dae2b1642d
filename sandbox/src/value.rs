//! Turning a script's final value into the `output` text and the JSON `value`.

use rhai::{Array, Blob, Dynamic, FnPtr, ImmutableString, Map};
use serde_json::{Number, Value};

use crate::error::{LimitKind, ScriptError};

/// How deeply a result value may nest. Arrays, maps, BLOBs and curried function pointers
/// each add a level, because each becomes a JSON array or object: a scalar is depth 0, `[1]`
/// and `[]` depth 1 (as the store counts). Deeper values (or cyclic ones, which a closure
/// capturing its own array can build) are refused instead of recursing without bound.
pub(crate) const MAX_VALUE_DEPTH: usize = 128;

/// Refuses a container found at `depth` (that many containers around it) when it would be
/// one level too many.
fn check_nesting(depth: usize) -> Result<(), ScriptError> {
    if depth >= MAX_VALUE_DEPTH {
        return Err(ScriptError::limit_exceeded(
            LimitKind::ExpressionDepth,
            format!("the script's result nests more than {MAX_VALUE_DEPTH} levels deep"),
        ));
    }
    Ok(())
}

/// What one result may contain in total. rhai checks the sizes of each value it builds, but
/// values reachable through function pointers (captured variables) are not counted, so a
/// script could return a small value that expands enormously; the conversion stops early.
pub(crate) struct Budget {
    /// Array elements, BLOB bytes and map entries still allowed.
    pub(crate) items: usize,
    /// String bytes still allowed.
    pub(crate) string_bytes: usize,
}

impl Budget {
    fn take_items(&mut self, n: usize) -> Result<(), ScriptError> {
        self.items = self.items.checked_sub(n).ok_or_else(|| {
            ScriptError::limit_exceeded(
                LimitKind::ArraySize,
                "the script's result has too many elements",
            )
        })?;
        Ok(())
    }

    fn take_string(&mut self, n: usize) -> Result<(), ScriptError> {
        self.string_bytes = self.string_bytes.checked_sub(n).ok_or_else(|| {
            ScriptError::limit_exceeded(
                LimitKind::StringSize,
                "the script's result holds too many string bytes",
            )
        })?;
        Ok(())
    }
}

/// Converts a value to JSON: unit → null, numbers, strings, chars → strings, arrays, maps,
/// BLOBs → arrays of bytes, function pointers → their name (curried: `[name, args…]`),
/// anything else → its type name. Non-finite floats become null.
pub(crate) fn to_json(
    value: &Dynamic,
    depth: usize,
    budget: &mut Budget,
) -> Result<Value, ScriptError> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        budget.take_string(s.len())?;
        return Ok(Value::String(s.as_str().to_owned()));
    }
    if let Some(array) = value.read_lock::<Array>() {
        check_nesting(depth)?;
        budget.take_items(array.len())?;
        return array
            .iter()
            .map(|v| to_json(v, depth + 1, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        check_nesting(depth)?;
        budget.take_items(blob.len())?;
        return Ok(Value::Array(
            blob.iter().map(|b| Value::Number((*b).into())).collect(),
        ));
    }
    if let Some(map) = value.read_lock::<Map>() {
        check_nesting(depth)?;
        budget.take_items(map.len())?;
        let mut out = serde_json::Map::with_capacity(map.len());
        for (k, v) in map.iter() {
            budget.take_string(k.len())?;
            out.insert(k.to_string(), to_json(v, depth + 1, budget)?);
        }
        return Ok(Value::Object(out));
    }
    if let Some(fp) = value.read_lock::<FnPtr>() {
        if !fp.is_curried() {
            return Ok(Value::String(fp.fn_name().to_owned()));
        }
        check_nesting(depth)?;
        budget.take_items(1 + fp.iter_curry().count())?;
        let mut out = vec![Value::String(fp.fn_name().to_owned())];
        for v in fp.iter_curry() {
            out.push(to_json(v, depth + 1, budget)?);
        }
        return Ok(Value::Array(out));
    }
    Ok(Value::String(value.type_name().to_owned()))
}

/// The `output` text: `""` for unit, the string itself for strings, rhai's display form
/// otherwise. Only call after [`to_json`] succeeded (it bounds the nesting depth).
pub(crate) fn to_output(value: &Dynamic) -> String {
    if value.is_unit() {
        return String::new();
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return s.as_str().to_owned();
    }
    value.to_string()
}
