//! The trait as the user sees it after expansion.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemTrait, Pat, ReturnType, TraitItem};

use super::Generator;
use crate::attr::is_rpc;

impl Generator<'_> {
    // input:  trait Calculator { async fn add(&self, a: i64) -> i64; #[rpc(blocking)] fn f(&self); }
    // output: trait Calculator {
    //             fn add(&self, a: i64) -> impl Future<Output = i64> + Send;
    //             fn f(&self);
    //         }
    pub fn service_trait(&self) -> TokenStream {
        let mut item = self.service.item.clone();
        strip_rpc_attrs(&mut item);
        for trait_item in &mut item.items {
            let TraitItem::Fn(f) = trait_item else {
                continue;
            };
            if f.sig.asyncness.take().is_none() {
                continue;
            }
            let output = match &f.sig.output {
                ReturnType::Default => quote!(()),
                ReturnType::Type(_, ty) => quote!(#ty),
            };
            let arrow = match &f.sig.output {
                ReturnType::Type(arrow, _) => *arrow,
                ReturnType::Default => Default::default(),
            };
            let future: syn::Type = syn::parse_quote! {
                impl ::core::future::Future<Output = #output> + ::core::marker::Send
            };
            f.sig.output = ReturnType::Type(arrow, Box::new(future));
            if let Some(body) = &f.default {
                f.default = Some(syn::parse_quote!({ async move #body }));
            }
        }
        quote!(#item)
    }
}

fn strip_rpc_attrs(item: &mut ItemTrait) {
    for trait_item in &mut item.items {
        if let TraitItem::Fn(f) = trait_item {
            f.attrs.retain(|a| !is_rpc(a));
            for input in &mut f.sig.inputs {
                if let FnArg::Typed(pt) = input {
                    pt.attrs.retain(|a| !is_rpc(a));
                }
            }
        }
    }
}

/// The user's trait as written, minus what would cause errors of its own once the
/// attribute is gone: `#[rpc]` attributes, and patterns in methods without bodies.
pub fn strip_for_fallback(item: &mut ItemTrait) {
    strip_rpc_attrs(item);
    for trait_item in &mut item.items {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        if f.default.is_some() {
            continue;
        }
        for input in &mut f.sig.inputs {
            if let FnArg::Typed(pt) = input {
                if !matches!(&*pt.pat, Pat::Ident(p) if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none())
                {
                    *pt.pat = syn::parse_quote!(_);
                }
            }
        }
    }
}
