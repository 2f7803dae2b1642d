//! Resource limits of a circle's sandbox.

use serde::{Deserialize, Serialize};

/// Resource limits applied to every script a circle runs, plus the size of its worker pool.
///
/// Every field is optional in configuration (`#[serde(default)]`); unknown fields are rejected.
/// [`Limits::validate`] rejects zeros and values that make no sense (it is called by
/// [`Sandbox::new`](crate::Sandbox::new)).
///
/// | field | default | what it bounds | refused with `limit` |
/// | --- | --- | --- | --- |
/// | `max_operations` | 1 000 000 | Rhai operations (statements, expressions, calls) one run may execute | `operations` |
/// | `max_time_ms` | 1 000 | wall-clock time of one run, in milliseconds, from the moment a worker picks it up (checked every 64 operations) | `time` |
/// | `max_call_depth` | 64 | nesting of function calls (recursion); at most 256 | `call_depth` |
/// | `max_expr_depth` | 64 | nesting of expressions/statements at global level, checked when compiling; at most 256 | `expression_depth` |
/// | `max_function_expr_depth` | 32 | nesting of expressions/statements inside function bodies; at most 256 | `expression_depth` |
/// | `max_string_size` | 1 048 576 (1 MiB) | bytes of any string value (and of all strings inside one array/map) | `string_size` |
/// | `max_array_size` | 100 000 | elements of an array or BLOB (nested arrays counted together) | `array_size` |
/// | `max_map_size` | 100 000 | properties of an object map (nested maps counted together) | `map_size` |
/// | `max_modules` | 16 | modules one run may import, once a module resolver is configured; `0` refuses every import. Without a resolver every import is refused | `modules` |
/// | `max_script_bytes` | 65 536 | bytes of the script text; checked before anything else | `script_size` (refused before it is compiled) |
/// | `max_memory_bytes` | 67 108 864 (64 MiB) | memory one run may hold at once: what its worker thread allocates from the start of the run (compiling included) net of what it frees, whatever holds it (values, captured variables, curried function pointers, its result); checked at every operation, so one operation can pass it by what it allocates (copying what the run holds, at most; the built-ins that could allocate more in one call are bounded). Enforced only when the binary installs [`CountingAllocator`](crate::alloc::CountingAllocator) (the `launcher` does); at least 1 MiB, at most 1 TiB | `memory` |
/// | `max_log_bytes` | 1 048 576 (1 MiB) | bytes kept from `print`/`debug` (each line counts its length + 1); later lines are dropped and one final line `[logs truncated]` is added | (never an error) |
/// | `workers` | available parallelism | dedicated threads that run this circle's scripts; at most 256 | — |
/// | `queue` | 4 096 | runs waiting for a free worker; when full a run is refused at once | `busy` |
/// | `inline_operations` | 2 000 | a run that may be short (a published function, a script of at most 4 KiB) is first tried on the thread that received it, with no hand-off to a worker, for at most this many operations and 250 µs; past either it is abandoned (leaving nothing behind) and runs on a worker from the start. `0`: every run on a worker; at most 1 000 000 | — |
/// | `max_hops` | 3 | circles a request may have come through before reaching this one: a request whose call chain (`CALL_CHAIN`, the direct caller not counted) is longer is refused, and a script may call a peer only if the peer's chain would not be; `0` accepts no request made by another circle's script and lets scripts call no peer; at most 16 | `hops` |
/// | `max_peer_calls` | 8 | peer calls (`peers::invoke`, `peers::play`) one run may make; `0` allows none; at most 1 000 | `peer_calls` |
/// | `cache_entries` | 1 024 | compiled scripts kept (keyed by the exact script text) so a repeated script is not parsed again | — |
/// | `cache_bytes` | 16 777 216 (16 MiB) | memory the compiled-script cache may hold: each script weighs its text plus its compiled form (measured under the [`CountingAllocator`](crate::alloc::CountingAllocator), else estimated at 64 bytes per byte of text), and at least `cache_bytes / cache_entries`; the least used are dropped first, and a script heavier than a quarter of `cache_bytes` is not kept; at most 1 TiB | — |
///
/// Compile-time limits (`max_expr_depth`, literal sizes) are reported as `LimitExceeded` too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Maximum Rhai operations per run (default 1 000 000).
    pub max_operations: u64,
    /// Maximum wall-clock time per run in milliseconds (default 1 000).
    pub max_time_ms: u64,
    /// Maximum depth of function calls (default 64, at most 256).
    pub max_call_depth: usize,
    /// Maximum expression depth at global level (default 64, at most 256).
    pub max_expr_depth: usize,
    /// Maximum expression depth inside functions (default 32, at most 256).
    pub max_function_expr_depth: usize,
    /// Maximum bytes of a string (default 1 MiB).
    pub max_string_size: usize,
    /// Maximum elements of an array or BLOB (default 100 000).
    pub max_array_size: usize,
    /// Maximum properties of an object map (default 100 000).
    pub max_map_size: usize,
    /// Maximum modules imported per run when a module resolver is configured (default 16; 0 = none).
    pub max_modules: usize,
    /// Maximum bytes of a script's text (default 65 536).
    pub max_script_bytes: usize,
    /// Maximum bytes one run may hold at once, net of what it freed (default 64 MiB, at
    /// least 1 MiB). Enforced only under the [`CountingAllocator`](crate::alloc::CountingAllocator).
    pub max_memory_bytes: u64,
    /// Maximum bytes of captured `print`/`debug` output per run (default 1 MiB).
    pub max_log_bytes: usize,
    /// Worker threads (default: the machine's available parallelism).
    pub workers: usize,
    /// Maximum runs waiting for a worker (default 4 096).
    pub queue: usize,
    /// Operations an inline attempt may take before the run moves to a worker (default
    /// 2 000; 0: every run on a worker).
    pub inline_operations: u64,
    /// Circles a request may have come through before this one (default 3, at most 16).
    pub max_hops: usize,
    /// Peer calls one run may make (default 8, at most 1 000).
    pub max_peer_calls: u32,
    /// Compiled scripts kept in the cache (default 1 024).
    pub cache_entries: usize,
    /// Bytes the compiled-script cache may hold, texts and compiled forms (default 16 MiB).
    pub cache_bytes: u64,
}

/// Upper bound for the depth limits: deeper nesting risks the native stack of a worker.
pub(crate) const MAX_DEPTH_CAP: usize = 256;
const MAX_WORKERS_CAP: usize = 256;
const MAX_TIME_CAP_MS: u64 = 3_600_000;
const MAX_SCRIPT_CAP: usize = 16 * 1024 * 1024;
const MAX_QUEUE_CAP: usize = 1_000_000;
const MAX_HOPS_CAP: usize = 16;
const MAX_INLINE_OPERATIONS: u64 = 1_000_000;
const MAX_PEER_CALLS_CAP: u32 = 1_000;
const MAX_CACHE_CAP: usize = 1_000_000;
/// Below this a run could not even compile a typical script.
const MIN_MEMORY_BYTES: u64 = 1024 * 1024;
/// 1 TiB: beyond any machine this runs on, and far from overflowing the byte counts.
const MAX_BYTES_CAP: u64 = 1 << 40;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            max_time_ms: 1_000,
            max_call_depth: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_modules: 16,
            max_script_bytes: 65_536,
            max_memory_bytes: 64 * 1024 * 1024,
            max_log_bytes: 1024 * 1024,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 4096,
            inline_operations: 2_000,
            max_hops: 3,
            max_peer_calls: 8,
            cache_entries: 1_024,
            cache_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why a [`Limits`] value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sandbox limit `{field}`: {reason}")]
pub struct InvalidLimits {
    /// The offending field, as spelled in configuration.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn check(field: &'static str, value: u64, max: u64) -> Result<(), InvalidLimits> {
    if value == 0 {
        return Err(InvalidLimits {
            field,
            reason: "must be at least 1".to_owned(),
        });
    }
    at_most(field, value, max)
}

/// For limits where 0 means "none allowed".
fn at_most(field: &'static str, value: u64, max: u64) -> Result<(), InvalidLimits> {
    if value > max {
        return Err(InvalidLimits {
            field,
            reason: format!("{value} is over the maximum of {max}"),
        });
    }
    Ok(())
}

impl Limits {
    /// Checks that every limit is usable: no zeros (except `max_modules`, `max_hops` and
    /// `max_peer_calls`), `max_hops` at most 16, `max_peer_calls` at most 1 000, depth limits at most
    /// 256, `workers` at most 256, `max_time_ms` at most one hour, `max_script_bytes` at most
    /// 16 MiB, `queue` and `cache_entries` at most 1 000 000, `max_memory_bytes` at least
    /// 1 MiB, `max_memory_bytes` and `cache_bytes` at most 1 TiB.
    pub fn validate(&self) -> Result<(), InvalidLimits> {
        let cap = MAX_DEPTH_CAP as u64;
        let n = |v: usize| v as u64;
        check("max_operations", self.max_operations, u64::MAX)?;
        check("max_time_ms", self.max_time_ms, MAX_TIME_CAP_MS)?;
        check("max_call_depth", n(self.max_call_depth), cap)?;
        check("max_expr_depth", n(self.max_expr_depth), cap)?;
        check(
            "max_function_expr_depth",
            n(self.max_function_expr_depth),
            cap,
        )?;
        check("max_string_size", n(self.max_string_size), u64::MAX)?;
        check("max_array_size", n(self.max_array_size), u64::MAX)?;
        check("max_map_size", n(self.max_map_size), u64::MAX)?;
        check(
            "max_script_bytes",
            n(self.max_script_bytes),
            n(MAX_SCRIPT_CAP),
        )?;
        check("max_memory_bytes", self.max_memory_bytes, MAX_BYTES_CAP)?;
        if self.max_memory_bytes < MIN_MEMORY_BYTES {
            return Err(InvalidLimits {
                field: "max_memory_bytes",
                reason: format!(
                    "{} is under the minimum of {MIN_MEMORY_BYTES} (1 MiB)",
                    self.max_memory_bytes
                ),
            });
        }
        check("max_log_bytes", n(self.max_log_bytes), u64::MAX)?;
        check("workers", n(self.workers), n(MAX_WORKERS_CAP))?;
        check("queue", n(self.queue), n(MAX_QUEUE_CAP))?;
        at_most(
            "inline_operations",
            self.inline_operations,
            MAX_INLINE_OPERATIONS,
        )?;
        at_most("max_hops", n(self.max_hops), n(MAX_HOPS_CAP))?;
        at_most(
            "max_peer_calls",
            u64::from(self.max_peer_calls),
            u64::from(MAX_PEER_CALLS_CAP),
        )?;
        check("cache_entries", n(self.cache_entries), n(MAX_CACHE_CAP))?;
        check("cache_bytes", self.cache_bytes, MAX_BYTES_CAP)?;
        Ok(())
    }
}
