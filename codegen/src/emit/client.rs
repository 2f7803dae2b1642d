//! The client side: typed calls over any jsonrpsee client (`ClientT`), native
//! WebSocket or the WASM client alike.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_attrs, ident};
use crate::api::{Api, DISCOVER, Method};
use crate::document::ParamStructure;
use crate::emit::schema_types::MethodTypes;

pub(crate) fn module(api: &Api, types: &[MethodTypes]) -> TokenStream {
    let calls = api.methods.iter().zip(types).map(|(m, t)| call(m, t));
    let encoders = api
        .methods
        .iter()
        .filter(|m| !m.params.is_empty())
        .map(encoder);
    let client_doc = format!(" A typed client of {} {}.", api.title, api.version);
    quote! {
        /// Why a call failed: the server answered with an error (typed by
        /// the method's declared errors), or the call never got an answer.
        #[derive(Debug)]
        pub enum CallError<E> {
            /// The server answered with this error.
            Rpc(E),
            /// Transport, protocol or decoding failure.
            Client(::jsonrpsee::core::ClientError),
        }

        impl<E> CallError<E>
        where
            E: ::std::convert::From<::jsonrpsee::types::ErrorObjectOwned>,
        {
            fn from_client(error: ::jsonrpsee::core::ClientError) -> Self {
                match error {
                    ::jsonrpsee::core::ClientError::Call(error) => Self::Rpc(E::from(error)),
                    other => Self::Client(other),
                }
            }
        }

        impl<E: ::std::fmt::Display> ::std::fmt::Display for CallError<E> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self {
                    Self::Rpc(error) => ::std::write!(f, "{error}"),
                    Self::Client(error) => ::std::write!(f, "{error}"),
                }
            }
        }

        impl<E: ::std::fmt::Debug + ::std::fmt::Display> ::std::error::Error for CallError<E> {}

        #[doc = #client_doc]
        #[derive(Clone, Debug)]
        pub struct ApiClient<C> {
            inner: C,
        }

        impl<C> ApiClient<C> {
            pub fn new(inner: C) -> Self {
                Self { inner }
            }

            /// The underlying jsonrpsee client.
            pub fn inner(&self) -> &C {
                &self.inner
            }

            pub fn into_inner(self) -> C {
                self.inner
            }
        }

        impl<C: ::jsonrpsee::core::client::ClientT> ApiClient<C> {
            /// The OpenRPC document the server was generated from.
            pub async fn rpc_discover(&self) -> ::std::result::Result<::serde_json::Value, CallError<::jsonrpsee::types::ErrorObjectOwned>> {
                self.inner
                    .request(#DISCOVER, ::jsonrpsee::core::params::ArrayParams::new())
                    .await
                    .map_err(CallError::from_client)
            }

            #(#calls)*
        }

        #(#encoders)*
    }
}

fn call(method: &Method, types: &MethodTypes) -> TokenStream {
    let wire_name = &method.name;
    let name = ident(&method.ident);
    let docs = doc_attrs(method.doc.as_deref());
    let result = &types.result;
    let error = format_ident!("{}Error", method.type_prefix);
    let (arg, params) = if method.params.is_empty() {
        (
            quote! {},
            quote! { ::jsonrpsee::core::params::ArrayParams::new() },
        )
    } else {
        let params_type = format_ident!("{}Params", method.type_prefix);
        (quote! { params: super::#params_type }, quote! { params })
    };
    quote! {
        #docs
        pub async fn #name(&self, #arg) -> ::std::result::Result<#result, CallError<super::#error>> {
            self.inner.request(#wire_name, #params).await.map_err(CallError::from_client)
        }
    }
}

/// Params go on the wire by name unless the spec allows only by position.
fn encoder(method: &Method) -> TokenStream {
    let params_type = format_ident!("{}Params", method.type_prefix);
    let body = if method.structure == ParamStructure::ByPosition {
        let fields = method.params.iter().map(|p| ident(&p.field));
        let required = method.params.iter().filter(|p| p.required).count();
        quote! {
            let mut values = ::std::vec![#(::serde_json::to_value(&self.#fields)?),*];
            // Trailing absent optional params are left out, not sent as null.
            while values.len() > #required && values.last() == ::std::option::Option::Some(&::serde_json::Value::Null) {
                values.pop();
            }
            ::serde_json::value::to_raw_value(&values).map(::std::option::Option::Some)
        }
    } else {
        quote! { ::serde_json::value::to_raw_value(&self).map(::std::option::Option::Some) }
    };
    quote! {
        impl ::jsonrpsee::core::traits::ToRpcParams for super::#params_type {
            fn to_rpc_params(self) -> ::std::result::Result<::std::option::Option<::std::boxed::Box<::serde_json::value::RawValue>>, ::serde_json::Error> {
                #body
            }
        }
    }
}
