//! `openrpc.json` against the official OpenRPC meta-schema, fully offline.
//!
//! The meta-schema (`@open-rpc/meta-schema` on npm) and the JSON Schema
//! meta-schema it references by URL (`@json-schema-tools/meta-schema`) are
//! vendored under `vendor/openrpc-meta-schema/` (see the README there). Both
//! are registered in the validator's registry under their `$id`s, and the
//! retriever refuses every other URL, so nothing is fetched over the network.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jsonschema::{Draft, Registry, Retrieve, Uri, Validator};
use serde_json::{Value, json};

/// `$id` of the vendored JSON Schema meta-schema.
const JSON_SCHEMA_TOOLS_ID: &str = "https://meta.json-schema.tools/";
/// The same URL as the OpenRPC meta-schema spells it once (`$ref` without the
/// trailing slash, which the resolver does not normalise).
const JSON_SCHEMA_TOOLS_ALIAS: &str = "https://meta.json-schema.tools";

/// The application and standard error codes of the wire contract: protocol.md's
/// names and messages, with the application codes moved out of the range JSON-RPC
/// reserves (the issue "One error model, generated from the spec").
const PROTOCOL_ERRORS: [(&str, i64, &str); 9] = [
    ("InvalidParams", -32602, "Invalid params"),
    ("InternalError", -32603, "Internal error"),
    ("AuthenticationFailed", 2001, "authentication failed"),
    ("Unauthenticated", 2002, "unauthenticated"),
    ("ScriptCompileError", 2010, "script compile error"),
    ("ScriptRuntimeError", 2011, "script runtime error"),
    ("ScriptLimitExceeded", 2012, "script limit exceeded"),
    ("Forbidden", 2003, "forbidden"),
    ("NotCallable", 2020, "not callable"),
];

/// Every method of protocol.md with its by-name params (`name?` when optional) and the
/// errors it lists.
const PROTOCOL_METHODS: [(&str, &[&str], &[&str]); 6] = [
    ("rpc.discover", &[], &["InternalError"]),
    (
        "fetch_nonce",
        &["pubkey"],
        &["InvalidParams", "InternalError"],
    ),
    (
        "authenticate",
        &["pubkey", "signature"],
        &["InvalidParams", "AuthenticationFailed", "InternalError"],
    ),
    // `via?`: the issue "Peers" (a circle's script calling another circle).
    (
        "play",
        &["script", "via?"],
        &[
            "InvalidParams",
            "Unauthenticated",
            "Forbidden",
            "ScriptCompileError",
            "ScriptRuntimeError",
            "ScriptLimitExceeded",
            "InternalError",
        ],
    ),
    // The issue "Authorization": published functions.
    (
        "call",
        &["module", "function", "args?", "via?"],
        &[
            "InvalidParams",
            "Unauthenticated",
            "Forbidden",
            "NotCallable",
            "ScriptCompileError",
            "ScriptRuntimeError",
            "ScriptLimitExceeded",
            "InternalError",
        ],
    ),
    (
        "list_functions",
        &[],
        &["Unauthenticated", "Forbidden", "InternalError"],
    ),
];

fn workspace_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn load_json(relative: &str) -> Value {
    let path = workspace_file(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn document() -> Value {
    load_json("openrpc.json")
}

/// Refuses every URL: all the schemas needed are registered up front.
struct NoNetwork;

impl Retrieve for NoNetwork {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("refusing to fetch {uri}: vendor the schema instead").into())
    }
}

/// A validator for OpenRPC documents, built from the vendored meta-schemas only.
fn meta_validator() -> Validator {
    let openrpc_meta = load_json("vendor/openrpc-meta-schema/schema.json");
    let tools_meta = load_json("vendor/openrpc-meta-schema/json-schema-tools-meta-schema.json");
    assert_eq!(tools_meta["$id"], JSON_SCHEMA_TOOLS_ID);
    // Both declare `$schema: https://meta.json-schema.tools/`, a draft-07 dialect
    // the validator cannot detect by itself: say so explicitly.
    let registry = Registry::new()
        .draft(Draft::Draft7)
        .retriever(NoNetwork)
        .add(
            JSON_SCHEMA_TOOLS_ID,
            Draft::Draft7.create_resource(tools_meta.clone()),
        )
        .expect("valid URI")
        .add(
            JSON_SCHEMA_TOOLS_ALIAS,
            Draft::Draft7.create_resource(tools_meta),
        )
        .expect("valid URI")
        .prepare()
        .expect("the vendored meta-schemas form a complete registry");
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_registry(&registry)
        .with_retriever(NoNetwork)
        .build(&openrpc_meta)
        .unwrap_or_else(|e| panic!("the vendored OpenRPC meta-schema does not compile: {e}"))
}

/// Every meta-schema violation of `doc`, one per line, with its instance path.
fn violations(validator: &Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| {
            format!(
                "at `{}` (schema {}): {e}",
                e.instance_path(),
                e.schema_path()
            )
        })
        .collect()
}

#[test]
fn openrpc_json_is_valid_against_the_openrpc_meta_schema() {
    let validator = meta_validator();
    let doc = document();
    assert_eq!(doc["openrpc"], "1.3.2");
    let errors = violations(&validator, &doc);
    assert!(
        errors.is_empty(),
        "openrpc.json violates the OpenRPC meta-schema ({} errors):\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn broken_copies_are_rejected() {
    let validator = meta_validator();
    let doc = document();
    type Breakage = fn(&mut Value);
    let breakages: [(&str, Breakage); 7] = [
        ("a method without `name`", |d| {
            d["methods"][0].as_object_mut().unwrap().remove("name");
        }),
        ("`openrpc` of the wrong type", |d| d["openrpc"] = json!(132)),
        ("an unknown `openrpc` version", |d| {
            d["openrpc"] = json!("9.9.9")
        }),
        ("no `info`", |d| {
            d.as_object_mut().unwrap().remove("info");
        }),
        ("a param without `schema`", |d| {
            d["methods"][1]["params"][0]
                .as_object_mut()
                .unwrap()
                .remove("schema");
        }),
        // Checked by the vendored json-schema-tools meta-schema, so this one
        // proves the remote `$ref` is resolved (offline) and applied.
        ("a component schema whose `type` is a number", |d| {
            d["components"]["schemas"]["Nonce"]["type"] = json!(5);
        }),
        ("an error code that is not an integer", |d| {
            d["components"]["errors"]["AuthenticationFailed"]["code"] = json!("-32001");
        }),
    ];
    for (what, break_it) in breakages {
        let mut broken = doc.clone();
        break_it(&mut broken);
        assert_ne!(broken, doc, "{what}: the breakage changed nothing");
        assert!(
            !validator.is_valid(&broken),
            "a copy of openrpc.json with {what} passed the meta-schema"
        );
    }
}

#[test]
fn error_codes_and_methods_are_those_of_the_protocol() {
    let doc = document();
    let errors = doc["components"]["errors"]
        .as_object()
        .expect("components.errors is an object");
    let found: BTreeMap<&str, (i64, &str)> = errors
        .iter()
        .map(|(key, error)| {
            let code = error["code"].as_i64().expect("integer code");
            let message = error["message"].as_str().expect("string message");
            (key.as_str(), (code, message))
        })
        .collect();
    let expected: BTreeMap<&str, (i64, &str)> = PROTOCOL_ERRORS
        .iter()
        .map(|&(key, code, message)| (key, (code, message)))
        .collect();
    assert_eq!(
        found, expected,
        "components.errors differs from protocol.md"
    );
    // Application codes are in the documented block, away from JSON-RPC's
    // reserved range (where jsonrpsee sends codes of its own) and from the
    // client-side codes 1000..=1999; the standard ones keep their numbers.
    for (key, &(code, _)) in &found {
        match *key {
            "InvalidParams" | "InternalError" => assert!((-32603..=-32600).contains(&code)),
            _ => assert!((2000..=2999).contains(&code), "{key}: {code}"),
        }
    }

    let methods = doc["methods"].as_array().expect("methods is an array");
    let names: Vec<&str> = methods.iter().filter_map(|m| m["name"].as_str()).collect();
    let protocol_names: Vec<&str> = PROTOCOL_METHODS.iter().map(|m| m.0).collect();
    assert_eq!(
        names.iter().copied().collect::<BTreeSet<_>>(),
        protocol_names.iter().copied().collect::<BTreeSet<_>>(),
        "methods differ from protocol.md"
    );
    assert_eq!(names.len(), protocol_names.len(), "duplicate method names");

    for (name, params, method_errors) in PROTOCOL_METHODS {
        let method = methods.iter().find(|m| m["name"] == name).unwrap();
        assert_eq!(method["paramStructure"], "by-name", "{name}");
        let param_names: Vec<String> = method["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                // Optional params are listed as `name?`.
                let name = p["name"].as_str().unwrap();
                match p["required"] == true {
                    true => name.to_owned(),
                    false => format!("{name}?"),
                }
            })
            .collect();
        assert_eq!(param_names, params, "{name}: params");
        let refs: Vec<&str> = method["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let target = e["$ref"].as_str().expect("errors are $refs");
                target
                    .strip_prefix("#/components/errors/")
                    .unwrap_or_else(|| panic!("{name}: error ref {target}"))
            })
            .collect();
        assert_eq!(refs, method_errors, "{name}: errors");
    }

    // Protected methods are those listing `Unauthenticated`: only `play`.
    let protected: Vec<&str> = methods
        .iter()
        .filter(|m| {
            m["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["$ref"] == "#/components/errors/Unauthenticated")
        })
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(protected, ["play", "call", "list_functions"]);
}

/// A validator for one content descriptor's schema, its `$ref`s resolved
/// against the document's own `components`.
fn descriptor_validator(doc: &Value, schema: &Value) -> Validator {
    let root = json!({"allOf": [schema], "components": doc["components"]});
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .with_retriever(NoNetwork)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}

#[test]
fn examples_match_their_schemas() {
    let doc = document();
    for method in doc["methods"].as_array().unwrap() {
        let name = method["name"].as_str().unwrap();
        let pairings = method["examples"].as_array().expect("examples");
        assert!(!pairings.is_empty(), "{name} has no example");
        let result = descriptor_validator(&doc, &method["result"]["schema"]);
        for pairing in pairings {
            let example = pairing["name"].as_str().unwrap();
            for param in pairing["params"].as_array().unwrap() {
                let descriptor = method["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["name"] == param["name"])
                    .unwrap_or_else(|| panic!("{name}/{example}: unknown param {param}"));
                let validator = descriptor_validator(&doc, &descriptor["schema"]);
                assert!(
                    validator.is_valid(&param["value"]),
                    "{name}/{example}: param {param} does not match its schema"
                );
            }
            let value = &pairing["result"]["value"];
            if name != "rpc.discover" {
                let errors: Vec<String> = result
                    .iter_errors(value)
                    .map(|e| format!("at `{}`: {e}", e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{name}/{example}: {errors:?}");
            }
        }
        // The result schemas reject unknown fields.
        if name != "rpc.discover" {
            let mut extra = pairings[0]["result"]["value"].clone();
            extra["unexpected"] = json!(1);
            assert!(!result.is_valid(&extra), "{name}: extra field accepted");
        }
    }
    // The data schemas of the errors exist: a component schema of an
    // object, or (the standard errors' reason) an inline string.
    for (error, target) in doc["x-error-data"].as_object().expect("x-error-data") {
        assert!(doc["components"]["errors"].get(error).is_some(), "{error}");
        match target["$ref"].as_str() {
            Some(reference) => {
                let key = reference
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{error}: {target}"));
                assert_eq!(doc["components"]["schemas"][key]["type"], "object", "{key}");
            }
            None => assert_eq!(target["type"], "string", "{error}: {target}"),
        }
    }
}
