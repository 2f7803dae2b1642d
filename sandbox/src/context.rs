//! The per-run context: who runs the script on which circle, its deadline and its logs.
//!
//! A worker thread runs one script at a time, so the context lives in thread-locals that the
//! worker sets for the duration of a run ([`RunGuard`]) and clears afterwards, even when the
//! run panics. Host functions (registered with [`SandboxBuilder::configure`]) read it with
//! [`RunContext::current`] / [`RunContext::with_current`]; scripts cannot change it.
//!
//! [`SandboxBuilder::configure`]: crate::SandboxBuilder::configure

use std::cell::{Cell, RefCell};
use std::time::Instant;

use rhai::{Dynamic, EvalAltResult, ImmutableString, Position};

use crate::error::LimitKind;

/// The identity a script runs under. Read by host functions; never taken from the script's
/// scope, so a script that shadows `CALLER_PUBLIC_KEY` cannot fake its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub(crate) circle_id: ImmutableString,
    pub(crate) circle_public_key: ImmutableString,
    pub(crate) caller_public_key: ImmutableString,
}

impl RunContext {
    /// The circle's id.
    pub fn circle_id(&self) -> &str {
        &self.circle_id
    }

    /// The circle's public key (lower-case compressed hex).
    pub fn circle_public_key(&self) -> &str {
        &self.circle_public_key
    }

    /// The caller's public key; empty for an anonymous caller.
    pub fn caller_public_key(&self) -> &str {
        &self.caller_public_key
    }

    /// True when the caller is anonymous (empty public key).
    pub fn is_anonymous(&self) -> bool {
        self.caller_public_key.is_empty()
    }

    /// Calls `f` with the context of the script running on this thread; `None` when no script
    /// is running here (e.g. a host function called outside a sandbox run).
    pub fn with_current<R>(f: impl FnOnce(&RunContext) -> R) -> Option<R> {
        CONTEXT.with(|c| c.borrow().as_ref().map(f))
    }

    /// A copy of the context of the script running on this thread (cheap: shared strings).
    pub fn current() -> Option<RunContext> {
        Self::with_current(Clone::clone)
    }

    /// The deadline of the run on this thread (`max_time_ms` after it started); `None` when no
    /// script is running here. The sandbox checks it between operations only, so a host
    /// function that may work for long (e.g. a store listing) checks it itself and ends the
    /// run with [`LimitKind::Time`] through [`RunContext::exceed`] once it has passed.
    pub fn deadline() -> Option<Instant> {
        DEADLINE.with(Cell::get)
    }

    /// Ends the current run with a limit error: for host functions that enforce a limit of
    /// their own (e.g. a store quota). The returned error stops the script, and the run is
    /// reported as [`ScriptError::LimitExceeded`](crate::ScriptError::LimitExceeded) with
    /// `limit` and `message` even if the script catches the error: a limit, once hit, cannot
    /// be swallowed (the run is stopped at its next operation).
    pub fn exceed(
        limit: LimitKind,
        message: impl Into<String>,
        at: Position,
    ) -> Box<EvalAltResult> {
        let message = message.into();
        record_limit(limit, message.clone());
        Box::new(EvalAltResult::ErrorTerminated(Dynamic::from(message), at))
    }
}

struct Logs {
    lines: Vec<String>,
    bytes: usize,
    max_bytes: usize,
    truncated: bool,
}

/// The line appended once when `max_log_bytes` is reached.
pub(crate) const TRUNCATED_LINE: &str = "[logs truncated]";

thread_local! {
    static CONTEXT: RefCell<Option<RunContext>> = const { RefCell::new(None) };
    /// The first limit the current run hit; sticky until the run ends.
    static LIMIT: RefCell<Option<(LimitKind, String)>> = const { RefCell::new(None) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static LOGS: RefCell<Logs> = const {
        RefCell::new(Logs { lines: Vec::new(), bytes: 0, max_bytes: 0, truncated: false })
    };
}

/// Appends a printed line to the current run's logs (no-op outside a run).
pub(crate) fn push_log(line: &str) {
    LOGS.with(|logs| {
        let Ok(mut logs) = logs.try_borrow_mut() else {
            return;
        };
        if logs.truncated || logs.max_bytes == 0 {
            return;
        }
        let cost = line.len().saturating_add(1);
        if logs.bytes.saturating_add(cost) > logs.max_bytes {
            logs.truncated = true;
            logs.lines.push(TRUNCATED_LINE.to_owned());
            return;
        }
        logs.bytes += cost;
        logs.lines.push(line.to_owned());
    });
}

/// Records that the current run hit `limit` (the first one recorded wins).
pub(crate) fn record_limit(limit: LimitKind, message: String) {
    LIMIT.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.get_or_insert((limit, message));
        }
    });
}

/// True once the current run has hit a limit.
#[inline]
pub(crate) fn limit_hit() -> bool {
    LIMIT.with(|l| l.try_borrow().is_ok_and(|l| l.is_some()))
}

/// The limit the current run hit, if any.
pub(crate) fn take_limit() -> Option<(LimitKind, String)> {
    LIMIT.with(|l| l.try_borrow_mut().ok().and_then(|mut l| l.take()))
}

/// True when the current run's deadline has passed.
#[inline]
pub(crate) fn deadline_passed() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline))
}

/// Installs a run's context on this thread; dropping it clears everything again.
pub(crate) struct RunGuard(());

impl RunGuard {
    pub(crate) fn enter(ctx: RunContext, deadline: Instant, max_log_bytes: usize) -> Self {
        CONTEXT.with(|c| *c.borrow_mut() = Some(ctx));
        LIMIT.with(|l| *l.borrow_mut() = None);
        DEADLINE.with(|d| d.set(Some(deadline)));
        LOGS.with(|l| {
            let mut l = l.borrow_mut();
            l.lines.clear();
            l.bytes = 0;
            l.max_bytes = max_log_bytes;
            l.truncated = false;
        });
        Self(())
    }

    /// Takes the lines logged so far.
    pub(crate) fn take_logs(&self) -> Vec<String> {
        LOGS.with(|l| std::mem::take(&mut l.borrow_mut().lines))
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        CONTEXT.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = None;
            }
        });
        DEADLINE.with(|d| d.set(None));
        LIMIT.with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                *l = None;
            }
        });
        LOGS.with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.lines = Vec::new();
                l.bytes = 0;
                l.max_bytes = 0;
                l.truncated = false;
            }
        });
    }
}
