//! The fuzz targets of the circles workspace, as plain functions of the input bytes.
//!
//! Each target's `run(&[u8])` feeds one input to a piece of the system and panics when an
//! invariant breaks (a panic anywhere, a hang is caught by the engine's per-input timeout):
//!
//! | target | input | what must hold |
//! | --- | --- | --- |
//! | [`rpc_frames`] | WebSocket frames, one per line | a real circle (the launcher's own wiring, on 127.0.0.1) answers every frame with well-formed JSON-RPC, only declared error codes, stays connected and finishes every call |
//! | [`openrpc`] | an OpenRPC document | `circles_codegen::check`/`generate` never panic, refuse with located errors (and the same ones), and emit Rust that parses |
//! | [`circles_json`] | a `circles.json` | the launcher's `load` + `validate` never panic, every error names the file and the field, what is accepted reloads the same |
//! | [`rhai_json`] | a Rhai value (built from the bytes) or JSON text | `to_json` never panics in either mode, respects its limits, and strict output comes back the same through `from_json` |
//!
//! `fuzz/libfuzzer` wraps each in a libFuzzer target (`cargo fuzz`); `tests/<target>.rs`
//! replays `fuzz/corpus/<target>/` through the same functions in `cargo test`.

pub mod circles_json;
pub mod openrpc;
pub mod rhai_json;
pub mod rpc_frames;

use std::path::PathBuf;

/// The names of the targets, as their corpus folders and libFuzzer binaries are named.
pub const TARGETS: [&str; 4] = ["rpc_frames", "openrpc", "circles_json", "rhai_json"];

/// Runs `target` on `data` (for replaying corpus files by target name).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "rpc_frames" => rpc_frames::run(data),
        "openrpc" => openrpc::run(data),
        "circles_json" => circles_json::run(data),
        "rhai_json" => rhai_json::run(data),
        other => panic!("no fuzz target {other:?}; the targets are {TARGETS:?}"),
    }
}

/// The workspace's root folder (for the shipped files the targets use).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ is inside the workspace")
        .to_path_buf()
}

/// `fuzz/corpus/<target>`.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}
