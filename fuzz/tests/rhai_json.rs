//! `fuzz/corpus/rhai_json/` replayed through the `rhai_json` target (see `common`).

mod common;

#[test]
fn corpus() {
    common::replay("rhai_json");
}
