//! Errors on the wire: the spec's declared errors as JSON-RPC error objects, and back.

use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A method's error enum, as the generator emits it from the spec: one variant
/// per declared error (carrying the type of the error's `data` schema, if it
/// has one) and `Other` for anything the spec does not declare.
pub trait ApiError: Sized {
    /// The error object sent on the wire.
    fn to_error_object(&self) -> ErrorObjectOwned;

    /// The declared variant of a received error object; `Other` for a code the
    /// method does not declare, or whose `data` does not fit the declared schema.
    fn from_error_object(error: ErrorObjectOwned) -> Self;

    /// The JSON-RPC error code.
    fn code(&self) -> i32 {
        self.to_error_object().code()
    }

    /// The error message (the spec's, for a declared error).
    fn message(&self) -> String {
        self.to_error_object().message().to_string()
    }

    /// The error's `data` as JSON, for display and for clients that pass it on.
    fn data_json(&self) -> Option<serde_json::Value> {
        error_data(&self.to_error_object())
    }
}

/// `message (code N)`, then `: data` when there is data: the `Display` of
/// every generated error enum.
pub fn fmt_error(error: &impl ApiError, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let object = error.to_error_object();
    write!(f, "{} (code {})", object.message(), object.code())?;
    match object.data() {
        Some(data) => write!(f, ": {}", data.get()),
        None => Ok(()),
    }
}

/// An error object with typed `data`.
pub fn error_object<D: Serialize>(code: i32, message: &str, data: Option<&D>) -> ErrorObjectOwned {
    ErrorObject::owned(code, message.to_string(), data)
}

/// The error's `data` as `D`; `None` when it has none or it does not fit.
pub fn error_data<D: DeserializeOwned>(error: &ErrorObjectOwned) -> Option<D> {
    error
        .data()
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    struct Detail {
        line: u32,
    }

    #[test]
    fn data_round_trips_and_misfits_are_none() {
        let error = error_object(2010, "compile error", Some(&Detail { line: 3 }));
        assert_eq!(error.code(), 2010);
        assert_eq!(error.message(), "compile error");
        assert_eq!(error_data::<Detail>(&error), Some(Detail { line: 3 }));
        assert_eq!(error_data::<String>(&error), None);
        let bare = error_object::<()>(2002, "unauthenticated", None);
        assert!(bare.data().is_none());
    }
}
