//! The Rhai module `store`: scripts read and write their circle's [`Store`].
//!
//! See the [crate documentation](crate#the-rhai-module-store) for the functions. Install it
//! with [`register`].

use circles_sandbox::RunContext;
use circles_sandbox::json::{JsonLimits, JsonMode, ToJsonError, from_json, to_json};
use circles_sandbox::rhai::{
    Array, Dynamic, Engine, EvalAltResult, INT, ImmutableString, Map, Module, NativeCallContext,
    Position,
};
use serde_json::Value;

use crate::{MAX_VALUE_DEPTH, Store, StoreError};

/// Most entries one `store::list` call returns.
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
            list(&s, &prefix, MAX_LIST, ctx.call_position())
        },
    );

    let s = store;
    m.set_native_fn(
        "list",
        move |ctx: NativeCallContext, prefix: ImmutableString, limit: INT| -> RhaiResult<Array> {
            let at = ctx.call_position();
            let limit = usize::try_from(limit).map_err(|_| {
                runtime(
                    format!("store::list: the limit must not be negative, got {limit}"),
                    at,
                )
            })?;
            list(&s, &prefix, limit.min(MAX_LIST), at)
        },
    );

    m
}

fn list(store: &Store, prefix: &str, limit: usize, at: Position) -> RhaiResult<Array> {
    Ok(store
        .list(prefix, limit)
        .map_err(|e| failed("list", &e, at))?
        .iter()
        .map(|entry| Dynamic::from(entry_map(entry)))
        .collect())
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

fn failed(function: &str, e: &StoreError, at: Position) -> Box<EvalAltResult> {
    runtime(format!("store::{function}: {e}"), at)
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
