//! `#[derive(IntoRpcError)]`: `impl From<MyError> for rpc::RpcError` from a code per
//! variant, a message (a literal, or the type's `Display`) and an optional field that
//! becomes the error's `data`.
//!
//! Options are read with the helpers of [`crate::attr`] and mistakes gathered in a
//! [`Ctxt`], as for `#[rpc_service]`. When there are any, a stand-in `From` impl goes
//! beside them, so that a method returning `Result<T, MyError>` adds no error of its
//! own. Everything that touches the user's types goes through a runtime function
//! with the type as an explicit argument (`error_message::<MyError>`,
//! `error_data::<Details>`), so a missing `Display` or `Serialize` is one error, on
//! that type.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    parse_quote, Attribute, Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, Ident, Index, Lit,
    LitStr, Member, Meta, Type, UnOp, WherePredicate,
};

use crate::attr::{is_rpc, key_of, set_flag, set_once, string_value};
use crate::ctxt::Ctxt;
use crate::symbol::*;

/// The derive on `proc_macro2` tokens: the impl, or the errors and a stand-in impl.
pub fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let variants = variants(&mut cx, &input);
    match cx.finish() {
        None => expand(&input, &variants),
        Some(err) => {
            let mut out = err.to_compile_error();
            out.extend(stand_in(&input));
            out
        }
    }
}

/// What one variant (or the struct) becomes.
struct Variant<'a> {
    /// What its pattern starts with: `MyError::NotFound`, or `MyError` for a struct.
    path: TokenStream,
    code: i64,
    /// `None`: the type's `Display`.
    message: Option<LitStr>,
    /// The field marked `#[rpc(data)]`.
    data: Option<(Member, &'a Type)>,
    /// What the error means, for an OpenRPC document's `errors`: the message, else
    /// the `#[error("..")]` format string (thiserror), else the doc comment's first
    /// line, else the variant's name.
    meaning: String,
}

fn meaning_of(message: Option<&LitStr>, attrs: &[Attribute], name: &Ident) -> String {
    if let Some(message) = message {
        return message.value();
    }
    for attr in attrs.iter().filter(|a| a.path().is_ident("error")) {
        let format = attr.parse_args_with(|input: syn::parse::ParseStream| {
            let format: LitStr = input.parse()?;
            let _rest: TokenStream = input.parse()?;
            Ok(format)
        });
        if let Ok(format) = format {
            return format.value();
        }
    }
    let doc = crate::expand::doc_text(attrs);
    match doc.lines().next() {
        Some(line) if !line.is_empty() => line.to_owned(),
        _ => name.to_string(),
    }
}

/// `#[rpc(code = -32010, message = "..")]` on the type or a variant.
#[derive(Default)]
struct Options {
    code: Option<i64>,
    /// Whether a missing code goes unreported: a `code` was written and refused, or
    /// an option did not parse (a misspelt `code`, perhaps). Either is reported
    /// already, and a second error for the same mistake would only confuse.
    quiet: bool,
    message: Option<LitStr>,
}

/// The variants with their options, the type's options filling in what a variant
/// leaves out (a struct is one variant; a union, an error and none).
fn variants<'a>(cx: &mut Ctxt, input: &'a DeriveInput) -> Vec<Variant<'a>> {
    let ident = &input.ident;
    let defaults = options(cx, &input.attrs);
    match &input.data {
        Data::Struct(data) => {
            let data_field = data_field(cx, &data.fields);
            if defaults.code.is_none() && !defaults.quiet {
                cx.error_spanned(
                    ident,
                    format!(
                        "`{ident}` has no error code: add `#[rpc(code = -32010)]` (a code of your choosing) to the struct"
                    ),
                );
            }
            vec![Variant {
                path: ident.to_token_stream(),
                code: defaults.code.unwrap_or_default(),
                meaning: meaning_of(defaults.message.as_ref(), &input.attrs, ident),
                message: defaults.message,
                data: data_field,
            }]
        }
        Data::Enum(data) => data
            .variants
            .iter()
            .map(|variant| {
                let name = &variant.ident;
                let own = options(cx, &variant.attrs);
                let data_field = data_field(cx, &variant.fields);
                let code = own.code.or(defaults.code);
                if code.is_none() && !own.quiet && !defaults.quiet {
                    cx.error_spanned(
                        name,
                        format!(
                            "the variant `{name}` has no error code: add `#[rpc(code = -32010)]` (a code of your choosing) to it, or to the enum as the default of every variant without one"
                        ),
                    );
                }
                let message = own.message.or_else(|| defaults.message.clone());
                Variant {
                    path: quote!(#ident::#name),
                    code: code.unwrap_or_default(),
                    meaning: meaning_of(message.as_ref(), &variant.attrs, name),
                    message,
                    data: data_field,
                }
            })
            .collect(),
        Data::Union(data) => {
            cx.error_spanned(
                data.union_token,
                "#[derive(IntoRpcError)] applies to an enum or a struct: a union cannot tell which of its fields it holds",
            );
            Vec::new()
        }
    }
}

/// Reads every `#[rpc(..)]` of the type or of a variant.
fn options(cx: &mut Ctxt, attrs: &[Attribute]) -> Options {
    let mut opts = Options::default();
    for attr in attrs.iter().filter(|a| is_rpc(a)) {
        let result = require_list(attr, "#[rpc(code = -32010)]").and_then(|()| {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(DATA) {
                    return Err(meta.error(
                        "`data` marks a field: put `#[rpc(data)]` on the field whose value becomes the error's `data`",
                    ));
                }
                let key = key_of(&meta, ERROR_OPTIONS)?;
                match key.as_str() {
                    CODE => set_once(&meta, &mut opts.code, code_value),
                    MESSAGE => set_once(&meta, &mut opts.message, |m| {
                        let lit = string_value(m, "message = \"the account is locked\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(
                                lit.span(),
                                "the message must not be empty: say what went wrong",
                            ));
                        }
                        Ok(lit)
                    }),
                    _ => unreachable!(),
                }
            })
        });
        if let Err(err) = result {
            opts.quiet = true;
            cx.push(err);
        }
    }
    opts
}

/// The one field marked `#[rpc(data)]`, if any.
fn data_field<'a>(cx: &mut Ctxt, fields: &'a Fields) -> Option<(Member, &'a Type)> {
    let mut found: Option<(Member, &'a Type)> = None;
    for (i, field) in fields.iter().enumerate() {
        let Some(span) = field_options(cx, &field.attrs) else {
            continue;
        };
        if let Some((first, _)) = &found {
            let first = match first {
                Member::Named(ident) => format!("`{ident}`"),
                Member::Unnamed(index) => format!("field {}", index.index),
            };
            cx.error(
                span,
                format!("only one field can be the error's `data`, and {first} already is"),
            );
            continue;
        }
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(Index {
                index: i as u32,
                span: Span::call_site(),
            }),
        };
        found = Some((member, &field.ty));
    }
    found
}

/// Reads every `#[rpc(..)]` of a field: where `data` was written, if it was.
fn field_options(cx: &mut Ctxt, attrs: &[Attribute]) -> Option<Span> {
    let mut data = None;
    for attr in attrs.iter().filter(|a| is_rpc(a)) {
        let result = require_list(attr, "#[rpc(data)]").and_then(|()| {
            attr.parse_nested_meta(|meta| {
                if let Some(key) = ERROR_OPTIONS.iter().find(|k| meta.path.is_ident(k)) {
                    return Err(meta.error(format!(
                        "`{key}` belongs on the error type or on a variant, not on a field"
                    )));
                }
                key_of(&meta, ERROR_FIELD_OPTIONS)?;
                set_flag(&meta, &mut data, "rpc")
            })
        });
        if let Err(err) = result {
            cx.push(err);
        }
    }
    data
}

fn require_list(attr: &Attribute, example: &str) -> syn::Result<()> {
    match &attr.meta {
        Meta::List(_) => Ok(()),
        _ => Err(syn::Error::new_spanned(
            attr,
            format!("expected options in parentheses, like `{example}`"),
        )),
    }
}

/// `code = -32010`: an integer literal, so that the reserved range is checked here
/// (a constant's value is not known to the macro).
fn code_value(meta: &ParseNestedMeta) -> syn::Result<i64> {
    let expr: Expr = meta.value()?.parse()?;
    let (negative, lit) = match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr: inner,
            ..
        }) => match &**inner {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, lit),
            _ => return Err(not_an_integer(&expr)),
        },
        _ => return Err(not_an_integer(&expr)),
    };
    if !matches!(lit.suffix(), "" | "i64") {
        return Err(not_an_integer(&expr));
    }
    let magnitude: i128 = lit.base10_parse().map_err(|_| not_an_integer(&expr))?;
    let code = if negative { -magnitude } else { magnitude };
    let code = i64::try_from(code)
        .map_err(|_| syn::Error::new_spanned(&expr, "the code must fit in an `i64`"))?;
    check_code(code).map_err(|message| syn::Error::new_spanned(&expr, message))?;
    Ok(code)
}

fn not_an_integer(expr: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        expr,
        "expected an integer literal, like `code = -32010` (the macro checks it against the codes JSON-RPC reserves, which it cannot do for a constant)",
    )
}

/// Whether a method's error may carry `code`.
///
/// JSON-RPC 2.0 reserves -32768..=-32000 for the codes it defines. Of those, a
/// method's error may be -32602 (invalid params: a check of the params beyond their
/// types, such as a negative amount) or -32603 (internal error), and anything in
/// -32099..=-32000, which the spec leaves to implementation-defined server errors.
/// (The runtime answers -32000, -32001 and -32002 itself for overload, a deadline and
/// shutdown; they are allowed, for an error that means the same.) The other reserved
/// codes are refused: -32700, -32600 and -32601 describe the request rather than what
/// the method made of it and are answered before any method runs, and the rest are
/// reserved for future use. Codes outside the reserved range are the application's.
fn check_code(code: i64) -> Result<(), String> {
    const CHOOSE: &str = "use -32602 (invalid params), -32603 (internal error), a server error in -32099..=-32000, or a code outside -32768..=-32000";
    let protocol = match code {
        -32602 | -32603 | -32099..=-32000 => return Ok(()),
        -32700 => "a parse error",
        -32600 => "an invalid request",
        -32601 => "a method that does not exist",
        -32768..=-32000 => {
            return Err(format!(
                "code {code} is reserved by JSON-RPC 2.0 (-32768..=-32000 is for codes the spec defines); {CHOOSE}"
            ))
        }
        _ => return Ok(()),
    };
    Err(format!(
        "code {code} means {protocol}, which the runtime answers before any method runs; {CHOOSE}"
    ))
}

/// The impl: a `match` on the error, one arm per variant.
///
/// The error is borrowed (`fn from(ref __error: ..)`) and matched as a place with
/// `ref` bindings (`Variant { field: ref __data, .. }`): nothing moves out of it, so
/// an arm can still hand the whole error to `Display`, and no binding depends on the
/// default binding modes, which edition 2024 changed.
fn expand(input: &DeriveInput, variants: &[Variant]) -> TokenStream {
    let rt = quote!(::rpc::__private);
    let ident = &input.ident;
    let (_, ty_generics, _) = input.generics.split_for_impl();
    let this = quote!(#ident #ty_generics);
    let error = Ident::new("__error", Span::mixed_site());
    let data = Ident::new("__data", Span::mixed_site());

    let uses_display = variants.iter().any(|v| v.message.is_none());
    let generics = bounded(input, variants, uses_display);
    let (impl_generics, _, where_clause) = generics.split_for_impl();

    // On the type's name: a type without `Display` draws one error there (rustc
    // reports an error repeated at one span once).
    let display = quote_spanned!(ident.span()=> #rt::error_message::<#this>);
    let arms = variants.iter().map(|v| {
        let path = &v.path;
        let code = code_tokens(v.code);
        let message = match &v.message {
            Some(lit) => quote!(#rt::Cow::Borrowed(#lit)),
            None => quote!(#display(#error)),
        };
        let new = quote!(#rt::RpcError::new(#rt::ErrorCode(#code), #message));
        match &v.data {
            Some((member, ty)) => {
                let attach = quote_spanned!(ty.span()=> #rt::error_data::<#ty>);
                quote!(#path { #member: ref #data, .. } => #attach(#new, #data),)
            }
            None => quote!(#path { .. } => #new,),
        }
    });
    // The codes it declares, one per code (the first variant's meaning), for
    // OpenRPC documents.
    let mut seen = std::collections::HashSet::new();
    let declared = variants.iter().filter(|v| seen.insert(v.code)).map(|v| {
        let (code, meaning) = (code_tokens(v.code), &v.meaning);
        quote!(#rt::ErrorDoc::new(#code, #meaning))
    });
    let (plain_generics, _, plain_where) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::core::convert::From<#this> for ::rpc::RpcError #where_clause {
            fn from(ref #error: #this) -> ::rpc::RpcError {
                match *#error { #(#arms)* }
            }
        }

        #rt::if_openrpc! {
            impl #plain_generics #rt::DeclaredErrors for #this #plain_where {
                fn declared_errors() -> ::std::vec::Vec<#rt::ErrorDoc> {
                    ::std::vec![#(#declared),*]
                }
            }
        }
    }
}

/// The type's generics, with what the impl needs of its type parameters: `Serialize`
/// for a data field whose type names one, `Display` of the type when a message comes
/// from it.
fn bounded(input: &DeriveInput, variants: &[Variant], uses_display: bool) -> syn::Generics {
    let params: Vec<&Ident> = input.generics.type_params().map(|p| &p.ident).collect();
    let mut generics = input.generics.clone();
    if params.is_empty() {
        return generics;
    }
    let mut predicates: Vec<WherePredicate> = Vec::new();
    for (_, ty) in variants.iter().filter_map(|v| v.data.as_ref()) {
        if mentions(ty, &params) {
            predicates.push(parse_quote!(#ty: ::rpc::__private::serde::Serialize));
        }
    }
    if uses_display {
        let ident = &input.ident;
        let (_, ty_generics, _) = input.generics.split_for_impl();
        predicates.push(parse_quote!(#ident #ty_generics: ::core::fmt::Display));
    }
    let where_clause = generics.make_where_clause();
    for predicate in predicates {
        if !where_clause.predicates.iter().any(|p| p == &predicate) {
            where_clause.predicates.push(predicate);
        }
    }
    generics
}

/// Whether `ty` names one of the type parameters.
fn mentions(ty: &Type, params: &[&Ident]) -> bool {
    struct Finder<'p> {
        params: &'p [&'p Ident],
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, path: &'ast syn::Path) {
            if path.leading_colon.is_none() {
                if let Some(first) = path.segments.first() {
                    self.found |= self.params.iter().any(|p| first.ident == **p);
                }
            }
            syn::visit::visit_path(self, path);
        }
    }
    let mut finder = Finder {
        params,
        found: false,
    };
    finder.visit_type(ty);
    finder.found
}

/// `code` as an expression: the literal's magnitude, negated (a negative literal
/// token does not survive every path through the compiler).
fn code_tokens(code: i64) -> TokenStream {
    if code == i64::MIN {
        return quote!(::core::primitive::i64::MIN);
    }
    let magnitude = Literal::i64_unsuffixed(code.abs());
    if code < 0 {
        quote!(-#magnitude)
    } else {
        quote!(#magnitude)
    }
}

/// Beside the errors: a `From` impl that never runs, so that code converting the
/// type does not add errors of its own.
fn stand_in(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::core::convert::From<#ident #ty_generics> for ::rpc::RpcError #where_clause {
            fn from(_: #ident #ty_generics) -> ::rpc::RpcError {
                ::core::unreachable!()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::{check_code, derive};

    /// The output as one string, with the spacing `TokenStream`'s `Display` gives.
    fn expand(input: TokenStream) -> String {
        derive(input).to_string()
    }

    /// The messages of the `compile_error!`s in `out`.
    fn errors(out: &str) -> Vec<String> {
        out.split("compile_error ! {")
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap_or_default().trim().to_owned())
            .collect()
    }

    #[test]
    fn codes_messages_and_data_per_variant() {
        let out = expand(quote! {
            #[rpc(code = -32010)]
            enum E {
                A,
                #[rpc(code = 7, message = "b failed")]
                B(u8, #[rpc(data)] Vec<u8>),
                #[rpc(message = "c")]
                C { #[rpc(data)] detail: String, other: u8 },
            }
        });
        assert!(errors(&out).is_empty(), "{out}");
        assert!(out.contains("E :: A { .. } => :: rpc :: __private :: RpcError :: new (:: rpc :: __private :: ErrorCode (- 32010) , :: rpc :: __private :: error_message :: < E > (__error))"), "{out}");
        assert!(out.contains("E :: B { 1 : ref __data , .. } => :: rpc :: __private :: error_data :: < Vec < u8 > > (:: rpc :: __private :: RpcError :: new (:: rpc :: __private :: ErrorCode (7) , :: rpc :: __private :: Cow :: Borrowed (\"b failed\")) , __data)"), "{out}");
        assert!(
            out.contains("E :: C { detail : ref __data , .. } =>"),
            "{out}"
        );
        assert!(out.contains("fn from (ref __error : E)"), "{out}");
    }

    #[test]
    fn display_is_named_only_when_a_message_comes_from_it() {
        let out = expand(quote! {
            #[rpc(code = 1, message = "locked")]
            struct Locked;
        });
        assert!(!out.contains("error_message"), "{out}");
        assert!(out.contains("Locked { .. } =>"), "{out}");
    }

    #[test]
    fn type_parameters_get_the_bounds_their_fields_need() {
        let out = expand(quote! {
            #[rpc(code = 1)]
            enum E<'a, T, U: Clone> {
                A(#[rpc(data)] Vec<T>),
                B(#[rpc(data)] &'a str, U),
            }
        });
        assert!(
            out.contains("where Vec < T > : :: rpc :: __private :: serde :: Serialize , E < 'a , T , U > : :: core :: fmt :: Display"),
            "{out}"
        );
        assert!(!out.contains("& 'a str : "), "{out}");
    }

    #[test]
    fn an_empty_enum_has_an_empty_match() {
        let out = expand(quote!(
            enum Never {}
        ));
        assert!(errors(&out).is_empty(), "{out}");
        assert!(out.contains("match * __error { }"), "{out}");
    }

    #[test]
    fn each_mistake_is_one_error_and_a_stand_in_goes_beside_them() {
        let out = expand(quote! {
            enum E {
                NoCode,
                #[rpc(code = -32700)]
                Protocol,
                #[rpc(cdoe = 1)]
                Typo,
                #[rpc(code = 1)]
                TwoData(#[rpc(data)] u8, #[rpc(data)] u8),
                #[rpc(code = 1, code = 2)]
                Twice,
                #[rpc(code = "1")]
                NotANumber,
            }
        });
        let errors = errors(&out);
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors[0].contains("the variant `NoCode` has no error code"));
        assert!(errors[1].contains("code -32700 means a parse error"));
        assert!(errors[2].contains("unknown option `cdoe`; did you mean `code`?"));
        assert!(
            errors[3].contains("only one field can be the error's `data`, and field 0 already is")
        );
        assert!(errors[4].contains("duplicate option `code`"));
        assert!(errors[5].contains("expected an integer literal"));
        assert!(out.contains("unreachable"), "{out}");
        // `Typo`'s refused option is not reported again as a missing code.
        assert!(!errors
            .iter()
            .any(|e| e.contains("`Typo` has no error code")));
    }

    #[test]
    fn codes_are_integer_literals_that_fit_in_an_i64() {
        let code = |code: TokenStream| {
            let out = expand(quote!(
                #[rpc(code = #code, message = "m")]
                struct E;
            ));
            (errors(&out), out)
        };
        let (errs, out) = code(quote!(-32010i64));
        assert!(
            errs.is_empty() && out.contains("ErrorCode (- 32010)"),
            "{out}"
        );
        let (errs, out) = code(quote!(-9223372036854775808));
        assert!(
            errs.is_empty() && out.contains("ErrorCode (:: core :: primitive :: i64 :: MIN)"),
            "{out}"
        );
        assert!(code(quote!(9223372036854775808)).0[0].contains("fit in an `i64`"));
        for not_literal in [
            quote!(1.5),
            quote!(-x),
            quote!(ErrorCode::TIMEOUT),
            quote!(1u8),
        ] {
            let (errs, _) = code(not_literal);
            assert!(errs[0].contains("expected an integer literal"), "{errs:?}");
        }
    }

    #[test]
    fn the_reserved_range() {
        for ok in [
            -32602,
            -32603,
            -32000,
            -32001,
            -32099,
            -32769,
            -31999,
            0,
            1,
            i64::MIN,
        ] {
            assert_eq!(check_code(ok), Ok(()), "{ok}");
        }
        for refused in [-32700, -32600, -32601, -32604, -32100, -32768, -32500] {
            assert!(check_code(refused).is_err(), "{refused}");
        }
    }
}
