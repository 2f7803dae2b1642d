//! The client side: typed calls over any jsonrpsee client (`ClientT`), native
//! WebSocket or the WASM client alike.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_attrs, ident, runtime};
use crate::document::ParamStructure;
use crate::spec::{DISCOVER, DISCOVER_ERROR, Method, Spec};
use crate::types::rust_type;

pub(crate) fn module(spec: &Spec) -> TokenStream {
    let rt = runtime();
    let calls = spec.methods.iter().map(|m| call(spec, m));
    let client_doc = format!(" A typed client of {} {}.", spec.title, spec.version);
    let discover_error = format_ident!("{}", DISCOVER_ERROR);
    quote! {
        pub use #rt::client::RequestError;

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
            pub async fn rpc_discover(&self) -> ::std::result::Result<::serde_json::Value, RequestError<#discover_error>> {
                #rt::client::call(&self.inner, #DISCOVER, #rt::NoParams).await
            }

            #(#calls)*
        }
    }
}

fn call(spec: &Spec, method: &Method) -> TokenStream {
    let rt = runtime();
    let wire_name = &method.name;
    let name = ident(&method.ident);
    let docs = doc_attrs(method.doc.as_deref());
    let result = rust_type(&spec.types, &method.result);
    let error = format_ident!("{}Error", method.type_prefix);
    let (arg, params) = if method.params.is_empty() {
        (quote! {}, quote! { #rt::NoParams })
    } else {
        let params_type = format_ident!("{}Params", method.type_prefix);
        let params = match method.structure {
            ParamStructure::ByPosition => quote! { #rt::client::ByPosition(params) },
            // Params go on the wire by name unless the spec allows only by position.
            _ => quote! { #rt::client::ByName(params) },
        };
        (quote! { params: #params_type }, params)
    };
    quote! {
        #docs
        pub async fn #name(&self, #arg) -> ::std::result::Result<#result, RequestError<#error>> {
            #rt::client::call(&self.inner, #wire_name, #params).await
        }
    }
}
