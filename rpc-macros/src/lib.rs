//! The `#[rpc_service]` attribute macro of the `rpc` SDK.
//!
//! Until code generation lands, the attribute validates that it is placed on a trait
//! and emits the trait unchanged.
#![warn(missing_docs)]

use proc_macro::TokenStream;

/// Turns a trait into a typed JSON-RPC service.
///
/// Code generation is not implemented yet: the trait is emitted unchanged.
#[proc_macro_attribute]
pub fn rpc_service(_args: TokenStream, input: TokenStream) -> TokenStream {
    match syn::parse::<syn::ItemTrait>(input.clone()) {
        Ok(_) => input,
        Err(_) => {
            let item: proc_macro2::TokenStream = input.into();
            let err = syn::Error::new_spanned(&item, "#[rpc_service] expects a trait");
            let mut out = err.to_compile_error();
            out.extend(item);
            out.into()
        }
    }
}
