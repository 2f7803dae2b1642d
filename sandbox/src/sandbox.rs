//! The sandbox: one engine per circle, a bounded pool of worker threads, a compiled-script cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use rhai::module_resolvers::DummyModuleResolver;
use rhai::{Engine, ModuleResolver};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use crate::alloc;
use crate::cache::script_cache;
use crate::context::{InlineBudget, PeerBudget};
use crate::engine::{apply_restrictions, register_identity_fns};
use crate::error::{LimitKind, ScriptError};
use crate::limits::{InvalidLimits, Limits};
use crate::modules::{PublishedFunction, ScriptLibrary, SharedLibrary};
use crate::pool::{Job, worker_loop};
use crate::run::{Attempt, Reply, Shared, Work, check_call_names, run_job};

/// Stack of each worker thread, and of inline attempts. Rhai evaluates recursively; the
/// depth limits keep the stack use bounded, this leaves ample room (it is reserved address
/// space, touched only as used).
pub const RUN_STACK_BYTES: usize = 64 * 1024 * 1024;

/// An inline attempt runs on the caller's thread if at least this much of its stack is left
/// (a thread made with [`RUN_STACK_BYTES`], say), else on a stack of its own.
const INLINE_STACK_RED_ZONE: usize = RUN_STACK_BYTES / 2;

/// How long an inline attempt may run before it is abandoned for a worker.
const INLINE_TIME: Duration = Duration::from_micros(250);

/// Scripts longer than this are not tried inline (compiling them alone could take longer
/// than [`INLINE_TIME`]).
const INLINE_MAX_SCRIPT_BYTES: usize = 4096;

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

/// Where runs ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    /// Runs that ended in an inline attempt, on the thread that asked for them.
    pub inline: u64,
    /// Inline attempts abandoned for a worker (over their budget, or blocking).
    pub abandoned: u64,
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
            inline_ended: AtomicU64::new(0),
            inline_abandoned: AtomicU64::new(0),
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
                .stack_size(RUN_STACK_BYTES)
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
/// One [`Engine`] per circle, built once. A run that may be short (a published function, a
/// script of at most 4 KiB) is first tried inline, on the thread that asks for it, within a
/// small budget (`inline_operations`, and 250 µs): most finish there, with no thread
/// hand-off. The others, and those that outgrow the budget or block (a peer call), run on the
/// circle's fixed pool of worker threads (at a lower CPU priority), waiting in a bounded
/// queue. An abandoned attempt leaves nothing behind: its [`crate::RunState`]s (the store's
/// writes) are dropped, and blocking host functions abandon it before they act. Dropping the
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

    /// Runs `work` (or answers its error at once) and waits for its reply: inline when it
    /// is short enough, else on a worker.
    fn dispatch(
        &self,
        work: Result<Work, ScriptError>,
        caller: Caller,
    ) -> impl Future<Output = Result<Outcome, ScriptError>> + Send + 'static {
        let started = work
            .and_then(|work| self.check_hops(&caller).map(|()| work))
            .and_then(|work| self.start(work, caller));
        async move {
            let reply = match started? {
                Started::Ended(reply) => reply,
                Started::Queued(reply) => reply.await.unwrap_or_else(|_| {
                    Err(ScriptError::Panicked {
                        message: "the sandbox worker stopped before answering".to_owned(),
                    })
                }),
            };
            let finished = reply?;
            // The answer waits for the run's effects (its store writes being durable).
            for pending in finished.pending {
                pending.await?;
            }
            Ok(finished.outcome)
        }
    }

    /// Tries `work` inline when it may be short (no thread hand-off: a trivial script costs
    /// about what answering costs), else, or when the attempt outgrows its budget, queues
    /// it for a worker. An abandoned attempt leaves nothing behind (see
    /// [`RunContext::needs_worker`](crate::RunContext::needs_worker)).
    fn start(&self, work: Work, caller: Caller) -> Result<Started, ScriptError> {
        let not_after = caller.time_left.map(|left| Instant::now() + left);
        let short = match &work {
            Work::Script(script) => script.len() <= INLINE_MAX_SCRIPT_BYTES,
            Work::Call { .. } => true,
        };
        if short && self.limits.inline_operations > 0 {
            let budget = InlineBudget {
                max_operations: self.limits.inline_operations,
                until: Instant::now() + INLINE_TIME,
            };
            let attempt = stacker::maybe_grow(INLINE_STACK_RED_ZONE, RUN_STACK_BYTES, || {
                run_job(&self.shared, &work, &caller, not_after, Some(budget))
            });
            match attempt {
                Attempt::Ended(reply) => {
                    self.shared.inline_ended.fetch_add(1, Ordering::Relaxed);
                    return Ok(Started::Ended(reply));
                }
                Attempt::Abandoned => {
                    self.shared.inline_abandoned.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.submit(work, caller, not_after).map(Started::Queued)
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

    fn submit(
        &self,
        work: Work,
        caller: Caller,
        not_after: Option<Instant>,
    ) -> Result<oneshot::Receiver<Reply>, ScriptError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            not_after,
            work,
            caller,
            reply,
        };
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
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

    /// Where runs ran: inline, or on a worker after an abandoned attempt.
    pub fn run_stats(&self) -> RunStats {
        RunStats {
            inline: self.shared.inline_ended.load(Ordering::Relaxed),
            abandoned: self.shared.inline_abandoned.load(Ordering::Relaxed),
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

/// How [`Sandbox::start`] left a run.
enum Started {
    /// It ended inline.
    Ended(Reply),
    /// It waits for a worker.
    Queued(oneshot::Receiver<Reply>),
}
