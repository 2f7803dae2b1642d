//! Giving memory back once many connections have closed.
//!
//! glibc's allocator keeps what connections freed in its arenas, so after a burst of
//! connections the process stays at its peak size. When the connections open in this process
//! (all circles together) have fallen well below their peak since the last trim, the free
//! pages are handed back to the system (`malloc_trim`), at most twice a second and off the
//! runtime's threads. Elsewhere than on glibc this does nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How many connections must have closed since the peak for a trim to pay.
const CLOSED_BEFORE_TRIM: usize = 256;
/// How long after the first close of a burst the trim runs (and so at most how often).
const AFTER_BURST: Duration = Duration::from_millis(500);

static OPEN: AtomicUsize = AtomicUsize::new(0);
/// The most connections open at once since the last trim.
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Whether a trim is waiting to run.
static PENDING: AtomicBool = AtomicBool::new(false);

/// A connection opened.
pub(crate) fn opened() {
    let open = OPEN.fetch_add(1, Ordering::Relaxed) + 1;
    PEAK.fetch_max(open, Ordering::Relaxed);
}

/// A connection closed: schedules a trim when enough have since the peak. Connections tend
/// to close in bursts, so the trim runs a moment later, once, for the whole burst.
pub(crate) fn closed() {
    let open = OPEN.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
    if PEAK.load(Ordering::Relaxed) < open + CLOSED_BEFORE_TRIM
        || PENDING.swap(true, Ordering::Relaxed)
    {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        PENDING.store(false, Ordering::Relaxed);
        return;
    };
    runtime.spawn(async {
        tokio::time::sleep(AFTER_BURST).await;
        PEAK.store(OPEN.load(Ordering::Relaxed), Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(trim).await;
        PENDING.store(false, Ordering::Relaxed);
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: `malloc_trim` only returns free memory of glibc's own heaps to the system; it
    // takes no pointers and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
