//! Rhai → JSON: one traversal; the [`JsonMode`] decides only what happens to the values JSON
//! has no form for.

use rhai::{Array, Blob, Dynamic, FLOAT, FnPtr, ImmutableString, Map};
use serde_json::{Number, Value};

use super::limits::Budget;
use super::{JsonLimits, ToJsonError};

/// What [`to_json`] does with a value JSON cannot hold as it is: a NaN or infinite float, a
/// char, a BLOB, a function pointer, a timestamp, a custom type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonMode {
    /// Refuse it ([`ToJsonError::NotFinite`], [`ToJsonError::Unsupported`]), so that what is
    /// accepted comes back as the same value through [`from_json`](super::from_json): for
    /// values that are kept and read back.
    Strict,
    /// Render it readably: NaN/infinity → null, a char → a string, a BLOB → an array of
    /// bytes, a function pointer → its name (curried: `[name, args…]`), anything else → its
    /// type name. For values that are only shown.
    Lenient,
}

/// `value` as JSON: `()` → null; bools, ints, finite floats, strings, arrays and object maps
/// as themselves; the rest as `mode` says. Refused when it exceeds `limits`.
pub fn to_json(value: &Dynamic, mode: JsonMode, limits: JsonLimits) -> Result<Value, ToJsonError> {
    Conversion {
        mode,
        budget: Budget::new(limits),
        locked_seen: false,
    }
    .convert(value, 0)
}

struct Conversion {
    mode: JsonMode,
    budget: Budget,
    /// A shared value could not be read (the running script holds it locked); later ones
    /// are not tried, because each try waits before it gives up.
    locked_seen: bool,
}

impl Conversion {
    /// Converts `value`, found inside `depth` containers.
    fn convert(&mut self, value: &Dynamic, depth: usize) -> Result<Value, ToJsonError> {
        if value.is_shared() {
            // A captured variable: read it once, then convert what it holds (each of the
            // typed reads below would otherwise lock it again).
            let inner = if self.locked_seen {
                None
            } else {
                value.read_lock::<Dynamic>()
            };
            return match inner {
                Some(inner) => self.convert(&inner, depth),
                None => {
                    self.locked_seen = true;
                    match self.mode {
                        JsonMode::Strict => Err(ToJsonError::Unsupported {
                            type_name: value.type_name(),
                        }),
                        JsonMode::Lenient => Ok(Value::String("<locked>".to_owned())),
                    }
                }
            };
        }
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
            return self.float(f);
        }
        if let Some(s) = value.read_lock::<ImmutableString>() {
            self.budget.take_string(s.len())?;
            return Ok(Value::String(s.as_str().to_owned()));
        }
        if let Some(array) = value.read_lock::<Array>() {
            self.budget.enter(depth, array.len())?;
            return array
                .iter()
                .map(|v| self.convert(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array);
        }
        if let Some(map) = value.read_lock::<Map>() {
            self.budget.enter(depth, map.len())?;
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map.iter() {
                self.budget.take_string(k.len())?;
                out.insert(k.to_string(), self.convert(v, depth + 1)?);
            }
            return Ok(Value::Object(out));
        }
        match self.mode {
            JsonMode::Strict => Err(ToJsonError::Unsupported {
                type_name: value.type_name(),
            }),
            JsonMode::Lenient => self.render(value, depth),
        }
    }

    fn float(&self, f: FLOAT) -> Result<Value, ToJsonError> {
        match (Number::from_f64(f), self.mode) {
            (Some(n), _) => Ok(Value::Number(n)),
            (None, JsonMode::Strict) => Err(ToJsonError::NotFinite(f)),
            (None, JsonMode::Lenient) => Ok(Value::Null),
        }
    }

    /// Lenient: a readable stand-in for a value JSON has no form for. Its strings (a char, a
    /// function's name, a type's name) count against the budget like any other: a function
    /// name is as long as a script makes it, and an array can repeat it.
    fn render(&mut self, value: &Dynamic, depth: usize) -> Result<Value, ToJsonError> {
        if let Ok(c) = value.as_char() {
            return self.stand_in(&c.to_string());
        }
        if let Some(blob) = value.read_lock::<Blob>() {
            self.budget.enter(depth, blob.len())?;
            return Ok(Value::Array(
                blob.iter().map(|b| Value::Number((*b).into())).collect(),
            ));
        }
        if let Some(fp) = value.read_lock::<FnPtr>() {
            if !fp.is_curried() {
                return self.stand_in(fp.fn_name());
            }
            // The curried arguments are where captured variables hide, unchecked by rhai's
            // size limits: they count against the budget like array elements.
            self.budget.enter(depth, 1 + fp.iter_curry().count())?;
            let mut out = vec![self.stand_in(fp.fn_name())?];
            for v in fp.iter_curry() {
                out.push(self.convert(v, depth + 1)?);
            }
            return Ok(Value::Array(out));
        }
        self.stand_in(value.type_name())
    }

    fn stand_in(&mut self, text: &str) -> Result<Value, ToJsonError> {
        self.budget.take_string(text.len())?;
        Ok(Value::String(text.to_owned()))
    }
}
