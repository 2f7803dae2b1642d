//! One run: its context, its scope, its script or published function, its outcome.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, ImmutableString, Scope};

use crate::cache::{ScriptCache, compiled};
use crate::context::{
    InlineBudget, PeerBudget, RunContext, RunEnded, RunGuard, abandoned, check_memory, take_limit,
};
use crate::engine::call_chain_array;
use crate::error::{LimitKind, NotCallable, ScriptError, from_eval_error};
use crate::modules::ScriptLibrary;
use crate::sandbox::{Caller, Outcome};
use crate::state::{Pending, finish_all};
use crate::value::{result_json, to_output};

/// What a run does.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Runs a script's text.
    Script(String),
    /// Calls a published function of the script library.
    Call {
        module: String,
        function: String,
        args: Vec<serde_json::Value>,
    },
}

/// A run that succeeded: its outcome, and what its answer waits for (see [`crate::RunState`]).
pub(crate) struct Finished {
    pub(crate) outcome: Outcome,
    pub(crate) pending: Vec<Pending>,
}

pub(crate) type Reply = Result<Finished, ScriptError>;

/// How a run was tried.
pub(crate) enum Attempt {
    /// It ran to its end (successfully or not).
    Ended(Reply),
    /// An inline attempt outgrew its budget (or needed a worker): nothing of it remains, and
    /// the run must start again on a worker.
    Abandoned,
}

/// What the workers share: the engine, the cache and the circle's identity.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    /// The script library, when the circle has one.
    pub(crate) library: Option<Arc<ScriptLibrary>>,
    pub(crate) cache: ScriptCache,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) circle_id: ImmutableString,
    pub(crate) circle_public_key: ImmutableString,
    pub(crate) max_time: Duration,
    pub(crate) max_log_bytes: usize,
    pub(crate) max_memory_bytes: u64,
    /// The most any run has held at once (see [`MemoryStats`]).
    pub(crate) largest_run_bytes: AtomicU64,
    /// Runs stopped by the memory limit.
    pub(crate) memory_stops: AtomicU64,
    /// Runs that ended inline.
    pub(crate) inline_ended: AtomicU64,
    /// Inline attempts abandoned for a worker.
    pub(crate) inline_abandoned: AtomicU64,
    /// What each run starts with for peer calls.
    pub(crate) peer_budget: PeerBudget,
}

/// Runs `work` for `caller` on this thread: on a worker (`inline` is `None`), or as an inline
/// attempt within `inline`'s budget.
pub(crate) fn run_job(
    shared: &Shared,
    work: &Work,
    caller: &Caller,
    not_after: Option<Instant>,
    inline: Option<InlineBudget>,
) -> Attempt {
    let now = Instant::now();
    let deadline = match not_after {
        Some(not_after) if not_after <= now => {
            return Attempt::Ended(Err(ScriptError::limit_exceeded(
                LimitKind::Time,
                "time limit exceeded: the calling circle's time ran out before the run started",
            )));
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
        inline,
    );
    let result = catch_unwind(AssertUnwindSafe(|| execute(shared, work, caller, &guard)));
    if abandoned() {
        return Attempt::Abandoned;
    }
    let result = result.or_else(|payload| match take_limit() {
        // A limit ended the run (`end_run`); or something panicked after one was hit,
        // which the limit explains.
        Some((limit, message)) => Ok(Err(ScriptError::limit_exceeded(limit, message))),
        None if payload.is::<RunEnded>() => Ok(Err(ScriptError::Panicked {
            message: "the run was ended without a reason".to_owned(),
        })),
        None => Err(payload),
    });
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
    Attempt::Ended(match result {
        // What the run printed before it failed goes with the error.
        Ok(Err(error)) => Err(error.with_logs(guard.take_logs())),
        Ok(ok) => ok,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic without a message".to_owned());
            tracing::warn!(%message, "panic while running a script");
            Err(ScriptError::Panicked { message })
        }
    })
}

fn execute(shared: &Shared, work: &Work, caller: &Caller, guard: &RunGuard) -> Reply {
    let mut scope = Scope::new();
    scope.push_constant("CIRCLE_ID", shared.circle_id.clone());
    scope.push_constant("CIRCLE_PUBLIC_KEY", shared.circle_public_key.clone());
    scope.push_constant(
        "CALLER_PUBLIC_KEY",
        ImmutableString::from(caller.public_key.as_str()),
    );
    scope.push_constant("CALLER_IS_MEMBER", caller.is_member);
    scope.push_constant("CALL_CHAIN", call_chain_array());
    let called;
    let script = match work {
        Work::Script(script) => script.as_str(),
        Work::Call {
            module,
            function,
            args,
        } => {
            called = call_script(shared, module, function, args, &mut scope)?;
            called.as_str()
        }
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
            _ => ScriptError::limit_exceeded(limit, message),
        });
    }
    let value = outcome.map_err(|e| from_eval_error(*e))?;
    let json = result_json(&value, &shared.engine)?;
    let output = to_output(&value);
    // The result is memory the run keeps alive after it ends: it counts too.
    if check_memory(shared.max_memory_bytes) {
        let (limit, message) =
            take_limit().unwrap_or((LimitKind::Memory, "memory limit exceeded".to_owned()));
        return Err(ScriptError::limit_exceeded(limit, message));
    }
    Ok(Finished {
        outcome: Outcome {
            output,
            value: json,
            logs: guard.take_logs(),
        },
        pending: finish_all(),
    })
}

/// Module and function names a `call` may use: what `import` accepts, and a plain identifier.
pub(crate) fn check_call_names(module: &str, function: &str) -> Result<(), ScriptError> {
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
    args: &[serde_json::Value],
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
