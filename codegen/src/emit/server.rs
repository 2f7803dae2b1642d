//! The server side: a trait with one async method per spec method, and the
//! glue that registers an implementation on a jsonrpsee `RpcModule`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_attrs, ident};
use crate::api::{Api, DISCOVER, Method};
use crate::emit::schema_types::MethodTypes;

pub(crate) fn module(api: &Api, types: &[MethodTypes]) -> TokenStream {
    let trait_methods = api
        .methods
        .iter()
        .zip(types)
        .map(|(m, t)| trait_method(m, t));
    let registrations = api.methods.iter().map(registration);
    let trait_doc = format!(
        " The methods of {} {}. A server implements every one of them: \
         a method added to the spec and not implemented here is a compile error.",
        api.title, api.version
    );
    quote! {
        /// What a call carries besides its params: the connection it came on
        /// and the request extensions the server's middleware attached (such
        /// as the connection's session).
        #[derive(Clone, Debug)]
        pub struct CallContext {
            extensions: ::jsonrpsee::Extensions,
        }

        impl CallContext {
            pub fn new(extensions: ::jsonrpsee::Extensions) -> Self {
                Self { extensions }
            }

            /// The id jsonrpsee gave the connection the call came on.
            pub fn connection_id(&self) -> ::std::option::Option<::jsonrpsee::ConnectionId> {
                self.extensions.get::<::jsonrpsee::ConnectionId>().copied()
            }

            /// A value the server attached to the request (e.g. the session).
            pub fn get<T: ::std::marker::Send + ::std::marker::Sync + 'static>(&self) -> ::std::option::Option<&T> {
                self.extensions.get::<T>()
            }

            pub fn extensions(&self) -> &::jsonrpsee::Extensions {
                &self.extensions
            }
        }

        #[doc = #trait_doc]
        pub trait Api: ::std::marker::Send + ::std::marker::Sync + 'static {
            #(#trait_methods)*
        }

        /// An `RpcModule` serving every method of `api`, plus `rpc.discover`,
        /// which answers with the spec document itself.
        pub fn into_rpc_module<A: Api>(api: A) -> ::std::result::Result<::jsonrpsee::RpcModule<A>, ::jsonrpsee::core::RegisterMethodError> {
            let mut module = ::jsonrpsee::RpcModule::new(api);
            module.register_method(#DISCOVER, |_, _, _| {
                ::serde_json::value::RawValue::from_string(super::OPENRPC_DOCUMENT.to_owned())
                    .map_err(|error| ::jsonrpsee::types::ErrorObject::owned(
                        ::jsonrpsee::types::error::INTERNAL_ERROR_CODE,
                        ::jsonrpsee::types::error::INTERNAL_ERROR_MSG,
                        ::std::option::Option::Some(error.to_string()),
                    ))
            })?;
            #(#registrations)*
            ::std::result::Result::Ok(module)
        }

        fn invalid_params(reason: ::std::string::String) -> ::jsonrpsee::types::ErrorObjectOwned {
            ::jsonrpsee::types::ErrorObject::owned(
                ::jsonrpsee::types::error::INVALID_PARAMS_CODE,
                ::jsonrpsee::types::error::INVALID_PARAMS_MSG,
                ::std::option::Option::Some(reason),
            )
        }

        /// A method without params accepts none, `[]` or `{}`.
        #[allow(dead_code)]
        fn expect_no_params(params: &::jsonrpsee::types::Params<'_>) -> ::std::result::Result<(), ::jsonrpsee::types::ErrorObjectOwned> {
            let empty = match params.as_str() {
                ::std::option::Option::None => true,
                ::std::option::Option::Some(text) => match ::serde_json::from_str::<::serde_json::Value>(text) {
                    ::std::result::Result::Ok(::serde_json::Value::Array(items)) => items.is_empty(),
                    ::std::result::Result::Ok(::serde_json::Value::Object(fields)) => fields.is_empty(),
                    _ => false,
                },
            };
            if empty {
                ::std::result::Result::Ok(())
            } else {
                ::std::result::Result::Err(invalid_params("this method takes no params".to_owned()))
            }
        }
    }
}

fn trait_method(method: &Method, types: &MethodTypes) -> TokenStream {
    let name = ident(&method.ident);
    let docs = doc_attrs(method.doc.as_deref());
    let result = &types.result;
    let error = format_ident!("{}Error", method.type_prefix);
    let params = (!method.params.is_empty()).then(|| {
        let params = format_ident!("{}Params", method.type_prefix);
        quote! { params: super::#params, }
    });
    quote! {
        #docs
        fn #name(
            &self,
            ctx: CallContext,
            #params
        ) -> impl ::std::future::Future<Output = ::std::result::Result<#result, super::#error>> + ::std::marker::Send;
    }
}

fn registration(method: &Method) -> TokenStream {
    let wire_name = &method.name;
    let name = ident(&method.ident);
    let (decode, call) = if method.params.is_empty() {
        (
            quote! { expect_no_params(&params)?; },
            quote! { api.#name(CallContext::new(extensions)) },
        )
    } else {
        let params_type = format_ident!("{}Params", method.type_prefix);
        (
            quote! {
                let decoded = super::#params_type::from_json(params.as_str()).map_err(invalid_params)?;
            },
            quote! { api.#name(CallContext::new(extensions), decoded) },
        )
    };
    quote! {
        module.register_async_method(#wire_name, |params, api, extensions| async move {
            #decode
            #call.await.map_err(::jsonrpsee::types::ErrorObjectOwned::from)
        })?;
    }
}
