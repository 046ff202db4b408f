//! `{Trait}Server<T>`: the adapter from an implementation to the runtime's `Service`,
//! with the method table, the route `match` and the dispatch `match`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote_spanned};
use syn::spanned::Spanned;

use super::{angle, elided, ok_type, Generator};
use crate::ast::{Method, Output, ParamKind};

impl Generator<'_> {
    // input:  pub trait Calculator
    // output: pub struct CalculatorServer<T> { service: Arc<T> }
    pub fn server_struct(&self) -> TokenStream {
        let rt = &self.rt;
        let vis = self.service.vis;
        let server = &self.server_ident;
        let doc = format!(
            "Serves any implementation of [`{}`]: hand it to \
             [`rpc::Server::new`](::rpc::Server::new).",
            self.trait_ident
        );
        let params = angle(&self.params_after(Some(q!(T))));
        let phantom = self.phantom();
        q! {
            #[doc = #doc]
            #vis struct #server #params {
                service: #rt::Arc<T>,
                types: #phantom,
            }
        }
    }

    /// `impl<T: Trait<K, V> + Send + Sync + 'static, K: .. + Send + Sync + 'static, ..>`,
    /// `<T, K, V>` and the trait's `where` clause, for the server's impls. The type
    /// parameters must be `Send + Sync + 'static` as the implementation is: calls
    /// hold their values across awaits in tasks of their own.
    fn server_impl_header(&self) -> (TokenStream, TokenStream, TokenStream) {
        let t = &self.impl_ident;
        let trait_ident = self.trait_ident;
        let trait_args = self.trait_args();
        let marker = q!(::core::marker::Send + ::core::marker::Sync + 'static);
        let mut bounded = vec![q!(#t: #trait_ident #trait_args + #marker)];
        bounded.extend(self.bounded_type_params(&marker));
        let generics = angle(&bounded);
        let args = angle(&self.params_after(Some(q!(#t))));
        let predicates = self.where_predicates();
        let where_clause = if predicates.is_empty() {
            TokenStream::new()
        } else {
            q!(where #(#predicates),*)
        };
        (generics, args, where_clause)
    }

    // input:  the service's methods
    // output: static __RPC_METHODS: [MethodInfo; 2] = [
    //             MethodInfo { name: "calc.add", execution: Async, timeout: None, .. }, ..
    //         ];
    pub fn method_table(&self) -> TokenStream {
        let rt = &self.rt;
        let option = q!(::core::option::Option);
        let methods = &self.service.methods;
        let indexes = self.index_consts();
        let infos = methods.iter().map(|m| {
            let cfgs = &m.cfgs;
            let name = &m.wire;
            let execution = if m.blocking {
                q!(#rt::Execution::Blocking)
            } else if let Some(pool) = &m.pool {
                q!(#rt::Execution::Pool(#rt::Cow::Borrowed(#pool)))
            } else {
                q!(#rt::Execution::Async)
            };
            let timeout = match m.timeout_ms {
                Some(ms) => q!(#option::Some(#rt::Duration::from_millis(#ms))),
                None => q!(#option::None),
            };
            let concurrency = match m.concurrency {
                Some(n) => q!(#option::Some(#n)),
                None => q!(#option::None),
            };
            let unordered = m.unordered;
            let context = m.context.is_some();
            let stream = match &m.stream {
                Some(s) => {
                    let (item, unsub) = (&s.item_method, &s.unsubscribe_method);
                    let buffer = s.buffer.map(|n| q!(.buffer(#n)));
                    let overflow = s.overflow.map(|o| {
                        let o = Ident::new(o, Span::call_site());
                        q!(.overflow(#rt::Overflow::#o))
                    });
                    q!(#option::Some(#rt::StreamSpec::new(#item, #unsub) #buffer #overflow))
                }
                None => q!(#option::None),
            };
            q! {
                #(#cfgs)*
                #rt::MethodInfo {
                    name: #rt::Cow::Borrowed(#name),
                    execution: #execution,
                    timeout: #timeout,
                    concurrency: #concurrency,
                    unordered: #unordered,
                    context: #context,
                    stream: #stream,
                }
            }
        });
        // Each streaming method's unsubscribe method, after the declared ones.
        let unsubscribes = methods.iter().filter_map(|m| {
            let (cfgs, s) = (&m.cfgs, m.stream.as_ref()?);
            let name = &s.unsubscribe_method;
            Some(q! {
                #(#cfgs)*
                #rt::MethodInfo::new(#name)
            })
        });
        let total = Self::total_const();
        q! {
            #indexes
            static __RPC_METHODS: [#rt::MethodInfo; #total] = [#(#infos,)* #(#unsubscribes),*];
        }
    }

    /// The constant that holds method `i`'s index in the table.
    pub fn index_const(i: usize) -> Ident {
        Ident::new(&format!("__RPC_INDEX_{i}"), Span::mixed_site())
    }

    fn count_const() -> Ident {
        Ident::new("__RPC_COUNT", Span::mixed_site())
    }

    /// The table's length: the declared methods and the unsubscribe methods.
    fn total_const() -> Ident {
        Ident::new("__RPC_TOTAL", Span::mixed_site())
    }

    /// The constant that holds the index of method `i`'s unsubscribe method.
    pub fn unsubscribe_const(i: usize) -> Ident {
        Ident::new(&format!("__RPC_UNSUBSCRIBE_{i}"), Span::mixed_site())
    }

    // input:  the service's methods, some under `#[cfg(..)]`
    // output: const __RPC_INDEX_0: usize = 0;
    //         const __RPC_INDEX_1: usize = __RPC_INDEX_0 + cfg!(all(<method 0's cfgs>)) as usize;
    //         ..; const __RPC_COUNT: usize = ..
    //
    // A method left out by its `#[cfg]` takes no place in the table, so the indexes
    // after it are counted by the compiler, which knows the cfgs.
    fn index_consts(&self) -> TokenStream {
        let mut out = TokenStream::new();
        let mut previous: Option<(Ident, TokenStream)> = None;
        for (i, m) in self.service.methods.iter().enumerate() {
            let ident = Self::index_const(i);
            let value = match &previous {
                None => q!(0),
                Some((before, present)) => q!(#before + #present),
            };
            out.extend(q!(const #ident: usize = #value;));
            previous = Some((ident, Self::present(m)));
        }
        let count = Self::count_const();
        let value = match &previous {
            None => q!(0),
            Some((before, present)) => q!(#before + #present),
        };
        out.extend(q!(const #count: usize = #value;));
        // The unsubscribe methods follow, one per streaming method present.
        let mut previous = q!(#count);
        for (i, m) in self.service.methods.iter().enumerate() {
            if m.stream.is_none() {
                continue;
            }
            let ident = Self::unsubscribe_const(i);
            out.extend(q!(#[allow(dead_code)] const #ident: usize = #previous;));
            let present = Self::present(m);
            previous = q!(#ident + #present);
        }
        let total = Self::total_const();
        out.extend(q!(const #total: usize = #previous;));
        out
    }

    /// `1` for a method without `#[cfg]`, else `(cfg!(all(..)) as usize)`.
    fn present(method: &Method) -> TokenStream {
        let predicates: Vec<TokenStream> = method
            .cfgs
            .iter()
            .filter_map(|a| a.meta.require_list().ok().map(|l| l.tokens.clone()))
            .collect();
        if predicates.is_empty() {
            q!(1)
        } else {
            q!((::core::cfg!(all(#(#predicates),*)) as usize))
        }
    }

    // input:  pub trait Calculator
    // output: impl<T> CalculatorServer<T> { fn new(T), fn from_arc(Arc<T>), fn get_ref(&self) -> &T }
    pub fn server_constructors(&self) -> TokenStream {
        let rt = &self.rt;
        let server = &self.server_ident;
        let params = angle(&self.params_after(Some(q!(T))));
        q! {
            impl #params #server #params {
                /// Serves `service`.
                pub fn new(__service: T) -> Self {
                    #server {
                        service: #rt::Arc::new(__service),
                        types: ::core::marker::PhantomData,
                    }
                }

                /// Serves a service that is shared with other owners.
                pub fn from_arc(__service: #rt::Arc<T>) -> Self {
                    #server {
                        service: __service,
                        types: ::core::marker::PhantomData,
                    }
                }

                /// The implementation being served.
                pub fn get_ref(&self) -> &T {
                    &self.service
                }
            }
        }
    }

    // input:  pub trait Calculator
    // output: impl<T> Clone for CalculatorServer<T> (shares the implementation; no `T: Clone`)
    pub fn server_clone(&self) -> TokenStream {
        let server = &self.server_ident;
        let params = angle(&self.params_after(Some(q!(T))));
        q! {
            impl #params ::core::clone::Clone for #server #params {
                fn clone(&self) -> Self {
                    #server {
                        service: ::core::clone::Clone::clone(&self.service),
                        types: ::core::marker::PhantomData,
                    }
                }
            }
        }
    }

    // input:  pub trait Calculator
    // output: impl<T> Debug for CalculatorServer<T> (writes `CalculatorServer`; no `T: Debug`)
    pub fn server_debug(&self) -> TokenStream {
        let server = &self.server_ident;
        let params = angle(&self.params_after(Some(q!(T))));
        q! {
            impl #params ::core::fmt::Debug for #server #params {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    __f.write_str(::core::stringify!(#server))
                }
            }
        }
    }

    // input:  the service's methods
    // output: impl<T: Calculator + Send + Sync + 'static> CalculatorServer<T> {
    //             pub async fn __call_add(..) -> Result<i64, RpcError> { .. }, ..
    //         }
    pub fn server_handlers(&self) -> TokenStream {
        let server = &self.server_ident;
        let handlers = self
            .service
            .methods
            .iter()
            .enumerate()
            .map(|(i, m)| self.handler(i, m));
        let (generics, args, where_clause) = self.server_impl_header();
        q! {
            impl #generics #server #args #where_clause {
                #(#handlers)*
            }
        }
    }

    // input:  the service's methods
    // output: impl<T: Calculator + Send + Sync + 'static> Service for CalculatorServer<T> {
    //             fn methods -> &__RPC_METHODS, fn route: match on the wire names,
    //             fn call / fn spawn_call: match on the index, run the handler, respond
    //         }
    pub fn service_impl(&self) -> TokenStream {
        let rt = &self.rt;
        let server = &self.server_ident;
        let result = q!(::core::result::Result);
        let option = q!(::core::option::Option);
        let methods = &self.service.methods;

        let (generics, args, where_clause) = self.server_impl_header();
        let describe = self.openrpc_service_describe();
        let routes = methods.iter().enumerate().map(|(i, m)| {
            let names =
                std::iter::once(m.wire.as_str()).chain(m.aliases.iter().map(|(a, _)| a.as_str()));
            let (cfgs, index) = (&m.cfgs, Self::index_const(i));
            let unsubscribe = m.stream.as_ref().map(|s| {
                let (name, index) = (&s.unsubscribe_method, Self::unsubscribe_const(i));
                q!(#(#cfgs)* #name => #option::Some(#index),)
            });
            q!(#(#cfgs)* #(#names)|* => #option::Some(#index), #unsubscribe)
        });

        // Locals next to user types get mixed-site hygiene, so that no name in a type
        // (an array length, say) can resolve to them.
        let service = Ident::new("__service", Span::mixed_site());
        let call = Ident::new("__call", Span::mixed_site());
        let out = Ident::new("__out", Span::mixed_site());
        let spawner = Ident::new("__spawner", Span::mixed_site());
        // One future per method, used boxed by `call` and unboxed by `spawn_call`.
        let bodies: Vec<TokenStream> = methods
            .iter()
            .map(|m| {
                let handler = format_ident!("__call_{}", m.ident);
                let ok = ok_type(&m.output);
                let ok = match &m.output {
                    Output::Plain(ty) | Output::Result { ok: ty, .. } => {
                        quote_spanned!(ty.span()=> #ok)
                    }
                    Output::Unit => ok,
                };
                let context = m.context.map(|_| q!(, #call.context()));
                if m.stream.is_some() {
                    // The handler starts the stream itself: its type is the trait's
                    // opaque one, which no signature here can name.
                    return q! {
                        async move {
                            Self::#handler(&*#service, #call.params() #context, &#call).await
                        }
                    };
                }
                q! {
                    async move {
                        let #out = Self::#handler(&*#service, #call.params() #context).await?;
                        #rt::respond::<#ok>(&#call, &#out)
                    }
                }
            })
            .collect();
        let arms = bodies
            .iter()
            .zip(methods)
            .enumerate()
            .map(|(i, (body, m))| {
                let (cfgs, index) = (&m.cfgs, Self::index_const(i));
                let unsubscribe = m.stream.as_ref().map(|_| {
                    let index = Self::unsubscribe_const(i);
                    q! { #(#cfgs)* #index => #rt::Box::pin(async move { #call.unsubscribe() }), }
                });
                q! { #(#cfgs)* #index => #rt::Box::pin(#body), #unsubscribe }
            });
        let spawn_arms = bodies
            .iter()
            .zip(methods)
            .enumerate()
            .map(|(i, (body, m))| {
                let (cfgs, index) = (&m.cfgs, Self::index_const(i));
                let unsubscribe = m.stream.as_ref().map(|_| {
                    let index = Self::unsubscribe_const(i);
                    q! { #(#cfgs)* #index => #spawner.spawn(async move { #call.unsubscribe() }), }
                });
                q! { #(#cfgs)* #index => #spawner.spawn(#body), #unsubscribe }
            });

        q! {
            impl #generics #rt::Service for #server #args #where_clause {
                fn methods(&self) -> &[#rt::MethodInfo] {
                    &__RPC_METHODS
                }

                #describe

                fn route(&self, method: &str) -> #option<usize> {
                    match method {
                        #(#routes)*
                        _ => #option::None,
                    }
                }

                fn call(&self, #call: #rt::IncomingCall) -> #rt::BoxFuture<'static, #rt::Reply> {
                    if !#call.is_routed_by(&__RPC_METHODS) {
                        let __err = #call.misrouted();
                        return #rt::Box::pin(async move { #result::Err(__err) });
                    }
                    let #service = ::core::clone::Clone::clone(&self.service);
                    match #call.method() {
                        #(#arms)*
                        _ => #rt::Box::pin(async move {
                            #result::Err(#rt::RpcError::internal("no method at this index"))
                        }),
                    }
                }

                fn spawn_call(
                    &self,
                    #call: #rt::IncomingCall,
                    #spawner: #rt::CallSpawner,
                ) -> #rt::Started {
                    if !#call.is_routed_by(&__RPC_METHODS) {
                        let __err = #call.misrouted();
                        return #spawner.spawn(async move { #result::Err(__err) });
                    }
                    let #service = ::core::clone::Clone::clone(&self.service);
                    match #call.method() {
                        #(#spawn_arms)*
                        _ => #spawner.spawn(async move {
                            #result::Err(#rt::RpcError::internal("no method at this index"))
                        }),
                    }
                }
            }
        }
    }

    // input:  async fn add(&self, a: i64, b: i64) -> Result<i64, E>
    // output: #[doc(hidden)]
    //         pub async fn __call_add(service: &T, params: Option<&str>) -> Result<i64, RpcError> {
    //             let __RpcParams0(a0, a1) = __rpc_decode_0::<i64, i64>(params)?;
    //             match <T as Calculator>::add(service, a0, a1).await {
    //                 Ok(v) => Ok(v), Err(e) => Err(rt::into_rpc_error::<E>(e)),
    //             }
    //         }
    fn handler(&self, i: usize, method: &Method) -> TokenStream {
        let rt = &self.rt;
        let t = &self.impl_ident;
        let trait_ident = self.trait_ident;
        let result = q!(::core::result::Result);
        let ident = method.ident;
        let handler = format_ident!("__call_{}", ident);
        let n = method.params.len();
        let locals: Vec<Ident> = (0..n)
            .map(|k| Ident::new(&format!("__a{k}"), Span::mixed_site()))
            .collect();
        let service = Ident::new("__service", Span::mixed_site());
        let params = Ident::new("__params", Span::mixed_site());
        let v = Ident::new("__v", Span::mixed_site());
        let error = Ident::new("__err", Span::mixed_site());

        let decode = if method.raw_params {
            let ty = elided(method.params[0].ty);
            let a0 = &locals[0];
            q!(let #a0 = #rt::decode_params::<#ty>(#params)?;)
        } else {
            let params_ident = Self::params_ident(i);
            let decode_fn = Self::decode_fn_ident(i);
            let types = method.params.iter().map(|p| match p.kind {
                ParamKind::Optional(inner) => elided(inner),
                _ => elided(p.ty),
            });
            q!(let #params_ident(#(#locals),*) = #decode_fn::<#(#types),*>(#params)?;)
        };
        let trait_args = self.trait_args();
        let context = Ident::new("__cx", Span::mixed_site());
        // The arguments in declaration order: the context where it was declared.
        let mut args: Vec<TokenStream> = locals.iter().map(|l| q!(#l)).collect();
        if let Some(cx) = method.context {
            let arg = if cx.by_ref {
                q!(&#context)
            } else {
                q!(#context)
            };
            args.insert(cx.position.min(args.len()), arg);
        }
        let context_param = method.context.map(|_| q!(#context: #rt::CallContext,));
        let invoke = if method.blocking || !method.is_async {
            q!(<#t as #trait_ident #trait_args>::#ident(#service, #(#args),*))
        } else {
            q!(<#t as #trait_ident #trait_args>::#ident(#service, #(#args),*).await)
        };
        let incoming = Ident::new("__incoming", Span::mixed_site());
        if let Some(s) = &method.stream {
            let start = if s.item_ok.is_some() {
                q!(try_stream)
            } else {
                q!(stream)
            };
            let stream = match s.refusal {
                None => invoke,
                Some(err) => {
                    let into =
                        quote_spanned!(err.span()=> ::rpc::__private::into_rpc_error::<#err>);
                    q! {
                        match #invoke {
                            #result::Ok(#v) => #v,
                            #result::Err(#error) => return #result::Err(#into(#error)),
                        }
                    }
                }
            };
            let cfgs = &method.cfgs;
            return q! {
                #(#cfgs)*
                #[doc(hidden)]
                #[allow(clippy::unused_async)]
                pub async fn #handler(
                    #service: &#t,
                    #params: ::core::option::Option<&str>,
                    #context_param
                    #incoming: &#rt::IncomingCall,
                ) -> #rt::Reply {
                    #decode
                    let #v = #stream;
                    #incoming.#start(#v)
                }
            };
        }
        let (out, body) = match (&method.stream, &method.output) {
            (Some(_), _) => unreachable!("streaming methods returned above"),
            (None, Output::Unit) => (q!(()), q!(#invoke; #result::Ok(()))),
            (None, Output::Plain(ty)) => (q!(#ty), q!(#result::Ok(#invoke))),
            (None, Output::Result { ok, err }) => {
                let into = quote_spanned!(err.span()=> ::rpc::__private::into_rpc_error::<#err>);
                (
                    q!(#ok),
                    q! {
                        match #invoke {
                            #result::Ok(#v) => #result::Ok(#v),
                            #result::Err(#error) => #result::Err(#into(#error)),
                        }
                    },
                )
            }
        };
        let cfgs = &method.cfgs;
        q! {
            #(#cfgs)*
            #[doc(hidden)]
            #[allow(clippy::unused_async)]
            pub async fn #handler(
                #service: &#t,
                #params: ::core::option::Option<&str>,
                #context_param
            ) -> #result<#out, #rt::RpcError> {
                #decode
                #body
            }
        }
    }
}
