//! Code generation: from a checked [`Service`] to the trait, client, server adapter,
//! codecs and dispatch table.
//!
//! Everything that is not a user-visible item goes into one `const _: () = { .. };`
//! block, so helper names cannot collide with the user's. User types appear only in the
//! trait, the client's signatures, and as explicit generic arguments (turbofish) of
//! bounded functions (the runtime's `::rpc::__private::{decode_params, respond,
//! into_rpc_error}`, each method's params decoder and client sender): when a type lacks
//! `Deserialize`, `Serialize` or `Into<RpcError>`, that argument is the one place the
//! bound fails, so rustc reports one error, on the user's type. What all services share
//! (the -32602 texts, the parameter seeds, the key matcher) is runtime code in
//! `rpc/src/service/params.rs`; only per-method code is generated.
//!
//! When the input has a mistake, [`fallback`] writes what goes beside the error.

/// `quote!` with every token it writes at `Span::mixed_site()`: the generated code's
/// own locals, parameters and lifetimes cannot be captured by, nor capture, a name in
/// the user's scope (a `const params: usize` next to the trait, say). Interpolated user
/// tokens keep their spans.
macro_rules! q {
    ($($tt:tt)*) => {
        quote::quote_spanned!(proc_macro2::Span::mixed_site()=> $($tt)*)
    };
}

mod client;
mod codec;
mod fallback;
mod openrpc;
mod server;
mod service_trait;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;
use syn::Type;

use crate::ast::{Output, Service};

pub use fallback::{fallback, fallback_types, unparsed_trait};
pub use openrpc::doc_text;

/// The paths and names every generator needs, computed once.
pub struct Generator<'a> {
    pub service: &'a Service<'a>,
    /// `::rpc::__private`
    pub rt: TokenStream,
    pub trait_ident: &'a Ident,
    pub client_ident: Ident,
    pub server_ident: Ident,
    pub batch_ident: Ident,
    /// The server's type parameter (the implementation).
    pub impl_ident: Ident,
}

// input:  a checked service
// output: the trait, `{Trait}Client`, `{Trait}Server<T>`, and a `const _` block with
//         the codecs, the client's impls, the method table and the server's impls
pub fn expand(service: &Service) -> TokenStream {
    let g = Generator::new(service);
    let service_trait = g.service_trait();
    let client_struct = g.client_struct();
    let server_struct = g.server_struct();
    let codecs = g.codecs();
    let client_impl = g.client_impl();
    let client_clone = g.client_clone();
    let client_debug = g.client_debug();
    let client_senders = g.client_senders();
    let method_table = g.method_table();
    let server_constructors = g.server_constructors();
    let server_clone = g.server_clone();
    let server_debug = g.server_debug();
    let server_handlers = g.server_handlers();
    let service_impl = g.service_impl();
    let openrpc_describe = g.openrpc_describe();
    let openrpc_document = g.openrpc_document_fn();
    quote! {
        #service_trait
        #client_struct
        #server_struct
        #[doc(hidden)]
        #[allow(dead_code, deprecated, non_camel_case_types, clippy::all, clippy::pedantic)]
        const _: () = {
            #codecs
            #client_impl
            #client_clone
            #client_debug
            #client_senders
            #method_table
            #server_constructors
            #server_clone
            #server_debug
            #server_handlers
            #service_impl
            #openrpc_describe
            #openrpc_document
        };
    }
}

impl<'a> Generator<'a> {
    pub fn new(service: &'a Service<'a>) -> Self {
        Generator {
            service,
            rt: quote!(::rpc::__private),
            trait_ident: service.ident,
            client_ident: format_ident!("{}Client", service.ident),
            server_ident: format_ident!("{}Server", service.ident),
            batch_ident: format_ident!("{}Batch", service.ident),
            impl_ident: Ident::new("__RpcImpl", Span::call_site()),
        }
    }
}

/// The trait's type parameters, as the generated types carry them: a generic trait
/// `Store<K, V>` gives `StoreClient<K, V>`, `StoreBatch<'_, K, V>` and
/// `StoreServer<T, K, V>`, for one instantiation each.
impl Generator<'_> {
    /// `K, V` (empty for a trait without type parameters).
    pub fn type_params(&self) -> Vec<&Ident> {
        self.service
            .item
            .generics
            .type_params()
            .map(|p| &p.ident)
            .collect()
    }

    /// `K: bounds, V: bounds` as declared on the trait, plus `extra` on each.
    pub fn bounded_type_params(&self, extra: &TokenStream) -> Vec<TokenStream> {
        self.service
            .item
            .generics
            .type_params()
            .map(|p| {
                let ident = &p.ident;
                let mut bounds: Vec<TokenStream> = p.bounds.iter().map(|b| q!(#b)).collect();
                if !extra.is_empty() {
                    bounds.push(extra.clone());
                }
                if bounds.is_empty() {
                    q!(#ident)
                } else {
                    q!(#ident: #(#bounds)+*)
                }
            })
            .collect()
    }

    /// The type parameters as tokens, after `first` (a lifetime, or the server's `T`).
    pub fn params_after(&self, first: Option<TokenStream>) -> Vec<TokenStream> {
        first
            .into_iter()
            .chain(self.type_params().into_iter().map(|p| q!(#p)))
            .collect()
    }

    /// The trait's `where` predicates, to repeat on every impl.
    pub fn where_predicates(&self) -> Vec<&syn::WherePredicate> {
        self.service
            .item
            .generics
            .where_clause
            .iter()
            .flat_map(|w| w.predicates.iter())
            .collect()
    }

    /// `<K, V>` after the trait's name, or nothing.
    pub fn trait_args(&self) -> TokenStream {
        let params = self.type_params();
        if params.is_empty() {
            TokenStream::new()
        } else {
            q!(<#(#params),*>)
        }
    }

    /// The marker field's type: `PhantomData<fn() -> (K, V,)>`, which is `Send`,
    /// `Sync` and `Clone` whatever `K` and `V` are.
    pub fn phantom(&self) -> TokenStream {
        let params = self.type_params();
        q!(::core::marker::PhantomData<fn() -> (#(#params,)*)>)
    }
}

/// `<a, b>`, or nothing when there is nothing to put between the brackets.
pub fn angle(items: &[TokenStream]) -> TokenStream {
    if items.is_empty() {
        TokenStream::new()
    } else {
        q!(<#(#items),*>)
    }
}

/// `ty` with every named or `'_` lifetime (but `'static`) made `'_`, so that it can be
/// written as a generic argument inside a function body.
pub fn elided(ty: &Type) -> Type {
    struct Elide;
    impl VisitMut for Elide {
        fn visit_lifetime_mut(&mut self, lt: &mut syn::Lifetime) {
            if lt.ident != "static" {
                *lt = syn::Lifetime::new("'_", lt.span());
            }
        }
    }
    let mut ty = ty.clone();
    Elide.visit_type_mut(&mut ty);
    ty
}

/// The type a call's result decodes as (client) and encodes from (server).
pub fn ok_type(output: &Output) -> TokenStream {
    match output {
        Output::Unit => quote!(()),
        Output::Plain(ty) => quote!(#ty),
        Output::Result { ok, .. } => quote!(#ok),
    }
}

/// `__A0, __A1, ..`
pub fn generic_idents(n: usize) -> Vec<Ident> {
    (0..n).map(|i| format_ident!("__A{}", i)).collect()
}
