//! `fuzz/corpus/openrpc/` replayed through the `openrpc` target (see `common`).

mod common;

#[test]
fn corpus() {
    common::replay("openrpc");
}
