//! Runs one target on the given files, outside libFuzzer (a crash shows its panic message
//! and backtrace as usual):
//!
//!     cargo run -p circles-fuzz --example replay -- rpc_frames target/fuzz/artifacts/rpc_frames/crash-…
//!     CIRCLES_FUZZ_VERBOSE=1 cargo run -p circles-fuzz --example replay -- rpc_frames fuzz/corpus/rpc_frames/store

// As the launcher does: without it the sandbox's memory budget is not enforced.
#[global_allocator]
static ALLOCATOR: circles_sandbox::alloc::CountingAllocator =
    circles_sandbox::alloc::CountingAllocator;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), files) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!(
            "usage: replay TARGET FILE...  (targets: {:?})",
            circles_fuzz::TARGETS
        );
        std::process::exit(2);
    };
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        eprintln!("{target}: {file} ({} bytes)", data.len());
        circles_fuzz::run(&target, &data);
    }
    eprintln!("{target}: {} inputs, no failure", files.len());
}
