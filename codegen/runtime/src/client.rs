//! The client side: one typed call helper over any jsonrpsee client.

use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::traits::ToRpcParams;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::{ApiError, NoParams, Positional};

/// Why a call failed: the server answered with an error (typed by the
/// method's declared errors), or the call never got an answer.
#[derive(Debug)]
pub enum RequestError<E> {
    /// The server answered with this error.
    Rpc(E),
    /// Transport, protocol or decoding failure.
    Client(ClientError),
}

impl<E: ApiError> From<ClientError> for RequestError<E> {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Call(error) => Self::Rpc(E::from_error_object(error)),
            other => Self::Client(other),
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for RequestError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rpc(error) => error.fmt(f),
            Self::Client(error) => error.fmt(f),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for RequestError<E> {}

/// Calls `method` with `params` and decodes the result as `R` and a failure as `E`.
pub async fn call<C, P, R, E>(client: &C, method: &str, params: P) -> Result<R, RequestError<E>>
where
    C: ClientT,
    P: ToRpcParams + Send,
    R: DeserializeOwned,
    E: ApiError,
{
    client
        .request(method, params)
        .await
        .map_err(RequestError::from)
}

type RawParams = Result<Option<Box<RawValue>>, serde_json::Error>;

/// Params sent as an object.
pub struct ByName<P>(pub P);

impl<P: Serialize> ToRpcParams for ByName<P> {
    fn to_rpc_params(self) -> RawParams {
        serde_json::value::to_raw_value(&self.0).map(Some)
    }
}

/// Params sent as an array.
pub struct ByPosition<P>(pub P);

impl<P: Positional> ToRpcParams for ByPosition<P> {
    fn to_rpc_params(self) -> RawParams {
        let mut values = self.0.values()?;
        while values.len() > P::REQUIRED && values.last() == Some(&serde_json::Value::Null) {
            values.pop();
        }
        serde_json::value::to_raw_value(&values).map(Some)
    }
}

impl ToRpcParams for NoParams {
    fn to_rpc_params(self) -> RawParams {
        Ok(None)
    }
}
