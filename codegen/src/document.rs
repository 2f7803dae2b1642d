//! The parts of an OpenRPC document the generator reads, as serde types.
//!
//! Objects that may be a `$ref` keep every field optional next to the
//! `reference` field instead of using an untagged enum: serde's untagged errors
//! lose the location, and the validator reports missing fields with their path.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub openrpc: String,
    pub info: Info,
    pub methods: Vec<Method>,
    #[serde(default)]
    pub components: Components,
    /// The type of each component error's `data`, by error name (this
    /// project's extension: OpenRPC gives an error's data no schema).
    #[serde(rename = "x-error-data", default)]
    pub error_data: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    pub title: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Method {
    #[serde(rename = "$ref", default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub params: Option<Vec<ContentDescriptor>>,
    #[serde(default)]
    pub result: Option<ContentDescriptor>,
    #[serde(default)]
    pub errors: Vec<ErrorObject>,
    #[serde(default)]
    pub param_structure: ParamStructure,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamStructure {
    ByName,
    ByPosition,
    #[default]
    Either,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContentDescriptor {
    #[serde(rename = "$ref", default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ErrorObject {
    #[serde(rename = "$ref", default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub code: Option<i32>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Components {
    #[serde(default)]
    pub schemas: BTreeMap<String, Value>,
    #[serde(default)]
    pub content_descriptors: BTreeMap<String, ContentDescriptor>,
    #[serde(default)]
    pub errors: BTreeMap<String, ErrorObject>,
}
