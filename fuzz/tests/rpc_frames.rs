//! `fuzz/corpus/rpc_frames/` replayed through the `rpc_frames` target (see `common`).

mod common;

#[test]
fn corpus() {
    common::replay("rpc_frames");
}
