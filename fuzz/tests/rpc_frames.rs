//! `fuzz/corpus/rpc_frames/` replayed through the `rpc_frames` target (see `common`).

mod common;

// As the launcher does: without it the sandbox's memory budget is not enforced.
#[global_allocator]
static ALLOCATOR: circles_sandbox::alloc::CountingAllocator =
    circles_sandbox::alloc::CountingAllocator;

#[test]
fn corpus() {
    common::replay("rpc_frames");
}
