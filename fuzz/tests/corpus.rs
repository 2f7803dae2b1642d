//! Replays every input of `fuzz/corpus/<target>/` through its target, so that `cargo test`
//! catches a regression of anything the fuzzers ever found, without running them.

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

fn replay(target: &str) {
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

#[test]
fn rpc_frames() {
    replay("rpc_frames");
}

#[test]
fn openrpc() {
    replay("openrpc");
}

#[test]
fn circles_json() {
    replay("circles_json");
}

#[test]
fn rhai_json() {
    replay("rhai_json");
}

#[test]
fn every_target_has_a_test_here() {
    assert_eq!(
        circles_fuzz::TARGETS,
        ["rpc_frames", "openrpc", "circles_json", "rhai_json"]
    );
}
