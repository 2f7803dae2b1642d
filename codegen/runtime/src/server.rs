//! The server side: what a call carries, and registering the methods of an
//! `Api` implementation on a jsonrpsee `RpcModule`.

use std::future::Future;
use std::sync::Arc;

use jsonrpsee::core::RegisterMethodError;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::types::error::{
    INTERNAL_ERROR_CODE, INTERNAL_ERROR_MSG, INVALID_PARAMS_CODE, INVALID_PARAMS_MSG,
};
use jsonrpsee::{ConnectionId, Extensions, RpcModule};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::{ApiError, ParamStructure, decode_params};

/// What a call carries besides its params: the connection it came on and the
/// request extensions the server's middleware attached (such as the
/// connection's session).
#[derive(Clone, Debug)]
pub struct CallContext {
    extensions: Extensions,
}

impl CallContext {
    pub fn new(extensions: Extensions) -> Self {
        Self { extensions }
    }

    /// The id jsonrpsee gave the connection the call came on.
    pub fn connection_id(&self) -> Option<ConnectionId> {
        self.extensions.get::<ConnectionId>().copied()
    }

    /// A value the server attached to the request (e.g. the session).
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }

    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }
}

/// The answer to params that do not decode. Its `data` is the reason as a
/// string, which is what a spec's `InvalidParams` error must declare.
pub fn invalid_params(reason: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS_CODE, INVALID_PARAMS_MSG, Some(reason))
}

/// Registers `method`: decodes its params as `P` in the form `structure`
/// allows (or answers invalid params), calls `handler` with the call's context,
/// and sends its result or its error object.
pub fn register_method<A, P, R, E, F, Fut>(
    module: &mut RpcModule<A>,
    method: &'static str,
    structure: ParamStructure,
    handler: F,
) -> Result<(), RegisterMethodError>
where
    A: Send + Sync + 'static,
    P: DeserializeOwned + Send + 'static,
    R: Serialize + Clone + Send + 'static,
    E: ApiError + Send + 'static,
    F: Fn(Arc<A>, CallContext, P) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    module.register_async_method(method, move |params, api, extensions| {
        let handler = handler.clone();
        async move {
            let params =
                decode_params::<P>(method, structure, params.as_str()).map_err(invalid_params)?;
            handler(api, CallContext::new(extensions), params)
                .await
                .map_err(|error| error.to_error_object())
        }
    })?;
    Ok(())
}

/// Registers `rpc.discover`, answering with `document` (the spec's text,
/// which the generator checked is JSON) as it is.
pub fn register_discover<A: Send + Sync + 'static>(
    module: &mut RpcModule<A>,
    document: &'static str,
) -> Result<(), RegisterMethodError> {
    module.register_method("rpc.discover", move |params, _, _| {
        decode_params::<crate::NoParams>("rpc.discover", ParamStructure::Either, params.as_str())
            .map_err(invalid_params)?;
        RawValue::from_string(document.to_owned()).map_err(|error| {
            ErrorObjectOwned::owned(
                INTERNAL_ERROR_CODE,
                INTERNAL_ERROR_MSG,
                Some(error.to_string()),
            )
        })
    })?;
    Ok(())
}
