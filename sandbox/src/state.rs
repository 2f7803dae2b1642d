//! What host functions keep for one run, and the effects that happen only if it succeeds.
//!
//! A host module (the store, say) keeps its part of a run in a [`RunState`]: made on first
//! use in the run ([`RunContext::with_state`](crate::RunContext::with_state)), dropped if
//! the run fails or hits a limit (so it leaves no effects), and [finished](RunState::finish)
//! if it succeeds, after which the run's answer waits for what `finish` returns (its writes
//! being durable, say).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use crate::error::ScriptError;

/// What makes a successful run's effects happen; the run's answer waits for it, and its
/// error fails the run.
pub type Pending = Pin<Box<dyn Future<Output = Result<(), ScriptError>> + Send>>;

/// One host module's state for one run. See the [module documentation](self).
pub trait RunState: Default + Send + 'static {
    /// The run succeeded: make its effects happen (or return `None` if it has none).
    fn finish(self) -> Option<Pending>;
}

/// A [`RunState`] of any type.
trait AnyState: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    fn finish(self: Box<Self>) -> Option<Pending>;
}

impl<S: RunState> AnyState for S {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn finish(self: Box<Self>) -> Option<Pending> {
        RunState::finish(*self)
    }
}

thread_local! {
    /// The states of the run on this thread, by type: few, so a list.
    static STATES: RefCell<Vec<(TypeId, Box<dyn AnyState>)>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with the current run's state of type `S`, made on first use. `None` when it is
/// already in use further up the stack (`f` must not ask for the same state again).
pub(crate) fn with_state<S: RunState, R>(f: impl FnOnce(&mut S) -> R) -> Option<R> {
    STATES.with(|states| {
        let mut states = states.try_borrow_mut().ok()?;
        let id = TypeId::of::<S>();
        let index = match states.iter().position(|(held, _)| *held == id) {
            Some(index) => index,
            None => {
                states.push((id, Box::new(S::default())));
                states.len() - 1
            }
        };
        let state = states[index].1.as_any().downcast_mut::<S>()?;
        Some(f(state))
    })
}

/// The run succeeded: finishes every state it made, in the order they were made.
pub(crate) fn finish_all() -> Vec<Pending> {
    take()
        .into_iter()
        .filter_map(|(_, state)| state.finish())
        .collect()
}

/// Drops the states of the run on this thread (it failed, or is starting).
pub(crate) fn discard_all() {
    drop(take());
}

fn take() -> Vec<(TypeId, Box<dyn AnyState>)> {
    STATES.with(|states| {
        states
            .try_borrow_mut()
            .map(|mut states| std::mem::take(&mut *states))
            .unwrap_or_default()
    })
}
