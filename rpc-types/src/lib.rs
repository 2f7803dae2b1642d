//! The circles API, generated from `openrpc.json` at build time (see the
//! workspace `build.rs`): schema types, per-method params and error types,
//! [`server::Api`] with [`server::into_rpc_module`], and [`client::ApiClient`].
//!
//! Nothing here is written by hand except this file: change the API by editing
//! `openrpc.json` and rebuilding.

// Generated code follows typify's and the generator's style, not ours.
#[allow(clippy::all, clippy::pedantic, missing_docs, unused_imports)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/circles_api.rs"));
}

pub use circles_codegen_runtime::ApiError;
pub use generated::*;
