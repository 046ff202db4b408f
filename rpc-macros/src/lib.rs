//! The `#[rpc_service]` attribute macro of the `rpc` SDK.
//!
//! The pipeline: [`attr`] reads the options, [`ast`] builds the service model and
//! checks what concerns one item, [`check`] checks what needs the whole service, and
//! [`expand`] generates the code. Errors are gathered in a [`ctxt::Ctxt`]; when there
//! are any, the user's trait is emitted unchanged (less our attributes) beside them, so
//! each mistake gives its own error and nothing else.
#![warn(missing_docs)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod symbol;

use proc_macro::TokenStream;
use quote::ToTokens;
use syn::Item;

/// Turns a trait into a typed JSON-RPC 2.0 service: a client, a server adapter,
/// parameter codecs and a dispatch table. See the `rpc` crate's documentation for the
/// options.
#[proc_macro_attribute]
pub fn rpc_service(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            let mut out = err.to_compile_error();
            out.extend(proc_macro2::TokenStream::from(input));
            return out.into();
        }
    };
    let Item::Trait(item) = item else {
        return not_a_trait(item).into();
    };

    let mut cx = ctxt::Ctxt::default();
    let attrs = attr::trait_attrs(&mut cx, args.into());
    let service = ast::Service::from_syn(&mut cx, attrs, &item);
    check::check(&mut cx, &service);
    match cx.finish() {
        None => expand::expand(&service).into(),
        Some(err) => {
            let mut item = item.clone();
            expand::strip_for_fallback(&mut item);
            let mut out = err.to_compile_error();
            item.to_tokens(&mut out);
            out.into()
        }
    }
}

fn not_a_trait(item: Item) -> proc_macro2::TokenStream {
    const MESSAGE: &str = "#[rpc_service] applies to a trait: `pub trait Calculator { async fn add(&self, a: i64, b: i64) -> i64; }`";
    let err = match &item {
        Item::Struct(s) => syn::Error::new_spanned(s.struct_token, MESSAGE),
        Item::Enum(e) => syn::Error::new_spanned(e.enum_token, MESSAGE),
        Item::Union(u) => syn::Error::new_spanned(u.union_token, MESSAGE),
        Item::Fn(f) => syn::Error::new_spanned(f.sig.fn_token, MESSAGE),
        Item::Impl(i) => syn::Error::new_spanned(i.impl_token, MESSAGE),
        Item::Mod(m) => syn::Error::new_spanned(m.mod_token, MESSAGE),
        Item::Type(t) => syn::Error::new_spanned(t.type_token, MESSAGE),
        other => syn::Error::new_spanned(other, MESSAGE),
    };
    let mut out = err.to_compile_error();
    item.to_tokens(&mut out);
    out
}
