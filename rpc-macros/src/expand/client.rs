//! `{Trait}Client`: one async method per service method.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType};

use super::{angle, elided, generic_idents, ok_type, Generator};
use crate::ast::{Method, ParamKind};
use crate::attr::Shape;

impl Generator<'_> {
    // input:  pub trait Calculator
    // output: #[derive(Clone)] pub struct CalculatorClient { client: rpc::Client }
    pub fn client_struct(&self) -> TokenStream {
        let rt = &self.rt;
        let vis = self.service.vis;
        let client = &self.client_ident;
        let doc = format!(
            "The typed client of [`{}`]: one async method per service method, over any \
             [`rpc::Client`](::rpc::Client) connection. Cheap to clone.",
            self.trait_ident
        );
        let batch = &self.batch_ident;
        let batch_doc = format!(
            "Typed calls of [`{}`] gathered into one batch frame: from [`{client}::batch`]; \
             each call gives back a handle to its result, and `.await` sends the batch.",
            self.trait_ident
        );
        let args = self.trait_args();
        let batch_params = angle(&self.params_after(Some(q!('__batch))));
        let phantom = self.phantom();
        q! {
            #[doc = #doc]
            #vis struct #client #args {
                client: #rt::Client,
                timeout: ::core::option::Option<#rt::Duration>,
                types: #phantom,
            }

            #[doc = #batch_doc]
            #vis struct #batch #batch_params {
                batch: #rt::Batch<'__batch>,
                types: #phantom,
            }
        }
    }

    /// `impl<K: .., V: ..>` (or `impl`) and the `where` clause, for the client's and
    /// the batch's impls; `lifetime` goes first when given.
    fn client_impl_header(&self, lifetime: Option<TokenStream>) -> (TokenStream, TokenStream) {
        let bounded = self.bounded_type_params(&TokenStream::new());
        let params: Vec<TokenStream> = lifetime.into_iter().chain(bounded).collect();
        let generics = angle(&params);
        let predicates = self.where_predicates();
        let where_clause = if predicates.is_empty() {
            TokenStream::new()
        } else {
            q!(where #(#predicates),*)
        };
        (generics, where_clause)
    }

    // input:  the service's methods
    // output: impl CalculatorClient { fn new, fn inner, async fn add(&self, a, b) -> Result<i64, Error>, .. }
    pub fn client_impl(&self) -> TokenStream {
        let methods: TokenStream = self
            .service
            .methods
            .iter()
            .enumerate()
            .map(|(i, method)| self.client_method(i, method))
            .collect();
        let batch_methods: TokenStream = self
            .service
            .methods
            .iter()
            .enumerate()
            .map(|(i, method)| self.batch_method(i, method))
            .collect();
        let mut out = self.client_impl_with(&methods);
        out.extend(self.batch_impl_with(&batch_methods));
        out
    }

    // input:  the batch's methods (the real ones, or the fallback's stubs)
    // output: impl CalculatorBatch<'_> { #methods }, and IntoFuture, which sends it
    pub fn batch_impl_with(&self, methods: &TokenStream) -> TokenStream {
        let rt = &self.rt;
        let batch = &self.batch_ident;
        let (generics, where_clause) = self.client_impl_header(Some(q!('__batch)));
        let plain = angle(&self.params_after(Some(q!('__batch))));
        q! {
            impl #generics #batch #plain #where_clause {
                #methods
            }

            impl #plain #rt::IntoFuture for #batch #plain {
                type Output = ::core::result::Result<#rt::BatchResponses, #rt::Error>;
                type IntoFuture = #rt::BoxFuture<'__batch, Self::Output>;

                /// Sends the batch and waits for every call's response.
                fn into_future(self) -> Self::IntoFuture {
                    #rt::Box::pin(self.batch.send())
                }
            }

            impl #plain ::core::fmt::Debug for #batch #plain {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Debug::fmt(&self.batch, __f)
                }
            }
        }
    }

    // input:  the client's methods (the real ones, or the fallback's stubs)
    // output: impl CalculatorClient { fn new(Client) -> Self, fn inner(&self) -> &Client, #methods }
    pub fn client_impl_with(&self, methods: &TokenStream) -> TokenStream {
        let rt = &self.rt;
        let client = &self.client_ident;
        let batch = &self.batch_ident;
        let batch_args = angle(&self.params_after(Some(q!('_))));
        let args = self.trait_args();
        let (generics, where_clause) = self.client_impl_header(None);
        q! {
            impl #generics #client #args #where_clause {
                /// Wraps a connection: a [`rpc::Client`](::rpc::Client), which it
                /// closes when the last clone goes, or a [`rpc::Peer`](::rpc::Peer)
                /// (a server's caller, an end of a two-way connection), which it
                /// leaves open.
                pub fn new(__client: impl ::core::convert::Into<#rt::Client>) -> Self {
                    #client {
                        client: ::core::convert::Into::into(__client),
                        timeout: ::core::option::Option::None,
                        types: ::core::marker::PhantomData,
                    }
                }

                /// The connection the calls go over.
                pub fn inner(&self) -> &#rt::Client {
                    &self.client
                }

                /// A client over the same connection whose calls wait at most
                /// `timeout` for their responses, instead of the method's `timeout`
                /// or the connection's `request_timeout`.
                #[must_use]
                pub fn with_timeout(&self, timeout: #rt::Duration) -> Self {
                    #client {
                        client: ::core::clone::Clone::clone(&self.client),
                        timeout: ::core::option::Option::Some(timeout),
                        types: ::core::marker::PhantomData,
                    }
                }

                /// Starts a batch: calls added to it are sent together, as one frame,
                /// when it is awaited.
                pub fn batch(&self) -> #batch #batch_args {
                    #batch {
                        batch: #rt::Batch::new(&self.client),
                        types: ::core::marker::PhantomData,
                    }
                }

                #methods
            }
        }
    }

    // input:  pub trait Calculator
    // output: impl Clone for CalculatorClient (shares the connection)
    pub fn client_clone(&self) -> TokenStream {
        let client = &self.client_ident;
        let args = self.trait_args();
        q! {
            impl #args ::core::clone::Clone for #client #args {
                fn clone(&self) -> Self {
                    #client {
                        client: ::core::clone::Clone::clone(&self.client),
                        timeout: self.timeout,
                        types: ::core::marker::PhantomData,
                    }
                }
            }
        }
    }

    // input:  pub trait Calculator
    // output: impl Debug for CalculatorClient (writes `CalculatorClient`)
    pub fn client_debug(&self) -> TokenStream {
        let client = &self.client_ident;
        let args = self.trait_args();
        q! {
            impl #args ::core::fmt::Debug for #client #args {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    __f.write_str(::core::stringify!(#client))
                }
            }
        }
    }

    // input:  the service's methods
    // output: one generic sender per method, which the client method calls
    pub fn client_senders(&self) -> TokenStream {
        self.service
            .methods
            .iter()
            .enumerate()
            .flat_map(|(i, method)| [self.client_sender(i, method), self.batch_queuer(i, method)])
            .collect()
    }

    // input:  /// doc
    //         async fn add(&self, a: i64, b: i64) -> Result<i64, MyError>;
    // output: /// doc
    //         pub async fn add(&self, a: i64, b: i64) -> Result<i64, rpc::Error> {
    //             __rpc_send_0::<i64, i64, i64>(&self.client, &a, &b).await
    //         }
    fn client_method(&self, i: usize, method: &Method) -> TokenStream {
        let rt = &self.rt;
        let result = q!(::core::result::Result);
        let docs = method.docs();
        let ident = method.ident;
        let generics = &method.sig.generics;
        let inputs = client_inputs(method);
        let ok = if method.notification {
            q!(())
        } else {
            ok_type(&method.output)
        };
        let send = format_ident!("__rpc_send_{}", i);
        let arg_types = method
            .params
            .iter()
            .zip(optional_args(method))
            .map(|(p, opt)| match (opt, &p.kind) {
                (true, ParamKind::Optional(inner)) => elided(inner),
                _ => elided(p.ty),
            });
        let arg_idents = method.params.iter().map(|p| p.ident);
        if let Some(s) = &method.stream {
            let item = s.item_ok.unwrap_or(s.item);
            let item = quote_spanned!(item.span()=> #item);
            let cfgs = &method.cfgs;
            return q! {
                #(#cfgs)*
                #(#docs)*
                #[allow(clippy::needless_lifetimes)]
                pub async fn #ident #generics(&self, #(#inputs),*)
                    -> #result<#rt::Subscription<#item>, #rt::Error>
                {
                    #send::<#(#arg_types,)* #item>(&self.client, #(&#arg_idents),*).await
                }
            };
        }
        let call = if method.notification {
            q!(#send::<#(#arg_types),*>(&self.client, #(&#arg_idents),*).await)
        } else {
            let timeout = q!(self.timeout);
            let ok_span = match &method.sig.output {
                ReturnType::Type(_, ty) => ty.span(),
                ReturnType::Default => ident.span(),
            };
            let ok_arg = quote_spanned!(ok_span=> #ok);
            q!(#send::<#(#arg_types,)* #ok_arg>(&self.client, #timeout, #(&#arg_idents),*).await)
        };
        let cfgs = &method.cfgs;
        q! {
            #(#cfgs)*
            #(#docs)*
            #[allow(clippy::needless_lifetimes)]
            pub async fn #ident #generics(&self, #(#inputs),*) -> #result<#ok, #rt::Error> {
                #call
            }
        }
    }

    // input:  async fn add(&self, a: i64, b: i64) -> Result<i64, MyError>;
    // output: async fn __rpc_send_0<A0: ?Sized + Serialize, A1: ?Sized + Serialize, R: DeserializeOwned>(
    //             client: &Client, a0: &A0, a1: &A1,
    //         ) -> Result<R, Error> { client.call::<_, R>("add", &__RpcArgs0(a0, a1)).await }
    fn client_sender(&self, i: usize, method: &Method) -> TokenStream {
        let rt = &self.rt;
        let serde = q!(#rt::serde);
        let result = q!(::core::result::Result);
        let wire = &method.wire;
        let send = format_ident!("__rpc_send_{}", i);
        let r = format_ident!("__R");
        let SenderArgs {
            params: arg_params,
            bounds,
            types: param_types,
        } = self.sender_args(method);
        let params_value = self.params_value(i, method, &arg_params);

        if let Some(s) = &method.stream {
            let (item, unsubscribe) = (&s.item_method, &s.unsubscribe_method);
            return q! {
                async fn #send<#(#bounds,)* #r: #serde::de::DeserializeOwned>(
                    __client: &#rt::Client,
                    #(#arg_params: #param_types),*
                ) -> #result<#rt::Subscription<#r>, #rt::Error> {
                    __client.subscribe::<_, #r>(#wire, #params_value, #item, #unsubscribe).await
                }
            };
        }
        if method.notification {
            q! {
                async fn #send<#(#bounds),*>(
                    __client: &#rt::Client,
                    #(#arg_params: #param_types),*
                ) -> #result<(), #rt::Error> {
                    __client.notify(#wire, ::core::option::Option::Some(#params_value)).await
                }
            }
        } else {
            // The method's own deadline, with a margin so that the server's timeout
            // answer, which says more, normally arrives before the client gives up.
            let method_timeout = match method.timeout_ms {
                Some(ms) => {
                    let ms = ms.saturating_add((ms / 10).max(100));
                    q!(::core::option::Option::Some(#rt::Duration::from_millis(#ms)))
                }
                None => q!(::core::option::Option::None),
            };
            let idempotent = method.idempotent;
            q! {
                async fn #send<#(#bounds,)* #r: #serde::de::DeserializeOwned>(
                    __client: &#rt::Client,
                    __timeout: ::core::option::Option<#rt::Duration>,
                    #(#arg_params: #param_types),*
                ) -> #result<#r, #rt::Error> {
                    let __options = #rt::CallOptions::new()
                        .timeout(::core::option::Option::or(__timeout, #method_timeout))
                        .idempotent(#idempotent);
                    __client.call_with::<_, #r>(#wire, #params_value, __options).await
                }
            }
        }
    }

    // input:  async fn add(&self, a: i64, b: i64) -> i64;
    // output: pub fn add(&mut self, a: i64, b: i64) -> rpc::BatchCall<i64> {
    //             __rpc_queue_0::<i64, i64, i64>(&mut self.batch, &a, &b)
    //         }
    //         (a notification returns nothing)
    fn batch_method(&self, i: usize, method: &Method) -> TokenStream {
        if method.stream.is_some() {
            // A batch's calls answer once; a stream's items have nowhere to go.
            return TokenStream::new();
        }
        let rt = &self.rt;
        let docs = method.docs();
        let ident = method.ident;
        let generics = &method.sig.generics;
        let inputs = client_inputs(method);
        let queue = format_ident!("__rpc_queue_{}", i);
        let arg_types: Vec<_> = method
            .params
            .iter()
            .zip(optional_args(method))
            .map(|(p, opt)| match (opt, &p.kind) {
                (true, ParamKind::Optional(inner)) => elided(inner),
                _ => elided(p.ty),
            })
            .collect();
        let arg_idents = method.params.iter().map(|p| p.ident);
        let cfgs = &method.cfgs;
        if method.notification {
            q! {
                #(#cfgs)*
                #(#docs)*
                #[allow(clippy::needless_lifetimes)]
                pub fn #ident #generics(&mut self, #(#inputs),*) {
                    #queue::<#(#arg_types),*>(&mut self.batch, #(&#arg_idents),*)
                }
            }
        } else {
            let ok = ok_type(&method.output);
            let ok_span = match &method.sig.output {
                ReturnType::Type(_, ty) => ty.span(),
                ReturnType::Default => ident.span(),
            };
            let ok_arg = quote_spanned!(ok_span=> #ok);
            q! {
                #(#cfgs)*
                #(#docs)*
                #[allow(clippy::needless_lifetimes)]
                pub fn #ident #generics(&mut self, #(#inputs),*) -> #rt::BatchCall<#ok> {
                    #queue::<#(#arg_types,)* #ok_arg>(&mut self.batch, #(&#arg_idents),*)
                }
            }
        }
    }

    // input:  async fn add(&self, a: i64, b: i64) -> i64;
    // output: fn __rpc_queue_0<A0: ?Sized + Serialize, A1: ?Sized + Serialize, R: DeserializeOwned>(
    //             batch: &mut Batch, a0: &A0, a1: &A1,
    //         ) -> BatchCall<R> { batch.call::<_, R>("add", &__RpcArgs0(a0, a1)) }
    fn batch_queuer(&self, i: usize, method: &Method) -> TokenStream {
        if method.stream.is_some() {
            return TokenStream::new();
        }
        let rt = &self.rt;
        let serde = q!(#rt::serde);
        let wire = &method.wire;
        let queue = format_ident!("__rpc_queue_{}", i);
        let r = format_ident!("__R");
        let SenderArgs {
            params: arg_params,
            bounds,
            types: param_types,
        } = self.sender_args(method);
        let params_value = self.params_value(i, method, &arg_params);
        if method.notification {
            q! {
                fn #queue<#(#bounds),*>(
                    __batch: &mut #rt::Batch<'_>,
                    #(#arg_params: #param_types),*
                ) {
                    __batch.notify(#wire, #params_value)
                }
            }
        } else {
            q! {
                fn #queue<#(#bounds,)* #r: #serde::de::DeserializeOwned>(
                    __batch: &mut #rt::Batch<'_>,
                    #(#arg_params: #param_types),*
                ) -> #rt::BatchCall<#r> {
                    __batch.call::<_, #r>(#wire, #params_value)
                }
            }
        }
    }

    /// The generic arguments of a sender or queuer: `a0: &A0` (or `&Option<A0>` for an
    /// optional named parameter) with `A0: ?Sized + Serialize`.
    fn sender_args(&self, method: &Method) -> SenderArgs {
        let serde = {
            let rt = &self.rt;
            q!(#rt::serde)
        };
        let optional = optional_args(method);
        let a = generic_idents(method.params.len());
        let params = a
            .iter()
            .map(|x| Ident::new(&x.to_string().to_lowercase(), Span::mixed_site()))
            .collect();
        let bounds = a
            .iter()
            .zip(&optional)
            .map(|(x, &opt)| {
                if opt {
                    q!(#x: #serde::Serialize)
                } else {
                    q!(#x: ?::core::marker::Sized + #serde::Serialize)
                }
            })
            .collect();
        let types = a
            .iter()
            .zip(&optional)
            .map(|(x, &opt)| {
                if opt {
                    q!(&::core::option::Option<#x>)
                } else {
                    q!(&#x)
                }
            })
            .collect();
        SenderArgs {
            params,
            bounds,
            types,
        }
    }

    /// What goes on the wire as a call's params: nothing, the one raw value, or the
    /// args struct of the method's parameters.
    fn params_value(&self, i: usize, method: &Method, arg_params: &[Ident]) -> TokenStream {
        if method.params.is_empty() {
            q!(&())
        } else if method.raw_params {
            let a0 = &arg_params[0];
            q!(#a0)
        } else {
            let args = Self::args_ident(i);
            q!(&#args(#(#arg_params),*))
        }
    }
}

/// A sender's parameters (`a0`), their bounds and their types.
struct SenderArgs {
    params: Vec<Ident>,
    bounds: Vec<TokenStream>,
    types: Vec<TokenStream>,
}

/// The client's parameters for a method: the trait method's, less `&self` and the
/// `CallContext`.
fn client_inputs<'a>(method: &'a Method) -> impl Iterator<Item = TokenStream> + 'a {
    let context = method.context.map(|cx| cx.position);
    method
        .sig
        .inputs
        .iter()
        .skip(1)
        .enumerate()
        .filter(move |(position, _)| Some(*position) != context)
        .filter_map(|(_, input)| match input {
            FnArg::Typed(pt) => {
                let (pat, ty) = (&pt.pat, &pt.ty);
                Some(q!(#pat: #ty))
            }
            FnArg::Receiver(_) => None,
        })
}

/// Which parameters the client passes as `&Option<A>` rather than `&A`: the optional
/// ones of a named call, so that `None` can be left out of the params object.
fn optional_args(method: &Method) -> Vec<bool> {
    method
        .params
        .iter()
        .map(|p| {
            !method.raw_params
                && method.shape == Shape::Named
                && matches!(p.kind, ParamKind::Optional(_))
        })
        .collect()
}
