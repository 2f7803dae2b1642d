//! circles-codegen: from an OpenRPC document to Rust.
//!
//! [`generate`] validates the document (every problem reported with its place,
//! e.g. `methods[2].params[0].schema: $ref #/components/schemas/Missing not
//! found`) and emits, formatted with prettyplease:
//! - every schema of `components.schemas` as a Rust type (typify);
//! - per method, a params struct honouring `paramStructure` and an error
//!   enum with the codes the method declares;
//! - `server::Api`, a trait with one async method per spec method, and
//!   `server::into_rpc_module`, which registers an implementation on a
//!   jsonrpsee `RpcModule` and serves `rpc.discover`;
//! - `client::ApiClient`, typed calls over any jsonrpsee client.
//!
//! It never panics on a bad document: typify's panics are caught and located.

pub mod api;
pub mod document;
mod emit;
pub mod error;
mod guard;
mod refs;

pub use api::Api;
pub use emit::{Generated, Settings};
pub use error::{SpecError, SpecErrors};

/// Validates an OpenRPC document (JSON text) without generating code.
pub fn check(spec: &str) -> Result<Api, SpecErrors> {
    let api = Api::from_json(spec)?;
    // Type generation finds the schema constructs typify cannot handle.
    emit::schema_types::generate(&api)?;
    Ok(api)
}

/// Validates an OpenRPC document (JSON text) and generates Rust code from it.
pub fn generate(spec: &str, settings: &Settings) -> Result<Generated, SpecErrors> {
    let api = Api::from_json(spec)?;
    emit::generate(&api, settings)
}
