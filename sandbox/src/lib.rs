//! Runs untrusted [Rhai](https://rhai.rs) scripts for one circle, safely and fast.
//!
//! A [`Sandbox`] owns one [`rhai::Engine`] for its circle (built once, with every limit of
//! [`Limits`] applied, `eval` disabled, no filesystem or network functions, imports refused
//! unless a resolver is configured) and a fixed pool of worker threads fed by a bounded queue.
//! [`Sandbox::run`] is `async`: the script runs on a worker, never on the async runtime.
//!
//! Each run gets a fresh scope with the constants `CIRCLE_ID`, `CIRCLE_PUBLIC_KEY` and
//! `CALLER_PUBLIC_KEY`, and the host functions `circle_id()`, `circle_public_key()` and
//! `caller_public_key()`, which read the identity from the run's [`RunContext`] (not from the
//! scope, which a script can shadow). `print` and `debug` lines go to [`Outcome::logs`].
//!
//! Compiled scripts are cached by their text, so a repeated script is parsed only once; the
//! cache is bounded by entries and by bytes.
//!
//! Each run is held to a memory budget ([`Limits::max_memory_bytes`]): what its worker thread
//! allocates, net of what it frees, checked at every operation. Allocations are counted by
//! [`alloc::CountingAllocator`], which the *binary* must install as its global allocator (the
//! `launcher` does); without it the budget is not enforced ([`Sandbox::memory_stats`] says
//! which). A limit ends the run at once, by unwinding out of rhai: neither the script nor a
//! built-in function can react to it.
//!
//! [`json`] converts between Rhai values and JSON: leniently for a run's [`Outcome::value`],
//! strictly for values that are kept and read back (the circle's store).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use circles_sandbox::{Caller, CircleInfo, Limits, Sandbox};
//! let sandbox = Sandbox::new(
//!     CircleInfo { id: "garden".into(), public_key: "02ab…".into() },
//!     Limits::default(),
//! )?;
//! let outcome = sandbox.run("print(CIRCLE_ID); 40 + 2".into(), Caller::anonymous()).await?;
//! assert_eq!(outcome.output, "42");
//! assert_eq!(outcome.logs, ["garden"]);
//! # Ok(())
//! # }
//! ```

pub mod alloc;
mod builtins;
mod cache;
mod context;
mod engine;
mod error;
pub mod json;
mod limits;
mod modules;
mod pool;
mod run;
mod sandbox;
mod state;
mod value;

pub use context::{PeerCall, RunContext};
pub use error::{LimitKind, NotCallable, ScriptError};
pub use limits::{InvalidLimits, Limits};
pub use modules::{PublishedFunction, ScriptLibrary};
pub use rhai;
pub use sandbox::{
    CacheStats, Caller, CircleInfo, MemoryStats, Outcome, RUN_STACK_BYTES, RunStats, Sandbox,
    SandboxBuilder, SandboxError, SandboxWorkers,
};
pub use state::{Pending, RunState};
