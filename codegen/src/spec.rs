//! The validated, resolved view of a spec that the emitters work from.
//!
//! [`Spec::from_json`] is the only way to get one, so emitters never meet an
//! unresolved reference, a duplicate name or a missing field, and every
//! schema already has its Rust type (a typify [`TypeId`]).

use std::collections::{BTreeMap, HashMap};

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use serde_json::Value;
use typify::{TypeId, TypeSpace};

use crate::document::{self, ContentDescriptor, Document, ErrorObject, ParamStructure};
use crate::emit::Settings;
use crate::error::{Collector, SpecErrors};
use crate::refs;
use crate::types::{Typer, upper_camel};

/// The name the generated glue serves the document under; the only `rpc.` name a spec may declare.
pub const DISCOVER: &str = "rpc.discover";

/// The codes JSON-RPC 2.0 itself defines; the rest of -32768..=-32000 is
/// reserved, and jsonrpsee sends codes of its own from it.
const STANDARD_CODES: &[i32] = &[-32700, -32600, -32601, -32602, -32603];
const RESERVED_CODES: std::ops::RangeInclusive<i32> = -32768..=-32000;

#[derive(Debug)]
pub struct Spec {
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    /// Spec methods, `rpc.discover` excluded (the runtime serves it from [`Spec::document`]).
    pub methods: Vec<Method>,
    /// The errors `rpc.discover` declares.
    pub discover_errors: Vec<MethodError>,
    /// `components.errors`, each with the name of its code constant.
    pub error_codes: Vec<ErrorCode>,
    /// Every Rust type the spec's schemas need.
    pub types: TypeSpace,
    /// The document text exactly as read, served by `rpc.discover`.
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
    pub result: TypeId,
    pub errors: Vec<MethodError>,
}

#[derive(Debug, Clone)]
pub struct Param {
    /// Wire name.
    pub name: String,
    /// Rust field name.
    pub field: String,
    pub doc: Option<String>,
    pub required: bool,
    pub ty: TypeId,
}

#[derive(Debug, Clone)]
pub struct MethodError {
    pub variant: String,
    pub code: i32,
    /// The `error_code` constant of a component error.
    pub constant: Option<String>,
    pub message: String,
    /// The type of the error's `data` (`x-error-data`); `None`: it carries none.
    pub data: Option<TypeId>,
}

/// A component error's code, as a constant of the generated `error_code` module.
#[derive(Debug, Clone)]
pub struct ErrorCode {
    /// The component's name (`ScriptCompileError`).
    pub name: String,
    /// `SCRIPT_COMPILE_ERROR`
    pub constant: String,
    pub code: i32,
    pub message: String,
}

/// A method resolved but not yet typed: its schemas are still JSON.
#[derive(Debug, Clone)]
struct DraftMethod {
    name: String,
    ident: String,
    type_prefix: String,
    doc: Option<String>,
    structure: ParamStructure,
    params: Vec<DraftParam>,
    result: Draft,
    errors: Vec<DraftError>,
}

/// A content descriptor whose schema is to become a Rust type.
#[derive(Debug, Clone)]
struct Draft {
    name: String,
    doc: Option<String>,
    schema: Value,
    /// Where the schema stands, for error messages.
    schema_path: String,
}

#[derive(Debug, Clone)]
struct DraftParam {
    draft: Draft,
    field: String,
    required: bool,
}

#[derive(Debug, Clone)]
struct DraftError {
    variant: String,
    code: i32,
    message: String,
    /// The `components.errors` name, for a `$ref`ed error.
    component: Option<String>,
}

impl Spec {
    /// Parses and validates an OpenRPC document, and types its schemas.
    pub fn from_json(text: &str, settings: &Settings) -> Result<Spec, SpecErrors> {
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
        let mut discover_errors = Vec::new();
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
                discover_errors = method.errors;
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
        let error_codes = error_codes(&document, &mut errors);
        check_error_data_names(&document, &mut errors);
        let (methods, discover_errors, error_codes) =
            errors.finish((methods, discover_errors, error_codes))?;

        // Structure is sound: give every schema its Rust type.
        let mut typer = Typer::new(
            &document.components.schemas,
            settings,
            generated_names(&methods),
        )?;
        let mut errors = Collector::default();
        let error_data = type_error_data(&document, &mut typer, &mut errors);
        let methods: Vec<Method> = methods
            .into_iter()
            .filter_map(|method| type_method(method, &mut typer, &error_data, &mut errors))
            .collect();
        let discover_errors = type_errors(discover_errors, &error_data);
        errors.finish(Spec {
            title: document.info.title,
            version: document.info.version,
            description: document.info.description,
            methods,
            discover_errors,
            error_codes,
            types: typer.finish(),
            document: text.to_string(),
        })
    }
}

/// `components.errors` as code constants; codes in the range JSON-RPC reserves
/// are refused unless they are JSON-RPC's own.
fn error_codes(document: &Document, errors: &mut Collector) -> Vec<ErrorCode> {
    let mut codes: Vec<ErrorCode> = Vec::new();
    for (name, error) in &document.components.errors {
        let path = format!("components.errors.{name}");
        let (Some(code), Some(message)) = (error.code, error.message.clone()) else {
            continue; // reported where a method refers to it
        };
        check_code(code, &path, errors);
        let constant = name.to_shouty_snake_case();
        if !is_identifier(&constant) {
            errors.push(
                &path,
                format!("\"{name}\" cannot be turned into a Rust constant name"),
            );
            continue;
        }
        if let Some(first) = codes.iter().find(|c| c.constant == constant) {
            errors.push(
                &path,
                format!(
                    "\"{name}\" becomes the constant `{constant}`, as components.errors.{} does",
                    first.name
                ),
            );
            continue;
        }
        codes.push(ErrorCode {
            name: name.clone(),
            constant,
            code,
            message,
        });
    }
    codes
}

/// Application errors keep out of -32768..=-32000: jsonrpsee sends codes of
/// its own from there, and a client could not tell them apart.
fn check_code(code: i32, path: &str, errors: &mut Collector) {
    if RESERVED_CODES.contains(&code) && !STANDARD_CODES.contains(&code) {
        errors.push(
            format!("{path}.code"),
            format!(
                "code {code} is in the range JSON-RPC reserves (-32768 to -32000), where jsonrpsee sends codes of its own: choose a code outside it"
            ),
        );
    }
}

/// Every `x-error-data` entry must belong to a component error.
fn check_error_data_names(document: &Document, errors: &mut Collector) {
    for (name, schema) in &document.error_data {
        let path = format!("x-error-data.{name}");
        if !document.components.errors.contains_key(name) {
            errors.push(
                &path,
                format!("there is no error \"{name}\" in components.errors"),
            );
        }
        refs::check_schema_refs(schema, &path, errors);
    }
}

/// The type of each component error's `data`, by error name.
fn type_error_data(
    document: &Document,
    typer: &mut Typer,
    errors: &mut Collector,
) -> BTreeMap<String, TypeId> {
    let mut types = BTreeMap::new();
    for (name, schema) in &document.error_data {
        match typer.add(schema, format!("{}Data", upper_camel(name))) {
            Ok(ty) => {
                types.insert(name.clone(), ty);
            }
            Err(message) => errors.push(format!("x-error-data.{name}"), message),
        }
    }
    types
}

fn type_method(
    method: DraftMethod,
    typer: &mut Typer,
    error_data: &BTreeMap<String, TypeId>,
    errors: &mut Collector,
) -> Option<Method> {
    let mut params = Vec::new();
    for param in method.params {
        let hint = format!("{}{}", method.type_prefix, upper_camel(&param.draft.name));
        match typer.add(&param.draft.schema, hint) {
            Ok(ty) => params.push(Param {
                name: param.draft.name,
                field: param.field,
                doc: param.draft.doc,
                required: param.required,
                ty,
            }),
            Err(message) => errors.push(&param.draft.schema_path, message),
        }
    }
    let hint = format!("{}Result", method.type_prefix);
    let result = typer
        .add(&method.result.schema, hint)
        .map_err(|message| errors.push(&method.result.schema_path, message))
        .ok()?;
    Some(Method {
        name: method.name,
        ident: method.ident,
        type_prefix: method.type_prefix,
        doc: method.doc,
        structure: method.structure,
        params,
        result,
        errors: type_errors(method.errors, error_data),
    })
}

fn type_errors(errors: Vec<DraftError>, error_data: &BTreeMap<String, TypeId>) -> Vec<MethodError> {
    errors
        .into_iter()
        .map(|error| {
            let data = error
                .component
                .as_ref()
                .and_then(|name| error_data.get(name))
                .cloned();
            MethodError {
                variant: error.variant,
                code: error.code,
                constant: error.component.map(|name| name.to_shouty_snake_case()),
                message: error.message,
                data,
            }
        })
        .collect()
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
) -> Option<DraftMethod> {
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

    Some(DraftMethod {
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
) -> Vec<DraftParam> {
    let mut resolved: Vec<DraftParam> = Vec::new();
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
        resolved.push(DraftParam {
            draft: typed,
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
) -> Option<(Draft, bool)> {
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
        Draft {
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
) -> Vec<DraftError> {
    let mut resolved: Vec<DraftError> = Vec::new();
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
        if variant_hint.is_none() {
            check_code(code, &error_path, errors);
        }
        let component = variant_hint.clone();
        let mut variant = variant_hint.unwrap_or_else(|| message.to_upper_camel_case());
        if !is_identifier(&variant)
            || variant == "Other"
            || resolved.iter().any(|e| e.variant == variant)
        {
            variant = format!("Code{}", code.unsigned_abs());
        }
        resolved.push(DraftError {
            variant,
            code,
            message,
            component,
        });
    }
    resolved
}

/// Methods the generated `ApiClient` defines besides one per spec method.
const RESERVED_METHOD_NAMES: &[&str] = &["new", "inner", "into_inner", "rpc_discover"];

/// Names the generated server and client modules define for themselves.
const RESERVED_TYPE_NAMES: &[&str] = &["Api", "ApiClient", "CallContext", "RequestError"];

/// The error enum of `rpc.discover`.
pub const DISCOVER_ERROR: &str = "RpcDiscoverError";

/// Generated type names must not collide with the spec's own schema names.
fn check_generated_names(
    methods: &[DraftMethod],
    schemas: &BTreeMap<String, Value>,
    errors: &mut Collector,
) {
    let generated = generated_names(methods);
    for name in schemas.keys() {
        // A schema whose type only comes out as a generated name after
        // typify's renaming is reported once types are made.
        let reserved = name.to_upper_camel_case();
        let owner = generated.get(name).or_else(|| {
            RESERVED_TYPE_NAMES
                .contains(&reserved.as_str())
                .then(|| generated.get(&reserved))
                .flatten()
        });
        if let Some(owner) = owner {
            errors.push(
                format!("components.schemas.{name}"),
                format!("the name is taken by {owner}: rename the schema"),
            );
        }
    }
}

/// The type names the generated code defines itself, with what defines each.
fn generated_names(methods: &[DraftMethod]) -> BTreeMap<String, String> {
    let mut names: BTreeMap<String, String> = RESERVED_TYPE_NAMES
        .iter()
        .map(|name| {
            (
                name.to_string(),
                "a generated server or client type".to_string(),
            )
        })
        .collect();
    names.insert(
        DISCOVER_ERROR.to_string(),
        format!("the generated error type of method \"{DISCOVER}\""),
    );
    for method in methods {
        if !method.params.is_empty() {
            names.insert(
                format!("{}Params", method.type_prefix),
                format!("the generated params type of method \"{}\"", method.name),
            );
        }
        names.insert(
            format!("{}Error", method.type_prefix),
            format!("the generated error type of method \"{}\"", method.name),
        );
    }
    names
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
