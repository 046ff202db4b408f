//! What the macro emits beside its errors, so that one mistake gives one error.
//!
//! When the trait has a mistake, the macro emits the compile error, the trait without
//! its `#[rpc]` attributes, and stand-ins for `{Trait}Client` and `{Trait}Server<T>`:
//! the same structs, constructors, `Clone`, `Debug` and `rpc::service::Service` impl
//! as the real ones (the same generator functions write them), so code that names the
//! generated types still type-checks. The stand-in client has one method per trait
//! method, with the real method's name, parameters, generics and result type, whose
//! body is never run (the build fails on the error). Left out are methods the real
//! client could not have (named `new` or `inner`, a second method of one name) and
//! those whose signature cannot be copied into the client's impl (naming `Self` or the
//! trait's generic parameters, a `_` type, an `impl Trait` result). The stand-in
//! server's method table is empty, and it needs no `T: Trait`.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;
use syn::visit::Visit;
use syn::{FnArg, ItemTrait, ReturnType, TraitItem, Visibility};

use super::service_trait::strip_for_fallback;
use super::{angle, Generator};
use crate::ast::{output_type, unraw, Output, Service};
use crate::attr::is_rpc;
use crate::symbol::{CLIENT_METHODS, NOTIFICATION};

// input:  a trait the macro refused
// output: the trait less our attributes, and the stand-in client and server
pub fn fallback(item: &ItemTrait) -> TokenStream {
    let mut stripped = item.clone();
    strip_for_fallback(&mut stripped);
    let types = fallback_types(item);
    quote! {
        #stripped
        #types
    }
}

// input:  a trait the macro refused (or one rebuilt from the name, see `unparsed_trait`)
// output: struct CalculatorClient, struct CalculatorServer<T>, and a `const _` block with
//         their constructors, `Clone`, `Debug`, the stand-in client methods and `Service`
pub fn fallback_types(item: &ItemTrait) -> TokenStream {
    let service = Service {
        item,
        ident: &item.ident,
        vis: &item.vis,
        namespace: None,
        title: None,
        version: None,
        methods: Vec::new(),
    };
    let g = Generator::new(&service);
    let client_struct = g.client_struct();
    let server_struct = g.server_struct();
    let (client_methods, batch_methods) = g.stub_client_methods();
    let client_impl = g.client_impl_with(&client_methods);
    let batch_impl = g.batch_impl_with(&batch_methods);
    let client_clone = g.client_clone();
    let client_debug = g.client_debug();
    let server_constructors = g.server_constructors();
    let server_clone = g.server_clone();
    let server_debug = g.server_debug();
    let service_impl = g.stub_service_impl();
    quote! {
        #client_struct
        #server_struct
        #[doc(hidden)]
        #[allow(dead_code, non_camel_case_types, clippy::all, clippy::pedantic)]
        const _: () = {
            #client_impl
            #batch_impl
            #client_clone
            #client_debug
            #server_constructors
            #server_clone
            #server_debug
            #service_impl
        };
    }
}

/// For input that did not parse as an item: a bodiless trait with the name and
/// visibility found in the tokens (`pub trait Calculator ..`), if they can be found, so
/// that the stand-in types can still be emitted.
pub fn unparsed_trait(input: TokenStream) -> Option<ItemTrait> {
    let tokens: Vec<TokenTree> = input.into_iter().collect();
    let at = tokens.windows(2).position(|w| {
        matches!(&w[0], TokenTree::Ident(i) if i == "trait") && matches!(&w[1], TokenTree::Ident(_))
    })?;
    let TokenTree::Ident(ident) = &tokens[at + 1] else {
        return None;
    };
    // `pub`, `pub(crate)`, `pub(in path)`: `pub` and the group after it, if any.
    let vis: Visibility = match tokens[..at]
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "pub"))
    {
        Some(p) => {
            let end = match tokens.get(p + 1) {
                Some(TokenTree::Group(g))
                    if g.delimiter() == proc_macro2::Delimiter::Parenthesis =>
                {
                    p + 2
                }
                _ => p + 1,
            };
            let vis: TokenStream = tokens[p..end].iter().cloned().collect();
            syn::parse2(vis).ok()?
        }
        None => Visibility::Inherited,
    };
    Some(syn::parse_quote!(#vis trait #ident {}))
}

impl Generator<'_> {
    // input:  /// doc
    //         async fn add<'a>(&self, a: &'a str, b: i64) -> Result<i64, MyError>;
    // output: /// doc
    //         pub async fn add<'a>(&self, _: &'a str, _: i64) -> Result<i64, rpc::Error> {
    //             unreachable!()
    //         }
    //         for each method of the trait that the real client could have; and the
    //         batch's stand-in methods (`pub fn add<'a>(&mut self, ..) -> BatchCall<i64>`)
    fn stub_client_methods(&self) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let item = self.service.item;
        let mut seen = HashSet::new();
        let mut out = TokenStream::new();
        let mut batch = TokenStream::new();
        for trait_item in &item.items {
            let TraitItem::Fn(f) = trait_item else {
                continue;
            };
            let sig = &f.sig;
            let name = unraw(&sig.ident);
            if CLIENT_METHODS.contains(&name.as_str())
                || !seen.insert(name)
                || cannot_stand_in(item, sig)
            {
                continue;
            }
            let docs: Vec<_> = f
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("doc") || a.path().is_ident("cfg"))
                .collect();
            let ident = &sig.ident;
            let generics = &sig.generics;
            let where_clause = &sig.generics.where_clause;
            let inputs: Vec<TokenStream> = sig
                .inputs
                .iter()
                .filter_map(|input| match input {
                    FnArg::Typed(pt) if !is_context(&pt.ty) => {
                        let ty = &pt.ty;
                        Some(q!(_: #ty))
                    }
                    _ => None,
                })
                .collect();
            let notification = f.attrs.iter().filter(|a| is_rpc(a)).any(|a| {
                a.meta.require_list().is_ok_and(|list| {
                    list.tokens
                        .clone()
                        .into_iter()
                        .any(|t| matches!(t, TokenTree::Ident(i) if i == NOTIFICATION))
                })
            });
            let ok = match &sig.output {
                _ if notification => q!(()),
                ReturnType::Default => q!(()),
                ReturnType::Type(_, ty) => match output_type(ty) {
                    Output::Unit => q!(()),
                    Output::Plain(ty) | Output::Result { ok: ty, .. } => q!(#ty),
                },
            };
            out.extend(q! {
                #(#docs)*
                pub async fn #ident #generics(&self, #(#inputs),*) -> ::core::result::Result<#ok, #rt::Error>
                #where_clause
                {
                    ::core::unreachable!("`#[rpc_service]` reported an error on this trait")
                }
            });
            let queued = if notification {
                q!(())
            } else {
                q!(#rt::BatchCall<#ok>)
            };
            batch.extend(q! {
                #(#docs)*
                pub fn #ident #generics(&mut self, #(#inputs),*) -> #queued
                #where_clause
                {
                    ::core::unreachable!("`#[rpc_service]` reported an error on this trait")
                }
            });
        }
        (out, batch)
    }

    // input:  pub trait Calculator
    // output: impl<T: Send + Sync + 'static> Service for CalculatorServer<T>, with no methods
    fn stub_service_impl(&self) -> TokenStream {
        let rt = &self.rt;
        let server = &self.server_ident;
        let option = q!(::core::option::Option);
        let mut bounded = vec![q!(T: ::core::marker::Send + ::core::marker::Sync + 'static)];
        bounded.extend(self.type_params().into_iter().map(|p| q!(#p: 'static)));
        let generics = angle(&bounded);
        let args = angle(&self.params_after(Some(q!(T))));
        q! {
            impl #generics #rt::Service for #server #args {
                fn methods(&self) -> &[#rt::MethodInfo] {
                    &[]
                }

                fn route(&self, _: &str) -> #option<usize> {
                    #option::None
                }

                fn call(&self, _: #rt::IncomingCall) -> #rt::BoxFuture<'static, #rt::Reply> {
                    #rt::Box::pin(async {
                        ::core::result::Result::Err(#rt::RpcError::internal("no method at this index"))
                    })
                }
            }
        }
    }
}

/// Whether a parameter is the call's context (`CallContext` or `&CallContext`), which
/// the client leaves out.
fn is_context(ty: &syn::Type) -> bool {
    let ty = match ty {
        syn::Type::Reference(r) => &*r.elem,
        other => other,
    };
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CallContext"))
}

/// Whether a stand-in client method could not be written with this signature: it
/// names `Self` or one of the trait's generic parameters (which mean nothing in the
/// client's impl), has `_` for a type, or returns an `impl Trait` (which a body that
/// never returns cannot give a type).
fn cannot_stand_in(item: &ItemTrait, sig: &syn::Signature) -> bool {
    struct Finder<'a> {
        types: Vec<&'a Ident>,
        lifetimes: Vec<&'a Ident>,
        in_output: bool,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, path: &'ast syn::Path) {
            if let Some(first) = path.segments.first() {
                if first.ident == "Self" || self.types.contains(&&first.ident) {
                    self.found = true;
                }
            }
            syn::visit::visit_path(self, path);
        }
        fn visit_lifetime(&mut self, lt: &'ast syn::Lifetime) {
            if self.lifetimes.contains(&&lt.ident) {
                self.found = true;
            }
        }
        fn visit_type_infer(&mut self, _: &'ast syn::TypeInfer) {
            self.found = true;
        }
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            if self.in_output {
                self.found = true;
            }
            syn::visit::visit_type_impl_trait(self, t);
        }
        fn visit_return_type(&mut self, output: &'ast ReturnType) {
            self.in_output = true;
            syn::visit::visit_return_type(self, output);
            self.in_output = false;
        }
        fn visit_receiver(&mut self, _: &'ast syn::Receiver) {}
    }
    let generics = &item.generics;
    let mut finder = Finder {
        types: generics
            .type_params()
            .map(|p| &p.ident)
            .chain(generics.const_params().map(|p| &p.ident))
            .collect(),
        lifetimes: generics.lifetimes().map(|l| &l.lifetime.ident).collect(),
        in_output: false,
        found: false,
    };
    finder.visit_signature(sig);
    finder.found
}
