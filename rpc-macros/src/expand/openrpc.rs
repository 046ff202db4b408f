//! The service's OpenRPC description: a function that describes every method into
//! the runtime's `Describer`, the server's `Service::describe` and
//! `{Trait}Server::openrpc()`. All of it inside `::rpc::__private::if_openrpc!`, so
//! that it compiles only where the runtime has the `openrpc` feature.
//!
//! Schemas are asked of `SchemaOf::<T>` by autoref: the runtime's `ViaJsonSchema`
//! when `T: JsonSchema`, else `ViaAnySchema` (any value), so a service whose types do
//! not derive `JsonSchema` still compiles. Error codes likewise, from
//! `DeclaredErrors` (`#[derive(IntoRpcError)]`) when the error type has it.

use proc_macro2::TokenStream;
use syn::{Attribute, Expr, ExprLit, Lit, Meta};

use super::{angle, elided, Generator};
use crate::ast::{Method, Output};

/// A doc comment's text: the `#[doc = ".."]` lines, each without the one space
/// `///` leaves.
pub fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).to_owned())
        .collect();
    lines.join("\n").trim().to_owned()
}

fn is_deprecated(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("deprecated"))
}

impl Generator<'_> {
    fn describe_fn() -> proc_macro2::Ident {
        proc_macro2::Ident::new("__rpc_describe", proc_macro2::Span::mixed_site())
    }

    /// `fn __rpc_describe<K, V>(describer)`: every method's description.
    pub fn openrpc_describe(&self) -> TokenStream {
        let rt = &self.rt;
        let describe = Self::describe_fn();
        let generics = angle(&self.bounded_type_params(&TokenStream::new()));
        let predicates = self.where_predicates();
        let where_clause = if predicates.is_empty() {
            TokenStream::new()
        } else {
            q!(where #(#predicates),*)
        };
        let d = proc_macro2::Ident::new("__describer", proc_macro2::Span::mixed_site());
        let title = match &self.service.title {
            Some(title) => q!(#title),
            None => q!(::core::env!("CARGO_PKG_NAME")),
        };
        let version = match &self.service.version {
            Some(version) => q!(#version),
            None => q!(::core::env!("CARGO_PKG_VERSION")),
        };
        let trait_doc = doc_text(&self.service.item.attrs);
        let trait_doc = (!trait_doc.is_empty()).then(|| q!(.description(#trait_doc)));
        let methods = self.service.methods.iter().map(|m| {
            let cfgs = &m.cfgs;
            let doc = self.method_doc(m, &d);
            let unsubscribe = m.stream.as_ref().map(|s| {
                let (name, item) = (&s.unsubscribe_method, &m.wire);
                let summary = format!("Stops a subscription of `{item}`: answers whether it was open.");
                q! {
                    #(#cfgs)*
                    {
                        let __id = #d.param_schema::<::std::string::String>();
                        let __unsubscribed = #d.result_schema::<bool>();
                        #d.method(
                            #rt::MethodDoc::new(#name)
                                .summary(#summary)
                                .param(#rt::ContentDescriptor::new("subscription", __id))
                                .result(#rt::ContentDescriptor::new("unsubscribed", __unsubscribed)),
                        );
                    }
                }
            });
            q! {
                #(#cfgs)*
                {
                    let __doc = #doc;
                    #d.method(__doc);
                }
                #unsubscribe
            }
        });
        q! {
            #rt::if_openrpc! {
                #[allow(unused_imports, deprecated)]
                fn #describe #generics (#d: &mut #rt::Describer) #where_clause {
                    use #rt::{ViaAnySchema as _, ViaDeclaredErrors as _, ViaJsonSchema as _, ViaNoErrors as _};
                    #d.info(#rt::Info::new(#title, #version) #trait_doc);
                    #(#methods)*
                }
            }
        }
    }

    /// One method's `MethodDoc`.
    fn method_doc(&self, m: &Method, d: &proc_macro2::Ident) -> TokenStream {
        let rt = &self.rt;
        let name = &m.wire;
        let doc = doc_text(&m.item.attrs);
        let doc = (!doc.is_empty()).then(|| q!(.doc(#doc)));
        let deprecated = is_deprecated(&m.item.attrs).then(|| q!(.deprecated()));
        // A `raw_params` method takes the whole params value, which no content
        // descriptor (one param each) can describe: its params are left unlisted.
        let listed = if m.raw_params { &[][..] } else { &m.params[..] };
        let params = listed.iter().map(|p| {
            let wire = &p.wire;
            let ty = elided(p.ty);
            let required = !matches!(p.kind, crate::ast::ParamKind::Optional(_));
            q! {
                .param(#rt::ContentDescriptor::new(
                    #wire,
                    (&#rt::SchemaOf::<#ty>::new()).schema_in(#d.params()),
                ).required(#required))
            }
        });
        let errors = |err: &syn::Type| {
            let err = elided(err);
            q! {
                for __error in (&#rt::ErrorsOf::<#err>::new()).declared() {
                    __doc = __doc.error(__error);
                }
            }
        };
        let (result, error_list) = match (&m.stream, &m.output) {
            (Some(s), _) => {
                let item = elided(s.item_ok.unwrap_or(s.item));
                let (notification, unsubscribe) = (&s.item_method, &s.unsubscribe_method);
                // A refusal answers the call; an item's error ends the stream in its
                // last notification, not an answer.
                let refusals = s.refusal.map(errors);
                (
                    q! {
                        __doc = __doc.result(#rt::ContentDescriptor::new(
                            "subscription",
                            #d.result_schema::<::std::string::String>(),
                        ));
                        __doc.subscription = ::core::option::Option::Some((
                            #rt::Cow::Borrowed(#notification),
                            #rt::Cow::Borrowed(#unsubscribe),
                            #rt::ContentDescriptor::new(
                                "item",
                                (&#rt::SchemaOf::<#item>::new()).schema_in(#d.results()),
                            ),
                        ));
                    },
                    q!(#refusals),
                )
            }
            (None, _) if m.notification => (TokenStream::new(), TokenStream::new()),
            (None, Output::Unit) => (
                q! {
                    __doc = __doc.result(#rt::ContentDescriptor::new("result", #d.result_schema::<()>()));
                },
                TokenStream::new(),
            ),
            (None, Output::Plain(ok)) => {
                let ok = elided(ok);
                (
                    q! {
                        __doc = __doc.result(#rt::ContentDescriptor::new(
                            "result",
                            (&#rt::SchemaOf::<#ok>::new()).schema_in(#d.results()),
                        ));
                    },
                    TokenStream::new(),
                )
            }
            (None, Output::Result { ok, err }) => {
                let ok = elided(ok);
                (
                    q! {
                        __doc = __doc.result(#rt::ContentDescriptor::new(
                            "result",
                            (&#rt::SchemaOf::<#ok>::new()).schema_in(#d.results()),
                        ));
                    },
                    errors(err),
                )
            }
        };
        q! {
            {
                let mut __doc = #rt::MethodDoc::new(#name) #doc #deprecated #(#params)*;
                #result
                #error_list
                __doc
            }
        }
    }

    /// `Service::describe` for the server's impl: the describe function, for the
    /// trait's type arguments.
    pub fn openrpc_service_describe(&self) -> TokenStream {
        let rt = &self.rt;
        let describe = Self::describe_fn();
        let params = self.type_params();
        let turbofish = (!params.is_empty()).then(|| q!(::<#(#params),*>));
        q! {
            #rt::if_openrpc! {
                fn describe(&self, __describer: &mut #rt::Describer) {
                    #describe #turbofish (__describer)
                }
            }
        }
    }

    /// `impl {Trait}Server<(), K, V> { pub fn openrpc() }`: the trait's document,
    /// without an implementation.
    pub fn openrpc_document_fn(&self) -> TokenStream {
        let rt = &self.rt;
        let server = &self.server_ident;
        let describe = Self::describe_fn();
        let params = self.type_params();
        let turbofish = (!params.is_empty()).then(|| q!(::<#(#params),*>));
        let generics = angle(&self.bounded_type_params(&TokenStream::new()));
        let args = angle(&self.params_after(Some(q!(()))));
        let predicates = self.where_predicates();
        let where_clause = if predicates.is_empty() {
            TokenStream::new()
        } else {
            q!(where #(#predicates),*)
        };
        let doc = format!(
            "The OpenRPC document of [`{}`] (what its server answers to `rpc.discover`), \
             to publish or review: `serde_json::to_string_pretty(&{}::openrpc())`.",
            self.trait_ident, server
        );
        q! {
            #rt::if_openrpc! {
                impl #generics #server #args #where_clause {
                    #[doc = #doc]
                    pub fn openrpc() -> #rt::JsonValue {
                        let mut __describer = #rt::Describer::new();
                        #describe #turbofish (&mut __describer);
                        __describer.into_document()
                    }
                }
            }
        }
    }
}
