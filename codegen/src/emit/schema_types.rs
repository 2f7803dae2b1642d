//! JSON Schema → Rust types, through typify, with every failure located.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use schemars::schema::Schema;
use serde_json::Value;
use typify::{TypeDetails, TypeSpace, TypeSpaceSettings};

use crate::api::{Api, RESERVED_TYPE_NAMES, Typed};
use crate::error::{Collector, SpecErrors};
use crate::guard::catch_panic;

/// The Rust types of one method's params (in order) and result.
pub(crate) struct MethodTypes {
    pub params: Vec<TokenStream>,
    pub result: TokenStream,
}

pub(crate) struct SchemaTypes {
    /// Every generated type definition.
    pub definitions: TokenStream,
    /// One entry per `api.methods` element.
    pub methods: Vec<MethodTypes>,
}

pub(crate) fn generate(api: &Api) -> Result<SchemaTypes, SpecErrors> {
    let mut errors = Collector::default();
    let mut definitions = BTreeMap::new();
    for (name, schema) in &api.schemas {
        match to_schema(schema) {
            Ok(schema) => {
                definitions.insert(name.clone(), schema);
            }
            Err(message) => errors.push(format!("components.schemas.{name}"), message),
        }
    }
    let definitions = errors.finish(definitions)?;

    let mut space = TypeSpace::new(&settings());
    if let Err(message) = add_definitions(&mut space, definitions.clone()) {
        return Err(locate_bad_definition(&definitions, message));
    }

    let generated = generated_names(api);
    let mut errors = Collector::default();
    for name in named_types(&space) {
        if let Some(owner) = generated.get(&name) {
            let path = match api.schemas.keys().find(|key| upper_camel(key) == name) {
                Some(key) => format!("components.schemas.{key}"),
                None => "components.schemas".to_string(),
            };
            errors.push(
                path,
                format!("typify names a type `{name}`, as {owner}: rename the schema or property it comes from"),
            );
        }
    }
    let mut methods = Vec::new();
    for method in &api.methods {
        let mut params = Vec::new();
        for param in &method.params {
            let hint = format!("{}{}", method.type_prefix, upper_camel(&param.typed.name));
            match add_typed(&mut space, &param.typed, hint, &generated) {
                Ok(ty) if param.required => params.push(ty),
                Ok(ty) => params.push(quote::quote! { ::std::option::Option<#ty> }),
                Err(message) => errors.push(&param.typed.schema_path, message),
            }
        }
        let hint = format!("{}Result", method.type_prefix);
        let result =
            add_typed(&mut space, &method.result, hint, &generated).unwrap_or_else(|message| {
                errors.push(&method.result.schema_path, message);
                TokenStream::new()
            });
        methods.push(MethodTypes { params, result });
    }
    let methods = errors.finish(methods)?;
    let definitions = catch_panic(|| space.to_stream()).map_err(|panic| {
        SpecErrors::one("components.schemas", format!("typify failed: {panic}"))
    })?;
    Ok(SchemaTypes {
        definitions,
        methods,
    })
}

fn settings() -> TypeSpaceSettings {
    let mut settings = TypeSpaceSettings::default();
    settings
        .with_struct_builder(false)
        .with_derive("PartialEq".to_string());
    settings
}

fn to_schema(value: &Value) -> Result<Schema, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("not a JSON Schema: {e}"))
}

fn add_definitions(
    space: &mut TypeSpace,
    definitions: BTreeMap<String, Schema>,
) -> Result<(), String> {
    match catch_panic(|| space.add_ref_types(definitions)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("typify cannot generate a type: {error}")),
        Err(panic) => Err(format!(
            "typify cannot generate a type (it panicked: {panic})"
        )),
    }
}

/// typify takes the component schemas as one batch; to name the culprit, try
/// each one alone with every other schema replaced by an "any value" stand-in
/// (so references still resolve).
fn locate_bad_definition(
    definitions: &BTreeMap<String, Schema>,
    batch_message: String,
) -> SpecErrors {
    for (name, schema) in definitions {
        let probe: BTreeMap<String, Schema> = definitions
            .keys()
            .map(|other| {
                let stand_in = if other == name {
                    schema.clone()
                } else {
                    Schema::Bool(true)
                };
                (other.clone(), stand_in)
            })
            .collect();
        if let Err(message) = add_definitions(&mut TypeSpace::new(&settings()), probe) {
            return SpecErrors::one(format!("components.schemas.{name}"), message);
        }
    }
    SpecErrors::one("components.schemas", batch_message)
}

fn add_typed(
    space: &mut TypeSpace,
    typed: &Typed,
    name_hint: String,
    generated: &BTreeMap<String, String>,
) -> Result<TokenStream, String> {
    let schema = to_schema(&typed.schema)?;
    let taken = named_types(space);
    let own_name = upper_camel(&name_hint);
    let id = match catch_panic(|| space.add_type_with_name(&schema, Some(name_hint))) {
        Ok(Ok(id)) => id,
        Ok(Err(error)) => return Err(format!("typify cannot generate a type: {error}")),
        Err(panic) => {
            return Err(format!(
                "typify cannot generate a type (it panicked: {panic})"
            ));
        }
    };
    let ty = space
        .get_type(&id)
        .map_err(|error| format!("typify lost the type it made: {error}"))?;
    // Given a name that is taken, typify silently reuses the type of that
    // name instead of making one for this schema.
    if ty.name() == own_name && taken.contains(&own_name) && !refers_to(&typed.schema, &own_name) {
        return Err(format!(
            "the type this schema needs would be called `{own_name}`, which another schema's type is already called: rename the param, or $ref that schema"
        ));
    }
    for name in named_types(space).difference(&taken) {
        if let Some(owner) = generated.get(name) {
            return Err(format!(
                "typify names a type of this schema `{name}`, as {owner}: rename the param or the property it comes from"
            ));
        }
    }
    catch_panic(|| ty.ident())
        .map_err(|panic| format!("typify cannot name the type (it panicked: {panic})"))
}

/// The names of the structs, enums and newtypes typify has made so far.
fn named_types(space: &TypeSpace) -> BTreeSet<String> {
    space
        .iter_types()
        .filter(|ty| {
            matches!(
                ty.details(),
                TypeDetails::Struct(_) | TypeDetails::Enum(_) | TypeDetails::Newtype(_)
            )
        })
        .map(|ty| ty.name())
        .collect()
}

/// The type names the generated code defines itself, with what defines each.
fn generated_names(api: &Api) -> BTreeMap<String, String> {
    let mut names: BTreeMap<String, String> = RESERVED_TYPE_NAMES
        .iter()
        .map(|name| {
            (
                name.to_string(),
                "a generated server or client type".to_string(),
            )
        })
        .collect();
    for method in &api.methods {
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

/// Whether `schema` refers to the component schema whose type is `type_name`.
fn refers_to(schema: &Value, type_name: &str) -> bool {
    match schema {
        Value::Object(map) => map.iter().any(|(key, value)| match (key.as_str(), value) {
            ("$ref", Value::String(reference)) => reference
                .strip_prefix(crate::refs::SCHEMAS)
                .is_some_and(|name| upper_camel(name) == type_name),
            _ => refers_to(value, type_name),
        }),
        Value::Array(items) => items.iter().any(|item| refers_to(item, type_name)),
        _ => false,
    }
}

fn upper_camel(name: &str) -> String {
    heck::ToUpperCamelCase::to_upper_camel_case(name)
}
