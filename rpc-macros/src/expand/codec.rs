//! Per-method codecs: the params decoder the server runs (arrays and objects, borrowing
//! from the frame) and the args encoder the client runs (named or positional).
//!
//! What all methods share (the -32602 conversion, the seeds that name a parameter in
//! its error, the key matcher) is runtime code in `rpc/src/service/params.rs`, reached
//! as `::rpc::__private::{decode_params, ParamSeed, CowStrSeed, ParamKey, ..}`.

use proc_macro2::{Ident, TokenStream};
use quote::format_ident;

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
        let bounds: Vec<TokenStream> = method
            .params
            .iter()
            .zip(&a)
            .map(|(p, a)| match p.kind {
                ParamKind::CowStr => q!(#a: ::core::convert::From<#rt::Cow<'de, str>>),
                _ => q!(#a: #serde::Deserialize<'de>),
            })
            .collect();
        let seeds: Vec<TokenStream> = method
            .params
            .iter()
            .zip(&field_types)
            .map(|(p, ty)| {
                let name = &p.wire;
                match p.kind {
                    ParamKind::CowStr => q!(#rt::CowStrSeed::<#ty>::new(#name)),
                    _ => q!(#rt::ParamSeed::<#ty>::new(#name)),
                }
            })
            .collect();
        let missing_seq: Vec<TokenStream> = method
            .params
            .iter()
            .map(|p| {
                let name = &p.wire;
                match p.kind {
                    ParamKind::Optional(_) => q!(#option::None),
                    _ => q!(return #result::Err(#rt::missing_param(#name))),
                }
            })
            .collect();
        // Strict: an unknown key is the error. Lenient: it is skipped, and the first
        // one kept (borrowed from the frame) to name if a parameter turns out missing.
        let (unknown_slot, unknown_key, unknown) = if method.strict {
            (
                TokenStream::new(),
                q!(return #result::Err(#rt::unknown_param(&__key, &[#(#names),*]));),
                q!(#option::None),
            )
        } else {
            (
                q!(let mut __unknown: #option<#rt::Cow<'de, str>> = #option::None;),
                q! {
                    if __unknown.is_none() {
                        __unknown = #option::Some(__key);
                    }
                    __map.next_value::<#de::IgnoredAny>()?;
                },
                q!(__unknown.as_deref()),
            )
        };
        let missing_map: Vec<TokenStream> = method
            .params
            .iter()
            .map(|p| {
                let name = &p.wire;
                match p.kind {
                    ParamKind::Optional(_) => q!(#option::None),
                    _ => q!(return #result::Err(#rt::missing_named_param(#name, #unknown))),
                }
            })
            .collect();
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
                        return #result::Err(#rt::too_many_params(&[#(#names),*]));
                    }
                    #result::Ok(#params(#(#fields),*))
                }

                fn visit_map<M: #de::MapAccess<'de>>(self, mut __map: M) -> #result<Self::Value, M::Error> {
                    #( let mut #fields: #option<#field_types> = #option::None; )*
                    #unknown_slot
                    while let #option::Some(__key) = __map.next_key_seed(#rt::ParamKey::new(&[#(#names),*]))? {
                        match __key {
                            #(
                                #result::Ok(#indexes) => {
                                    if #fields.is_some() {
                                        return #result::Err(#rt::duplicate_param(#names));
                                    }
                                    #fields = #option::Some(__map.next_value_seed(#seeds)?);
                                }
                            )*
                            #result::Ok(_) => {
                                __map.next_value::<#de::IgnoredAny>()?;
                            }
                            #result::Err(__key) => {
                                #unknown_key
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
                #rt::decode_params(__params)
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
