//! The per-run context: who runs the script on which circle, its deadline and its logs.
//!
//! A worker thread runs one script at a time, so the context lives in thread-locals that the
//! worker sets for the duration of a run ([`RunGuard`]) and clears afterwards, even when the
//! run panics. Host functions (registered with [`SandboxBuilder::configure`]) read it with
//! [`RunContext::current`] / [`RunContext::with_current`]; scripts cannot change it.
//!
//! [`SandboxBuilder::configure`]: crate::SandboxBuilder::configure

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use rhai::{Dynamic, EvalAltResult, ImmutableString, Position};

use crate::alloc;
use crate::error::LimitKind;

/// The identity a script runs under. Read by host functions; never taken from the script's
/// scope, so a script that shadows `CALLER_PUBLIC_KEY` cannot fake its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub(crate) circle_id: ImmutableString,
    pub(crate) circle_public_key: ImmutableString,
    pub(crate) caller_public_key: ImmutableString,
    pub(crate) caller_is_member: bool,
    /// `CALL_CHAIN`: the callers this run is for, oldest first, the direct caller last.
    pub(crate) call_chain: Vec<ImmutableString>,
}

/// What a host function needs to make a peer call for the current run: see
/// [`RunContext::peer_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCall {
    /// The chain to hand the peer: this run's `CALL_CHAIN` (the peer adds this circle).
    pub chain: Vec<String>,
    /// How long the run can wait for the answer: until its own deadline.
    pub wait: Duration,
    /// The time to give the peer: a little less than `wait`, so that a peer that runs out
    /// of it still answers before this run's deadline.
    pub time_left: Duration,
}

/// Of the time a run has left, the part kept back from a peer (a tenth, plus this) to get
/// the peer's answer back in time.
const PEER_MARGIN: Duration = Duration::from_millis(2);

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

    /// True when the caller is one of the circle's members.
    pub fn caller_is_member(&self) -> bool {
        self.caller_is_member
    }

    /// True when the caller is anonymous (empty public key).
    pub fn is_anonymous(&self) -> bool {
        self.caller_public_key.is_empty()
    }

    /// `CALL_CHAIN`: the callers this run is for, oldest first, ending with the direct
    /// caller (the only one proven by a signature; the others are as the direct caller
    /// asserted them). `[""]` for an anonymous direct call.
    pub fn call_chain(&self) -> &[ImmutableString] {
        &self.call_chain
    }

    /// Accounts for one peer call of the current run, for the host function about to make
    /// it: refused with limit `peer_calls` past `max_peer_calls`, with `hops` when the peer
    /// would be more than `max_hops` circles from the first caller, with `time` when the run
    /// has (almost) no time left. A refusal ends the run like any limit (see
    /// [`RunContext::exceed`]); outside a run there is nothing to call for.
    pub fn peer_call(at: Position) -> Result<PeerCall, Box<EvalAltResult>> {
        // A peer call blocks, and its effects cannot be taken back.
        Self::needs_worker();
        let Some(chain) = Self::with_current(|c| c.call_chain.clone()) else {
            return Err("peer calls are made from a circle's scripts only".into());
        };
        let budget = PEER_BUDGET.with(Cell::get);
        if budget.made >= budget.max_calls {
            return Err(Self::exceed(
                LimitKind::PeerCalls,
                format!(
                    "too many peer calls: this circle allows {} per run",
                    budget.max_calls
                ),
                at,
            ));
        }
        if chain.len() > budget.max_hops {
            return Err(Self::exceed(
                LimitKind::Hops,
                format!(
                    "too many hops: the peer would be {} circles away from the first caller, \
                     this circle allows {}",
                    chain.len(),
                    budget.max_hops
                ),
                at,
            ));
        }
        let wait = Self::deadline().map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        let time_left = wait.saturating_sub(wait / 10 + PEER_MARGIN);
        if time_left.is_zero() {
            return Err(Self::exceed(
                LimitKind::Time,
                "time limit exceeded: no time left for a peer call",
                at,
            ));
        }
        PEER_BUDGET.with(|b| {
            b.set(PeerBudget {
                made: budget.made + 1,
                ..budget
            })
        });
        Ok(PeerCall {
            chain: chain.iter().map(ToString::to_string).collect(),
            wait,
            time_left,
        })
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

    /// For host functions that block (waiting on the network, say) or do what cannot be taken
    /// back: a short run may be tried first on the thread that received it, within a small
    /// budget, and started again on a worker if it does not finish within it; such an attempt
    /// is abandoned here, before the function does anything (the run then starts again on a
    /// worker, where this returns at once). Everything a run keeps in a
    /// [`RunState`](crate::RunState) is dropped with an abandoned attempt.
    pub fn needs_worker() {
        if INLINE.with(Cell::get).is_some() {
            abandon();
        }
    }

    /// Calls `f` with the current run's [`RunState`](crate::RunState) of type `S`, made on
    /// first use: dropped if the run fails, [finished](crate::RunState::finish) if it
    /// succeeds. `None` outside a run, or when `f` asks for the same state again.
    pub fn with_state<S: crate::RunState, R>(f: impl FnOnce(&mut S) -> R) -> Option<R> {
        if CONTEXT.with(|c| c.try_borrow().map_or(true, |c| c.is_none())) {
            return None;
        }
        crate::state::with_state(f)
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

/// The peer calls of the current run: made so far, and the limits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PeerBudget {
    pub(crate) made: u32,
    pub(crate) max_calls: u32,
    pub(crate) max_hops: usize,
}

/// The budget of an attempt to run a script on the thread that received it: past it, the
/// attempt is abandoned and the run starts again on a worker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InlineBudget {
    pub(crate) max_operations: u64,
    pub(crate) until: Instant,
}

thread_local! {
    /// Set while the run on this thread is an inline attempt.
    static INLINE: Cell<Option<InlineBudget>> = const { Cell::new(None) };
    /// The inline attempt on this thread was abandoned (see [`RunContext::needs_worker`]).
    static ABANDONED: Cell<bool> = const { Cell::new(false) };
    static PEER_BUDGET: Cell<PeerBudget> = const {
        Cell::new(PeerBudget { made: 0, max_calls: 0, max_hops: 0 })
    };
    static CONTEXT: RefCell<Option<RunContext>> = const { RefCell::new(None) };
    /// The first limit the current run hit; sticky until the run ends.
    static LIMIT: RefCell<Option<(LimitKind, String)>> = const { RefCell::new(None) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The thread's allocation count above which the current run is over its memory budget
    /// (`i64::MAX` outside a run, or when allocations are not counted).
    static MEMORY_CEILING: Cell<i64> = const { Cell::new(i64::MAX) };
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

/// What a run is unwound with when it hits a limit (see [`end_run`]).
pub(crate) struct RunEnded;

/// Records `limit` and ends the current run at once, by unwinding out of rhai back to the
/// worker (which reports the recorded limit).
///
/// Unwinding rather than returning an error, because rhai reacts to some errors: when a
/// printing function fails, it formats the value itself instead, with no size bound, and a
/// value reached through function pointers can be enormous (or cyclic). An unwind gives no
/// code between here and the worker a chance to do anything but clean up. rhai is built for
/// it (its argument guards restore state during an unwind); `resume_unwind` does not call
/// the panic hook, so nothing is logged.
pub(crate) fn end_run(limit: LimitKind, message: String) -> ! {
    record_limit(limit, message);
    std::panic::resume_unwind(Box::new(RunEnded))
}

/// Abandons the inline attempt on this thread: unwinds out of rhai, like a limit.
pub(crate) fn abandon() -> ! {
    ABANDONED.with(|a| a.set(true));
    std::panic::resume_unwind(Box::new(RunEnded))
}

/// True once the inline attempt on this thread has been abandoned.
pub(crate) fn abandoned() -> bool {
    ABANDONED.with(Cell::get)
}

/// True when the inline attempt on this thread has used its budget (`operations` so far).
#[inline]
pub(crate) fn inline_budget_spent(operations: u64) -> bool {
    INLINE.with(|b| match b.get() {
        None => false,
        Some(budget) => {
            operations > budget.max_operations
                || (operations.is_multiple_of(16) && Instant::now() >= budget.until)
        }
    })
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

/// True when the current run has allocated more than its memory budget (net of what it
/// freed). A thread-local read and a comparison: cheap enough for every operation.
#[inline]
pub(crate) fn memory_exceeded() -> bool {
    MEMORY_CEILING.with(|c| alloc::thread_net_allocated() > c.get())
}

/// Bytes the current run may still allocate before it is over its budget (`u64::MAX` when
/// allocations are not counted or no run is in progress).
pub(crate) fn memory_left() -> u64 {
    MEMORY_CEILING.with(|c| match c.get() {
        i64::MAX => u64::MAX,
        ceiling => {
            u64::try_from(ceiling.saturating_sub(alloc::thread_net_allocated())).unwrap_or(0)
        }
    })
}

/// The message of the memory limit.
pub(crate) fn memory_message(max_memory_bytes: u64) -> String {
    format!("memory limit exceeded: the run holds more than {max_memory_bytes} bytes")
}

/// Records the memory limit when the current run is over its budget; true if it is.
pub(crate) fn check_memory(max_memory_bytes: u64) -> bool {
    let exceeded = memory_exceeded();
    if exceeded {
        record_limit(LimitKind::Memory, memory_message(max_memory_bytes));
    }
    exceeded
}

/// Installs a run's context on this thread; dropping it clears everything again.
pub(crate) struct RunGuard {
    /// The thread's allocation count when the run started.
    memory_start: i64,
}

impl RunGuard {
    pub(crate) fn enter(
        ctx: RunContext,
        deadline: Instant,
        max_log_bytes: usize,
        max_memory_bytes: u64,
        peers: PeerBudget,
        inline: Option<InlineBudget>,
    ) -> Self {
        crate::state::discard_all();
        CONTEXT.with(|c| *c.borrow_mut() = Some(ctx));
        PEER_BUDGET.with(|b| b.set(peers));
        INLINE.with(|b| b.set(inline));
        ABANDONED.with(|a| a.set(false));
        LIMIT.with(|l| *l.borrow_mut() = None);
        DEADLINE.with(|d| d.set(Some(deadline)));
        let memory_start = alloc::thread_net_allocated();
        alloc::reset_peak();
        let ceiling = if alloc::accounting_active() {
            memory_start.saturating_add(i64::try_from(max_memory_bytes).unwrap_or(i64::MAX))
        } else {
            i64::MAX
        };
        MEMORY_CEILING.with(|c| c.set(ceiling));
        LOGS.with(|l| {
            let mut l = l.borrow_mut();
            l.lines.clear();
            l.bytes = 0;
            l.max_bytes = max_log_bytes;
            l.truncated = false;
        });
        Self { memory_start }
    }

    /// The most the run has held at once so far: its peak allocation count, net of what it
    /// freed, since it started (0 when allocations are not counted).
    pub(crate) fn peak_memory(&self) -> u64 {
        let peak = alloc::thread_peak_allocated().saturating_sub(self.memory_start);
        u64::try_from(peak).unwrap_or(0)
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
        PEER_BUDGET.with(|b| b.set(PeerBudget::default()));
        INLINE.with(|b| b.set(None));
        ABANDONED.with(|a| a.set(false));
        crate::state::discard_all();
        MEMORY_CEILING.with(|c| c.set(i64::MAX));
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
