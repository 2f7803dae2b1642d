//! The Rhai module `store`: scripts read and write their circle's [`Store`].
//!
//! See the [crate documentation](crate#the-rhai-module-store) for the functions. Install it
//! with [`register`]. A run's writes are buffered in its own [`crate::WriteSet`], which its
//! reads see, and committed when it succeeds (see [Writes](crate#writes)).

mod run_writes;

use circles_sandbox::json::{JsonLimits, JsonMode, ToJsonError, from_json, to_json};
use circles_sandbox::rhai::{
    Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map, Module, NativeCallContext,
    Position,
};
use circles_sandbox::{LimitKind, RunContext};
use serde_json::Value;

use crate::{Entry, ListPage, MAX_VALUE_DEPTH, PageRequest, Store, StoreError, Usage};
use run_writes::{reading, writing};

/// Most entries one `store::list` or `store::page` call returns.
pub const MAX_LIST: usize = 1000;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Registers the static module `store` (backed by `store`) on `engine`.
///
/// Use it through [`circles_sandbox::SandboxBuilder::configure`]; the write functions need
/// the sandbox's [`RunContext`] to know the caller (and a run to keep the writes for), and
/// refuse to write without one.
pub fn register(engine: &mut Engine, store: Store) {
    engine.register_static_module("store", module(store).into());
}

/// The `store` module on its own (what [`register`] installs).
pub fn module(store: Store) -> Module {
    let mut m = Module::new();

    let s = store.clone();
    m.set_native_fn(
        "set",
        move |ctx: NativeCallContext, key: ImmutableString, value: Dynamic| -> RhaiResult<()> {
            let at = ctx.call_position();
            let author = caller("set", at)?;
            let json = storable(&value).map_err(|e| runtime(format!("store::set: {e}"), at))?;
            writing(&s, &author, |writes| writes.put(&key, &json))
                .ok_or_else(|| outside_run("set", at))?
                .map_err(|e| failed("set", &e, at))?;
            Ok(())
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "get",
        move |ctx: NativeCallContext, key: ImmutableString| -> RhaiResult<Dynamic> {
            Ok(get(&s, &key)
                .map_err(|e| failed("get", &e, ctx.call_position()))?
                .map_or(Dynamic::UNIT, |entry| from_json(&entry.value)))
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "entry",
        move |ctx: NativeCallContext, key: ImmutableString| -> RhaiResult<Dynamic> {
            Ok(get(&s, &key)
                .map_err(|e| failed("entry", &e, ctx.call_position()))?
                .map_or(Dynamic::UNIT, |entry| entry_map(&entry).into()))
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "delete",
        move |ctx: NativeCallContext, key: ImmutableString| -> RhaiResult<bool> {
            let at = ctx.call_position();
            let author = caller("delete", at)?;
            writing(&s, &author, |writes| writes.delete(&key))
                .ok_or_else(|| outside_run("delete", at))?
                .map_err(|e| failed("delete", &e, at))
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "list",
        move |ctx: NativeCallContext, prefix: ImmutableString| -> RhaiResult<Array> {
            Ok(page(&ctx, &s, "list", &prefix, "", MAX_LIST)?.entries)
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "list",
        move |ctx: NativeCallContext, prefix: ImmutableString, limit: INT| -> RhaiResult<Array> {
            let limit = list_limit("list", limit, ctx.call_position())?;
            Ok(page(&ctx, &s, "list", &prefix, "", limit)?.entries)
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "page",
        move |ctx: NativeCallContext,
              prefix: ImmutableString,
              after: ImmutableString|
              -> RhaiResult<Map> {
            Ok(page(&ctx, &s, "page", &prefix, &after, MAX_LIST)?.into_map())
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "page",
        move |ctx: NativeCallContext,
              prefix: ImmutableString,
              after: ImmutableString,
              limit: INT|
              -> RhaiResult<Map> {
            let limit = list_limit("page", limit, ctx.call_position())?;
            Ok(page(&ctx, &s, "page", &prefix, &after, limit)?.into_map())
        },
    );

    let s = store;
    m.set_native_fn("usage", move |ctx: NativeCallContext| -> RhaiResult<Map> {
        let at = ctx.call_position();
        let author =
            RunContext::with_current(|run| run.caller_public_key().to_owned()).unwrap_or_default();
        let (mine, all) = reading(&s, |writes| match writes {
            Some(writes) => writes.usage(),
            None => Ok((s.usage(&author)?, s.total_usage()?)),
        })
        .map_err(|e| failed("usage", &e, at))?;
        let limits = s.limits();
        let mut map = Map::new();
        map.insert(
            "author".into(),
            usage_map(
                mine,
                limits.max_bytes_per_author,
                limits.max_entries_per_author,
            )
            .into(),
        );
        map.insert(
            "circle".into(),
            usage_map(all, limits.max_bytes, limits.max_entries).into(),
        );
        Ok(map)
    });

    m
}

fn list_limit(function: &str, limit: INT, at: Position) -> RhaiResult<usize> {
    let limit = usize::try_from(limit).map_err(|_| {
        runtime(
            format!("store::{function}: the limit must not be negative, got {limit}"),
            at,
        )
    })?;
    Ok(limit.min(MAX_LIST))
}

/// A listing's entries as Rhai maps, and where it stopped.
struct RhaiPage {
    entries: Array,
    next: Option<String>,
    /// Entries left out because each alone is over the run's size limits.
    skipped: usize,
}

impl RhaiPage {
    fn into_map(self) -> Map {
        let mut map = Map::new();
        map.insert("entries".into(), self.entries.into());
        map.insert(
            "next".into(),
            self.next.map_or(Dynamic::UNIT, Dynamic::from),
        );
        map.insert(
            "skipped".into(),
            INT::try_from(self.skipped).unwrap_or(INT::MAX).into(),
        );
        map
    }
}

/// Sizes as Rhai counts them when it checks a value against `max_array_size`,
/// `max_map_size` and `max_string_size`: elements of arrays, properties of maps and bytes of
/// strings, all nested ones together.
#[derive(Clone, Copy, Default)]
struct RhaiSizes {
    array_elements: usize,
    map_properties: usize,
    string_bytes: usize,
}

impl RhaiSizes {
    /// What `entry_map(entry)` weighs as an element of an array.
    fn of_entry(entry: &Entry) -> Self {
        let mut sizes = RhaiSizes {
            array_elements: 1,
            map_properties: 4,
            string_bytes: entry.key.len().saturating_add(entry.author.len()),
        };
        sizes.add_json(&entry.value);
        sizes
    }

    fn add_json(&mut self, value: &Value) {
        match value {
            Value::Array(items) => {
                self.array_elements = self.array_elements.saturating_add(items.len());
                items.iter().for_each(|item| self.add_json(item));
            }
            Value::Object(properties) => {
                self.map_properties = self.map_properties.saturating_add(properties.len());
                properties.values().for_each(|item| self.add_json(item));
            }
            Value::String(s) => self.string_bytes = self.string_bytes.saturating_add(s.len()),
            _ => {}
        }
    }

    fn plus(self, other: Self) -> Self {
        RhaiSizes {
            array_elements: self.array_elements.saturating_add(other.array_elements),
            map_properties: self.map_properties.saturating_add(other.map_properties),
            string_bytes: self.string_bytes.saturating_add(other.string_bytes),
        }
    }

    /// Within the engine's limits (0: unlimited) together with `reserved`.
    fn fit(self, engine: &Engine, reserved: Self) -> bool {
        let with = self.plus(reserved);
        let within = |value: usize, max: usize| max == 0 || value <= max;
        within(with.array_elements, engine.max_array_size())
            && within(with.map_properties, engine.max_map_size())
            && within(with.string_bytes, engine.max_string_size())
    }
}

/// Lists within the run's deadline (a listing still running when it passes ends the run with
/// the time limit, as the sandbox would between operations) and within the run's size
/// limits: Rhai refuses a result whose strings, array elements or map properties (nested ones
/// together) exceed them. An entry's Rhai strings never take more bytes than the store keeps
/// of it, so the store is asked for at most `max_string_size` bytes of entries and to leave
/// out (as `skipped`, without decoding them) entries larger than that: `store::get` could not
/// return them either. Arrays and maps are counted here, and the page stops before the entry
/// that would take it over.
fn page(
    ctx: &NativeCallContext,
    store: &Store,
    function: &str,
    prefix: &str,
    after: &str,
    limit: usize,
) -> RhaiResult<RhaiPage> {
    let at = ctx.call_position();
    let engine = ctx.engine();
    // Room for the rest of a page's map: `entries`, `next` (a key) and `skipped`.
    let reserved = RhaiSizes {
        array_elements: 0,
        map_properties: 3,
        string_bytes: crate::MAX_KEY_BYTES,
    };
    let max_bytes = (engine.max_string_size() != 0).then(|| {
        u64::try_from(
            engine
                .max_string_size()
                .saturating_sub(reserved.string_bytes),
        )
        .unwrap_or(u64::MAX)
    });
    let request = PageRequest {
        after: (!after.is_empty()).then_some(after),
        limit,
        max_bytes,
        max_entry_bytes: max_bytes,
        deadline: RunContext::deadline(),
    };
    let ListPage {
        entries,
        next,
        skipped,
    } = match reading(store, |writes| match writes {
        Some(writes) => writes.page(prefix, &request),
        None => store.page(prefix, &request),
    }) {
        Ok(page) => page,
        Err(StoreError::DeadlinePassed) => {
            return Err(RunContext::exceed(
                LimitKind::Time,
                format!("time limit exceeded (in store::{function})"),
                at,
            ));
        }
        Err(e) => return Err(failed(function, &e, at)),
    };
    let mut out = RhaiPage {
        entries: Array::new(),
        next,
        skipped,
    };
    let mut total = RhaiSizes::default();
    let mut last_taken: Option<&str> = None;
    for entry in &entries {
        let sizes = RhaiSizes::of_entry(entry);
        if !sizes.fit(engine, reserved) {
            out.skipped += 1;
        } else if total.plus(sizes).fit(engine, reserved) {
            total = total.plus(sizes);
            out.entries.push(entry_map(entry).into());
        } else {
            // Continue after the last entry this page went through.
            out.next = last_taken.map(str::to_owned);
            break;
        }
        last_taken = Some(&entry.key);
    }
    Ok(out)
}

/// The caller of the current run (`""` when anonymous), from the server's call context.
fn caller(function: &str, at: Position) -> RhaiResult<String> {
    RunContext::with_current(|ctx| ctx.caller_public_key().to_owned())
        .ok_or_else(|| outside_run(function, at))
}

fn runtime(message: String, at: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), at).into()
}

/// The entry under `key` as the current run sees it (with its own writes).
fn get(store: &Store, key: &str) -> Result<Option<Entry>, StoreError> {
    reading(store, |writes| match writes {
        Some(writes) => writes.get(key),
        None => store.get(key),
    })
}

fn outside_run(function: &str, at: Position) -> Box<EvalAltResult> {
    runtime(
        format!(
            "store::{function}: writes are only allowed while a script runs in a circle's sandbox"
        ),
        at,
    )
}

/// A store error as the script sees it: a quota ends the run with the limit `store_quota`
/// (which the script cannot catch); anything else is a runtime error.
fn failed(function: &str, e: &StoreError, at: Position) -> Box<EvalAltResult> {
    match describe(function, e) {
        (true, message) => RunContext::exceed(LimitKind::StoreQuota, message, at),
        (false, message) => runtime(message, at),
    }
}

/// What the script is told of a store error in `store::<function>`: whether it is over a
/// quota, and the message.
fn describe(function: &str, e: &StoreError) -> (bool, String) {
    match e {
        StoreError::QuotaExceeded { .. } => (true, format!("store::{function}: {e}")),
        // These name the circle's files: for its operator, not for callers.
        StoreError::Open { .. } | StoreError::Io { .. } => {
            tracing::warn!(error = %e, "store::{function} failed");
            (
                false,
                format!(
                    "store::{function}: the store cannot reach its files (the circle's log has the details)"
                ),
            )
        }
        _ => (false, format!("store::{function}: {e}")),
    }
}

fn entry_map(entry: &Entry) -> Map {
    let mut map = Map::new();
    map.insert("key".into(), entry.key.clone().into());
    map.insert("value".into(), from_json(&entry.value));
    map.insert("author".into(), entry.author.clone().into());
    map.insert(
        "written_at".into(),
        INT::try_from(entry.written_at).unwrap_or(INT::MAX).into(),
    );
    map
}

fn usage_map(usage: Usage, max_bytes: u64, max_entries: u64) -> Map {
    let int = |n: u64| Dynamic::from(INT::try_from(n).unwrap_or(INT::MAX));
    let mut map = Map::new();
    map.insert("bytes".into(), int(usage.bytes));
    map.insert("entries".into(), int(usage.entries));
    map.insert("max_bytes".into(), int(max_bytes));
    map.insert("max_entries".into(), int(max_entries));
    map
}

/// `value` as the JSON the store keeps: strict, so that `store::get` gives back what was set.
/// Only the depth is limited here: [`Store::set`] bounds the size, on the JSON text.
fn storable(value: &Dynamic) -> Result<Value, String> {
    let limits = JsonLimits::depth_only(MAX_VALUE_DEPTH);
    to_json(value, JsonMode::Strict, limits).map_err(|e| match e {
        ToJsonError::NotFinite(f) => {
            format!("the float {f} cannot be stored (JSON has no NaN/infinity)")
        }
        ToJsonError::Unsupported { type_name } => format!(
            "a value of type '{type_name}' cannot be stored (allowed: (), bool, int, float, string, array, map)"
        ),
        // Too deep (the only limit set here): the converter's words are the store's.
        limit => limit.to_string(),
    })
}
