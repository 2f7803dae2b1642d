//! The Rhai module `store`: scripts read and write their circle's [`Store`].
//!
//! See the [crate documentation](crate#the-rhai-module-store) for the functions. Install it
//! with [`register`].

use circles_sandbox::json::{JsonLimits, JsonMode, ToJsonError, from_json, to_json};
use circles_sandbox::rhai::{
    Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map, Module, NativeCallContext,
    Position,
};
use circles_sandbox::{LimitKind, RunContext};
use serde_json::Value;

use crate::{ListPage, MAX_VALUE_DEPTH, Store, StoreError, Usage};

/// Most entries one `store::list` or `store::page` call returns.
pub const MAX_LIST: usize = 1000;

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// Registers the static module `store` (backed by `store`) on `engine`.
///
/// Use it through [`circles_sandbox::SandboxBuilder::configure`]; the write functions need
/// the sandbox's [`RunContext`] to know the caller, and refuse to write without one.
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
            s.set(&key, &json, &author)
                .map_err(|e| failed("set", &e, at))?;
            Ok(())
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "get",
        move |ctx: NativeCallContext, key: ImmutableString| -> RhaiResult<Dynamic> {
            Ok(s.get(&key)
                .map_err(|e| failed("get", &e, ctx.call_position()))?
                .map_or(Dynamic::UNIT, |entry| from_json(&entry.value)))
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "entry",
        move |ctx: NativeCallContext, key: ImmutableString| -> RhaiResult<Dynamic> {
            Ok(s.get(&key)
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
            s.delete(&key, &author)
                .map_err(|e| failed("delete", &e, at))
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "list",
        move |ctx: NativeCallContext, prefix: ImmutableString| -> RhaiResult<Array> {
            let at = ctx.call_position();
            Ok(page(&s, "list", &prefix, "", MAX_LIST, at)?.entries)
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "list",
        move |ctx: NativeCallContext, prefix: ImmutableString, limit: INT| -> RhaiResult<Array> {
            let at = ctx.call_position();
            let limit = list_limit("list", limit, at)?;
            Ok(page(&s, "list", &prefix, "", limit, at)?.entries)
        },
    );

    let s = store.clone();
    m.set_native_fn(
        "page",
        move |ctx: NativeCallContext,
              prefix: ImmutableString,
              after: ImmutableString|
              -> RhaiResult<Map> {
            let at = ctx.call_position();
            Ok(page(&s, "page", &prefix, &after, MAX_LIST, at)?.into_map())
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
            let at = ctx.call_position();
            let limit = list_limit("page", limit, at)?;
            Ok(page(&s, "page", &prefix, &after, limit, at)?.into_map())
        },
    );

    let s = store;
    m.set_native_fn("usage", move |ctx: NativeCallContext| -> RhaiResult<Map> {
        let at = ctx.call_position();
        let author =
            RunContext::with_current(|run| run.caller_public_key().to_owned()).unwrap_or_default();
        let mine = s.usage(&author).map_err(|e| failed("usage", &e, at))?;
        let all = s.total_usage().map_err(|e| failed("usage", &e, at))?;
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
}

impl RhaiPage {
    fn into_map(self) -> Map {
        let mut map = Map::new();
        map.insert("entries".into(), self.entries.into());
        map.insert(
            "next".into(),
            self.next.map_or(Dynamic::UNIT, Dynamic::from),
        );
        map
    }
}

/// Lists within the run's deadline: a listing still running when it passes ends the run with
/// the time limit, as the sandbox would between operations.
fn page(
    store: &Store,
    function: &str,
    prefix: &str,
    after: &str,
    limit: usize,
    at: Position,
) -> RhaiResult<RhaiPage> {
    let after = (!after.is_empty()).then_some(after);
    match store.page(prefix, after, limit, RunContext::deadline()) {
        Ok(ListPage { entries, next }) => Ok(RhaiPage {
            entries: entries
                .iter()
                .map(|entry| Dynamic::from(entry_map(entry)))
                .collect(),
            next,
        }),
        Err(StoreError::DeadlinePassed) => Err(RunContext::exceed(
            LimitKind::Time,
            format!("time limit exceeded (in store::{function})"),
            at,
        )),
        Err(e) => Err(failed(function, &e, at)),
    }
}

/// The caller of the current run (`""` when anonymous), from the server's call context.
fn caller(function: &str, at: Position) -> RhaiResult<String> {
    RunContext::with_current(|ctx| ctx.caller_public_key().to_owned()).ok_or_else(|| {
        runtime(
            format!(
                "store::{function}: writes are only allowed while a script runs in a circle's sandbox"
            ),
            at,
        )
    })
}

fn runtime(message: String, at: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), at).into()
}

/// A store error as the script sees it: a quota ends the run with the limit `store_quota`
/// (which the script cannot catch); anything else is a runtime error.
fn failed(function: &str, e: &StoreError, at: Position) -> Box<EvalAltResult> {
    let message = format!("store::{function}: {e}");
    match e {
        StoreError::QuotaExceeded { .. } => RunContext::exceed(LimitKind::StoreQuota, message, at),
        _ => runtime(message, at),
    }
}

fn entry_map(entry: &crate::Entry) -> Map {
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
