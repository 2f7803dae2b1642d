//! Built-in functions of rhai replaced by bounded ones: one call of the originals can
//! allocate far more than the run's memory budget before the budget is next checked (between
//! operations), or fail in a way rhai answers by formatting a value without bound.
//!
//! - Printing an array or map (`to_string`, `to_debug`, `print`, `debug`, and through them
//!   `"" + value` and `` `${value}` ``): rhai prints each element with a function call; when
//!   one fails (the result over `max_string_size`, say) it formats the value with Rust's
//!   `Debug` instead, which shows every function pointer's curried arguments and closure's
//!   captured variables: 100 000 closures sharing one 512 KiB string print as 50 GB. Here one
//!   bounded writer prints the value: function pointers by name only (as rhai's own `to_debug`
//!   of a function pointer does), at most `max_string_size` bytes, at most
//!   [`MAX_PRINT_DEPTH`] levels; past that the run ends with limit `string_size` or
//!   `expression_depth`.
//! - `map.to_json()`: rhai's expands curried arguments and captured variables without bound
//!   and recurses forever on a closure that captures its own map (the worker's stack overflows
//!   and the process aborts). Here the sandbox's own converter does it, under the bounds of a
//!   run's result.
//! - `array.pad(n, item)`: rhai checks the sizes it counts, but a function pointer counts as
//!   nothing, so `n` copies of one that carries a 100 000-element curried array pass its check
//!   and deep-copy 160 GB. Here the copies are estimated first and refused when they would not
//!   fit in what is left of the run's budget (in the whole budget, when allocations are not
//!   counted).
//! - `split`, `split_rev`, `to_chars`: rhai builds the whole array before its size check; a
//!   1 MiB string split into characters is 70 MB. Here the pieces are counted first.
//!
//! Registered in the engine's global namespace, which rhai searches before its packages.

use std::fmt::{self, Write};

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, INT, ImmutableString, Map,
    NativeCallContext, Position,
};

use crate::context::{end_run, memory_left};
use crate::error::LimitKind;
use crate::json::{JsonLimits, JsonMode, to_json};
use crate::limits::Limits;
use crate::value::{MAX_RESULT_DEPTH, refused};

type RhaiResultOf<T> = Result<T, Box<EvalAltResult>>;

/// How deeply a printed value may nest (as a result may: the same bound).
pub(crate) const MAX_PRINT_DEPTH: usize = MAX_RESULT_DEPTH;

/// Registers the bounded replacements on `engine`.
pub(crate) fn register(engine: &mut Engine, limits: &Limits) {
    register_printing(engine);
    register_to_json(engine);
    register_pad(engine, limits.max_memory_bytes);
    register_splitting(engine);
}

/// `max_string_size` as a byte count (0, unlimited, never passes validation).
fn max_string_bytes(engine: &Engine) -> usize {
    match engine.max_string_size() {
        0 => usize::MAX,
        n => n,
    }
}

fn max_array_len(engine: &Engine) -> usize {
    match engine.max_array_size() {
        0 => usize::MAX,
        n => n,
    }
}

// --- printing --------------------------------------------------------------------------------

fn register_printing(engine: &mut Engine) {
    for name in ["to_string", "to_debug", "print", "debug"] {
        FuncRegistration::new(name)
            .with_purity(true)
            .register_into_engine(
                engine,
                |ctx: NativeCallContext, array: &mut Array| -> ImmutableString {
                    print_bounded(&ctx, |w| write_array(w, array, 0))
                },
            );
        FuncRegistration::new(name)
            .with_purity(true)
            .register_into_engine(
                engine,
                |ctx: NativeCallContext, map: &mut Map| -> ImmutableString {
                    print_bounded(&ctx, |w| write_map(w, map, 0))
                },
            );
    }
}

/// Why printing stopped early.
enum PrintStop {
    TooLong,
    TooDeep,
}

/// A text that refuses to grow past `max` bytes.
struct BoundedText {
    text: String,
    max: usize,
    stop: Option<PrintStop>,
}

impl Write for BoundedText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.text.len().saturating_add(s.len()) > self.max {
            self.stop = Some(PrintStop::TooLong);
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// Runs `print` into a text of at most `max_string_size` bytes; ends the run when it does
/// not fit.
fn print_bounded(
    ctx: &NativeCallContext,
    print: impl FnOnce(&mut BoundedText) -> fmt::Result,
) -> ImmutableString {
    let max = max_string_bytes(ctx.engine());
    let mut out = BoundedText {
        text: String::new(),
        max,
        stop: None,
    };
    match (print(&mut out), out.stop) {
        (Ok(()), _) => out.text.into(),
        (Err(_), Some(PrintStop::TooDeep)) => end_run(
            LimitKind::ExpressionDepth,
            format!("a value printed as text nests more than {MAX_PRINT_DEPTH} levels deep"),
        ),
        (Err(_), _) => end_run(
            LimitKind::StringSize,
            format!("a value printed as text is longer than {max} bytes"),
        ),
    }
}

fn write_array(w: &mut BoundedText, array: &Array, depth: usize) -> fmt::Result {
    enter(w, depth)?;
    w.write_str("[")?;
    for (i, item) in array.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write_item(w, item, depth + 1)?;
    }
    w.write_str("]")
}

fn write_map(w: &mut BoundedText, map: &Map, depth: usize) -> fmt::Result {
    enter(w, depth)?;
    w.write_str("#{")?;
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{:?}: ", key.as_str())?;
        write_item(w, item, depth + 1)?;
    }
    w.write_str("}")
}

fn enter(w: &mut BoundedText, depth: usize) -> fmt::Result {
    if depth >= MAX_PRINT_DEPTH {
        w.stop = Some(PrintStop::TooDeep);
        return Err(fmt::Error);
    }
    Ok(())
}

/// One element, as rhai's `to_debug` prints it.
fn write_item(w: &mut BoundedText, item: &Dynamic, depth: usize) -> fmt::Result {
    if item.is_shared() {
        // rhai keeps no shared values inside arrays and maps; should one turn up, it is not
        // read (reading a value locked by the running script waits, then gives up).
        return w.write_str("<shared>");
    }
    if let Some(array) = item.read_lock::<Array>() {
        return write_array(w, &array, depth);
    }
    if let Some(map) = item.read_lock::<Map>() {
        return write_map(w, &map, depth);
    }
    if let Some(fn_ptr) = item.read_lock::<FnPtr>() {
        // By name, as rhai's `to_debug` of a function pointer: never its curried arguments.
        return write!(w, "{}", *fn_ptr);
    }
    // Everything else prints in bounded space: scalars, strings (quoted; at most
    // `max_string_size` long), BLOBs, ranges, timestamps, and other types by their name.
    write!(w, "{item:?}")
}

// --- to_json ---------------------------------------------------------------------------------

fn register_to_json(engine: &mut Engine) {
    FuncRegistration::new("to_json")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, map: &mut Map| -> ImmutableString {
                let engine = ctx.engine();
                let limits = JsonLimits {
                    max_depth: MAX_RESULT_DEPTH,
                    max_items: max_array_len(engine)
                        .saturating_add(engine.max_map_size())
                        .saturating_add(1),
                    max_string_bytes: max_string_bytes(engine),
                };
                // Moved into a `Dynamic` and back, not copied.
                let value = Dynamic::from_map(std::mem::take(map));
                let json = to_json(&value, JsonMode::Lenient, limits);
                if let Some(back) = value.try_cast::<Map>() {
                    *map = back;
                }
                let text = match json {
                    Ok(json) => json.to_string(),
                    Err(e) => match refused(&e) {
                        crate::ScriptError::LimitExceeded { limit, message, .. } => {
                            end_run(limit, message)
                        }
                        other => end_run(LimitKind::StringSize, other.to_string()),
                    },
                };
                let max = max_string_bytes(engine);
                if text.len() > max {
                    end_run(
                        LimitKind::StringSize,
                        format!("to_json: the text is longer than {max} bytes"),
                    );
                }
                text.into()
            },
        );
}

// --- pad -------------------------------------------------------------------------------------

fn register_pad(engine: &mut Engine, max_memory_bytes: u64) {
    FuncRegistration::new("pad")
        .with_purity(false)
        .register_into_engine(
            engine,
            move |ctx: NativeCallContext,
                  array: &mut Array,
                  len: INT,
                  item: Dynamic|
                  -> RhaiResultOf<()> {
                let Ok(len) = usize::try_from(len) else {
                    return Ok(());
                };
                let Some(copies) = len.checked_sub(array.len()).filter(|&n| n > 0) else {
                    return Ok(());
                };
                // rhai's own check, as its `pad` does it.
                let (a, m, s) = array_sizes(array);
                let (ax, mx, sx) = data_sizes(&item);
                let times = |x: usize| x.saturating_mul(copies);
                check_sizes(
                    ctx.engine(),
                    (
                        a.saturating_add(copies).saturating_add(times(ax)),
                        m.saturating_add(times(mx)),
                        s.saturating_add(times(sx)),
                    ),
                )?;
                // What rhai does not count: the copies themselves.
                let budget = memory_left().min(max_memory_bytes);
                let per_copy = clone_bytes(&item, budget / copies as u64 + 1);
                let total = per_copy.saturating_mul(copies as u64);
                if total > budget {
                    end_run(
                        LimitKind::Memory,
                        format!(
                            "memory limit exceeded: pad would copy about {total} bytes, more \
                             than the run has left of its {max_memory_bytes}"
                        ),
                    );
                }
                array.resize(len, item);
                Ok(())
            },
        );
}

/// rhai's size measure of a value: (array elements, map properties, string bytes), nested
/// ones included; what function pointers carry counts as nothing.
fn data_sizes(value: &Dynamic) -> (usize, usize, usize) {
    if let Some(array) = value.read_lock::<Array>() {
        return array_sizes(&array);
    }
    if let Some(blob) = value.read_lock::<rhai::Blob>() {
        return (blob.len(), 0, 0);
    }
    if let Some(map) = value.read_lock::<Map>() {
        let (mut a, mut m, mut s) = (0usize, 0usize, 0usize);
        for item in map.values() {
            m = m.saturating_add(1);
            let (ia, im, is) = nested_sizes(item);
            a = a.saturating_add(ia);
            m = m.saturating_add(im);
            s = s.saturating_add(is);
        }
        return (a, m, s);
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return (0, 0, s.len());
    }
    (0, 0, 0)
}

fn array_sizes(array: &Array) -> (usize, usize, usize) {
    let (mut a, mut m, mut s) = (0usize, 0usize, 0usize);
    for item in array {
        a = a.saturating_add(1);
        let (ia, im, is) = nested_sizes(item);
        a = a.saturating_add(ia);
        m = m.saturating_add(im);
        s = s.saturating_add(is);
    }
    (a, m, s)
}

/// An element's sizes as rhai counts them inside a container (a BLOB counts one more).
fn nested_sizes(item: &Dynamic) -> (usize, usize, usize) {
    match item.read_lock::<rhai::Blob>() {
        Some(blob) => (blob.len().saturating_add(1), 0, 0),
        None => data_sizes(item),
    }
}

fn check_sizes(engine: &Engine, (a, m, s): (usize, usize, usize)) -> RhaiResultOf<()> {
    let too_large = |what: &str| {
        Err(Box::new(EvalAltResult::ErrorDataTooLarge(
            what.to_owned(),
            Position::NONE,
        )))
    };
    if s > max_string_bytes(engine) {
        return too_large("Length of string");
    }
    if a > max_array_len(engine) {
        return too_large("Size of array/BLOB");
    }
    if engine.max_map_size() > 0 && m > engine.max_map_size() {
        return too_large("Size of object map");
    }
    Ok(())
}

/// About how many bytes cloning `value` allocates: arrays, maps, BLOBs and function pointers
/// are copied deeply; strings and shared (captured) values are shared, not copied. Stops
/// counting once past `stop_at` (the answer is then only known to be over it).
fn clone_bytes(value: &Dynamic, stop_at: u64) -> u64 {
    clone_bytes_at(value, stop_at, 0)
}

fn clone_bytes_at(value: &Dynamic, stop_at: u64, depth: usize) -> u64 {
    // Sizes on a 64-bit target: a `Dynamic` is 16 bytes; arrays, maps, BLOBs and function
    // pointers are boxed; a map's B-tree node holds up to 11 entries in about 464 bytes and,
    // but for the root, is at least half full.
    const DYNAMIC: u64 = 16;
    const BOXED_VEC: u64 = 24;
    const MAP_NODE: u64 = 464;
    const FN_PTR: u64 = 48;
    const OTHER_BOXED: u64 = 64;
    if value.is_shared()
        || value.is_string()
        || value.is_unit()
        || value.is_int()
        || value.is_float()
        || value.is_bool()
        || value.is_char()
    {
        return 0;
    }
    // Deeper than the size limits let arrays and maps go: only function pointers nest like
    // this, and copying such a chain is too much anyway.
    if depth > MAX_CLONE_DEPTH {
        return u64::MAX;
    }
    let mut nested = 0u64;
    let mut add = |child: &Dynamic| {
        nested = nested.saturating_add(clone_bytes_at(child, stop_at, depth + 1));
        nested <= stop_at
    };
    let own = if let Some(array) = value.read_lock::<Array>() {
        array.iter().all(&mut add);
        BOXED_VEC + DYNAMIC * array.len() as u64
    } else if let Some(blob) = value.read_lock::<rhai::Blob>() {
        BOXED_VEC + blob.len() as u64
    } else if let Some(map) = value.read_lock::<Map>() {
        map.values().all(&mut add);
        // Keys longer than a `SmartString` holds inline are copied too.
        let long_keys: u64 = map
            .keys()
            .filter(|k| k.len() > 23)
            .map(|k| k.len() as u64)
            .sum();
        BOXED_VEC + MAP_NODE * (1 + map.len() as u64 / 5) + long_keys
    } else if let Some(fn_ptr) = value.read_lock::<FnPtr>() {
        fn_ptr.iter_curry().all(&mut add);
        let curried = fn_ptr.curry().len() as u64;
        FN_PTR
            + if curried > 0 {
                16 + DYNAMIC * curried
            } else {
                0
            }
    } else {
        OTHER_BOXED
    };
    nested.saturating_add(own)
}

/// Nesting past which [`clone_bytes`] stops measuring and calls the value too large.
const MAX_CLONE_DEPTH: usize = 10_000;

// --- split, split_rev, to_chars ----------------------------------------------------------------

fn register_splitting(engine: &mut Engine) {
    FuncRegistration::new("split")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString| -> RhaiResultOf<Array> {
                if s.is_empty() {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.split_whitespace())
            },
        );
    FuncRegistration::new("split")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             d: ImmutableString|
             -> RhaiResultOf<Array> {
                if s.is_empty() || (!d.is_empty() && !s.contains(d.as_str())) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.split(d.as_str()))
            },
        );
    FuncRegistration::new("split")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             d: ImmutableString,
             n: INT|
             -> RhaiResultOf<Array> {
                if n <= 1 || s.is_empty() || (!d.is_empty() && !s.contains(d.as_str())) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.splitn(segments(n), d.as_str()))
            },
        );
    FuncRegistration::new("split")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString, d: char| -> RhaiResultOf<Array> {
                if s.is_empty() || !s.contains(d) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.split(d))
            },
        );
    FuncRegistration::new("split")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             d: char,
             n: INT|
             -> RhaiResultOf<Array> {
                if n <= 1 || s.is_empty() || !s.contains(d) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.splitn(segments(n), d))
            },
        );
    FuncRegistration::new("split_rev")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             d: ImmutableString|
             -> RhaiResultOf<Array> {
                if s.is_empty() || (!d.is_empty() && !s.contains(d.as_str())) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.rsplit(d.as_str()))
            },
        );
    FuncRegistration::new("split_rev")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             d: ImmutableString,
             n: INT|
             -> RhaiResultOf<Array> {
                if n <= 1 || s.is_empty() || (!d.is_empty() && !s.contains(d.as_str())) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.rsplitn(segments(n), d.as_str()))
            },
        );
    FuncRegistration::new("split_rev")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString, d: char| -> RhaiResultOf<Array> {
                if s.is_empty() || !s.contains(d) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.rsplit(d))
            },
        );
    FuncRegistration::new("split_rev")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext,
             s: &mut ImmutableString,
             d: char,
             n: INT|
             -> RhaiResultOf<Array> {
                if n <= 1 || s.is_empty() || !s.contains(d) {
                    return Ok(vec![s.clone().into()]);
                }
                pieces(&ctx, s.rsplitn(segments(n), d))
            },
        );
    FuncRegistration::new("to_chars")
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, s: &mut ImmutableString| -> RhaiResultOf<Array> {
                let chars = s.chars();
                if chars.clone().count() > max_array_len(ctx.engine()) {
                    return Err(array_too_large());
                }
                Ok(chars.map(Dynamic::from).collect())
            },
        );
}

fn segments(n: INT) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The pieces as an array, refused before any is allocated when there are more than
/// `max_array_size`.
fn pieces<'a>(
    ctx: &NativeCallContext,
    pieces: impl Iterator<Item = &'a str> + Clone,
) -> RhaiResultOf<Array> {
    if pieces.clone().count() > max_array_len(ctx.engine()) {
        return Err(array_too_large());
    }
    Ok(pieces.map(|p| ImmutableString::from(p).into()).collect())
}

fn array_too_large() -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorDataTooLarge(
        "Size of array".to_owned(),
        Position::NONE,
    ))
}
