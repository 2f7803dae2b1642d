//! The sandbox: one engine per circle, a bounded pool of worker threads, a compiled-script cache.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use quick_cache::sync::Cache;
use rhai::module_resolvers::DummyModuleResolver;
use rhai::{AST, Dynamic, Engine, ImmutableString, ModuleResolver, Scope};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::alloc;
use crate::builtins;
use crate::context::{
    PeerBudget, RunContext, RunEnded, RunGuard, check_memory, deadline_passed, end_run, limit_hit,
    memory_exceeded, memory_message, push_log, take_limit,
};
use crate::error::{LimitKind, NotCallable, ScriptError, from_eval_error, from_parse_error};
use crate::limits::{InvalidLimits, Limits};
use crate::modules::{PublishedFunction, ScriptLibrary, SharedLibrary};
use crate::value::{result_json, to_output};

/// Stack of each worker thread. Rhai evaluates recursively; the depth limits keep the stack
/// use bounded, this leaves ample room (it is reserved address space, touched only as used).
const WORKER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// The deadline is checked every this many operations (must be a power of two).
const DEADLINE_CHECK_EVERY: u64 = 64;

const REPLY_SPIN: Duration = Duration::from_micros(50);
const IDLE_WATCH: Duration = Duration::from_micros(50);

/// The circle a sandbox runs scripts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircleInfo {
    /// The circle's id (`CIRCLE_ID`).
    pub id: String,
    /// The circle's public key, lower-case compressed hex (`CIRCLE_PUBLIC_KEY`).
    pub public_key: String,
}

/// Who asked for a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The caller's public key (lower-case compressed hex); empty for an anonymous caller.
    pub public_key: String,
    /// Whether the caller is one of the circle's members (`CALLER_IS_MEMBER`).
    pub is_member: bool,
    /// When the caller is another circle's script: the callers before it, oldest first,
    /// as it asserts them (`CALL_CHAIN` is these and then `public_key`). Empty otherwise.
    #[serde(default)]
    pub chain: Vec<String>,
    /// When the caller is another circle's script: how long it can still wait for the
    /// answer. The run's deadline is then the nearer of this and `max_time_ms`.
    #[serde(skip)]
    pub time_left: Option<Duration>,
}

impl Caller {
    /// An authenticated caller who is not a member.
    pub fn new(public_key: impl Into<String>) -> Self {
        Self {
            public_key: public_key.into(),
            ..Self::default()
        }
    }

    /// The same caller, member of the circle or not.
    #[must_use]
    pub fn member(self, is_member: bool) -> Self {
        Self { is_member, ..self }
    }

    /// An anonymous caller (`CALLER_PUBLIC_KEY == ""`).
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The same caller, reached through `chain` and able to wait `time_left` (see
    /// [`Caller::chain`], [`Caller::time_left`]).
    #[must_use]
    pub fn via(self, chain: Vec<String>, time_left: Option<Duration>) -> Self {
        Self {
            chain,
            time_left,
            ..self
        }
    }
}

/// The result of a successful run — exactly the `play` result on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The final value as text (`""` for unit; a string value without quotes).
    pub output: String,
    /// The final value as JSON (unit → null).
    pub value: serde_json::Value,
    /// The lines the script printed (`print` and `debug`), in order.
    pub logs: Vec<String>,
}

/// Counters of the compiled-script cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Runs whose script was found compiled in the cache.
    pub hits: u64,
    /// Runs whose script had to be compiled (successfully or not).
    pub misses: u64,
    /// Compiled scripts currently held.
    pub entries: usize,
    /// What the held scripts weigh against `cache_bytes`: each one's text plus its compiled
    /// form, at least `cache_bytes / cache_entries` (see [`Limits`]).
    pub bytes: u64,
}

/// How the memory budget of runs (`max_memory_bytes`) is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Whether the budget is enforced: only when the process's global allocator is
    /// [`CountingAllocator`](crate::alloc::CountingAllocator) (see [`crate::alloc`]).
    pub enforced: bool,
    /// The most memory one run has held at once so far, net of what it freed (0 when not
    /// enforced). Can pass `max_memory_bytes` by what one operation allocates: the budget is
    /// checked between operations.
    pub largest_run_bytes: u64,
    /// Runs stopped with limit `memory`.
    pub runs_stopped: u64,
}

/// Why a sandbox could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The limits are unusable.
    #[error(transparent)]
    InvalidLimits(#[from] InvalidLimits),
    /// A worker thread could not be started.
    #[error("cannot start a sandbox worker thread: {0}")]
    Spawn(#[from] std::io::Error),
}

type EngineHook = Box<dyn FnOnce(&mut Engine)>;

/// Builds a [`Sandbox`] with extra host functions or a module resolver.
///
/// ```no_run
/// # use circles_sandbox::{Sandbox, CircleInfo, Limits, RunContext};
/// let sandbox = Sandbox::builder(
///     CircleInfo { id: "c1".into(), public_key: "02ab…".into() },
///     Limits::default(),
/// )
/// .configure(|engine| {
///     engine.register_fn("whoami", || {
///         RunContext::with_current(|ctx| ctx.caller_public_key().to_owned()).unwrap_or_default()
///     });
/// })
/// .build()?;
/// # Ok::<(), circles_sandbox::SandboxError>(())
/// ```
pub struct SandboxBuilder {
    circle: CircleInfo,
    limits: Limits,
    hooks: Vec<EngineHook>,
    resolver: Option<EngineHook>,
    library: Option<Arc<ScriptLibrary>>,
}

impl SandboxBuilder {
    /// Lets `hook` register host functions/types on the circle's engine. Hooks run in order,
    /// before the sandbox applies its limits and restrictions (which therefore always win:
    /// limits, `eval` disabled, `print`/`debug` captured, progress/deadline callback).
    /// Host functions read the caller with [`RunContext::with_current`].
    pub fn configure(mut self, hook: impl FnOnce(&mut Engine) + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Allows `import` through `resolver` (at most `max_modules` per run). Without one, every
    /// `import` is refused with limit `modules`. The resolver is responsible for confining
    /// imports (e.g. to the circle's script folder).
    pub fn module_resolver(mut self, resolver: impl ModuleResolver + 'static) -> Self {
        self.resolver = Some(Box::new(move |engine: &mut Engine| {
            engine.set_module_resolver(resolver);
        }));
        self
    }

    /// Serves `import` from `library`, and publishes its functions: [`Sandbox::call`] runs
    /// them, [`Sandbox::published_functions`] lists them.
    pub fn script_library(self, library: ScriptLibrary) -> Self {
        let library = Arc::new(library);
        let mut builder = self.module_resolver(SharedLibrary(Arc::clone(&library)));
        builder.library = Some(library);
        builder
    }

    /// Validates the limits, builds the engine and starts the workers.
    pub fn build(self) -> Result<Sandbox, SandboxError> {
        self.limits.validate()?;
        let has_resolver = self.resolver.is_some();
        let mut engine = Engine::new();
        register_identity_fns(&mut engine);
        for hook in self.hooks {
            hook(&mut engine);
        }
        match self.resolver {
            Some(install) => install(&mut engine),
            None => {
                engine.set_module_resolver(DummyModuleResolver::new());
            }
        }
        apply_restrictions(&mut engine, &self.limits, has_resolver);

        let shared = Arc::new(Shared {
            engine,
            library: self.library,
            cache: script_cache(&self.limits)?,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            circle_id: self.circle.id.as_str().into(),
            circle_public_key: self.circle.public_key.as_str().into(),
            max_time: Duration::from_millis(self.limits.max_time_ms),
            max_log_bytes: self.limits.max_log_bytes,
            max_memory_bytes: self.limits.max_memory_bytes,
            largest_run_bytes: AtomicU64::new(0),
            memory_stops: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peer_budget: PeerBudget {
                made: 0,
                max_calls: self.limits.max_peer_calls,
                max_hops: self.limits.max_hops,
            },
        });

        let (tx, rx) = crossbeam_channel::bounded::<Job>(self.limits.queue);
        let (exits, running) = watch::channel(());
        for i in 0..self.limits.workers {
            let shared = Arc::clone(&shared);
            let rx = rx.clone();
            let running = running.clone();
            std::thread::Builder::new()
                .name(format!("sandbox-{}-{i}", self.circle.id))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || {
                    worker_loop(&shared, &rx);
                    // Let go of the engine before announcing the exit.
                    drop(shared);
                    drop(running);
                })?;
        }
        tracing::debug!(circle = %self.circle.id, workers = self.limits.workers, "sandbox started");
        Ok(Sandbox {
            tx,
            shared,
            circle: self.circle,
            limits: self.limits,
            workers: SandboxWorkers {
                exits: Arc::new(exits),
            },
        })
    }
}

/// Runs untrusted Rhai scripts for one circle.
///
/// One [`Engine`] per circle, built once and shared by a fixed pool of worker threads; runs
/// wait in a bounded queue. Scripts never run on the async runtime's threads. Dropping the
/// sandbox closes the queue: workers finish the runs already queued (skipping those whose
/// caller has gone away) and exit; a run in progress ends within `max_time_ms`.
/// [`Sandbox::workers`] tells when they have.
pub struct Sandbox {
    tx: Sender<Job>,
    shared: Arc<Shared>,
    circle: CircleInfo,
    limits: Limits,
    workers: SandboxWorkers,
}

/// A sandbox's worker threads, to wait for once the sandbox is dropped (see [`Sandbox`]):
/// the last of them to exit frees the engine, and with it whatever its host functions hold
/// (a circle's store, say). Cheap to clone; take it with [`Sandbox::workers`] before handing
/// the sandbox over (to a server that drops it when it stops).
#[derive(Debug, Clone)]
pub struct SandboxWorkers {
    /// Each worker holds a receiver of this channel until it has exited and let go of the
    /// engine, so the channel closes when the last worker is done.
    exits: Arc<watch::Sender<()>>,
}

impl SandboxWorkers {
    /// Resolves when every worker thread has exited and let go of the engine: never while
    /// the sandbox is alive. For a deadline, wrap it in a timeout.
    pub async fn exited(&self) {
        self.exits.closed().await;
    }
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("circle", &self.circle)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A sandbox with no extra host functions and imports refused.
    pub fn new(circle: CircleInfo, limits: Limits) -> Result<Self, SandboxError> {
        Self::builder(circle, limits).build()
    }

    /// A builder, to add host functions ([`SandboxBuilder::configure`]) or a module resolver.
    pub fn builder(circle: CircleInfo, limits: Limits) -> SandboxBuilder {
        SandboxBuilder {
            circle,
            limits,
            hooks: Vec::new(),
            resolver: None,
            library: None,
        }
    }

    /// Runs `script` for `caller` on a worker thread; the returned future resolves to its
    /// outcome.
    ///
    /// The run is queued when `run` is called (not when the future is first polled), so the
    /// future borrows nothing and can be spawned. Fails at once with [`ScriptError::TooLarge`]
    /// if the script is over `max_script_bytes`, or with limit `busy` if the queue is full.
    /// Dropping the future abandons the run if no worker has started it yet.
    pub fn run(
        &self,
        script: String,
        caller: Caller,
    ) -> impl Future<Output = Result<Outcome, ScriptError>> + Send + 'static {
        if script.len() > self.limits.max_script_bytes {
            let too_large = ScriptError::TooLarge {
                limit: self.limits.max_script_bytes,
                actual: script.len(),
            };
            return self.dispatch(Err(too_large), caller);
        }
        self.dispatch(Ok(Work::Script(script)), caller)
    }

    /// Runs `function` of `module` of the script library with `args` (JSON values, handed
    /// to the function as data: never parsed as code) for `caller`, like [`Sandbox::run`]
    /// runs a script: under the same limits, in the circle's context. The result has the
    /// shape of a script's. Fails with [`ScriptError::NotCallable`] when the library does
    /// not publish such a function with that many parameters (`private` functions are not
    /// published), and with the module's compile error if it does not compile.
    pub fn call(
        &self,
        module: String,
        function: String,
        args: Vec<serde_json::Value>,
        caller: Caller,
    ) -> impl Future<Output = Result<Outcome, ScriptError>> + Send + 'static {
        let work = check_call_names(&module, &function).map(|()| Work::Call {
            module,
            function,
            args,
        });
        self.dispatch(work, caller)
    }

    /// The functions the script library publishes, by module (a module that does not
    /// compile is left out, with a warning in the log). Compiles modules not yet compiled:
    /// call it off the async runtime.
    pub fn published_functions(&self) -> Result<Vec<PublishedFunction>, ScriptError> {
        let Some(library) = &self.shared.library else {
            return Ok(Vec::new());
        };
        let modules = library.modules().map_err(|error| ScriptError::Panicked {
            message: format!("cannot read the script library: {error}"),
        })?;
        let mut functions = Vec::new();
        for module in modules {
            match library.published(&self.shared.engine, &module) {
                Ok(published) => functions.extend(published),
                Err(error) => {
                    tracing::warn!(%module, %error, "a module of the script library does not compile");
                }
            }
        }
        Ok(functions)
    }

    /// Queues `work` (or answers its error at once) and waits for its reply.
    fn dispatch(
        &self,
        work: Result<Work, ScriptError>,
        caller: Caller,
    ) -> impl Future<Output = Result<Outcome, ScriptError>> + Send + 'static {
        // Watching for the reply only pays when this run starts at once (a worker is
        // free); behind other runs it would take CPU time from them.
        let spin = if self.shared.in_flight.load(Ordering::Relaxed) < self.limits.workers {
            REPLY_SPIN
        } else {
            Duration::ZERO
        };
        let submitted = work
            .and_then(|work| self.check_hops(&caller).map(|()| work))
            .and_then(|work| self.submit(work, caller));
        async move {
            let mut reply = submitted?;
            let spin_until = Instant::now() + spin;
            loop {
                match reply.try_recv() {
                    Ok(result) => return result,
                    Err(oneshot::error::TryRecvError::Empty) if Instant::now() < spin_until => {
                        tokio::task::yield_now().await
                    }
                    Err(oneshot::error::TryRecvError::Empty) => break,
                    Err(oneshot::error::TryRecvError::Closed) => break,
                }
            }
            match reply.await {
                Ok(result) => result,
                Err(_) => Err(ScriptError::Panicked {
                    message: "the sandbox worker stopped before answering".to_owned(),
                }),
            }
        }
    }

    /// Refuses a request that came through more circles than `max_hops`.
    fn check_hops(&self, caller: &Caller) -> Result<(), ScriptError> {
        if caller.chain.len() > self.limits.max_hops {
            return Err(ScriptError::limit_exceeded(
                LimitKind::Hops,
                format!(
                    "too many hops: this request has come through {} circles, this circle \
                     accepts at most {}",
                    caller.chain.len(),
                    self.limits.max_hops
                ),
            ));
        }
        Ok(())
    }

    fn submit(&self, work: Work, caller: Caller) -> Result<oneshot::Receiver<Reply>, ScriptError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            not_after: caller.time_left.map(|left| Instant::now() + left),
            work,
            caller,
            reply,
        };
        match self.tx.try_send(job) {
            Ok(()) => {
                self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
                Ok(rx)
            }
            Err(TrySendError::Full(_)) => Err(ScriptError::limit_exceeded(
                LimitKind::Busy,
                format!(
                    "circle is busy: {} runs are already waiting",
                    self.limits.queue
                ),
            )),
            Err(TrySendError::Disconnected(_)) => Err(ScriptError::Panicked {
                message: "the sandbox has shut down".to_owned(),
            }),
        }
    }

    /// The circle this sandbox runs scripts for.
    pub fn circle(&self) -> &CircleInfo {
        &self.circle
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The worker threads, to wait for after dropping the sandbox.
    pub fn workers(&self) -> SandboxWorkers {
        self.workers.clone()
    }

    /// Counters of the compiled-script cache.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.shared.hits.load(Ordering::Relaxed),
            misses: self.shared.misses.load(Ordering::Relaxed),
            entries: self.shared.cache.len(),
            bytes: self.shared.cache.weight(),
        }
    }

    /// How the memory budget of runs is doing, and whether it is enforced at all.
    pub fn memory_stats(&self) -> MemoryStats {
        MemoryStats {
            enforced: alloc::accounting_active(),
            largest_run_bytes: self.shared.largest_run_bytes.load(Ordering::Relaxed),
            runs_stopped: self.shared.memory_stops.load(Ordering::Relaxed),
        }
    }
}

type Reply = Result<Outcome, ScriptError>;

struct Job {
    work: Work,
    caller: Caller,
    /// The caller's own deadline, when it gave one: the run ends by then, and does not
    /// start once it has passed (its caller has given up on the answer).
    not_after: Option<Instant>,
    reply: oneshot::Sender<Reply>,
}

/// What a run does.
enum Work {
    /// Runs a script's text.
    Script(String),
    /// Calls a published function of the script library.
    Call {
        module: String,
        function: String,
        args: Vec<serde_json::Value>,
    },
}

/// A compiled script in the cache, with what it weighs.
#[derive(Clone)]
struct CachedScript {
    ast: Arc<AST>,
    /// Bytes allocated to compile it (measured when allocations are counted, else estimated).
    compiled_bytes: u64,
}

/// Weighs a cached script by its text and compiled form, and at least `min_bytes`
/// (`cache_bytes / cache_entries`), so that the weight bound also bounds the entries.
#[derive(Clone)]
struct ScriptWeigher {
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
fn script_cache(limits: &Limits) -> Result<ScriptCache, InvalidLimits> {
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

type ScriptCache = Cache<String, CachedScript, ScriptWeigher>;

/// What the workers share: the engine, the cache and the circle's identity.
struct Shared {
    engine: Engine,
    /// The script library, when the circle has one.
    library: Option<Arc<ScriptLibrary>>,
    cache: ScriptCache,
    hits: AtomicU64,
    misses: AtomicU64,
    circle_id: ImmutableString,
    circle_public_key: ImmutableString,
    max_time: Duration,
    max_log_bytes: usize,
    max_memory_bytes: u64,
    /// The most any run has held at once (see [`MemoryStats`]).
    largest_run_bytes: AtomicU64,
    /// Runs stopped by the memory limit.
    memory_stops: AtomicU64,
    /// Runs queued or running: a hint for whether waiting callers should spin.
    in_flight: AtomicUsize,
    /// What each run starts with for peer calls.
    peer_budget: PeerBudget,
}

/// `caller_public_key()`, `caller_is_member()`, `call_chain()`, `circle_id()`,
/// `circle_public_key()`: read
/// from the run's context, not from the scope.
fn register_identity_fns(engine: &mut Engine) {
    fn read(f: fn(&RunContext) -> ImmutableString) -> ImmutableString {
        RunContext::with_current(f).unwrap_or_default()
    }
    engine.register_fn("caller_public_key", || {
        read(|c| c.caller_public_key.clone())
    });
    engine.register_fn("caller_is_member", || {
        RunContext::with_current(|c| c.caller_is_member).unwrap_or(false)
    });
    engine.register_fn("call_chain", call_chain_array);
    engine.register_fn("circle_id", || read(|c| c.circle_id.clone()));
    engine.register_fn("circle_public_key", || {
        read(|c| c.circle_public_key.clone())
    });
}

/// The run's `CALL_CHAIN` as a Rhai array of strings.
fn call_chain_array() -> rhai::Array {
    RunContext::with_current(|c| c.call_chain.iter().cloned().map(Dynamic::from).collect())
        .unwrap_or_default()
}

fn apply_restrictions(engine: &mut Engine, limits: &Limits, has_resolver: bool) {
    engine
        // `max_operations` is enforced by the progress callback below: rhai's own check
        // returns an error, which printing functions answer by formatting without bound.
        .set_max_operations(0)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(if has_resolver { limits.max_modules } else { 0 });
    engine.disable_symbol("eval");
    engine.on_print(push_log);
    engine.on_debug(|text, _source, _pos| push_log(text));
    let max_operations = limits.max_operations;
    let max_memory_bytes = limits.max_memory_bytes;
    // Every limit ends the run by unwinding (`end_run`), never with an error rhai could
    // react to; and once one is recorded (by a host function's `RunContext::exceed`, say),
    // the next operation ends the run whatever the script or a native function made of the
    // error.
    engine.on_progress(move |ops| {
        if ops > max_operations {
            end_run(LimitKind::Operations, "too many operations".to_owned());
        }
        if ops & (DEADLINE_CHECK_EVERY - 1) == 0 && deadline_passed() {
            end_run(LimitKind::Time, "time limit exceeded".to_owned());
        }
        // Every operation: one operation can allocate a lot (a string or array at its size
        // limit), so the budget is checked as often as it can be.
        if memory_exceeded() {
            end_run(LimitKind::Memory, memory_message(max_memory_bytes));
        }
        if limit_hit() {
            std::panic::resume_unwind(Box::new(RunEnded));
        }
        None
    });
    builtins::register(engine, limits);
    // Built-ins that block the worker beyond the run's time limit.
    engine.register_fn(
        "sleep",
        |_: rhai::INT| -> Result<(), Box<rhai::EvalAltResult>> {
            Err("sleep is not available in a circle's sandbox".into())
        },
    );
    engine.register_fn(
        "sleep",
        |_: rhai::FLOAT| -> Result<(), Box<rhai::EvalAltResult>> {
            Err("sleep is not available in a circle's sandbox".into())
        },
    );
}

fn worker_loop(shared: &Shared, rx: &Receiver<Job>) {
    while let Some(job) = next_job(rx) {
        if !job.reply.is_closed() {
            // (else the caller went away before the run started)
            let result = run_job(shared, job.work, &job.caller, job.not_after);
            let _ = job.reply.send(result);
        }
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
    tracing::debug!("sandbox worker stopped");
}

/// The next job. A worker that just finished one watches the queue for a few
/// microseconds before it sleeps: a caller's next script then starts at once
/// instead of waiting for the thread to be woken (the costly part of a short run).
fn next_job(rx: &Receiver<Job>) -> Option<Job> {
    let watch_until = Instant::now() + IDLE_WATCH;
    loop {
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) if Instant::now() < watch_until => {
                std::thread::yield_now();
            }
            Err(crossbeam_channel::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

fn run_job(shared: &Shared, work: Work, caller: &Caller, not_after: Option<Instant>) -> Reply {
    let now = Instant::now();
    let deadline = match not_after {
        Some(not_after) if not_after <= now => {
            return Err(ScriptError::limit_exceeded(
                LimitKind::Time,
                "time limit exceeded: the calling circle's time ran out before the run started",
            ));
        }
        Some(not_after) => not_after.min(now + shared.max_time),
        None => now + shared.max_time,
    };
    let caller_key = ImmutableString::from(caller.public_key.as_str());
    let call_chain = caller
        .chain
        .iter()
        .map(|key| ImmutableString::from(key.as_str()))
        .chain(std::iter::once(caller_key.clone()))
        .collect();
    let ctx = RunContext {
        circle_id: shared.circle_id.clone(),
        circle_public_key: shared.circle_public_key.clone(),
        caller_public_key: caller_key.clone(),
        caller_is_member: caller.is_member,
        call_chain,
    };
    let guard = RunGuard::enter(
        ctx,
        deadline,
        shared.max_log_bytes,
        shared.max_memory_bytes,
        shared.peer_budget,
    );
    let result = catch_unwind(AssertUnwindSafe(|| execute(shared, work, caller, &guard))).or_else(
        |payload| match take_limit() {
            // A limit ended the run (`end_run`); or something panicked after one was hit,
            // which the limit explains.
            Some((limit, message)) => Ok(Err(ScriptError::LimitExceeded { limit, message })),
            None if payload.is::<RunEnded>() => Ok(Err(ScriptError::Panicked {
                message: "the run was ended without a reason".to_owned(),
            })),
            None => Err(payload),
        },
    );
    let peak = guard.peak_memory();
    shared.largest_run_bytes.fetch_max(peak, Ordering::Relaxed);
    if let Ok(Err(ScriptError::LimitExceeded {
        limit: LimitKind::Memory,
        ..
    })) = &result
    {
        shared.memory_stops.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peak_bytes = peak, "a run was stopped by its memory limit");
    }
    match result {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic without a message".to_owned());
            tracing::warn!(%message, "panic while running a script");
            Err(ScriptError::Panicked { message })
        }
    }
}

fn execute(shared: &Shared, work: Work, caller: &Caller, guard: &RunGuard) -> Reply {
    let mut scope = Scope::new();
    scope.push_constant("CIRCLE_ID", shared.circle_id.clone());
    scope.push_constant("CIRCLE_PUBLIC_KEY", shared.circle_public_key.clone());
    scope.push_constant(
        "CALLER_PUBLIC_KEY",
        ImmutableString::from(caller.public_key.as_str()),
    );
    scope.push_constant("CALLER_IS_MEMBER", caller.is_member);
    scope.push_constant("CALL_CHAIN", call_chain_array());
    let script = match work {
        Work::Script(script) => script,
        Work::Call {
            module,
            function,
            args,
        } => call_script(shared, &module, &function, args, &mut scope)?,
    };
    let ast = compiled(shared, script)?;
    let outcome = shared
        .engine
        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast);
    // The last operation's allocations have not been checked yet.
    check_memory(shared.max_memory_bytes);
    // A limit hit during the run decides its outcome, whatever the script made of it.
    if let Some((limit, message)) = take_limit() {
        return Err(match outcome.map_err(|e| from_eval_error(*e)) {
            Err(
                error @ ScriptError::LimitExceeded {
                    limit: reported, ..
                },
            ) if reported == limit => error,
            _ => ScriptError::LimitExceeded { limit, message },
        });
    }
    let value = outcome.map_err(|e| from_eval_error(*e))?;
    let json = result_json(&value, &shared.engine)?;
    let output = to_output(&value);
    // The result is memory the run keeps alive after it ends: it counts too.
    if check_memory(shared.max_memory_bytes) {
        let (limit, message) =
            take_limit().unwrap_or((LimitKind::Memory, "memory limit exceeded".to_owned()));
        return Err(ScriptError::LimitExceeded { limit, message });
    }
    Ok(Outcome {
        output,
        value: json,
        logs: guard.take_logs(),
    })
}

/// Module and function names a `call` may use: what `import` accepts, and a plain identifier.
fn check_call_names(module: &str, function: &str) -> Result<(), ScriptError> {
    let bad = |why: String| ScriptError::NotCallable {
        module: module.to_owned(),
        function: function.to_owned(),
        reason: NotCallable::BadName(why),
    };
    crate::modules::check_name(module).map_err(bad)?;
    // The module name goes into a string literal of the generated script: keep it plain.
    if module.contains(['"', '`', '\'']) || module.chars().any(char::is_control) {
        return Err(bad(
            "quotes and control characters are not allowed in a module name".into(),
        ));
    }
    let mut chars = function.chars();
    let identifier = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return Err(bad("a function name is letters, digits and `_`".into()));
    }
    Ok(())
}

/// The script that calls `module::function` with `args` (put in `scope` as `ARGS`, never
/// into the text), after checking the library publishes it with that many parameters.
fn call_script(
    shared: &Shared,
    module: &str,
    function: &str,
    args: Vec<serde_json::Value>,
    scope: &mut Scope,
) -> Result<String, ScriptError> {
    let not_callable = |reason| ScriptError::NotCallable {
        module: module.to_owned(),
        function: function.to_owned(),
        reason,
    };
    let library = shared
        .library
        .as_ref()
        .ok_or_else(|| not_callable(NotCallable::NoModule))?;
    let published = library
        .published(&shared.engine, module)
        .map_err(|error| match *error {
            rhai::EvalAltResult::ErrorModuleNotFound(..) => not_callable(NotCallable::NoModule),
            other => from_eval_error(other),
        })?;
    let arities: Vec<usize> = published
        .iter()
        .filter(|f| f.name == function)
        .map(|f| f.params.len())
        .collect();
    if arities.is_empty() {
        return Err(not_callable(NotCallable::NoFunction));
    }
    if !arities.contains(&args.len()) {
        return Err(not_callable(NotCallable::Arity {
            expected: arities,
            given: args.len(),
        }));
    }
    let params: Vec<String> = (0..args.len()).map(|i| format!("ARGS[{i}]")).collect();
    let args: rhai::Array = args.iter().map(crate::json::from_json).collect();
    scope.push_constant("ARGS", args);
    Ok(format!(
        "import \"{module}\" as published; published::{function}({})",
        params.join(", ")
    ))
}

/// The compiled form of `script`, from the cache or freshly compiled (and then cached).
fn compiled(shared: &Shared, script: String) -> Result<Arc<AST>, ScriptError> {
    if let Some(cached) = shared.cache.get(script.as_str()) {
        shared.hits.fetch_add(1, Ordering::Relaxed);
        return Ok(cached.ast);
    }
    shared.misses.fetch_add(1, Ordering::Relaxed);
    let before = alloc::thread_net_allocated();
    let ast = Arc::new(
        shared
            .engine
            .compile(&script)
            .map_err(|e| from_parse_error(&e))?,
    );
    let compiled_bytes = if alloc::accounting_active() {
        u64::try_from(alloc::thread_net_allocated().saturating_sub(before)).unwrap_or(0)
    } else {
        (script.len() as u64).saturating_mul(AST_BYTES_PER_SCRIPT_BYTE)
    };
    shared.cache.insert(
        script,
        CachedScript {
            ast: Arc::clone(&ast),
            compiled_bytes,
        },
    );
    Ok(ast)
}
