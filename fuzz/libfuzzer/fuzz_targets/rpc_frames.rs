#![no_main]

// As the launcher does: without it the sandbox's memory budget is not enforced.
#[global_allocator]
static ALLOCATOR: circles_sandbox::alloc::CountingAllocator =
    circles_sandbox::alloc::CountingAllocator;

libfuzzer_sys::fuzz_target!(|data: &[u8]| circles_fuzz::rpc_frames::run(data));
