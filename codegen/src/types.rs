//! JSON Schema → Rust types, through typify, with every failure located.
//!
//! [`Typer`] owns the typify `TypeSpace` while the spec is resolved: the
//! component schemas go in first, then each param, result and error-data
//! schema, and the [`TypeId`] typify hands back is what the IR keeps.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Group, Spacing, TokenStream, TokenTree};
use quote::{format_ident, quote};
use schemars::schema::Schema;
use serde_json::Value;
use typify::{TypeDetails, TypeId, TypeSpace, TypeSpaceImpl, TypeSpaceSettings};

use crate::emit::Settings;
use crate::error::{Collector, SpecErrors};
use crate::guard::catch_panic;

/// Builds the type space of one spec.
pub(crate) struct Typer {
    space: TypeSpace,
    /// Type names the generated code defines itself, with what defines each.
    generated: BTreeMap<String, String>,
}

impl Typer {
    /// A type space holding every component schema. `generated` names the
    /// types the generator defines itself; a schema whose type would take
    /// one of those names is an error.
    pub fn new(
        schemas: &BTreeMap<String, Value>,
        settings: &Settings,
        generated: BTreeMap<String, String>,
    ) -> Result<Typer, SpecErrors> {
        let mut errors = Collector::default();
        let mut definitions = BTreeMap::new();
        for (name, schema) in schemas {
            match to_schema(schema) {
                Ok(schema) => {
                    definitions.insert(name.clone(), schema);
                }
                Err(message) => errors.push(format!("components.schemas.{name}"), message),
            }
        }
        let definitions = errors.finish(definitions)?;

        let settings = type_space_settings(settings);
        let mut space = TypeSpace::new(&settings);
        if let Err(message) = add_definitions(&mut space, definitions.clone()) {
            return Err(locate_bad_definition(&definitions, &settings, message));
        }
        let mut errors = Collector::default();
        for name in named_types(&space) {
            if let Some(owner) = generated.get(&name) {
                let path = match schemas.keys().find(|key| upper_camel(key) == name) {
                    Some(key) => format!("components.schemas.{key}"),
                    None => "components.schemas".to_string(),
                };
                errors.push(
                    path,
                    format!("typify names a type `{name}`, as {owner}: rename the schema or property it comes from"),
                );
            }
        }
        errors.finish(Typer { space, generated })
    }

    /// Adds `schema` (named after `name_hint` if it needs a type of its own)
    /// and returns its type's id; the error is the reason, to be located by
    /// the caller.
    pub fn add(&mut self, schema: &Value, name_hint: String) -> Result<TypeId, String> {
        let parsed = to_schema(schema)?;
        let taken = named_types(&self.space);
        let own_name = upper_camel(&name_hint);
        let space = &mut self.space;
        let id = match catch_panic(|| space.add_type_with_name(&parsed, Some(name_hint))) {
            Ok(Ok(id)) => id,
            Ok(Err(error)) => return Err(format!("typify cannot generate a type: {error}")),
            Err(panic) => {
                return Err(format!(
                    "typify cannot generate a type (it panicked: {panic})"
                ));
            }
        };
        let ty = self
            .space
            .get_type(&id)
            .map_err(|error| format!("typify lost the type it made: {error}"))?;
        // Given a name that is taken, typify silently reuses the type of that
        // name instead of making one for this schema.
        if ty.name() == own_name && taken.contains(&own_name) && !refers_to(schema, &own_name) {
            return Err(format!(
                "the type this schema needs would be called `{own_name}`, which another schema's type is already called: rename the param, or $ref that schema"
            ));
        }
        for name in named_types(&self.space).difference(&taken) {
            if let Some(owner) = self.generated.get(name) {
                return Err(format!(
                    "typify names a type of this schema `{name}`, as {owner}: rename the param or the property it comes from"
                ));
            }
        }
        // Naming the type must work now, so that emitting it later cannot fail.
        catch_panic(|| ty.ident())
            .map_err(|panic| format!("typify cannot name the type (it panicked: {panic})"))?;
        Ok(id)
    }

    /// The finished type space.
    pub fn finish(self) -> TypeSpace {
        self.space
    }
}

/// The Rust type of `id`, which [`Typer::add`] made and named.
pub(crate) fn rust_type(space: &TypeSpace, id: &TypeId) -> TokenStream {
    match space.get_type(id) {
        Ok(ty) => ty.ident(),
        Err(error) => {
            let message = format!("circles-codegen lost a type: {error}");
            quote! { ::std::compile_error!(#message) }
        }
    }
}

/// Every type definition, or the place typify failed.
pub(crate) fn definitions(space: &TypeSpace) -> Result<TokenStream, SpecErrors> {
    catch_panic(|| space.to_stream())
        .map(patterns_through_runtime)
        .map_err(|panic| SpecErrors::one("components.schemas", format!("typify failed: {panic}")))
}

/// typify's `pattern` checks use the `regress` crate (`::regress::Regex`);
/// the generated code uses the runtime's `pattern::Regex` instead, which is
/// regress natively and the browser's `RegExp` in a browser module. So a crate
/// of generated code does not depend on regress itself, and the browser does
/// not download a second regex engine.
fn patterns_through_runtime(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(trees.len());
    for (index, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => {
                let mut fixed =
                    Group::new(group.delimiter(), patterns_through_runtime(group.stream()));
                fixed.set_span(group.span());
                out.push(TokenTree::Group(fixed));
            }
            TokenTree::Ident(ident)
                if ident == "regress"
                    && index >= 2
                    && is_path_separator(&trees[index - 2], &trees[index - 1]) =>
            {
                let runtime = format_ident!("{}", crate::RUNTIME, span = ident.span());
                out.extend(quote! { #runtime::pattern });
            }
            other => out.push(other.clone()),
        }
    }
    out.into_iter().collect()
}

fn is_path_separator(first: &TokenTree, second: &TokenTree) -> bool {
    matches!(
        (first, second),
        (TokenTree::Punct(a), TokenTree::Punct(b))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

fn type_space_settings(settings: &Settings) -> TypeSpaceSettings {
    let mut space = TypeSpaceSettings::default();
    space
        .with_struct_builder(false)
        .with_derive("PartialEq".to_string());
    for replacement in &settings.replacements {
        // The replacing type parses and prints itself: no conversions to generate.
        space.with_replacement(
            &replacement.schema,
            &replacement.rust_type,
            [TypeSpaceImpl::FromStr, TypeSpaceImpl::Display].into_iter(),
        );
    }
    space
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
    settings: &TypeSpaceSettings,
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
        if let Err(message) = add_definitions(&mut TypeSpace::new(settings), probe) {
            return SpecErrors::one(format!("components.schemas.{name}"), message);
        }
    }
    SpecErrors::one("components.schemas", batch_message)
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

pub(crate) fn upper_camel(name: &str) -> String {
    heck::ToUpperCamelCase::to_upper_camel_case(name)
}
