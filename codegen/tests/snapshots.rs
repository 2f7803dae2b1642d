//! The code `generate` emits for each fixture spec is kept as a Rust file,
//! `fixtures/src/generated/<spec>.rs`, which the `codegen-fixtures` crate
//! compiles and exercises: a snapshot that does not build fails the build.
//! After a deliberate change of the generator, review the difference and
//! accept it with `UPDATE_SNAPSHOTS=1 cargo test -p circles-codegen --test snapshots`.

mod common;

use std::path::{Path, PathBuf};

use circles_codegen::{Settings, generate};

fn codegen_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn snapshot_path(stem: &str) -> PathBuf {
    codegen_dir().join(format!("fixtures/src/generated/{stem}.rs"))
}

/// The fixture specs, by stem, sorted.
fn fixture_stems() -> Vec<String> {
    common::json_stems(&codegen_dir().join("tests/fixtures"))
}

/// What the generator emits for a fixture: the document is included from the
/// spec file, by its path relative to the snapshot file.
fn generated(stem: &str) -> String {
    let path = codegen_dir().join(format!("tests/fixtures/{stem}.json"));
    let spec = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let settings = Settings {
        document_path: Some(format!("../../../tests/fixtures/{stem}.json")),
        ..Settings::default()
    };
    match generate(&spec, &settings) {
        Ok(generated) => generated.code,
        Err(errors) => panic!("{} is not a valid spec:\n{errors}", path.display()),
    }
}

#[test]
fn snapshots_match_the_generator() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for stem in fixture_stems() {
        let code = generated(&stem);
        let path = snapshot_path(&stem);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == code {
            continue;
        }
        if update {
            std::fs::write(&path, &code)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "generated code differs from the snapshots {stale:?}: review with \
         `cargo run -p circles-codegen -- generate SPEC`, then accept with \
         UPDATE_SNAPSHOTS=1 cargo test -p circles-codegen --test snapshots"
    );
}

#[test]
fn every_snapshot_has_its_spec() {
    let dir = codegen_dir().join("fixtures/src/generated");
    let mut snapshots: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_string()))
        .collect();
    snapshots.sort();
    assert_eq!(
        snapshots,
        fixture_stems(),
        "a snapshot per fixture spec, no more"
    );
}

#[test]
fn generation_is_deterministic() {
    for stem in fixture_stems() {
        assert_eq!(generated(&stem), generated(&stem), "{stem}");
    }
}

#[test]
fn the_real_spec_generates() {
    let spec = std::fs::read_to_string(codegen_dir().join("../openrpc.json")).expect("spec");
    let code = generate(&spec, &Settings::default()).expect("valid").code;
    assert!(code.contains("pub enum PlayError"));
}
