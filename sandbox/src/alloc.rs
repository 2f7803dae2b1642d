//! Counting what each thread allocates, so that a script run can be held to a memory budget.
//!
//! Rhai checks the size of the strings, arrays and maps it builds, but not everything a script
//! can make it keep alive: curried function pointers, captured variables, values reached
//! through them. Counting the allocations themselves bounds all of it, whatever holds it.
//!
//! [`CountingAllocator`] wraps [`System`] and keeps, per thread, the bytes allocated minus
//! the bytes freed. A sandbox worker takes a reading when a run starts; the run's memory is
//! the difference, checked at every Rhai operation against
//! [`Limits::max_memory_bytes`](crate::Limits::max_memory_bytes).
//!
//! The allocator has to be installed by the *binary* (`#[global_allocator]`; the `launcher`
//! does). Without it nothing is counted and the memory budget is not enforced:
//! [`accounting_active`] says which is the case.
//!
//! Memory freed on another thread than the one that allocated it is credited to the thread
//! that frees it, so a thread's count drifts over its life; only differences taken on one
//! thread within one run are meaningful, and that is all the sandbox uses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

/// A global allocator that counts, per thread, the bytes allocated net of those freed.
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: circles_sandbox::alloc::CountingAllocator =
///     circles_sandbox::alloc::CountingAllocator;
/// ```
///
/// Each allocation costs [`System`]'s work plus one update of a thread-local counter.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator;

/// This thread's count. A `const`-initialised thread-local of a type without `Drop` is a
/// plain slot in the thread's TLS block: reading it never allocates, never registers a
/// destructor and works until the thread is gone, which an allocator needs.
struct Account {
    /// Bytes allocated minus bytes freed by this thread, since it started (wrapping: only
    /// differences are used).
    net: Cell<i64>,
    /// The highest `net` since the last [`reset_peak`].
    peak: Cell<i64>,
}

thread_local! {
    static ACCOUNT: Account = const {
        Account { net: Cell::new(0), peak: Cell::new(0) }
    };
}

#[inline(always)]
fn count_allocated(bytes: usize) {
    // `try_with`: never panic inside the allocator (it would abort the process).
    let _ = ACCOUNT.try_with(|a| {
        let net = a.net.get().wrapping_add(bytes as i64);
        a.net.set(net);
        if net > a.peak.get() {
            a.peak.set(net);
        }
    });
}

#[inline(always)]
fn count_freed(bytes: usize) {
    let _ = ACCOUNT.try_with(|a| a.net.set(a.net.get().wrapping_sub(bytes as i64)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// updates a thread-local counter besides, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count_allocated(layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count_allocated(layout.size());
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`; `ptr` came from this allocator, hence from `System`.
        unsafe { System.dealloc(ptr, layout) };
        count_freed(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count_freed(layout.size());
            count_allocated(new_size);
        }
        new
    }
}

/// Bytes this thread has allocated net of what it freed, as a running count: subtract two
/// readings taken on the same thread to learn what happened in between. Always 0 when the
/// [`CountingAllocator`] is not installed.
#[inline]
pub fn thread_net_allocated() -> i64 {
    ACCOUNT.try_with(|a| a.net.get()).unwrap_or(0)
}

/// The highest [`thread_net_allocated`] since this thread last called [`reset_peak`].
#[inline]
pub fn thread_peak_allocated() -> i64 {
    ACCOUNT.try_with(|a| a.peak.get()).unwrap_or(0)
}

/// Starts a new peak measurement on this thread: the peak becomes the current count.
#[inline]
pub fn reset_peak() {
    let _ = ACCOUNT.try_with(|a| a.peak.set(a.net.get()));
}

/// Whether the [`CountingAllocator`] is this process's global allocator, i.e. whether
/// memory budgets are enforced. Found out once, by allocating and seeing whether the count
/// moves.
pub fn accounting_active() -> bool {
    const UNKNOWN: u8 = 0;
    const ACTIVE: u8 = 1;
    const INACTIVE: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        ACTIVE => true,
        INACTIVE => false,
        _ => {
            let before = thread_net_allocated();
            let probe = std::hint::black_box(Box::new([0u8; 64]));
            let moved = thread_net_allocated() != before;
            drop(probe);
            STATE.store(if moved { ACTIVE } else { INACTIVE }, Ordering::Relaxed);
            moved
        }
    }
}
