//! `circles.json` text into the launcher's checks (`launcher::check`, which is `load` then
//! `validate::validate` when the file parses, what `launcher check FILE` and a start run). Nothing starts: the
//! checks only read the file system and try to bind the configured ports.
//!
//! What must hold: no panic; every error names the file (`FILE: …`), and every error about a
//! circle names it and its field (`[1].port`); what is accepted has circles and reloads the
//! same after being written back.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use launcher::config::CircleConfig;
use launcher::validate::validate;
use launcher::{ConfigError, load};

/// The fields of a circle, as errors name them: the properties of `circles.schema.json`'s
/// circle.
fn fields() -> &'static [String] {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let schema = launcher::schema();
        let fields: Vec<String> = schema["definitions"]["CircleConfig"]["properties"]
            .as_object()
            .expect("the schema describes a circle's fields")
            .keys()
            .cloned()
            .collect();
        assert!(fields.iter().any(|f| f == "port"), "fields: {fields:?}");
        fields
    })
}

/// A folder laid out like the shipped one (`scripts/alice`, `scripts/bob`), plus a file and a
/// symlink for paths to run into. Kept for the process's life.
fn folder() -> &'static Path {
    static FOLDER: OnceLock<tempfile::TempDir> = OnceLock::new();
    FOLDER
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("circles-fuzz-config-")
                .tempdir()
                .expect("a temporary folder");
            for sub in ["scripts/alice", "scripts/bob", "data/alice"] {
                std::fs::create_dir_all(dir.path().join(sub)).expect("a folder");
            }
            std::fs::write(dir.path().join("file"), "not a folder").expect("a file");
            #[cfg(unix)]
            std::os::unix::fs::symlink(dir.path().join("data"), dir.path().join("link"))
                .expect("a symlink");
            dir
        })
        .path()
}

pub fn run(data: &[u8]) {
    let folder = folder();
    let path = folder.join("circles.json");
    std::fs::write(&path, data).expect("write the config file");
    let file = path.display().to_string();
    let checked = launcher::check(&path);

    let circles = match load(&path) {
        Err(errors) => {
            assert!(!errors.is_empty(), "load failed without saying why");
            for error in &errors {
                assert_names_file(error, &file);
                match error {
                    ConfigError::Unreadable { .. } => assert!(
                        std::str::from_utf8(data).is_err(),
                        "a file that was just written is unreadable: {error}"
                    ),
                    ConfigError::Invalid { .. } => {}
                    ConfigError::Unavailable { .. } => {
                        panic!("load reports what only validate checks: {error}")
                    }
                }
            }
            // check reports load's errors first, then the problems of the circles' own
            // fields that did parse.
            let Err(checked) = &checked else {
                panic!("check accepted what load refuses")
            };
            let shown =
                |errors: &[ConfigError]| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
            assert!(
                checked.len() >= errors.len(),
                "check reports less than load: {:?}",
                shown(checked)
            );
            assert_eq!(
                shown(&checked[..errors.len()]),
                shown(&errors),
                "check and load"
            );
            for error in &checked[errors.len()..] {
                assert_names_file(error, &file);
                assert!(
                    error.field().is_some(),
                    "a problem of a circle that names no field: {error}"
                );
            }
            return;
        }
        Ok(circles) => circles,
    };

    let errors = validate(&file, &circles);
    for error in &errors {
        assert_names_file(error, &file);
        assert_names_field(error, circles.len());
    }
    assert_same(&checked, &errors);
    if errors.is_empty() {
        assert!(!circles.is_empty(), "a config without circles was accepted");
        assert_reloads(folder, &circles);
    }
}

/// `launcher::check` reports the same as `load` then `validate`.
fn assert_same(checked: &Result<Vec<CircleConfig>, Vec<ConfigError>>, errors: &[ConfigError]) {
    let shown = |errors: &[ConfigError]| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    match checked {
        Ok(_) => assert!(
            errors.is_empty(),
            "check accepted what validate refuses: {:?}",
            shown(errors)
        ),
        Err(checked) => assert_eq!(shown(checked), shown(errors), "check and load+validate"),
    }
}

fn assert_names_file(error: &ConfigError, file: &str) {
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("{file}: ")),
        "an error that does not start with the file's name: {shown}"
    );
    let at = match error {
        ConfigError::Unreadable { .. } => return,
        ConfigError::Invalid { file: f, at, .. } | ConfigError::Unavailable { file: f, at, .. } => {
            assert_eq!(f, file, "{shown}");
            at
        }
    };
    // serde's paths (`[0].limits.max_time_ms`) and validate's (`[1].port`) alike start with
    // the circle's index.
    if !at.is_empty() {
        assert!(at.starts_with('['), "a field outside any circle: {shown}");
    }
}

/// An error of `validate` names a circle that exists and one of its fields; only "lists no
/// circles" is about the whole file.
fn assert_names_field(error: &ConfigError, circles: usize) {
    let shown = error.to_string();
    let (ConfigError::Invalid { at, message, .. } | ConfigError::Unavailable { at, message, .. }) =
        error
    else {
        panic!("validate reported an unreadable file: {shown}");
    };
    if at.is_empty() {
        assert!(
            circles == 0 && message == "lists no circles",
            "an error that names no field: {shown}"
        );
        return;
    }
    let place = at
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("]."))
        .and_then(|(index, field)| Some((index.parse::<usize>().ok()?, field)));
    let Some((index, field)) = place else {
        panic!("a place that is not [index].field: {shown}");
    };
    assert!(
        index < circles,
        "names circle [{index}] of {circles}: {shown}"
    );
    // A field, or a place inside it (`[0].store.max_bytes_per_author`).
    let field = field.split(['.', '[']).next().unwrap_or(field);
    assert!(
        fields().iter().any(|f| f == field),
        "names no field of a circle: {shown}"
    );
}

/// What was accepted, written back as JSON, loads as the same circles (its paths are
/// absolute by now, so the folder it is written to does not matter).
fn assert_reloads(folder: &Path, circles: &[CircleConfig]) {
    let again: PathBuf = folder.join("written-back.json");
    let text = serde_json::to_string_pretty(circles).expect("an accepted config serializes");
    std::fs::write(&again, text).expect("write the config back");
    match load(&again) {
        Ok(reloaded) => assert_eq!(reloaded, circles, "an accepted config reloads differently"),
        Err(errors) => panic!(
            "an accepted config, written back, does not load: {:?}",
            errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        ),
    }
}
