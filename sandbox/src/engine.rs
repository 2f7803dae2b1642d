//! The circle's engine: identity functions, limits and restrictions.

use rhai::{Dynamic, Engine, ImmutableString};

use crate::builtins;
use crate::context::{
    RunContext, RunEnded, abandon, deadline_passed, end_run, inline_budget_spent, limit_hit,
    memory_exceeded, memory_message, push_log,
};
use crate::error::LimitKind;
use crate::limits::Limits;

/// The deadline is checked every this many operations (must be a power of two).
const DEADLINE_CHECK_EVERY: u64 = 64;

/// `caller_public_key()`, `caller_is_member()`, `call_chain()`, `circle_id()`,
/// `circle_public_key()`: read
/// from the run's context, not from the scope.
pub(crate) fn register_identity_fns(engine: &mut Engine) {
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
pub(crate) fn call_chain_array() -> rhai::Array {
    RunContext::with_current(|c| c.call_chain.iter().cloned().map(Dynamic::from).collect())
        .unwrap_or_default()
}

pub(crate) fn apply_restrictions(engine: &mut Engine, limits: &Limits, has_resolver: bool) {
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
        if inline_budget_spent(ops) {
            abandon();
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
