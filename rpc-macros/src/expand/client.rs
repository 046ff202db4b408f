//! `{Trait}Client`: one async method per service method.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ReturnType};

use super::{elided, generic_idents, ok_type, Generator};
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
        q! {
            #[doc = #doc]
            #vis struct #client {
                client: #rt::Client,
            }
        }
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
        self.client_impl_with(&methods)
    }

    // input:  the client's methods (the real ones, or the fallback's stubs)
    // output: impl CalculatorClient { fn new(Client) -> Self, fn inner(&self) -> &Client, #methods }
    pub fn client_impl_with(&self, methods: &TokenStream) -> TokenStream {
        let rt = &self.rt;
        let client = &self.client_ident;
        q! {
            impl #client {
                /// Wraps a connection.
                pub fn new(__client: #rt::Client) -> Self {
                    #client { client: __client }
                }

                /// The connection the calls go over.
                pub fn inner(&self) -> &#rt::Client {
                    &self.client
                }

                #methods
            }
        }
    }

    // input:  pub trait Calculator
    // output: impl Clone for CalculatorClient (shares the connection)
    pub fn client_clone(&self) -> TokenStream {
        let client = &self.client_ident;
        q! {
            impl ::core::clone::Clone for #client {
                fn clone(&self) -> Self {
                    #client { client: ::core::clone::Clone::clone(&self.client) }
                }
            }
        }
    }

    // input:  pub trait Calculator
    // output: impl Debug for CalculatorClient (writes `CalculatorClient`)
    pub fn client_debug(&self) -> TokenStream {
        let client = &self.client_ident;
        q! {
            impl ::core::fmt::Debug for #client {
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
            .map(|(i, method)| self.client_sender(i, method))
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
        let inputs = method.sig.inputs.iter().skip(1).map(|input| match input {
            FnArg::Typed(pt) => {
                let (pat, ty) = (&pt.pat, &pt.ty);
                q!(#pat: #ty)
            }
            FnArg::Receiver(_) => unreachable!(),
        });
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
        let call = if method.notification {
            q!(#send::<#(#arg_types),*>(&self.client, #(&#arg_idents),*).await)
        } else {
            let ok_span = match &method.sig.output {
                ReturnType::Type(_, ty) => ty.span(),
                ReturnType::Default => ident.span(),
            };
            let ok_arg = quote_spanned!(ok_span=> #ok);
            q!(#send::<#(#arg_types,)* #ok_arg>(&self.client, #(&#arg_idents),*).await)
        };
        q! {
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
        let optional = optional_args(method);
        let a = generic_idents(method.params.len());
        let r = format_ident!("__R");
        let arg_params: Vec<Ident> = a
            .iter()
            .map(|x| Ident::new(&x.to_string().to_lowercase(), Span::mixed_site()))
            .collect();

        // Shapes of what goes on the wire: nothing, the one raw value, or the args struct.
        let params_value = if method.params.is_empty() {
            q!(&())
        } else if method.raw_params {
            let a0 = &arg_params[0];
            q!(#a0)
        } else {
            let args = Self::args_ident(i);
            q!(&#args(#(#arg_params),*))
        };
        let bounds = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                q!(#x: #serde::Serialize)
            } else {
                q!(#x: ?::core::marker::Sized + #serde::Serialize)
            }
        });
        let param_types = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                q!(&::core::option::Option<#x>)
            } else {
                q!(&#x)
            }
        });

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
            q! {
                async fn #send<#(#bounds,)* #r: #serde::de::DeserializeOwned>(
                    __client: &#rt::Client,
                    #(#arg_params: #param_types),*
                ) -> #result<#r, #rt::Error> {
                    __client.call::<_, #r>(#wire, #params_value).await
                }
            }
        }
    }
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
