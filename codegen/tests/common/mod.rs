//! What each spec of `tests/broken` must be refused with, shared by the
//! library tests (`broken_specs.rs`) and the CLI tests (`cli.rs`), and the
//! listing of spec files the snapshot tests use too.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

/// Every broken spec (file stem) with the exact errors, `path: message`, in order.
pub const BROKEN: &[(&str, &[&str])] = &[
    (
        "invalid_json",
        &["$: invalid JSON at line 5, column 99: trailing comma"],
    ),
    ("missing_info", &["$: missing field `info`"]),
    ("method_without_name", &["methods[1]: missing field `name`"]),
    (
        "param_without_name",
        &["methods[0].params[0]: missing field `name`"],
    ),
    (
        "unresolved_ref",
        &["methods[2].params[0].schema: $ref #/components/schemas/Missing not found"],
    ),
    (
        "ref_in_value_property",
        &["components.schemas.Entry.properties.value: $ref #/components/schemas/Missing not found"],
    ),
    (
        "duplicate_method",
        &["methods[2].name: duplicate method name \"ping\" (first declared at methods[0])"],
    ),
    (
        "duplicate_param",
        &[
            "methods[0].params[2].name: duplicate param name \"x\" (first declared at methods[0].params[0])",
        ],
    ),
    (
        "unsupported_version",
        &["openrpc: unsupported OpenRPC version \"2.0.0\" (supported: 1.0.x to 1.3.x)"],
    ),
    (
        "reserved_name",
        &[
            "methods[1].name: \"rpc.ping\": names starting with `rpc.` are reserved (only rpc.discover may be declared)",
        ],
    ),
    (
        "typify_invalid_pattern",
        &[
            "components.schemas.Code: typify cannot generate a type: invalid schema for Code: invalid pattern '^[A-Z' Unbalanced bracket",
        ],
    ),
    (
        "typify_enum_collision",
        &[
            "components.schemas.Mode: typify cannot generate a type (it panicked: Failed to make unique variant names for [fast-mode,fast_mode])",
        ],
    ),
    (
        "typify_param_schema",
        &[
            "methods[1].params[1].schema: typify cannot generate a type: invalid schema for FindQuery: invalid pattern '(unclosed' Unbalanced parenthesis",
        ],
    ),
    (
        "typify_if_then_else",
        &[
            "methods[0].result.schema: typify cannot generate a type (it panicked: not implemented: if/then/else schemas are not supported: {\n  \"if\": {\n    \"type\": \"string\"\n  },\n  \"then\": {\n    \"minLength\": 1\n  },\n  \"else\": {\n    \"type\": \"integer\"\n  }\n})",
        ],
    ),
    (
        "non_local_ref",
        &[
            "methods[0].params[0].schema: $ref https://example.com/schemas.json#/Thing is not local: only references into this document (#/...) are supported",
            "methods[0].params[0].schema: $ref https://example.com/schemas.json#/Thing in a schema must have the form #/components/schemas/<name>",
        ],
    ),
    (
        "error_ref_wrong_kind",
        &[
            "methods[0].errors[1]: $ref #/components/schemas/Oops must have the form #/components/errors/<name>",
        ],
    ),
    (
        "required_after_optional",
        &[
            "methods[0].params[2].required: a required param may not follow an optional one (methods[0].params[1]) when params may be passed by position",
        ],
    ),
    (
        "inline_type_name_taken",
        &[
            "methods[0].params[0].schema: the type this schema needs would be called `FooBar`, which another schema's type is already called: rename the param, or $ref that schema",
        ],
    ),
    (
        "inline_type_clashes_with_params",
        &[
            "methods[0].params[0].schema: typify names a type of this schema `GetParams`, as the generated params type of method \"get\": rename the param or the property it comes from",
        ],
    ),
    (
        "component_type_clashes_with_error",
        &[
            "components.schemas: typify names a type `GetError`, as the generated error type of method \"get\": rename the schema or property it comes from",
        ],
    ),
];

pub fn broken_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken")
}

pub fn broken_path(stem: &str) -> PathBuf {
    broken_dir().join(format!("{stem}.json"))
}

/// The expected errors of a broken spec.
pub fn expected(stem: &str) -> &'static [&'static str] {
    BROKEN
        .iter()
        .find(|(name, _)| *name == stem)
        .map(|(_, errors)| *errors)
        .unwrap_or_else(|| panic!("{stem} is not in common::BROKEN"))
}

/// The stems of the `.json` files in `dir`, sorted.
pub fn json_stems(dir: &Path) -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 name")
                .to_string()
        })
        .collect();
    stems.sort();
    stems
}
