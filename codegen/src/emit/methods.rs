//! Items shared by server and client: the error code constants, and per
//! method the params struct and the typed error enum.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc_attrs, ident, runtime};
use crate::document::ParamStructure;
use crate::spec::{Method, MethodError, Spec};
use crate::types::rust_type;

/// `pub mod error_code`: one constant per component error.
pub(crate) fn error_codes(spec: &Spec) -> TokenStream {
    let constants = spec.error_codes.iter().map(|error| {
        let constant = format_ident!("{}", error.constant);
        let code = Literal::i32_unsuffixed(error.code);
        let doc = format!(" `{}`: {}", error.name, error.message);
        quote! {
            #[doc = #doc]
            pub const #constant: i32 = #code;
        }
    });
    quote! {
        /// The code of each error the spec declares in `components.errors`.
        pub mod error_code {
            #(#constants)*
        }
    }
}

pub(crate) fn params_struct(spec: &Spec, method: &Method) -> TokenStream {
    let name = format_ident!("{}Params", method.type_prefix);
    let fields = method.params.iter().map(|param| {
        let field = ident(&param.field);
        let rename = &param.name;
        let docs = doc_attrs(param.doc.as_deref());
        let ty = rust_type(&spec.types, &param.ty);
        if param.required {
            quote! {
                #docs
                #[serde(rename = #rename)]
                pub #field: #ty,
            }
        } else {
            quote! {
                #docs
                #[serde(rename = #rename, default, skip_serializing_if = "::std::option::Option::is_none")]
                pub #field: ::std::option::Option<#ty>,
            }
        }
    });
    let doc = format!(" Params of `{}`.", method.name);
    let positional = (method.structure == ParamStructure::ByPosition).then(|| {
        let rt = runtime();
        let fields = method.params.iter().map(|p| ident(&p.field));
        let required = method.params.iter().filter(|p| p.required).count();
        quote! {
            impl #rt::Positional for #name {
                const REQUIRED: usize = #required;

                fn values(&self) -> ::std::result::Result<::std::vec::Vec<::serde_json::Value>, ::serde_json::Error> {
                    ::std::result::Result::Ok(::std::vec![#(::serde_json::to_value(&self.#fields)?),*])
                }
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct #name {
            #(#fields)*
        }

        #positional
    }
}

/// `<Prefix>Error`: a variant per declared error, carrying its `data` type
/// when `x-error-data` gives it one, and `Other` for the rest.
pub(crate) fn error_enum(
    spec: &Spec,
    type_prefix: &str,
    wire_name: &str,
    errors: &[MethodError],
) -> TokenStream {
    let rt = runtime();
    let name = format_ident!("{}Error", type_prefix);
    let variants = errors.iter().map(|error| {
        let variant = format_ident!("{}", error.variant);
        let doc = format!(" `{}` {}", error.code, error.message);
        let data = error.data.as_ref().map(|ty| {
            let ty = rust_type(&spec.types, ty);
            quote! { (#ty) }
        });
        quote! {
            #[doc = #doc]
            #variant #data,
        }
    });
    let to_object = errors.iter().map(|error| {
        let variant = format_ident!("{}", error.variant);
        let code = code(error);
        let message = &error.message;
        match error.data {
            Some(_) => quote! {
                Self::#variant(data) => #rt::error_object(#code, #message, ::std::option::Option::Some(data)),
            },
            None => quote! {
                Self::#variant => #rt::error_object::<()>(#code, #message, ::std::option::Option::None),
            },
        }
    });
    let from_object = if errors.is_empty() {
        quote! { Self::Other(error) }
    } else {
        let arms = errors.iter().map(|error| {
            let variant = format_ident!("{}", error.variant);
            let code = code(error);
            match error.data {
                Some(_) => quote! { #code => #rt::error_data(&error).map(Self::#variant), },
                None => quote! { #code => ::std::option::Option::Some(Self::#variant), },
            }
        });
        quote! {
            let declared = match error.code() {
                #(#arms)*
                _ => ::std::option::Option::None,
            };
            declared.unwrap_or(Self::Other(error))
        }
    };
    let doc = format!(" The errors `{wire_name}` declares; any other is [`{name}::Other`].");
    let other_doc = format!(
        " An error `{wire_name}` does not declare, or a declared code whose `data` does not fit its schema."
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq)]
        pub enum #name {
            #(#variants)*
            #[doc = #other_doc]
            Other(::jsonrpsee::types::ErrorObjectOwned),
        }

        impl #rt::ApiError for #name {
            fn to_error_object(&self) -> ::jsonrpsee::types::ErrorObjectOwned {
                match self {
                    #(#to_object)*
                    Self::Other(error) => error.clone(),
                }
            }

            fn from_error_object(error: ::jsonrpsee::types::ErrorObjectOwned) -> Self {
                #from_object
            }
        }

        impl ::std::convert::From<#name> for ::jsonrpsee::types::ErrorObjectOwned {
            fn from(error: #name) -> Self {
                #rt::ApiError::to_error_object(&error)
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                #rt::fmt_error(self, f)
            }
        }

        impl ::std::error::Error for #name {}
    }
}

/// The code as the `error_code` constant of a component error, else a literal.
fn code(error: &MethodError) -> TokenStream {
    match &error.constant {
        Some(constant) => {
            let constant = format_ident!("{}", constant);
            quote! { error_code::#constant }
        }
        None => {
            let code = Literal::i32_unsuffixed(error.code);
            quote! { #code }
        }
    }
}
