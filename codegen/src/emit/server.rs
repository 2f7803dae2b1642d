//! The server side: a trait with one async method per spec method, and the
//! registration of an implementation on a jsonrpsee `RpcModule`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_attrs, ident, runtime};
use crate::document::ParamStructure;
use crate::spec::{Method, Spec};
use crate::types::rust_type;

pub(crate) fn module(spec: &Spec) -> TokenStream {
    let rt = runtime();
    let trait_methods = spec.methods.iter().map(|m| trait_method(spec, m));
    let registrations = spec.methods.iter().map(registration);
    let trait_doc = format!(
        " The methods of {} {}. A server implements every one of them: \
         a method added to the spec and not implemented here is a compile error.",
        spec.title, spec.version
    );
    quote! {
        pub use #rt::server::CallContext;

        #[doc = #trait_doc]
        pub trait Api: ::std::marker::Send + ::std::marker::Sync + 'static {
            #(#trait_methods)*
        }

        /// An `RpcModule` serving every method of `api`, plus `rpc.discover`,
        /// which answers with the spec document itself.
        pub fn into_rpc_module<A: Api>(api: A) -> ::std::result::Result<::jsonrpsee::RpcModule<A>, ::jsonrpsee::core::RegisterMethodError> {
            let mut module = ::jsonrpsee::RpcModule::new(api);
            #rt::server::register_discover(&mut module, super::OPENRPC_DOCUMENT)?;
            #(#registrations)*
            ::std::result::Result::Ok(module)
        }
    }
}

fn trait_method(spec: &Spec, method: &Method) -> TokenStream {
    let name = ident(&method.ident);
    let docs = doc_attrs(method.doc.as_deref());
    let result = rust_type(&spec.types, &method.result);
    let error = format_ident!("{}Error", method.type_prefix);
    let params = (!method.params.is_empty()).then(|| {
        let params = format_ident!("{}Params", method.type_prefix);
        quote! { params: #params, }
    });
    quote! {
        #docs
        fn #name(
            &self,
            ctx: CallContext,
            #params
        ) -> impl ::std::future::Future<Output = ::std::result::Result<#result, #error>> + ::std::marker::Send;
    }
}

fn registration(method: &Method) -> TokenStream {
    let rt = runtime();
    let wire_name = &method.name;
    let name = ident(&method.ident);
    // A method without params takes none, `[]` or `{}`, whatever its structure.
    let structure = match method.params.is_empty() {
        true => structure(ParamStructure::Either),
        false => structure(method.structure),
    };
    let handler = if method.params.is_empty() {
        quote! {
            |api: ::std::sync::Arc<A>, ctx: CallContext, _: #rt::NoParams| async move {
                api.#name(ctx).await
            }
        }
    } else {
        let params = format_ident!("{}Params", method.type_prefix);
        quote! {
            |api: ::std::sync::Arc<A>, ctx: CallContext, params: #params| async move {
                api.#name(ctx, params).await
            }
        }
    };
    quote! {
        #rt::server::register_method(&mut module, #wire_name, #structure, #handler)?;
    }
}

fn structure(structure: ParamStructure) -> TokenStream {
    let rt = runtime();
    match structure {
        ParamStructure::ByName => quote! { #rt::ParamStructure::ByName },
        ParamStructure::ByPosition => quote! { #rt::ParamStructure::ByPosition },
        ParamStructure::Either => quote! { #rt::ParamStructure::Either },
    }
}
