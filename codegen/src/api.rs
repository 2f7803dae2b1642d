//! The validated, resolved view of a spec that the emitters work from.
//!
//! [`Api::from_json`] is the only way to get one, so emitters never meet an
//! unresolved reference, a duplicate name or a missing field.

use std::collections::{BTreeMap, HashMap};

use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::Value;

use crate::document::{self, ContentDescriptor, Document, ErrorObject, ParamStructure};
use crate::error::{Collector, SpecErrors};
use crate::refs;

/// The name the generated glue serves the document under; the only `rpc.` name a spec may declare.
pub const DISCOVER: &str = "rpc.discover";

#[derive(Debug, Clone)]
pub struct Api {
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    /// Spec methods, `rpc.discover` excluded (the glue serves it from [`Api::document`]).
    pub methods: Vec<Method>,
    pub schemas: BTreeMap<String, Value>,
    /// The document text exactly as read, embedded for `rpc.discover`.
    pub document: String,
}

#[derive(Debug, Clone)]
pub struct Method {
    /// Wire name.
    pub name: String,
    /// Rust function name (snake_case).
    pub ident: String,
    /// Prefix of the generated type names (UpperCamelCase).
    pub type_prefix: String,
    pub doc: Option<String>,
    pub structure: ParamStructure,
    pub params: Vec<Param>,
    pub result: Typed,
    pub errors: Vec<MethodError>,
}

/// A content descriptor whose schema becomes a Rust type.
#[derive(Debug, Clone)]
pub struct Typed {
    pub name: String,
    pub doc: Option<String>,
    pub schema: Value,
    /// Where the schema stands, for error messages.
    pub schema_path: String,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub typed: Typed,
    /// Rust field name.
    pub field: String,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct MethodError {
    pub variant: String,
    pub code: i32,
    pub message: String,
}

impl Api {
    /// Parses and validates an OpenRPC document.
    pub fn from_json(text: &str) -> Result<Api, SpecErrors> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            SpecErrors::one(
                "$",
                format!(
                    "invalid JSON at line {}, column {}: {}",
                    e.line(),
                    e.column(),
                    json_error_text(&e)
                ),
            )
        })?;
        let document: Document = serde_path_to_error::deserialize(&value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "$".to_string() } else { path };
            SpecErrors::one(path, e.into_inner().to_string())
        })?;

        let mut errors = Collector::default();
        check_version(&document.openrpc, &mut errors);
        refs::check_all_resolve(&value, &mut errors);
        for (name, schema) in &document.components.schemas {
            refs::check_schema_refs(schema, &format!("components.schemas.{name}"), &mut errors);
        }

        let mut methods = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut idents: HashMap<String, usize> = HashMap::new();
        for (index, method) in document.methods.iter().enumerate() {
            let path = format!("methods[{index}]");
            let Some(method) = resolve_method(&document, method, &path, &mut errors) else {
                continue;
            };
            if let Some(first) = names.insert(method.name.clone(), index) {
                errors.push(
                    format!("{path}.name"),
                    format!(
                        "duplicate method name \"{}\" (first declared at methods[{first}])",
                        method.name
                    ),
                );
                continue;
            }
            if method.name == DISCOVER {
                if !method.params.is_empty() {
                    errors.push(format!("{path}.params"), "rpc.discover takes no params");
                }
                continue;
            }
            if let Some(first) = idents.insert(method.ident.clone(), index) {
                errors.push(
                    format!("{path}.name"),
                    format!(
                        "method \"{}\" becomes the Rust name `{}`, as methods[{first}] does",
                        method.name, method.ident
                    ),
                );
            }
            methods.push(method);
        }
        check_generated_names(&methods, &document.components.schemas, &mut errors);

        errors.finish(Api {
            title: document.info.title,
            version: document.info.version,
            description: document.info.description,
            methods,
            schemas: document.components.schemas,
            document: text.to_string(),
        })
    }
}

/// serde_json's message without its trailing " at line X column Y" (reported separately).
fn json_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn check_version(version: &str, errors: &mut Collector) {
    let mut parts = version.split('.');
    let supported = matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(minor), Some(patch), None)
            if matches!(minor, "0" | "1" | "2" | "3") && !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit())
    );
    if !supported {
        errors.push(
            "openrpc",
            format!("unsupported OpenRPC version \"{version}\" (supported: 1.0.x to 1.3.x)"),
        );
    }
}

fn resolve_method(
    document: &Document,
    method: &document::Method,
    path: &str,
    errors: &mut Collector,
) -> Option<Method> {
    if method.reference.is_some() {
        errors.push(
            path,
            "a method may not be a $ref here: write the method inline",
        );
        return None;
    }
    let Some(name) = method.name.clone() else {
        errors.push(path, "missing field `name`");
        return None;
    };
    let name_path = format!("{path}.name");
    if name.is_empty() {
        errors.push(&name_path, "method name is empty");
        return None;
    }
    if name.starts_with("rpc.") && name != DISCOVER {
        errors.push(
            &name_path,
            format!("\"{name}\": names starting with `rpc.` are reserved (only rpc.discover may be declared)"),
        );
        return None;
    }
    let ident = rust_ident(&name.to_snake_case());
    let type_prefix = name.to_upper_camel_case();
    if ident.is_none() || !is_identifier(&type_prefix) {
        errors.push(
            &name_path,
            format!("\"{name}\" cannot be turned into a Rust identifier"),
        );
        return None;
    }
    if let Some(ident) = &ident
        && name != DISCOVER
        && RESERVED_METHOD_NAMES.contains(&ident.as_str())
    {
        errors.push(
            &name_path,
            format!(
                "\"{name}\" becomes the Rust name `{ident}`, which the generated client has already: rename the method"
            ),
        );
        return None;
    }

    let params = match &method.params {
        Some(params) => resolve_params(document, params, method.param_structure, path, errors),
        None => {
            errors.push(path, "missing field `params`");
            Vec::new()
        }
    };
    let result = match &method.result {
        Some(result) => resolve_descriptor(document, result, &format!("{path}.result"), errors)?,
        None => {
            errors.push(
                path,
                "missing field `result` (notifications are not supported)",
            );
            return None;
        }
    };
    let method_errors = resolve_errors(document, &method.errors, path, errors);

    Some(Method {
        ident: ident.unwrap_or_default(),
        type_prefix,
        doc: join_doc(method.summary.as_deref(), method.description.as_deref()),
        structure: method.param_structure,
        params,
        result: result.0,
        errors: method_errors,
        name,
    })
}

fn resolve_params(
    document: &Document,
    params: &[ContentDescriptor],
    structure: ParamStructure,
    path: &str,
    errors: &mut Collector,
) -> Vec<Param> {
    let mut resolved: Vec<Param> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut first_optional: Option<usize> = None;
    for (index, param) in params.iter().enumerate() {
        let param_path = format!("{path}.params[{index}]");
        let Some((typed, required)) = resolve_descriptor(document, param, &param_path, errors)
        else {
            continue;
        };
        if let Some(first) = seen.insert(typed.name.clone(), index) {
            errors.push(
                format!("{param_path}.name"),
                format!(
                    "duplicate param name \"{}\" (first declared at {path}.params[{first}])",
                    typed.name
                ),
            );
            continue;
        }
        let Some(field) = rust_ident(&typed.name.to_snake_case()) else {
            errors.push(
                format!("{param_path}.name"),
                format!("\"{}\" cannot be turned into a Rust identifier", typed.name),
            );
            continue;
        };
        if resolved.iter().any(|p| p.field == field) {
            errors.push(
                format!("{param_path}.name"),
                format!(
                    "\"{}\" becomes the Rust field `{field}`, as an earlier param does",
                    typed.name
                ),
            );
            continue;
        }
        match (required, first_optional) {
            (false, None) => first_optional = Some(index),
            (true, Some(optional)) if structure != ParamStructure::ByName => errors.push(
                format!("{param_path}.required"),
                format!(
                    "a required param may not follow an optional one ({path}.params[{optional}]) when params may be passed by position"
                ),
            ),
            _ => {}
        }
        resolved.push(Param {
            typed,
            field,
            required,
        });
    }
    resolved
}

/// Resolves a content descriptor (inline or `$ref`) to its name, schema and `required` flag.
fn resolve_descriptor(
    document: &Document,
    descriptor: &ContentDescriptor,
    path: &str,
    errors: &mut Collector,
) -> Option<(Typed, bool)> {
    let (descriptor, path) = match &descriptor.reference {
        Some(reference) => {
            let Some(key) = refs::component_name(reference, refs::CONTENT_DESCRIPTORS) else {
                errors.push(
                    path,
                    format!(
                        "$ref {reference} must have the form {}<name>",
                        refs::CONTENT_DESCRIPTORS
                    ),
                );
                return None;
            };
            // A missing target was already reported by the document-wide $ref check.
            let target = document.components.content_descriptors.get(key)?;
            (target, format!("components.contentDescriptors.{key}"))
        }
        None => (descriptor, path.to_string()),
    };
    let name = match &descriptor.name {
        Some(name) if !name.is_empty() => name.clone(),
        Some(_) => {
            errors.push(format!("{path}.name"), "name is empty");
            return None;
        }
        None => {
            errors.push(&path, "missing field `name`");
            return None;
        }
    };
    let Some(schema) = descriptor.schema.clone() else {
        errors.push(&path, "missing field `schema`");
        return None;
    };
    let schema_path = format!("{path}.schema");
    refs::check_schema_refs(&schema, &schema_path, errors);
    Some((
        Typed {
            name,
            doc: join_doc(
                descriptor.summary.as_deref(),
                descriptor.description.as_deref(),
            ),
            schema,
            schema_path,
        },
        descriptor.required,
    ))
}

fn resolve_errors(
    document: &Document,
    declared: &[ErrorObject],
    path: &str,
    errors: &mut Collector,
) -> Vec<MethodError> {
    let mut resolved: Vec<MethodError> = Vec::new();
    for (index, error) in declared.iter().enumerate() {
        let error_path = format!("{path}.errors[{index}]");
        let (error, variant_hint, error_path) = match &error.reference {
            Some(reference) => {
                let Some(key) = refs::component_name(reference, refs::ERRORS) else {
                    errors.push(
                        &error_path,
                        format!("$ref {reference} must have the form {}<name>", refs::ERRORS),
                    );
                    continue;
                };
                let Some(target) = document.components.errors.get(key) else {
                    continue; // reported by the document-wide $ref check
                };
                (
                    target,
                    Some(key.to_string()),
                    format!("components.errors.{key}"),
                )
            }
            None => (error, None, error_path),
        };
        let (Some(code), Some(message)) = (error.code, error.message.clone()) else {
            let missing = if error.code.is_none() {
                "code"
            } else {
                "message"
            };
            errors.push(&error_path, format!("missing field `{missing}`"));
            continue;
        };
        if let Some(first) = resolved.iter().find(|e| e.code == code) {
            errors.push(
                &error_path,
                format!(
                    "error code {code} is declared twice for this method (also as {})",
                    first.variant
                ),
            );
            continue;
        }
        let mut variant = variant_hint.unwrap_or_else(|| message.to_upper_camel_case());
        if !is_identifier(&variant)
            || variant == "Other"
            || resolved.iter().any(|e| e.variant == variant)
        {
            variant = format!("Code{}", code.unsigned_abs());
        }
        resolved.push(MethodError {
            variant,
            code,
            message,
        });
    }
    resolved
}

/// Methods the generated `ApiClient` defines besides one per spec method.
const RESERVED_METHOD_NAMES: &[&str] = &["new", "inner", "into_inner", "rpc_discover"];

/// Names the generated server and client modules define for themselves.
pub(crate) const RESERVED_TYPE_NAMES: &[&str] = &["Api", "ApiClient", "CallContext", "CallError"];

/// Generated type names must not collide with the spec's own schema names.
fn check_generated_names(
    methods: &[Method],
    schemas: &BTreeMap<String, Value>,
    errors: &mut Collector,
) {
    for name in schemas.keys() {
        if RESERVED_TYPE_NAMES.contains(&name.to_upper_camel_case().as_str()) {
            errors.push(
                format!("components.schemas.{name}"),
                "the name is taken by a generated server or client type: rename the schema",
            );
        }
    }
    for method in methods {
        for suffix in ["Params", "Error"] {
            let generated = format!("{}{suffix}", method.type_prefix);
            if schemas.contains_key(&generated) {
                errors.push(
                    format!("components.schemas.{generated}"),
                    format!(
                        "the name is taken by the generated {} type of method \"{}\": rename the schema",
                        suffix.to_lowercase(),
                        method.name
                    ),
                );
            }
        }
    }
}

fn join_doc(summary: Option<&str>, description: Option<&str>) -> Option<String> {
    match (summary, description) {
        (Some(s), Some(d)) => Some(format!("{s}\n\n{d}")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(d)) => Some(d.to_string()),
        (None, None) => None,
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_"
}

/// A snake_case name as a usable Rust identifier: keywords get a raw `r#`
/// prefix, or a trailing `_` for the few that cannot be raw.
fn rust_ident(snake: &str) -> Option<String> {
    if !is_identifier(snake) {
        return None;
    }
    if matches!(snake, "self" | "super" | "crate" | "extern") {
        return Some(format!("{snake}_"));
    }
    if syn::parse_str::<syn::Ident>(snake).is_ok() {
        Some(snake.to_string())
    } else {
        Some(format!("r#{snake}"))
    }
}
