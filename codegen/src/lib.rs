//! circles-codegen: from an OpenRPC document to Rust.
//!
//! [`generate`] validates the document (every problem reported with its place,
//! e.g. `methods[2].params[0].schema: $ref #/components/schemas/Missing not
//! found`) and emits, formatted with prettyplease:
//! - every schema of `components.schemas` as a Rust type (typify);
//! - `error_code`, a constant per error of `components.errors`;
//! - per method, a params struct and an error enum with a variant per
//!   declared error, carrying the type of its `data` (`x-error-data`);
//! - `server::Api`, a trait with one async method per spec method, and
//!   `server::into_rpc_module`, which registers an implementation on a
//!   jsonrpsee `RpcModule` and serves `rpc.discover`;
//! - `client::ApiClient`, typed calls over any jsonrpsee client.
//!
//! What is the same for every spec (decoding params, error objects,
//! registering methods, the call helper) is not generated: it is the
//! hand-written crate `circles-codegen-runtime`, which the generated code calls.
//!
//! It never panics on a bad document: typify's panics are caught and located.

pub mod document;
mod emit;
pub mod error;
mod guard;
mod refs;
pub mod spec;
mod types;

pub use emit::{Generated, RUNTIME, Replacement, Settings};
pub use error::{SpecError, SpecErrors};
pub use spec::Spec;

/// Validates an OpenRPC document (JSON text) without generating code.
pub fn check(spec: &str) -> Result<Spec, SpecErrors> {
    Spec::from_json(spec, &Settings::default())
}

/// Validates an OpenRPC document (JSON text) and generates Rust code from it.
pub fn generate(spec: &str, settings: &Settings) -> Result<Generated, SpecErrors> {
    let spec = Spec::from_json(spec, settings)?;
    emit::generate(&spec, settings)
}
