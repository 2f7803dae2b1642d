//! Replays every input of `fuzz/corpus/<target>/` through its target, so that `cargo test`
//! catches a regression of anything the fuzzers ever found, without running them. Each
//! target has a test binary (a process) of its own: `rpc_frames` counts every panic in the
//! process, and codegen's typify panics (caught, by design) must not be among them.

use std::path::PathBuf;
use std::time::Instant;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = circles_fuzz::corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

pub fn replay(target: &str) {
    let started = Instant::now();
    let files = inputs(target);
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Name the input if it fails.
        eprintln!("{target}: {}", path.display());
        circles_fuzz::run(target, &data);
    }
    eprintln!(
        "{target}: {} inputs replayed in {:.2?}",
        files.len(),
        started.elapsed()
    );
}
