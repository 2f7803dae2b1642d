//! `$ref` checks: every reference is local and resolves, and references in
//! schemas point at `#/components/schemas/<name>` (the only form the type
//! generator understands).

use serde_json::Value;

use crate::error::Collector;

/// Keys whose values are data rather than spec structure (a `$ref` inside an
/// example value or a `const` is not a reference).
const DATA_KEYS: &[&str] = &["value", "const", "enum", "default"];

/// Keys whose values map names to schemas or components: their keys are
/// names, never keywords (a property may be called `value` or `$ref`).
const NAME_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependencies",
    "schemas",
    "contentDescriptors",
    "errors",
];

pub(crate) const SCHEMAS: &str = "#/components/schemas/";
pub(crate) const CONTENT_DESCRIPTORS: &str = "#/components/contentDescriptors/";
pub(crate) const ERRORS: &str = "#/components/errors/";

/// Appends an object key to a location path.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() || path == "$" {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks that every `$ref` in the document resolves within the document.
pub(crate) fn check_all_resolve(root: &Value, errors: &mut Collector) {
    walk(root, "$", false, &mut |path, reference| {
        if let Err(message) = resolve(root, reference) {
            errors.push(path, message);
        }
    });
}

/// Checks that every `$ref` inside a JSON Schema names a component schema.
pub(crate) fn check_schema_refs(schema: &Value, path: &str, errors: &mut Collector) {
    walk(schema, path, false, &mut |path, reference| {
        if component_name(reference, SCHEMAS).is_none() {
            errors.push(
                path,
                format!("$ref {reference} in a schema must have the form {SCHEMAS}<name>"),
            );
        }
    });
}

/// The `<name>` of `<prefix><name>`, when `reference` has exactly that form.
pub(crate) fn component_name<'a>(reference: &'a str, prefix: &str) -> Option<&'a str> {
    reference
        .strip_prefix(prefix)
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// Resolves a local reference (`#/json/pointer`) against the document.
pub(crate) fn resolve<'a>(root: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(format!(
            "$ref {reference} is not local: only references into this document (#/...) are supported"
        ));
    };
    root.pointer(pointer)
        .ok_or_else(|| format!("$ref {reference} not found"))
}

fn walk(value: &Value, path: &str, keys_are_names: bool, on_ref: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::Object(map) if keys_are_names => {
            for (key, child) in map {
                walk(child, &join(path, key), false, on_ref);
            }
        }
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref") {
                match reference.as_str() {
                    Some(reference) => on_ref(path, reference),
                    None => on_ref(path, "<not a string>"),
                }
            }
            for (key, child) in map {
                if key != "$ref" && !DATA_KEYS.contains(&key.as_str()) {
                    walk(
                        child,
                        &join(path, key),
                        NAME_MAPS.contains(&key.as_str()),
                        on_ref,
                    );
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{index}]"), false, on_ref);
            }
        }
        _ => {}
    }
}
