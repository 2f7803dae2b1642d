//! One snapshot per fixture spec of the code `generate` emits with the default
//! settings, plus the real spec at the workspace root (read in place, not
//! copied). Review a changed snapshot, then accept it with
//! `INSTA_UPDATE=always cargo test -p circles-codegen --test snapshots`.

use std::path::{Path, PathBuf};

use circles_codegen::{Settings, generate};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn generated(path: &Path) -> String {
    let spec = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    match generate(&spec, &Settings::default()) {
        Ok(generated) => generated.code,
        Err(errors) => panic!("{} is not a valid spec:\n{errors}", path.display()),
    }
}

/// Snapshot tests by fixture stem; `every_fixture_has_a_snapshot_test` keeps it complete.
macro_rules! fixture_snapshots {
    ($($name:ident),* $(,)?) => {
        const SNAPSHOTTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                let path = manifest_dir().join("tests/fixtures").join(concat!(stringify!($name), ".json"));
                insta::assert_snapshot!(stringify!($name), generated(&path));
            }
        )*
    };
}

fixture_snapshots!(by_name, by_position, either, keywords, schemas);

#[test]
fn real_spec() {
    insta::assert_snapshot!(
        "openrpc",
        generated(&manifest_dir().join("../openrpc.json"))
    );
}

#[test]
fn every_fixture_has_a_snapshot_test() {
    let dir = manifest_dir().join("tests/fixtures");
    let mut stems: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path: PathBuf| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 name")
                .to_string()
        })
        .collect();
    stems.sort();
    assert_eq!(
        stems, SNAPSHOTTED,
        "add each spec of tests/fixtures to fixture_snapshots!"
    );
}

#[test]
fn generation_is_deterministic() {
    for name in SNAPSHOTTED {
        let path = manifest_dir()
            .join("tests/fixtures")
            .join(format!("{name}.json"));
        assert_eq!(generated(&path), generated(&path), "{name}");
    }
}
