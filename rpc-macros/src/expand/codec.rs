//! Per-method codecs: the params decoder the server runs (arrays and objects, borrowing
//! from the frame) and the args encoder the client runs (named or positional).
//!
//! What all methods share (the -32602 conversion, the seeds that name a parameter in
//! its error, the key matcher) is runtime code in `rpc/src/service/params.rs`, reached
//! as `::rpc::__private::{decode_generated_params, ParamSeed, CowStrSeed, ParamKey, ..}`.

use proc_macro2::{Ident, TokenStream};
use quote::format_ident;
use syn::Type;

use super::{generic_idents, Generator};
use crate::ast::{Method, ParamKind};
use crate::attr::Shape;

impl Generator<'_> {
    // input:  the service's methods
    // output: for each method without `raw_params`, its params decoder, and its args
    //         encoder when it has parameters
    pub fn codecs(&self) -> TokenStream {
        let mut out = TokenStream::new();
        for (i, method) in self.service.methods.iter().enumerate() {
            if !method.raw_params {
                out.extend(self.params_decoder(i, method));
                if !method.params.is_empty() {
                    out.extend(self.args_encoder(i, method));
                }
            }
        }
        out
    }

    pub fn params_ident(i: usize) -> Ident {
        format_ident!("__RpcParams{}", i)
    }

    pub fn decode_fn_ident(i: usize) -> Ident {
        format_ident!("__rpc_decode_{}", i)
    }

    pub fn args_ident(i: usize) -> Ident {
        format_ident!("__RpcArgs{}", i)
    }

    // input:  async fn add(&self, a: i64, #[rpc(rename = "y")] b: Option<i64>)
    // output: struct __RpcParams0<A0, A1>(A0, Option<A1>);
    //         impl Deserialize for it: an array [a, b?] or an object {"a", "y"?}
    //         (other keys skipped, the first kept for a missing parameter's error; or,
    //         with `strict`, refused)
    //         fn __rpc_decode_0<A0: Deserialize, A1: Deserialize>(text) -> __RpcParams0<A0, A1>
    fn params_decoder(&self, i: usize, method: &Method) -> TokenStream {
        let rt = &self.rt;
        let serde = q!(#rt::serde);
        let de = q!(#rt::serde::de);
        let result = q!(::core::result::Result);
        let option = q!(::core::option::Option);
        let params = Self::params_ident(i);
        let visitor = format_ident!("__RpcVisitor{}", i);
        let decode = Self::decode_fn_ident(i);
        let n = method.params.len();
        let a = generic_idents(n);
        let fields: Vec<Ident> = (0..n).map(|k| format_ident!("__f{}", k)).collect();
        let names: Vec<&str> = method.params.iter().map(|p| p.wire.as_str()).collect();

        let field_types: Vec<TokenStream> = method
            .params
            .iter()
            .zip(&a)
            .map(|(p, a)| match p.kind {
                ParamKind::Optional(_) => q!(#option<#a>),
                _ => q!(#a),
            })
            .collect();
        // How each parameter is decoded: `&str` (also inside `Option`) by a seed that
        // explains a string with escapes in the caller's terms (serde's `&str` says
        // "expected a borrowed string"); `Cow<str>` by a seed that borrows unless
        // escaped; anything else by serde.
        let seeds_of: Vec<Decode> = method.params.iter().map(decode_of).collect();
        let bounds: Vec<TokenStream> = seeds_of
            .iter()
            .zip(&a)
            .map(|(d, a)| match d {
                Decode::Str => q!(#a: ::core::convert::From<&'de str>),
                Decode::CowStr => q!(#a: ::core::convert::From<#rt::Cow<'de, str>>),
                Decode::Serde => q!(#a: #serde::Deserialize<'de>),
            })
            .collect();
        let seeds: Vec<TokenStream> = method
            .params
            .iter()
            .zip(&seeds_of)
            .zip(&a)
            .map(|((p, d), a)| {
                let name = &p.wire;
                let optional = matches!(p.kind, ParamKind::Optional(_));
                match (d, optional) {
                    (Decode::Str, false) => q!(#rt::StrSeed::<#a>::new(#name)),
                    (Decode::Str, true) => q!(#rt::OptionSeed::new(#rt::StrSeed::<#a>::new(#name))),
                    (Decode::CowStr, _) => q!(#rt::CowStrSeed::<#a>::new(#name)),
                    (Decode::Serde, false) => q!(#rt::ParamSeed::<#a>::new(#name)),
                    (Decode::Serde, true) => q!(#rt::ParamSeed::<#option<#a>>::new(#name)),
                }
            })
            .collect();
        // A missing parameter: `None` if optional, else the error, which from an
        // object names the first key the method does not take (`__unknown`).
        let unknown = Ident::new("__unknown", proc_macro2::Span::mixed_site());
        let missing = |from_map: bool| -> Vec<TokenStream> {
            method
                .params
                .iter()
                .map(|p| {
                    let name = &p.wire;
                    let got = if from_map {
                        q!(#unknown.as_deref())
                    } else {
                        q!(#option::None)
                    };
                    match p.kind {
                        ParamKind::Optional(_) => q!(#option::None),
                        _ => q!(return #result::Err(#rt::missing_param(#name, #got))),
                    }
                })
                .collect()
        };
        let missing_seq = missing(false);
        let missing_map = missing(true);
        let names_list = q!(&[#(#names),*]);
        // Strict: the key matcher refuses a key the method does not take; lenient, it
        // remembers the first one. Either way the known-key path is the same scan.
        let key = if method.strict {
            q!(#rt::ParamKey::strict(#names_list, &mut #unknown))
        } else {
            q!(#rt::ParamKey::new(#names_list, &mut #unknown))
        };
        let indexes = 0..n;

        q! {
            struct #params<#(#a),*>(#(#field_types),*);

            struct #visitor<#(#a),*>(::core::marker::PhantomData<fn() -> (#(#a,)*)>);

            impl<'de, #(#bounds),*> #serde::Deserialize<'de> for #params<#(#a),*> {
                fn deserialize<D: #serde::Deserializer<'de>>(__d: D) -> #result<Self, D::Error> {
                    __d.deserialize_any(#visitor(::core::marker::PhantomData))
                }
            }

            impl<'de, #(#bounds),*> #de::Visitor<'de> for #visitor<#(#a),*> {
                type Value = #params<#(#a),*>;

                fn expecting(&self, __f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                    __f.write_str("an array or an object of parameters")
                }

                fn visit_seq<S: #de::SeqAccess<'de>>(self, mut __seq: S) -> #result<Self::Value, S::Error> {
                    #(
                        let #fields = match __seq.next_element_seed(#seeds)? {
                            #option::Some(__v) => __v,
                            #option::None => #missing_seq,
                        };
                    )*
                    if __seq.next_element::<#de::IgnoredAny>()?.is_some() {
                        return #result::Err(#rt::too_many_params(__seq, #names_list));
                    }
                    #result::Ok(#params(#(#fields),*))
                }

                fn visit_map<M: #de::MapAccess<'de>>(self, mut __map: M) -> #result<Self::Value, M::Error> {
                    #( let mut #fields: #option<#field_types> = #option::None; )*
                    let mut #unknown: #option<#rt::Cow<'de, str>> = #option::None;
                    while let #option::Some(__key) = __map.next_key_seed(#key)? {
                        match __key {
                            #(
                                #option::Some(#indexes) => {
                                    if #fields.is_some() {
                                        return #result::Err(#rt::duplicate_param(#names));
                                    }
                                    #fields = #option::Some(__map.next_value_seed(#seeds)?);
                                }
                            )*
                            _ => {
                                __map.next_value::<#de::IgnoredAny>()?;
                            }
                        }
                    }
                    #(
                        let #fields = match #fields {
                            #option::Some(__v) => __v,
                            #option::None => #missing_map,
                        };
                    )*
                    #result::Ok(#params(#(#fields),*))
                }
            }

            fn #decode<'de, #(#bounds),*>(
                __params: #option<&'de str>,
            ) -> #result<#params<#(#a),*>, #rt::RpcError> {
                #rt::decode_generated_params(__params)
            }
        }
    }

    // input:  async fn add(&self, a: i64, b: i64) with `named` (or `positional`)
    // output: struct __RpcArgs0<'a, A0: ?Sized, A1: ?Sized>(&'a A0, &'a A1);
    //         impl Serialize: {"a": .., "b": ..} (or [.., ..])
    fn args_encoder(&self, i: usize, method: &Method) -> TokenStream {
        let rt = &self.rt;
        let serde = q!(#rt::serde);
        let ser = q!(#rt::serde::ser);
        let result = q!(::core::result::Result);
        let args = Self::args_ident(i);
        let n = method.params.len();
        let a = generic_idents(n);
        let named = method.shape == Shape::Named;
        let optional: Vec<bool> = method
            .params
            .iter()
            .map(|p| named && matches!(p.kind, ParamKind::Optional(_)))
            .collect();
        let fields = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                q!(&'a ::core::option::Option<#x>)
            } else {
                q!(&'a #x)
            }
        });
        let bounds = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                q!(#x: #serde::Serialize)
            } else {
                q!(#x: ?::core::marker::Sized + #serde::Serialize)
            }
        });
        let params = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                q!(#x)
            } else {
                q!(#x: ?::core::marker::Sized)
            }
        });
        let body = if named {
            let entries = method.params.iter().zip(&optional).enumerate().map(|(k, (p, &opt))| {
                let index = syn::Index::from(k);
                let name = &p.wire;
                if opt {
                    q! {
                        match self.#index {
                            ::core::option::Option::Some(__v) => #ser::SerializeStruct::serialize_field(&mut __s, #name, __v)?,
                            ::core::option::Option::None => #ser::SerializeStruct::skip_field(&mut __s, #name)?,
                        }
                    }
                } else {
                    q!(#ser::SerializeStruct::serialize_field(&mut __s, #name, self.#index)?;)
                }
            });
            q! {
                let mut __s = #serde::Serializer::serialize_struct(__serializer, "params", #n)?;
                #(#entries)*
                #ser::SerializeStruct::end(__s)
            }
        } else {
            let indexes = (0..n).map(syn::Index::from);
            q! {
                let mut __s = #serde::Serializer::serialize_tuple(__serializer, #n)?;
                #( #ser::SerializeTuple::serialize_element(&mut __s, self.#indexes)?; )*
                #ser::SerializeTuple::end(__s)
            }
        };
        q! {
            struct #args<'a, #(#params),*>(#(#fields),*);

            impl<#(#bounds),*> #serde::Serialize for #args<'_, #(#a),*> {
                fn serialize<S: #serde::Serializer>(&self, __serializer: S) -> #result<S::Ok, S::Error> {
                    #body
                }
            }
        }
    }
}

/// How a parameter's value is decoded.
enum Decode {
    /// `&str`, borrowed, by `StrSeed` (in an `OptionSeed` for `Option<&str>`).
    Str,
    /// `Cow<str>`, borrowed unless escaped, by `CowStrSeed`.
    CowStr,
    /// By its type's own `Deserialize`, through `ParamSeed`.
    Serde,
}

/// The decoding of `param`; for `Option<T>`, of `T`.
fn decode_of(param: &crate::ast::Param) -> Decode {
    let ty = match param.kind {
        ParamKind::CowStr => return Decode::CowStr,
        ParamKind::Optional(inner) => inner,
        ParamKind::Plain => param.ty,
    };
    if is_str_ref(ty) {
        Decode::Str
    } else {
        Decode::Serde
    }
}

/// `&str` or `&'a str` (the only shared reference to `str` a parameter can be).
fn is_str_ref(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) if r.mutability.is_none() => {
            matches!(&*r.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("str"))
        }
        Type::Group(g) => is_str_ref(&g.elem),
        Type::Paren(p) => is_str_ref(&p.elem),
        _ => false,
    }
}
