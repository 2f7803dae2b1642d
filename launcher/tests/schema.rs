//! circles.schema.json stays in sync with the config types, and the shipped circles.json
//! passes both the schema and `launcher check`.

use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[test]
fn the_committed_schema_matches_the_config_types() {
    let committed = std::fs::read_to_string(Path::new(ROOT).join("circles.schema.json"))
        .expect("circles.schema.json is committed at the repo root");
    let committed: serde_json::Value = serde_json::from_str(&committed).expect("valid JSON");
    assert_eq!(
        committed,
        launcher::schema(),
        "circles.schema.json is stale: run `cargo run -p launcher -- schema > circles.schema.json`"
    );
}

#[test]
fn the_schema_and_the_launcher_agree_on_the_shipped_config() {
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("circles.json")).expect("circles.json"),
    )
    .expect("valid JSON");
    let validator = jsonschema::validator_for(&launcher::schema()).expect("a valid JSON Schema");
    assert!(
        validator.is_valid(&shipped),
        "circles.json passes circles.schema.json"
    );
    let mut unknown = shipped.clone();
    unknown[0]["colour"] = "red".into();
    assert!(
        !validator.is_valid(&unknown),
        "the schema refuses unknown fields too"
    );
    let circles = launcher::load(&Path::new(ROOT).join("circles.json")).expect("loads");
    assert_eq!(circles.len(), 2);
}
