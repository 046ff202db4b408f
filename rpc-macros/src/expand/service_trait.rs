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
            // A stream outlives the call that made it (its items are sent by a task
            // of its own) and moves between threads.
            if let ReturnType::Type(_, ty) = &mut f.sig.output {
                if let Some(stream) = stream_impl_mut(ty) {
                    add_bound(stream, syn::parse_quote!(::core::marker::Send), "Send");
                    add_bound(stream, syn::parse_quote!('static), "'static");
                }
            }
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

/// The `impl Stream<..>` of a streaming method's return type (alone, or the `Ok`
/// of a `Result`).
fn stream_impl_mut(ty: &mut syn::Type) -> Option<&mut syn::TypeImplTrait> {
    crate::ast::stream_of(ty)?;
    match ty {
        syn::Type::ImplTrait(t) => Some(t),
        syn::Type::Path(p) => {
            let seg = p.path.segments.last_mut()?;
            let syn::PathArguments::AngleBracketed(args) = &mut seg.arguments else {
                return None;
            };
            args.args.iter_mut().find_map(|a| match a {
                syn::GenericArgument::Type(syn::Type::ImplTrait(t)) => Some(t),
                _ => None,
            })
        }
        _ => None,
    }
}

/// Adds `bound` to `t` unless a bound shown as `shown` is there.
fn add_bound(t: &mut syn::TypeImplTrait, bound: syn::TypeParamBound, shown: &str) {
    let present = t.bounds.iter().any(|b| match b {
        syn::TypeParamBound::Lifetime(lt) => shown == format!("'{}", lt.ident),
        syn::TypeParamBound::Trait(tb) => tb.path.segments.last().is_some_and(|s| s.ident == shown),
        _ => false,
    });
    if !present {
        t.bounds.push(bound);
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
