//! Per-method items shared by server and client: the params struct and the
//! typed error enum.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_attrs, ident};
use crate::api::{Method, MethodError};
use crate::document::ParamStructure;
use crate::emit::schema_types::MethodTypes;

pub(crate) fn params_struct(method: &Method, types: &MethodTypes) -> TokenStream {
    let name = format_ident!("{}Params", method.type_prefix);
    let wire_name = &method.name;
    let fields = method.params.iter().zip(&types.params).map(|(param, ty)| {
        let field = ident(&param.field);
        let rename = &param.typed.name;
        let docs = doc_attrs(param.typed.doc.as_deref());
        let optional = (!param.required).then(|| {
            quote! { #[serde(default, skip_serializing_if = "::std::option::Option::is_none")] }
        });
        quote! {
            #docs
            #[serde(rename = #rename)]
            #optional
            pub #field: #ty,
        }
    });
    let doc = format!(" Params of `{wire_name}`.");
    let (accepts, expected) = match method.structure {
        ParamStructure::ByName => (quote! { b'{' }, "an object (params by name)"),
        ParamStructure::ByPosition => (quote! { b'[' }, "an array (params by position)"),
        ParamStructure::Either => (quote! { b'{' | b'[' }, "an object or an array"),
    };
    let empty = match method.structure {
        ParamStructure::ByPosition => "[]",
        _ => "{}",
    };
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct #name {
            #(#fields)*
        }

        impl #name {
            /// Decodes the `params` member of a request (`None` when absent),
            /// in the form(s) the spec's `paramStructure` allows.
            pub fn from_json(params: ::std::option::Option<&str>) -> ::std::result::Result<Self, ::std::string::String> {
                let text = params.unwrap_or(#empty);
                match text.trim_start().as_bytes().first() {
                    ::std::option::Option::Some(#accepts) => {
                        ::serde_json::from_str(text).map_err(|error| error.to_string())
                    }
                    _ => ::std::result::Result::Err(::std::format!(
                        "params of `{}` must be {}", #wire_name, #expected
                    )),
                }
            }
        }
    }
}

pub(crate) fn error_enum(method: &Method) -> TokenStream {
    let name = format_ident!("{}Error", method.type_prefix);
    let wire_name = &method.name;
    let variants: Vec<_> = method
        .errors
        .iter()
        .map(|e| format_ident!("{}", e.variant))
        .collect();
    let codes: Vec<_> = method
        .errors
        .iter()
        .map(|e| proc_macro2::Literal::i32_unsuffixed(e.code))
        .collect();
    let messages: Vec<_> = method.errors.iter().map(|e| e.message.as_str()).collect();
    let variant_docs = method.errors.iter().map(variant_doc);
    let doc =
        format!(" The errors `{wire_name}` declares, by code; any other is [`{name}::Other`].");
    let other_doc = format!(" An error `{wire_name}` does not declare.");
    // Without declared errors every error is `Other` (and a `data` closure
    // nobody calls would not even compile: its type cannot be inferred).
    let from_object = if method.errors.is_empty() {
        quote! { Self::Other(error) }
    } else {
        quote! {
            let data = || error.data().and_then(|raw| ::serde_json::from_str(raw.get()).ok());
            match error.code() {
                #( #codes => Self::#variants(data()), )*
                _ => Self::Other(error),
            }
        }
    };
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug)]
        pub enum #name {
            #(
                #variant_docs
                #variants(::std::option::Option<::serde_json::Value>),
            )*
            #[doc = #other_doc]
            Other(::jsonrpsee::types::ErrorObjectOwned),
        }

        impl #name {
            /// The JSON-RPC error code.
            pub fn code(&self) -> i32 {
                match self {
                    #( Self::#variants(_) => #codes, )*
                    Self::Other(error) => error.code(),
                }
            }

            /// The error message the spec gives this code.
            pub fn message(&self) -> &str {
                match self {
                    #( Self::#variants(_) => #messages, )*
                    Self::Other(error) => error.message(),
                }
            }

            /// The error's `data` member.
            pub fn data(&self) -> ::std::option::Option<::serde_json::Value> {
                match self {
                    #( Self::#variants(data) => data.clone(), )*
                    Self::Other(error) => error.data().and_then(|raw| ::serde_json::from_str(raw.get()).ok()),
                }
            }
        }

        impl ::std::convert::From<#name> for ::jsonrpsee::types::ErrorObjectOwned {
            fn from(error: #name) -> Self {
                match error {
                    #( #name::#variants(data) => ::jsonrpsee::types::ErrorObject::owned(#codes, #messages, data), )*
                    #name::Other(error) => error,
                }
            }
        }

        impl ::std::convert::From<::jsonrpsee::types::ErrorObjectOwned> for #name {
            fn from(error: ::jsonrpsee::types::ErrorObjectOwned) -> Self {
                #from_object
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::write!(f, "{} (code {})", self.message(), self.code())?;
                if let ::std::option::Option::Some(data) = self.data() {
                    ::std::write!(f, ": {data}")?;
                }
                ::std::result::Result::Ok(())
            }
        }

        impl ::std::error::Error for #name {}
    }
}

fn variant_doc(error: &MethodError) -> TokenStream {
    let text = format!(" `{}` {}", error.code, error.message);
    quote! { #[doc = #text] }
}
