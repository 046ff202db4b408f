//! Per-method codecs: the params decoder the server runs (arrays and objects, borrowing
//! from the frame) and the args encoder the client runs (named or positional).

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{generic_idents, Generator};
use crate::ast::{Method, ParamKind};
use crate::attr::Shape;

impl Generator<'_> {
    // input:  the service
    // output: helpers shared by all methods: `__rpc_decode` (text -> P or -32602),
    //         seeds that name the parameter in errors, the key matcher
    pub fn codec_helpers(&self) -> TokenStream {
        let rt = &self.rt;
        let serde = quote!(#rt::serde);
        let de = quote!(#rt::serde::de);
        let result = quote!(::core::result::Result);
        let option = quote!(::core::option::Option);
        quote! {
            fn __rpc_invalid_params(err: #rt::serde_json::Error) -> #rt::RpcError {
                fn digits(s: &str) -> bool {
                    !s.is_empty() && ::core::iter::Iterator::all(&mut s.bytes(), |b| b.is_ascii_digit())
                }
                let mut message = #rt::String::new();
                let _ = ::core::fmt::Write::write_fmt(
                    &mut message,
                    ::core::format_args!("invalid params: {}", err),
                );
                // serde_json appends " at line L column C", once per nesting level; the
                // position within a params value is noise to a caller.
                loop {
                    let at = match message.rfind(" at line ") {
                        #option::Some(at) => at,
                        #option::None => break,
                    };
                    let tail = &message[at + 9..];
                    let position = match tail.find(" column ") {
                        #option::Some(c) => digits(&tail[..c]) && digits(&tail[c + 8..]),
                        #option::None => false,
                    };
                    if !position {
                        break;
                    }
                    message.truncate(at);
                }
                #rt::RpcError::invalid_params(message)
            }

            /// Decodes a call's params; missing params are an empty array.
            fn __rpc_decode<'de, P: #serde::Deserialize<'de>>(
                params: #option<&'de str>,
            ) -> #result<P, #rt::RpcError> {
                match #rt::serde_json::from_str::<P>(params.unwrap_or("[]")) {
                    #result::Ok(p) => #result::Ok(p),
                    #result::Err(err) => #result::Err(__rpc_invalid_params(err)),
                }
            }

            fn __rpc_respond<T: #serde::Serialize + ?::core::marker::Sized>(
                call: &#rt::IncomingCall,
                value: &T,
            ) -> #rt::Reply {
                call.respond(value)
            }

            fn __rpc_into_error<E: ::core::convert::Into<#rt::RpcError>>(err: E) -> #rt::RpcError {
                ::core::convert::Into::into(err)
            }

            fn __rpc_missing<E: #de::Error>(name: &str) -> E {
                E::custom(::core::format_args!("missing parameter `{}`", name))
            }

            fn __rpc_duplicate<E: #de::Error>(name: &str) -> E {
                E::custom(::core::format_args!("duplicate parameter `{}`", name))
            }

            fn __rpc_too_many<E: #de::Error>(max: usize) -> E {
                E::custom(::core::format_args!("too many parameters: expected at most {}", max))
            }

            /// Matches an object key against the parameter names: `Some(index)`, or
            /// `None` for a key the method does not know (ignored).
            struct __RpcKey(&'static [&'static str]);

            impl<'de> #de::DeserializeSeed<'de> for __RpcKey {
                type Value = #option<usize>;
                fn deserialize<D: #serde::Deserializer<'de>>(self, d: D) -> #result<#option<usize>, D::Error> {
                    d.deserialize_identifier(self)
                }
            }

            impl<'de> #de::Visitor<'de> for __RpcKey {
                type Value = #option<usize>;
                fn expecting(&self, f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                    f.write_str("a parameter name")
                }
                fn visit_str<E: #de::Error>(self, key: &str) -> #result<#option<usize>, E> {
                    let mut i = 0;
                    while i < self.0.len() {
                        if self.0[i] == key {
                            return #result::Ok(#option::Some(i));
                        }
                        i += 1;
                    }
                    #result::Ok(#option::None)
                }
            }

            /// Decodes one parameter, naming it in the error.
            struct __RpcParam<A>(&'static str, ::core::marker::PhantomData<fn() -> A>);

            impl<A> __RpcParam<A> {
                fn new(name: &'static str) -> Self {
                    __RpcParam(name, ::core::marker::PhantomData)
                }
            }

            impl<'de, A: #serde::Deserialize<'de>> #de::DeserializeSeed<'de> for __RpcParam<A> {
                type Value = A;
                fn deserialize<D: #serde::Deserializer<'de>>(self, d: D) -> #result<A, D::Error> {
                    match A::deserialize(d) {
                        #result::Ok(v) => #result::Ok(v),
                        #result::Err(err) => #result::Err(<D::Error as #de::Error>::custom(
                            ::core::format_args!("parameter `{}`: {}", self.0, err),
                        )),
                    }
                }
            }

            /// Decodes a `Cow<str>` parameter, borrowing from the frame unless the
            /// string has escapes.
            struct __RpcCowParam<A>(&'static str, ::core::marker::PhantomData<fn() -> A>);

            impl<A> __RpcCowParam<A> {
                fn new(name: &'static str) -> Self {
                    __RpcCowParam(name, ::core::marker::PhantomData)
                }
            }

            impl<'de, A: ::core::convert::From<#rt::Cow<'de, str>>> #de::DeserializeSeed<'de> for __RpcCowParam<A> {
                type Value = A;
                fn deserialize<D: #serde::Deserializer<'de>>(self, d: D) -> #result<A, D::Error> {
                    match d.deserialize_str(__RpcCowVisitor) {
                        #result::Ok(v) => #result::Ok(A::from(v)),
                        #result::Err(err) => #result::Err(<D::Error as #de::Error>::custom(
                            ::core::format_args!("parameter `{}`: {}", self.0, err),
                        )),
                    }
                }
            }

            struct __RpcCowVisitor;

            impl<'de> #de::Visitor<'de> for __RpcCowVisitor {
                type Value = #rt::Cow<'de, str>;
                fn expecting(&self, f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: #de::Error>(self, v: &'de str) -> #result<Self::Value, E> {
                    #result::Ok(#rt::Cow::Borrowed(v))
                }
                fn visit_str<E: #de::Error>(self, v: &str) -> #result<Self::Value, E> {
                    #result::Ok(#rt::Cow::Owned(::core::convert::From::from(v)))
                }
                fn visit_string<E: #de::Error>(self, v: #rt::String) -> #result<Self::Value, E> {
                    #result::Ok(#rt::Cow::Owned(v))
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
        let serde = quote!(#rt::serde);
        let de = quote!(#rt::serde::de);
        let result = quote!(::core::result::Result);
        let option = quote!(::core::option::Option);
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
                ParamKind::Optional(_) => quote!(#option<#a>),
                _ => quote!(#a),
            })
            .collect();
        let bounds: Vec<TokenStream> = method
            .params
            .iter()
            .zip(&a)
            .map(|(p, a)| match p.kind {
                ParamKind::CowStr => quote!(#a: ::core::convert::From<#rt::Cow<'de, str>>),
                _ => quote!(#a: #serde::Deserialize<'de>),
            })
            .collect();
        let seeds: Vec<TokenStream> = method
            .params
            .iter()
            .zip(&field_types)
            .map(|(p, ty)| {
                let name = &p.wire;
                match p.kind {
                    ParamKind::CowStr => quote!(__RpcCowParam::<#ty>::new(#name)),
                    _ => quote!(__RpcParam::<#ty>::new(#name)),
                }
            })
            .collect();
        let missing_seq: Vec<TokenStream> = method
            .params
            .iter()
            .map(|p| {
                let name = &p.wire;
                match p.kind {
                    ParamKind::Optional(_) => quote!(#option::None),
                    _ => quote!(return #result::Err(__rpc_missing(#name))),
                }
            })
            .collect();
        let indexes = 0..n;

        quote! {
            struct #params<#(#a),*>(#(#field_types),*);

            struct #visitor<#(#a),*>(::core::marker::PhantomData<fn() -> (#(#a,)*)>);

            impl<'de, #(#bounds),*> #serde::Deserialize<'de> for #params<#(#a),*> {
                fn deserialize<D: #serde::Deserializer<'de>>(d: D) -> #result<Self, D::Error> {
                    d.deserialize_any(#visitor(::core::marker::PhantomData))
                }
            }

            impl<'de, #(#bounds),*> #de::Visitor<'de> for #visitor<#(#a),*> {
                type Value = #params<#(#a),*>;

                fn expecting(&self, f: &mut ::core::fmt::Formatter) -> ::core::fmt::Result {
                    f.write_str("an array or an object of parameters")
                }

                fn visit_seq<S: #de::SeqAccess<'de>>(self, mut seq: S) -> #result<Self::Value, S::Error> {
                    #(
                        let #fields = match seq.next_element_seed(#seeds)? {
                            #option::Some(v) => v,
                            #option::None => #missing_seq,
                        };
                    )*
                    if seq.next_element::<#de::IgnoredAny>()?.is_some() {
                        return #result::Err(__rpc_too_many(#n));
                    }
                    #result::Ok(#params(#(#fields),*))
                }

                fn visit_map<M: #de::MapAccess<'de>>(self, mut map: M) -> #result<Self::Value, M::Error> {
                    #( let mut #fields: #option<#field_types> = #option::None; )*
                    while let #option::Some(key) = map.next_key_seed(__RpcKey(&[#(#names),*]))? {
                        match key {
                            #(
                                #option::Some(#indexes) => {
                                    if #fields.is_some() {
                                        return #result::Err(__rpc_duplicate(#names));
                                    }
                                    #fields = #option::Some(map.next_value_seed(#seeds)?);
                                }
                            )*
                            _ => {
                                map.next_value::<#de::IgnoredAny>()?;
                            }
                        }
                    }
                    #(
                        let #fields = match #fields {
                            #option::Some(v) => v,
                            #option::None => #missing_seq,
                        };
                    )*
                    #result::Ok(#params(#(#fields),*))
                }
            }

            fn #decode<'de, #(#bounds),*>(
                params: #option<&'de str>,
            ) -> #result<#params<#(#a),*>, #rt::RpcError> {
                __rpc_decode(params)
            }
        }
    }

    // input:  async fn add(&self, a: i64, b: i64) with `named` (or `positional`)
    // output: struct __RpcArgs0<'a, A0: ?Sized, A1: ?Sized>(&'a A0, &'a A1);
    //         impl Serialize: {"a": .., "b": ..} (or [.., ..])
    fn args_encoder(&self, i: usize, method: &Method) -> TokenStream {
        let rt = &self.rt;
        let serde = quote!(#rt::serde);
        let ser = quote!(#rt::serde::ser);
        let result = quote!(::core::result::Result);
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
                quote!(&'a ::core::option::Option<#x>)
            } else {
                quote!(&'a #x)
            }
        });
        let bounds = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                quote!(#x: #serde::Serialize)
            } else {
                quote!(#x: ?::core::marker::Sized + #serde::Serialize)
            }
        });
        let params = a.iter().zip(&optional).map(|(x, &opt)| {
            if opt {
                quote!(#x)
            } else {
                quote!(#x: ?::core::marker::Sized)
            }
        });
        let body = if named {
            let entries = method.params.iter().zip(&optional).enumerate().map(|(k, (p, &opt))| {
                let index = syn::Index::from(k);
                let name = &p.wire;
                if opt {
                    quote! {
                        match self.#index {
                            ::core::option::Option::Some(v) => #ser::SerializeStruct::serialize_field(&mut s, #name, v)?,
                            ::core::option::Option::None => #ser::SerializeStruct::skip_field(&mut s, #name)?,
                        }
                    }
                } else {
                    quote!(#ser::SerializeStruct::serialize_field(&mut s, #name, self.#index)?;)
                }
            });
            quote! {
                let mut s = #serde::Serializer::serialize_struct(serializer, "params", #n)?;
                #(#entries)*
                #ser::SerializeStruct::end(s)
            }
        } else {
            let indexes = (0..n).map(syn::Index::from);
            quote! {
                let mut s = #serde::Serializer::serialize_tuple(serializer, #n)?;
                #( #ser::SerializeTuple::serialize_element(&mut s, self.#indexes)?; )*
                #ser::SerializeTuple::end(s)
            }
        };
        quote! {
            struct #args<'a, #(#params),*>(#(#fields),*);

            impl<#(#bounds),*> #serde::Serialize for #args<'_, #(#a),*> {
                fn serialize<S: #serde::Serializer>(&self, serializer: S) -> #result<S::Ok, S::Error> {
                    #body
                }
            }
        }
    }
}
