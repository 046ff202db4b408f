//! The options of `#[rpc_service(..)]` (on the trait), and of `#[rpc(..)]` on methods
//! and parameters.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, LitInt, LitStr, Token};

use crate::ctxt::Ctxt;
use crate::symbol::*;

/// How the client sends a method's params. The server accepts both.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// An object keyed by parameter name (the default).
    Named,
    /// An array in declaration order.
    Positional,
}

/// `#[rpc_service(namespace = "calc", separator = ".", positional, strict)]`
#[derive(Default)]
pub struct TraitAttrs {
    pub namespace: Option<LitStr>,
    pub separator: Option<LitStr>,
    pub shape: Option<(Shape, Span)>,
    /// `strict` (true) or `lenient` (false): every method's default.
    pub strict: Option<(bool, Span)>,
    /// The OpenRPC document's title (default: the crate's name).
    pub title: Option<LitStr>,
    /// The OpenRPC document's version (default: the crate's version).
    pub version: Option<LitStr>,
}

/// `#[rpc(name = "..", aliases = [..], notification, blocking, pool = "..",
/// timeout = "5s", concurrency = 4, positional | named, raw_params, unordered,
/// idempotent, strict | lenient)]`
#[derive(Default)]
pub struct MethodAttrs {
    pub name: Option<LitStr>,
    pub aliases: Vec<LitStr>,
    pub notification: Option<Span>,
    pub blocking: Option<Span>,
    pub pool: Option<LitStr>,
    /// In milliseconds.
    pub timeout: Option<(u64, Span)>,
    pub concurrency: Option<(usize, Span)>,
    pub shape: Option<(Shape, Span)>,
    pub raw_params: Option<Span>,
    pub unordered: Option<Span>,
    /// Safe to run twice: a managed client may send it again.
    pub idempotent: Option<Span>,
    /// `strict` (true) or `lenient` (false), over the trait's default.
    pub strict: Option<(bool, Span)>,
    /// A streaming method's item notification method.
    pub item: Option<LitStr>,
    /// A streaming method's unsubscribe method.
    pub unsubscribe: Option<LitStr>,
    pub buffer: Option<(usize, Span)>,
    /// `wait`, `drop_oldest` or `close`.
    pub overflow: Option<(String, Span)>,
}

/// `#[rpc(rename = "wireName")]`
#[derive(Default)]
pub struct ParamAttrs {
    pub rename: Option<LitStr>,
}

/// Whether `attr` is one of ours (`#[rpc(..)]`).
pub fn is_rpc(attr: &Attribute) -> bool {
    attr.path().is_ident(RPC)
}

/// Parses the arguments of `#[rpc_service(..)]`.
pub fn trait_attrs(cx: &mut Ctxt, args: TokenStream) -> TraitAttrs {
    let mut attrs = TraitAttrs::default();
    let parser = syn::meta::parser(|meta| {
        let key = key_of(&meta, TRAIT_OPTIONS)?;
        match key.as_str() {
            NAMESPACE => set_once(&meta, &mut attrs.namespace, |m| {
                let lit = string_value(m, "namespace = \"calc\"")?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the namespace must not be empty",
                    ));
                }
                Ok(lit)
            }),
            SEPARATOR => set_once(&meta, &mut attrs.separator, |m| {
                string_value(m, "separator = \".\"")
            }),
            POSITIONAL | NAMED => {
                let shape = shape_of(&meta, &key, attrs.shape)?;
                attrs.shape = Some(shape);
                Ok(())
            }
            STRICT | LENIENT => {
                attrs.strict = Some(strictness_of(&meta, &key, attrs.strict)?);
                Ok(())
            }
            TITLE => set_once(&meta, &mut attrs.title, |m| {
                string_value(m, "title = \"Calculator\"")
            }),
            VERSION => set_once(&meta, &mut attrs.version, |m| {
                string_value(m, "version = \"1.2.0\"")
            }),
            _ => unreachable!(),
        }
    });
    if let Err(err) = parser.parse2(args) {
        cx.push(err);
    }
    attrs
}

/// Parses every `#[rpc(..)]` on a method.
pub fn method_attrs(cx: &mut Ctxt, list: &[Attribute]) -> MethodAttrs {
    let mut attrs = MethodAttrs::default();
    for attr in list.iter().filter(|a| is_rpc(a)) {
        let result = require_list(attr).and_then(|()| {
            attr.parse_nested_meta(|meta| {
                let key = key_of(&meta, METHOD_OPTIONS)?;
                match key.as_str() {
                    NAME => set_once(&meta, &mut attrs.name, |m| {
                        let lit = string_value(m, "name = \"tools/call\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(lit.span(), "the name must not be empty"));
                        }
                        Ok(lit)
                    }),
                    ALIASES => {
                        if !attrs.aliases.is_empty() {
                            return Err(meta.error("duplicate option `aliases`"));
                        }
                        attrs.aliases = aliases(&meta)?;
                        Ok(())
                    }
                    NOTIFICATION => set_flag(&meta, &mut attrs.notification, "rpc"),
                    BLOCKING => set_flag(&meta, &mut attrs.blocking, "rpc"),
                    RAW_PARAMS => set_flag(&meta, &mut attrs.raw_params, "rpc"),
                    UNORDERED => set_flag(&meta, &mut attrs.unordered, "rpc"),
                    IDEMPOTENT => set_flag(&meta, &mut attrs.idempotent, "rpc"),
                    POOL => set_once(&meta, &mut attrs.pool, |m| {
                        let lit = string_value(m, "pool = \"io\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(lit.span(), "the pool name must not be empty"));
                        }
                        Ok(lit)
                    }),
                    TIMEOUT => set_once(&meta, &mut attrs.timeout, |m| {
                        let lit = string_value(m, "timeout = \"5s\"")?;
                        let ms = parse_duration(&lit.value()).ok_or_else(|| {
                            syn::Error::new(
                                lit.span(),
                                format!(
                                    "invalid timeout {:?}: expected a whole number and a unit, like \"500ms\", \"5s\" or \"2m\"",
                                    lit.value()
                                ),
                            )
                        })?;
                        if ms == 0 {
                            return Err(syn::Error::new(lit.span(), "the timeout must be greater than zero"));
                        }
                        Ok((ms, lit.span()))
                    }),
                    CONCURRENCY => set_once(&meta, &mut attrs.concurrency, |m| {
                        let value = m.value()?;
                        let lit: LitInt = value.parse().map_err(|err| {
                            syn::Error::new(err.span(), "expected a whole number, like `concurrency = 4`")
                        })?;
                        let n: usize = lit.base10_parse()?;
                        if n == 0 {
                            return Err(syn::Error::new(lit.span(), "`concurrency` must be at least 1"));
                        }
                        Ok((n, lit.span()))
                    }),
                    POSITIONAL | NAMED => {
                        let shape = shape_of(&meta, &key, attrs.shape)?;
                        attrs.shape = Some(shape);
                        Ok(())
                    }
                    STRICT | LENIENT => {
                        attrs.strict = Some(strictness_of(&meta, &key, attrs.strict)?);
                        Ok(())
                    }
                    ITEM => set_once(&meta, &mut attrs.item, |m| {
                        let lit = string_value(m, "item = \"count\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(lit.span(), "the item method must not be empty"));
                        }
                        Ok(lit)
                    }),
                    UNSUBSCRIBE => set_once(&meta, &mut attrs.unsubscribe, |m| {
                        let lit = string_value(m, "unsubscribe = \"unsubscribe_count\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(lit.span(), "the unsubscribe method must not be empty"));
                        }
                        Ok(lit)
                    }),
                    BUFFER => set_once(&meta, &mut attrs.buffer, |m| {
                        let value = m.value()?;
                        let lit: LitInt = value.parse().map_err(|err| {
                            syn::Error::new(err.span(), "expected a whole number, like `buffer = 64`")
                        })?;
                        let n: usize = lit.base10_parse()?;
                        if n == 0 {
                            return Err(syn::Error::new(lit.span(), "`buffer` must be at least 1"));
                        }
                        Ok((n, lit.span()))
                    }),
                    OVERFLOW => set_once(&meta, &mut attrs.overflow, |m| {
                        let lit = string_value(m, "overflow = \"drop_oldest\"")?;
                        let value = lit.value();
                        if !matches!(value.as_str(), "wait" | "drop_oldest" | "close") {
                            return Err(syn::Error::new(
                                lit.span(),
                                format!("unknown overflow policy {value:?}: expected \"wait\", \"drop_oldest\" or \"close\""),
                            ));
                        }
                        Ok((value, lit.span()))
                    }),
                    _ => unreachable!(),
                }
            })
        });
        if let Err(err) = result {
            cx.push(err);
        }
    }
    // Checked here rather than with the other combinations in `ast`, as it concerns
    // only options: a `raw_params` method has no names to check, so the option would
    // silently do nothing. (A `strict` trait's `raw_params` methods are left as they
    // are: the option there is a default, not a request about this method.)
    if let (Some((strict, span)), Some(_)) = (attrs.strict, attrs.raw_params) {
        let key = if strict { STRICT } else { LENIENT };
        cx.error(
            span,
            format!("`{key}` does not apply to `raw_params`: the one parameter receives the whole params value, so there are no parameter names to check"),
        );
    }
    attrs
}

/// Parses every `#[rpc(..)]` on a parameter.
pub fn param_attrs(cx: &mut Ctxt, list: &[Attribute]) -> ParamAttrs {
    let mut attrs = ParamAttrs::default();
    for attr in list.iter().filter(|a| is_rpc(a)) {
        let result = require_list(attr).and_then(|()| {
            attr.parse_nested_meta(|meta| {
                let key = key_of(&meta, PARAM_OPTIONS)?;
                match key.as_str() {
                    RENAME => set_once(&meta, &mut attrs.rename, |m| {
                        let lit = string_value(m, "rename = \"wireName\"")?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new(lit.span(), "the name must not be empty"));
                        }
                        Ok(lit)
                    }),
                    _ => unreachable!(),
                }
            })
        });
        if let Err(err) = result {
            cx.push(err);
        }
    }
    attrs
}

fn require_list(attr: &Attribute) -> syn::Result<()> {
    match &attr.meta {
        syn::Meta::List(_) => Ok(()),
        _ => Err(syn::Error::new_spanned(
            attr,
            "expected options in parentheses, like `#[rpc(name = \"add\")]`",
        )),
    }
}

/// The option's key, or an error naming the nearest valid one.
pub fn key_of(meta: &ParseNestedMeta, valid: &[&str]) -> syn::Result<String> {
    let Some(ident) = meta.path.get_ident() else {
        let path = &meta.path;
        let shown = quote::quote!(#path).to_string().replace(' ', "");
        return Err(meta.error(unknown(&shown, valid)));
    };
    let key = ident.to_string();
    if valid.contains(&key.as_str()) {
        Ok(key)
    } else {
        Err(syn::Error::new(ident.span(), unknown(&key, valid)))
    }
}

fn unknown(key: &str, valid: &[&str]) -> String {
    match did_you_mean(key, valid) {
        Some(near) => format!("unknown option `{key}`; did you mean `{near}`?"),
        None => format!(
            "unknown option `{key}`; expected one of {}",
            valid
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The valid key closest to `key`, if one is close enough to be a typo.
pub fn did_you_mean<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(key, v), *v))
        .filter(|(d, v)| *d <= (v.len().max(key.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

pub fn set_once<T>(
    meta: &ParseNestedMeta,
    slot: &mut Option<T>,
    parse: impl FnOnce(&ParseNestedMeta) -> syn::Result<T>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!(
            "duplicate option `{}`",
            meta.path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default()
        )));
    }
    *slot = Some(parse(meta)?);
    Ok(())
}

/// Sets a flag option; `within` is the attribute it is written in (`rpc` or
/// `rpc_service`), for the message.
pub fn set_flag(meta: &ParseNestedMeta, slot: &mut Option<Span>, within: &str) -> syn::Result<()> {
    let key = meta
        .path
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_default();
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "`{key}` takes no value; write `#[{within}({key})]`"
        )));
    }
    if slot.is_some() {
        return Err(meta.error(format!("duplicate option `{key}`")));
    }
    *slot = Some(
        meta.path
            .get_ident()
            .map(|i| i.span())
            .unwrap_or_else(Span::call_site),
    );
    Ok(())
}

fn shape_of(
    meta: &ParseNestedMeta,
    key: &str,
    previous: Option<(Shape, Span)>,
) -> syn::Result<(Shape, Span)> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`{key}` takes no value")));
    }
    if previous.is_some() {
        return Err(meta.error("choose one of `positional` and `named`"));
    }
    let shape = if key == POSITIONAL {
        Shape::Positional
    } else {
        Shape::Named
    };
    Ok((
        shape,
        meta.path
            .get_ident()
            .map(|i| i.span())
            .unwrap_or_else(Span::call_site),
    ))
}

/// `strict` or `lenient`: whether unknown keys in a params object are refused.
fn strictness_of(
    meta: &ParseNestedMeta,
    key: &str,
    previous: Option<(bool, Span)>,
) -> syn::Result<(bool, Span)> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        // `strict = false` is the likely attempt to opt out: point at the keyword.
        return Err(meta.error(if key == STRICT {
            "`strict` takes no value; write `strict`, or `lenient` to ignore unknown parameter names"
        } else {
            "`lenient` takes no value; write `lenient`, or `strict` to refuse unknown parameter names"
        }));
    }
    match previous {
        Some((strict, _)) if (key == STRICT) == strict => {
            return Err(meta.error(format!("duplicate option `{key}`")))
        }
        Some(_) => return Err(meta.error("choose one of `strict` and `lenient`")),
        None => {}
    }
    Ok((
        key == STRICT,
        meta.path
            .get_ident()
            .map(|i| i.span())
            .unwrap_or_else(Span::call_site),
    ))
}

pub fn string_value(meta: &ParseNestedMeta, example: &str) -> syn::Result<LitStr> {
    let value = meta.value()?;
    value
        .parse::<LitStr>()
        .map_err(|err| syn::Error::new(err.span(), format!("expected a string, like `{example}`")))
}

fn aliases(meta: &ParseNestedMeta) -> syn::Result<Vec<LitStr>> {
    let value = meta.value()?;
    if !value.peek(syn::token::Bracket) {
        return Err(value.error("expected a list of strings, like `aliases = [\"sum\", \"plus\"]`"));
    }
    let content;
    syn::bracketed!(content in value);
    let list = content
        .parse_terminated(|input| input.parse::<LitStr>(), Token![,])
        .map_err(|err| {
            syn::Error::new(
                err.span(),
                "expected a list of strings, like `aliases = [\"sum\", \"plus\"]`",
            )
        })?;
    for lit in &list {
        if lit.value().is_empty() {
            return Err(syn::Error::new(lit.span(), "an alias must not be empty"));
        }
    }
    Ok(list.into_iter().collect())
}

/// `"500ms"`, `"5s"`, `"2m"` as milliseconds.
fn parse_duration(text: &str) -> Option<u64> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = text[..digits].parse().ok()?;
    let scale = match &text[digits..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(scale)
}
