//! The runtime of the code `circles-codegen` generates.
//!
//! The generator emits only what a spec decides (types, params structs, error
//! enums, the `Api` trait, one line per method); everything that is the same
//! for every spec lives here, written and tested once: decoding `params`,
//! turning errors into JSON-RPC error objects and back, registering methods on
//! a jsonrpsee `RpcModule`, the client's call helper, and the regular
//! expressions of `pattern` checks.

mod error;
mod params;
pub mod pattern;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;

pub use error::{ApiError, error_data, error_object, fmt_error};
pub use params::{NoParams, ParamStructure, Positional, decode_params};
