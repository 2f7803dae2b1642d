//! The compiled-script cache: bounded by entries and by bytes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use quick_cache::sync::Cache;
use rhai::AST;

use crate::alloc;
use crate::error::{ScriptError, from_parse_error};
use crate::limits::{InvalidLimits, Limits};
use crate::run::Shared;

/// A compiled script in the cache, with what it weighs.
#[derive(Clone)]
pub(crate) struct CachedScript {
    ast: Arc<AST>,
    /// Bytes allocated to compile it (measured when allocations are counted, else estimated).
    compiled_bytes: u64,
}

/// Weighs a cached script by its text and compiled form, and at least `min_bytes`
/// (`cache_bytes / cache_entries`), so that the weight bound also bounds the entries.
#[derive(Clone)]
pub(crate) struct ScriptWeigher {
    min_bytes: u64,
}

impl quick_cache::Weighter<String, CachedScript> for ScriptWeigher {
    fn weight(&self, script: &String, cached: &CachedScript) -> u64 {
        (script.len() as u64)
            .saturating_add(cached.compiled_bytes)
            .max(self.min_bytes)
    }
}

/// Without the counting allocator, a compiled script's size is estimated from its text.
/// Measured with the allocator, rhai's compiled forms of 64 KiB scripts weigh 1 to 30 times
/// their text for most code (statements, calls, literals, functions) and up to 600 times for
/// nothing but closures; this is a middle estimate.
const AST_BYTES_PER_SCRIPT_BYTE: u64 = 64;

/// The compiled-script cache: at most `cache_bytes` of scripts and compiled forms, and at most
/// `cache_entries` scripts (each weighs at least `cache_bytes / cache_entries`).
pub(crate) fn script_cache(limits: &Limits) -> Result<ScriptCache, InvalidLimits> {
    let options = quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(limits.cache_entries)
        .weight_capacity(limits.cache_bytes)
        // The cache is split into shards, each with its share of the capacity, and a script
        // heavier than a shard's share is not kept: few shards keep that share large
        // (a quarter of `cache_bytes`) on machines with many cores, too.
        .shards(CACHE_SHARDS)
        .build()
        .map_err(|e| InvalidLimits {
            field: "cache_bytes",
            reason: e.to_string(),
        })?;
    Ok(Cache::with_options(
        options,
        ScriptWeigher {
            min_bytes: limits.cache_bytes / limits.cache_entries.max(1) as u64,
        },
        quick_cache::DefaultHashBuilder::default(),
        quick_cache::sync::DefaultLifecycle::default(),
    ))
}

const CACHE_SHARDS: usize = 4;

pub(crate) type ScriptCache = Cache<String, CachedScript, ScriptWeigher>;

/// The compiled form of `script`, from the cache or freshly compiled (and then cached).
pub(crate) fn compiled(shared: &Shared, script: &str) -> Result<Arc<AST>, ScriptError> {
    if let Some(cached) = shared.cache.get(script) {
        shared.hits.fetch_add(1, Ordering::Relaxed);
        return Ok(cached.ast);
    }
    shared.misses.fetch_add(1, Ordering::Relaxed);
    let before = alloc::thread_net_allocated();
    let ast = Arc::new(
        shared
            .engine
            .compile(script)
            .map_err(|e| from_parse_error(&e))?,
    );
    let compiled_bytes = if alloc::accounting_active() {
        u64::try_from(alloc::thread_net_allocated().saturating_sub(before)).unwrap_or(0)
    } else {
        (script.len() as u64).saturating_mul(AST_BYTES_PER_SCRIPT_BYTE)
    };
    shared.cache.insert(
        script.to_owned(),
        CachedScript {
            ast: Arc::clone(&ast),
            compiled_bytes,
        },
    );
    Ok(ast)
}
