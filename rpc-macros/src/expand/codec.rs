//! Per-method codecs: the params decoder the server runs (arrays and objects, borrowing
//! from the frame) and the args encoder the client runs (named or positional).

use proc_macro2::{Ident, TokenStream};
use quote::format_ident;

use super::{generic_idents, Generator};
use crate::ast::{Method, ParamKind};
use crate::attr::Shape;

impl Generator<'_> {
    // input:  the service
    // output: helpers shared by all methods: `__rpc_decode` (text -> P or -32602),
    //         seeds that name the parameter in errors, the key matcher
    pub fn codec_helpers(&self) -> TokenStream {
        let rt = &self.rt;
        let serde = q!(#rt::serde);
        let de = q!(#rt::serde::de);
        let result = q!(::core::result::Result);
        let option = q!(::core::option::Option);
        q! {
            fn __rpc_invalid_params(__err: #rt::serde_json::Error) -> #rt::RpcError {
                fn digits(__s: &str) -> bool {
                    !__s.is_empty() && ::core::iter::Iterator::all(&mut __s.bytes(), |__b| __b.is_ascii_digit())
                }
                let mut __message = #rt::String::new();
                let _ = ::core::fmt::Write::write_fmt(
                    &mut __message,
                    ::core::format_args!("invalid params: {}", __err),
                );
                // serde_json appends " at line L column C", once per nesting level; the
                // __position within a __params __value is noise to a caller.
                loop {
                    let __at = match __message.rfind(" at line ") {
                        #option::Some(__at) => __at,
                        #option::None => break,
                    };
                    let __tail = &__message[__at + 9..];
                    let __position = match __tail.find(" column ") {
                        #option::Some(__c) => digits(&__tail[..__c]) && digits(&__tail[__c + 8..]),
                        #option::None => false,
                    };
                    if !__position {
                        break;
                    }
                    __message.truncate(__at);
                }
                // serde quotes the offending value whole: keep a bounded start and end.
                #rt::RpcError::invalid_params(#rt::bound_message(__message, #rt::MAX_MESSAGE_LEN))
            }

            /// Decodes a call's __params; missing __params are an empty array.
            fn __rpc_decode<'de, P: #serde::Deserialize<'de>>(
                __params: #option<&'de str>,
            ) -> #result<P, #rt::RpcError> {
                match #rt::serde_json::from_str::<P>(__params.unwrap_or("[]")) {
                    #result::Ok(__p) => #result::Ok(__p),
                    #result::Err(__err) => #result::Err(__rpc_invalid_params(__err)),
                }
            }

            fn __rpc_respond<T: #serde::Serialize + ?::core::marker::Sized>(
                __call: &#rt::IncomingCall,
                __value: &T,
            ) -> #rt::Reply {
                __call.respond(__value)
            }

            fn __rpc_into_error<E: ::core::convert::Into<#rt::RpcError>>(__err: E) -> #rt::RpcError {
                ::core::convert::Into::into(__err)
            }

            fn __rpc_missing<E: #de::Error>(__name: &str) -> E {
                E::custom(::core::format_args!("missing parameter `{}`", __name))
            }

            fn __rpc_duplicate<E: #de::Error>(__name: &str) -> E {
                E::custom(::core::format_args!("duplicate parameter `{}`", __name))
            }

            fn __rpc_too_many<E: #de::Error>(__max: usize) -> E {
                E::custom(::core::format_args!("too many parameters: expected at most {}", __max))
            }

            /// Matches an object __key against the parameter names: `Some(index)`, or
            /// `None` for a __key the method does not know (ignored).
            struct __RpcKey(&'static [&'static str]);

            impl<'de> #de::DeserializeSeed<'de> for __RpcKey {
                type Value = #option<usize>;
                fn deserialize<D: #serde::Deserializer<'de>>(self, __d: D) -> #result<#option<usize>, D::Error> {
                    __d.deserialize_identifier(self)
                }
            }

            impl<'de> #de::Visitor<'de> for __RpcKey {
                type Value = #option<usize>;
                fn expecting(&self, __f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                    __f.write_str("a parameter name")
                }
                fn visit_str<E: #de::Error>(self, __key: &str) -> #result<#option<usize>, E> {
                    let mut __i = 0;
                    while __i < self.0.len() {
                        if self.0[__i] == __key {
                            return #result::Ok(#option::Some(__i));
                        }
                        __i += 1;
                    }
                    #result::Ok(#option::None)
                }
            }

            /// Decodes one parameter, naming it in the error.
            struct __RpcParam<A>(&'static str, ::core::marker::PhantomData<fn() -> A>);

            impl<A> __RpcParam<A> {
                fn new(__name: &'static str) -> Self {
                    __RpcParam(__name, ::core::marker::PhantomData)
                }
            }

            impl<'de, A: #serde::Deserialize<'de>> #de::DeserializeSeed<'de> for __RpcParam<A> {
                type Value = A;
                fn deserialize<D: #serde::Deserializer<'de>>(self, __d: D) -> #result<A, D::Error> {
                    match A::deserialize(__d) {
                        #result::Ok(__v) => #result::Ok(__v),
                        #result::Err(__err) => #result::Err(<D::Error as #de::Error>::custom(
                            ::core::format_args!("parameter `{}`: {}", self.0, __err),
                        )),
                    }
                }
            }

            /// Decodes a `Cow<str>` parameter, borrowing from the frame unless the
            /// string has escapes.
            struct __RpcCowParam<A>(&'static str, ::core::marker::PhantomData<fn() -> A>);

            impl<A> __RpcCowParam<A> {
                fn new(__name: &'static str) -> Self {
                    __RpcCowParam(__name, ::core::marker::PhantomData)
                }
            }

            impl<'de, A: ::core::convert::From<#rt::Cow<'de, str>>> #de::DeserializeSeed<'de> for __RpcCowParam<A> {
                type Value = A;
                fn deserialize<D: #serde::Deserializer<'de>>(self, __d: D) -> #result<A, D::Error> {
                    match __d.deserialize_str(__RpcCowVisitor) {
                        #result::Ok(__v) => #result::Ok(A::from(__v)),
                        #result::Err(__err) => #result::Err(<D::Error as #de::Error>::custom(
                            ::core::format_args!("parameter `{}`: {}", self.0, __err),
                        )),
                    }
                }
            }

            struct __RpcCowVisitor;

            impl<'de> #de::Visitor<'de> for __RpcCowVisitor {
                type Value = #rt::Cow<'de, str>;
                fn expecting(&self, __f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                    __f.write_str("a string")
                }
                fn visit_borrowed_str<E: #de::Error>(self, __v: &'de str) -> #result<Self::Value, E> {
                    #result::Ok(#rt::Cow::Borrowed(__v))
                }
                fn visit_str<E: #de::Error>(self, __v: &str) -> #result<Self::Value, E> {
                    #result::Ok(#rt::Cow::Owned(::core::convert::From::from(__v)))
                }
                fn visit_string<E: #de::Error>(self, __v: #rt::String) -> #result<Self::Value, E> {
                    #result::Ok(#rt::Cow::Owned(__v))
                }
            }
        }
    }

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
                    ParamKind::CowStr => q!(__RpcCowParam::<#ty>::new(#name)),
                    _ => q!(__RpcParam::<#ty>::new(#name)),
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
                    _ => q!(return #result::Err(__rpc_missing(#name))),
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
                        return #result::Err(__rpc_too_many(#n));
                    }
                    #result::Ok(#params(#(#fields),*))
                }

                fn visit_map<M: #de::MapAccess<'de>>(self, mut __map: M) -> #result<Self::Value, M::Error> {
                    #( let mut #fields: #option<#field_types> = #option::None; )*
                    while let #option::Some(__key) = __map.next_key_seed(__RpcKey(&[#(#names),*]))? {
                        match __key {
                            #(
                                #option::Some(#indexes) => {
                                    if #fields.is_some() {
                                        return #result::Err(__rpc_duplicate(#names));
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
                            #option::None => #missing_seq,
                        };
                    )*
                    #result::Ok(#params(#(#fields),*))
                }
            }

            fn #decode<'de, #(#bounds),*>(
                __params: #option<&'de str>,
            ) -> #result<#params<#(#a),*>, #rt::RpcError> {
                __rpc_decode(__params)
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
