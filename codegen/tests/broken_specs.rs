//! Broken specs are refused with every problem located, and never with a panic.
//! The spec files are in `tests/broken` (usable from the CLI too); what each
//! must be refused with is in `common::BROKEN`.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use circles_codegen::{Settings, SpecErrors, check, generate};
use serde_json::{Value, json};

/// The errors `generate` refuses `spec` with, each as `path: message`;
/// `check` must agree, and neither may panic.
fn refusal(spec: &str) -> Vec<String> {
    let generated = catch_unwind(AssertUnwindSafe(|| generate(spec, &Settings::default())))
        .unwrap_or_else(|_| panic!("generate panicked"));
    let checked =
        catch_unwind(AssertUnwindSafe(|| check(spec))).unwrap_or_else(|_| panic!("check panicked"));
    let errors: SpecErrors = match generated {
        Ok(_) => panic!("the spec was accepted"),
        Err(errors) => errors,
    };
    assert_eq!(
        checked.err().as_ref(),
        Some(&errors),
        "check and generate disagree"
    );
    assert!(!errors.0.is_empty(), "an error list is never empty");
    errors.iter().map(ToString::to_string).collect()
}

fn assert_broken(stem: &str) {
    let path = common::broken_path(stem);
    let spec = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(refusal(&spec), common::expected(stem), "{stem}.json");
}

macro_rules! broken_specs {
    ($($name:ident),* $(,)?) => {
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                assert_broken(stringify!($name));
            }
        )*
    };
}

broken_specs!(
    invalid_json,
    missing_info,
    method_without_name,
    param_without_name,
    unresolved_ref,
    ref_in_value_property,
    duplicate_method,
    duplicate_param,
    unsupported_version,
    reserved_name,
    typify_invalid_pattern,
    typify_enum_collision,
    typify_param_schema,
    typify_if_then_else,
    non_local_ref,
    error_ref_wrong_kind,
    required_after_optional,
    inline_type_name_taken,
    inline_type_clashes_with_params,
    component_type_clashes_with_error,
);

#[test]
fn every_broken_spec_is_tested() {
    let mut tested: Vec<&str> = TESTED.to_vec();
    tested.sort_unstable();
    let mut listed: Vec<&str> = common::BROKEN.iter().map(|(name, _)| *name).collect();
    listed.sort_unstable();
    assert_eq!(
        tested, listed,
        "broken_specs! and common::BROKEN list different specs"
    );
    assert_eq!(
        common::json_stems(&common::broken_dir()),
        listed,
        "tests/broken and common::BROKEN differ"
    );
}

// Inline specs: variations that do not need a file of their own.

fn spec(methods: Value, components: Value) -> String {
    json!({
        "openrpc": "1.3.2",
        "info": { "title": "inline", "version": "0.1.0" },
        "methods": methods,
        "components": components,
    })
    .to_string()
}

fn string_result() -> Value {
    json!({ "name": "r", "schema": { "type": "string" } })
}

#[test]
fn missing_result_or_params() {
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "notify", "params": [] }]),
            json!({})
        )),
        ["methods[0]: missing field `result` (notifications are not supported)"]
    );
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "result": string_result() }]),
            json!({})
        )),
        ["methods[0]: missing field `params`"]
    );
}

#[test]
fn names_that_make_no_or_clashing_rust_names() {
    let r = string_result();
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "1st", "params": [], "result": r }]),
            json!({})
        )),
        ["methods[0].name: \"1st\" cannot be turned into a Rust identifier"]
    );
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "get-item", "params": [], "result": r }, { "name": "get_item", "params": [], "result": r }]),
            json!({})
        )),
        [
            "methods[1].name: method \"get_item\" becomes the Rust name `get_item`, as methods[0] does"
        ]
    );
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [{ "name": "a-b", "schema": {} }, { "name": "a_b", "schema": {} }], "result": r }]),
            json!({})
        )),
        [
            "methods[0].params[1].name: \"a_b\" becomes the Rust field `a_b`, as an earlier param does"
        ]
    );
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "ping", "params": [], "result": r }]),
            json!({ "schemas": { "PingError": { "type": "string" }, "Api": { "type": "string" } } })
        )),
        [
            "components.schemas.Api: the name is taken by a generated server or client type: rename the schema",
            "components.schemas.PingError: the name is taken by the generated error type of method \"ping\": rename the schema",
        ]
    );
}

#[test]
fn method_names_the_generated_client_has_already() {
    let methods: Vec<Value> = ["new", "inner", "Into-Inner", "rpc_discover", "newer"]
        .iter()
        .map(|name| json!({ "name": name, "params": [], "result": string_result() }))
        .collect();
    assert_eq!(
        refusal(&spec(json!(methods), json!({}))),
        [
            "methods[0].name: \"new\" becomes the Rust name `new`, which the generated client has already: rename the method",
            "methods[1].name: \"inner\" becomes the Rust name `inner`, which the generated client has already: rename the method",
            "methods[2].name: \"Into-Inner\" becomes the Rust name `into_inner`, which the generated client has already: rename the method",
            "methods[3].name: \"rpc_discover\" becomes the Rust name `rpc_discover`, which the generated client has already: rename the method",
        ]
    );
}

#[test]
fn inline_schemas_wanting_the_same_type_name() {
    // `a` + `b_c` and `a_b` + `c` both make the type name `Abc`.
    let object = |property: &str| json!({ "type": "object", "properties": { property: { "type": "string" } } });
    let methods = json!([
        { "name": "a", "params": [{ "name": "b_c", "schema": object("x") }], "result": string_result() },
        { "name": "a_b", "params": [{ "name": "c", "schema": object("y") }], "result": string_result() },
    ]);
    assert_eq!(
        refusal(&spec(methods, json!({}))),
        [
            "methods[1].params[0].schema: the type this schema needs would be called `Abc`, which another schema's type is already called: rename the param, or $ref that schema"
        ]
    );
    // A component schema whose own type name is generated: located at it.
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "get", "params": [{ "name": "id", "schema": { "type": "integer" } }], "result": string_result() }]),
            json!({ "schemas": { "get_params": object("a") } })
        )),
        [
            "components.schemas.get_params: typify names a type `GetParams`, as the generated params type of method \"get\": rename the schema or property it comes from"
        ]
    );
    // A $ref to the schema of that name is what it is for.
    let methods = json!([{
        "name": "foo",
        "params": [{ "name": "bar", "schema": { "$ref": "#/components/schemas/FooBar" } }],
        "result": { "name": "r", "schema": { "allOf": [{ "$ref": "#/components/schemas/FooBar" }] } },
    }]);
    assert!(
        check(&spec(
            methods,
            json!({ "schemas": { "FooBar": object("z") } })
        ))
        .is_ok()
    );
}

#[test]
fn rpc_discover_takes_no_params() {
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "rpc.discover", "params": [{ "name": "a", "schema": {} }], "result": string_result() }]),
            json!({})
        )),
        ["methods[0].params: rpc.discover takes no params"]
    );
}

#[test]
fn error_declarations() {
    let r = string_result();
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [], "result": r, "errors": [{ "code": 1, "message": "a" }, { "code": 1, "message": "b" }] }]),
            json!({})
        )),
        ["methods[0].errors[1]: error code 1 is declared twice for this method (also as A)"]
    );
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [], "result": r, "errors": [{ "message": "a" }] }]),
            json!({})
        )),
        ["methods[0].errors[0]: missing field `code`"]
    );
    // Through a $ref, the place is the component's.
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [], "result": r, "errors": [{ "$ref": "#/components/errors/E" }] }]),
            json!({ "errors": { "E": { "code": 1 } } })
        )),
        ["components.errors.E: missing field `message`"]
    );
}

#[test]
fn codes_keep_out_of_the_reserved_range() {
    let r = string_result();
    // jsonrpsee sends -32001 (unknown error) and -32010 (batch too big) itself.
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [], "result": r, "errors": [
                { "code": -32010, "message": "inline" },
                { "$ref": "#/components/errors/E" },
                { "code": -32602, "message": "Invalid params" }
            ] }]),
            json!({ "errors": { "E": { "code": -32001, "message": "e" } } })
        )),
        [
            "methods[0].errors[0].code: code -32010 is in the range JSON-RPC reserves (-32768 to -32000), where jsonrpsee sends codes of its own: choose a code outside it",
            "components.errors.E.code: code -32001 is in the range JSON-RPC reserves (-32768 to -32000), where jsonrpsee sends codes of its own: choose a code outside it",
        ]
    );
    // Just outside the range, and JSON-RPC's own codes, are fine.
    let fine = spec(
        json!([{ "name": "m", "params": [], "result": r, "errors": [
            { "code": -31999, "message": "a" }, { "code": -32769, "message": "b" },
            { "code": -32700, "message": "c" }, { "code": -32603, "message": "d" }
        ] }]),
        json!({}),
    );
    assert!(check(&fine).is_ok());
}

#[test]
fn error_data_schemas() {
    let r = string_result();
    let with_data = |data: Value| {
        let mut document: Value = serde_json::from_str(&spec(
            json!([{ "name": "m", "params": [], "result": r, "errors": [{ "$ref": "#/components/errors/E" }] }]),
            json!({ "errors": { "E": { "code": 3000, "message": "e" } } }),
        ))
        .expect("JSON");
        document["x-error-data"] = data;
        document.to_string()
    };
    assert_eq!(
        refusal(&with_data(json!({ "F": { "type": "string" } }))),
        ["x-error-data.F: there is no error \"F\" in components.errors"]
    );
    assert_eq!(
        refusal(&with_data(json!({ "E": { "$ref": "#/definitions/x" } }))),
        [
            "x-error-data.E: $ref #/definitions/x not found",
            "x-error-data.E: $ref #/definitions/x in a schema must have the form #/components/schemas/<name>",
        ]
    );
    assert_eq!(
        refusal(&with_data(json!({ "E": { "type": "object", "properties": { "a": { "type": "string", "pattern": "(" } } } }))).len(),
        1
    );
    let generated = generate(
        &with_data(json!({ "E": { "type": "object", "required": ["n"], "properties": { "n": { "type": "integer" } } } })),
        &Settings::default(),
    )
    .expect("valid")
    .code;
    assert!(generated.contains("E(EData)"), "{generated}");
    assert!(generated.contains("pub struct EData"), "{generated}");
}

#[test]
fn content_descriptor_refs() {
    // A $ref of the wrong kind.
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [{ "$ref": "#/components/schemas/X" }], "result": string_result() }]),
            json!({ "schemas": { "X": { "type": "string" } } })
        )),
        [
            "methods[0].params[0]: $ref #/components/schemas/X must have the form #/components/contentDescriptors/<name>"
        ]
    );
    // A dangling one, and a broken component: located at the component.
    assert_eq!(
        refusal(&spec(
            json!([{ "name": "m", "params": [{ "$ref": "#/components/contentDescriptors/Gone" }, { "$ref": "#/components/contentDescriptors/P" }], "result": string_result() }]),
            json!({ "contentDescriptors": { "P": { "schema": { "type": "string" } } } })
        )),
        [
            "methods[0].params[0]: $ref #/components/contentDescriptors/Gone not found",
            "components.contentDescriptors.P: missing field `name`",
        ]
    );
}

#[test]
fn several_problems_are_all_reported() {
    let errors = refusal(&spec(
        json!([
            { "name": "rpc.x", "params": [], "result": string_result() },
            { "name": "m", "params": [{ "name": "a", "schema": { "$ref": "#/components/schemas/Nope" } }], "result": string_result() },
            { "name": "m", "params": [], "result": string_result() },
        ]),
        json!({}),
    ));
    assert_eq!(
        errors,
        [
            "methods[1].params[0].schema: $ref #/components/schemas/Nope not found",
            "methods[0].name: \"rpc.x\": names starting with `rpc.` are reserved (only rpc.discover may be declared)",
            "methods[2].name: duplicate method name \"m\" (first declared at methods[1])",
        ]
    );
}

#[test]
fn required_after_optional_is_fine_by_name() {
    let path = common::broken_path("required_after_optional");
    let text = std::fs::read_to_string(path).expect("readable");
    let mut by_name: Value = serde_json::from_str(&text).expect("JSON");
    by_name["methods"][0]["paramStructure"] = json!("by-name");
    assert!(generate(&by_name.to_string(), &Settings::default()).is_ok());
    // "either" allows by-position too, so it is refused like by-position.
    by_name["methods"][0]
        .as_object_mut()
        .expect("a method object")
        .remove("paramStructure");
    assert_eq!(
        refusal(&by_name.to_string()),
        common::expected("required_after_optional")
    );
}

#[test]
fn supported_versions() {
    for version in ["1.0.0", "1.2.6", "1.3.2", "1.3.10"] {
        let text =
            json!({ "openrpc": version, "info": { "title": "t", "version": "1" }, "methods": [] })
                .to_string();
        assert!(check(&text).is_ok(), "{version}");
    }
    for version in ["1.4.0", "1.3", "1.3.x", "v1.3.2", "", "1.3.2.1"] {
        let text =
            json!({ "openrpc": version, "info": { "title": "t", "version": "1" }, "methods": [] })
                .to_string();
        assert_eq!(
            refusal(&text),
            [format!(
                "openrpc: unsupported OpenRPC version \"{version}\" (supported: 1.0.x to 1.3.x)"
            )],
        );
    }
}

/// Odd values anywhere a schema goes, in the real spec and the fixtures:
/// always a clean answer, never a panic.
#[test]
fn odd_schemas_never_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let real: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("../openrpc.json")).expect("readable"),
    )
    .expect("JSON");
    let odd = [
        json!(null),
        json!(1),
        json!("string"),
        json!([]),
        json!(false),
        json!({ "type": 5 }),
        json!({ "type": "object", "properties": { "a": { "$ref": "#/components/schemas/Gone" } } }),
        json!({ "not": {} }),
        json!({ "allOf": [{ "type": "string" }, { "type": "integer" }] }),
        json!({ "type": "string", "enum": ["a", 1, null] }),
        json!({ "oneOf": [] }),
        json!({ "type": "array", "items": [{ "type": "string" }] }),
        json!({ "$ref": "#/components/schemas/PublicKey", "type": "integer" }),
    ];
    let names: Vec<String> = real["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
        .cloned()
        .collect();
    let mut outcomes = 0;
    for value in &odd {
        for name in &names {
            let mut spec = real.clone();
            spec["components"]["schemas"][name] = value.clone();
            let text = spec.to_string();
            let outcome = catch_unwind(AssertUnwindSafe(|| generate(&text, &Settings::default())));
            let Ok(outcome) = outcome else {
                panic!("generate panicked with components.schemas.{name} = {value}")
            };
            if let Err(errors) = outcome {
                assert!(!errors.0.is_empty());
            }
            outcomes += 1;
        }
        for method in 1..real["methods"].as_array().expect("methods").len() {
            if real["methods"][method]["params"][0].is_null() {
                continue; // a method without params
            }
            let mut spec = real.clone();
            spec["methods"][method]["params"][0]["schema"] = value.clone();
            let text = spec.to_string();
            assert!(
                catch_unwind(AssertUnwindSafe(|| generate(&text, &Settings::default()))).is_ok(),
                "generate panicked with methods[{method}].params[0].schema = {value}"
            );
            outcomes += 1;
        }
    }
    assert!(outcomes > 100);
}

/// Every prefix of a spec is refused (as invalid JSON), never with a panic.
#[test]
fn truncated_specs_are_invalid_json() {
    let text = std::fs::read_to_string(common::broken_path("unresolved_ref")).expect("readable");
    let text = text.trim_end();
    for cut in (0..text.len()).filter(|cut| text.is_char_boundary(*cut)) {
        let errors = refusal(&text[..cut]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("$: invalid JSON at line "),
            "{errors:?}"
        );
    }
}
