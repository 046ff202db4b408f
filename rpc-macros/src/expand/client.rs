//! `{Trait}Client`: one async method per service method.

use proc_macro2::TokenStream;
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
    //         and the generic senders the methods go through
    pub fn client_impl(&self) -> TokenStream {
        let rt = &self.rt;
        let client = &self.client_ident;
        let mut methods = TokenStream::new();
        let mut senders = TokenStream::new();
        for (i, method) in self.service.methods.iter().enumerate() {
            let (m, s) = self.client_method(i, method);
            methods.extend(m);
            senders.extend(s);
        }
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

            impl ::core::clone::Clone for #client {
                fn clone(&self) -> Self {
                    #client { client: ::core::clone::Clone::clone(&self.client) }
                }
            }

            impl ::core::fmt::Debug for #client {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    __f.write_str(::core::stringify!(#client))
                }
            }

            #senders
        }
    }

    // input:  /// doc
    //         async fn add(&self, a: i64, b: i64) -> Result<i64, MyError>;
    // output: /// doc
    //         pub async fn add(&self, a: i64, b: i64) -> Result<i64, rpc::Error> {
    //             __rpc_send_0::<i64, i64, i64>(&self.client, &a, &b).await
    //         }
    //         async fn __rpc_send_0<A0: Serialize, A1: Serialize, R: DeserializeOwned>(..)
    fn client_method(&self, i: usize, method: &Method) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let serde = q!(#rt::serde);
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
        let ok_span = match &method.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => ident.span(),
        };
        let wire = &method.wire;
        let send = format_ident!("__rpc_send_{}", i);

        let params: Vec<_> = method.params.iter().collect();
        // A named optional parameter is passed as `&Option<A>`, so that `None` can be
        // left out of the params object; everything else as `&A`.
        let optional: Vec<bool> = params
            .iter()
            .map(|p| {
                !method.raw_params
                    && method.shape == Shape::Named
                    && matches!(p.kind, ParamKind::Optional(_))
            })
            .collect();
        let arg_types: Vec<TokenStream> = params
            .iter()
            .zip(&optional)
            .map(|(p, &opt)| {
                let ty = match (opt, &p.kind) {
                    (true, ParamKind::Optional(inner)) => elided(inner),
                    _ => elided(p.ty),
                };
                q!(#ty)
            })
            .collect();
        let arg_idents: Vec<_> = params.iter().map(|p| p.ident).collect();
        let a = generic_idents(params.len());
        let r = format_ident!("__R");

        // Shapes of what goes on the wire: nothing, the one raw value, or the args struct.
        let params_value = if params.is_empty() {
            q!(&())
        } else if method.raw_params {
            q!(__a0)
        } else {
            let args = Self::args_ident(i);
            let idx = a.iter().map(|x| {
                proc_macro2::Ident::new(
                    &x.to_string().to_lowercase(),
                    proc_macro2::Span::mixed_site(),
                )
            });
            q!(&#args(#(#idx),*))
        };
        let arg_params = a.iter().map(|x| {
            proc_macro2::Ident::new(
                &x.to_string().to_lowercase(),
                proc_macro2::Span::mixed_site(),
            )
        });
        let bounds: Vec<TokenStream> = a
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
        let param_types: Vec<TokenStream> = a
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

        let (sender, call) = if method.notification {
            (
                q! {
                    async fn #send<#(#bounds),*>(
                        __client: &#rt::Client,
                        #(#arg_params: #param_types),*
                    ) -> #result<(), #rt::Error> {
                        __client.notify(#wire, ::core::option::Option::Some(#params_value)).await
                    }
                },
                q!(#send::<#(#arg_types),*>(&self.client, #(&#arg_idents),*).await),
            )
        } else {
            let r_bound = q!(#r: #serde::de::DeserializeOwned);
            let ok_arg = quote_spanned!(ok_span=> #ok);
            (
                q! {
                    async fn #send<#(#bounds,)* #r_bound>(
                        __client: &#rt::Client,
                        #(#arg_params: #param_types),*
                    ) -> #result<#r, #rt::Error> {
                        __client.call::<_, #r>(#wire, #params_value).await
                    }
                },
                q!(#send::<#(#arg_types,)* #ok_arg>(&self.client, #(&#arg_idents),*).await),
            )
        };
        let method_tokens = q! {
            #(#docs)*
            #[allow(clippy::needless_lifetimes)]
            pub async fn #ident #generics(&self, #(#inputs),*) -> #result<#ok, #rt::Error> {
                #call
            }
        };
        (method_tokens, sender)
    }
}
