//! `fuzz/corpus/circles_json/` replayed through the `circles_json` target (see `common`).

mod common;

#[test]
fn corpus() {
    common::replay("circles_json");
}
