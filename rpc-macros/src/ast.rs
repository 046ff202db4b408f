//! The service model: a trait read into [`Service`], [`Method`] and [`Param`], with the
//! rules that concern one item at a time checked on the way.

use proc_macro2::{Ident, Span, TokenStream};
use quote::ToTokens;
use syn::visit::Visit;
use syn::{
    Attribute, FnArg, GenericArgument, GenericParam, ItemTrait, LitStr, Pat, PathArguments,
    ReturnType, Signature, TraitItem, TraitItemFn, Type, Visibility,
};

use crate::attr::{self, Shape, TraitAttrs};
use crate::ctxt::Ctxt;

pub struct Service<'a> {
    pub item: &'a ItemTrait,
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub namespace: Option<LitStr>,
    /// The OpenRPC document's title and version, when the attribute gives them.
    pub title: Option<LitStr>,
    pub version: Option<LitStr>,
    pub methods: Vec<Method<'a>>,
}

pub struct Method<'a> {
    pub item: &'a TraitItemFn,
    pub ident: &'a Ident,
    pub sig: &'a Signature,
    /// The wire name and where it came from (the `name` literal or the method name).
    pub wire: String,
    pub wire_span: Span,
    pub aliases: Vec<(String, Span)>,
    pub blocking: bool,
    pub notification: bool,
    pub pool: Option<String>,
    pub timeout_ms: Option<u64>,
    pub concurrency: Option<usize>,
    pub shape: Shape,
    pub raw_params: bool,
    /// A params object with a key the method does not take is refused.
    pub strict: bool,
    /// A notification that may run out of arrival order.
    pub unordered: bool,
    /// `#[rpc(idempotent)]`: the client may send it again after a lost connection.
    pub idempotent: bool,
    pub params: Vec<Param<'a>>,
    /// The `CallContext` parameter, if the method takes one: its position among the
    /// parameters after `&self`, and whether it is taken by reference.
    pub context: Option<ContextParam>,
    /// The method's `#[cfg(..)]` attributes, copied onto everything generated for it.
    pub cfgs: Vec<&'a Attribute>,
    pub output: Output<'a>,
    /// For a method that returns a stream: its items and names.
    pub stream: Option<StreamOut<'a>>,
    /// Whether the method is an `async fn` (a streaming `fn` is not).
    pub is_async: bool,
}

/// What a streaming method returns and how its items go out.
pub struct StreamOut<'a> {
    /// The stream's `Item`.
    pub item: &'a Type,
    /// For items that are `Result<T, E>`: `T` (what the client decodes).
    pub item_ok: Option<&'a Type>,
    /// For `Result<impl Stream<..>, E>`: `E`, which refuses the subscription.
    pub refusal: Option<&'a Type>,
    pub item_method: String,
    pub unsubscribe_method: String,
    pub buffer: Option<usize>,
    /// `Wait`, `DropOldest` or `Close`.
    pub overflow: Option<&'static str>,
}

#[derive(Clone, Copy)]
pub struct ContextParam {
    pub position: usize,
    pub by_ref: bool,
}

pub struct Param<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub wire: String,
    pub wire_span: Span,
    pub kind: ParamKind<'a>,
}

pub enum ParamKind<'a> {
    /// Decoded as its type.
    Plain,
    /// `Option<T>`: may be left out; carries `T`.
    Optional(&'a Type),
    /// `Cow<str>`: borrows from the frame unless the string has escapes.
    CowStr,
}

pub enum Output<'a> {
    Unit,
    Plain(&'a Type),
    Result { ok: &'a Type, err: &'a Type },
}

impl<'a> Service<'a> {
    pub fn from_syn(cx: &mut Ctxt, attrs: TraitAttrs, item: &'a ItemTrait) -> Self {
        if let Some(unsafety) = &item.unsafety {
            cx.error_spanned(unsafety, "a service trait cannot be `unsafe`");
        }
        if let Some(auto) = &item.auto_token {
            cx.error_spanned(auto, "a service trait cannot be an auto trait");
        }
        for param in &item.generics.params {
            match param {
                GenericParam::Type(t) => {
                    if let Some(default) = &t.default {
                        cx.error_spanned(
                            default,
                            "defaults of a service trait's type parameters are not supported; name the type where the service is used",
                        );
                    }
                }
                GenericParam::Lifetime(lt) => cx.error_spanned(
                    lt,
                    "a service trait cannot have lifetime parameters: its server and client outlive any one call; use owned types, or borrow in parameters (`&str`)",
                ),
                GenericParam::Const(c) => cx.error_spanned(
                    c,
                    "const parameters on a service trait are not supported; use a type parameter or a constant",
                ),
            }
        }
        for bound in &item.supertraits {
            if !is_marker_bound(bound) {
                let base = match bound {
                    syn::TypeParamBound::Trait(t) => t
                        .path
                        .segments
                        .last()
                        .map_or_else(|| "Base".to_owned(), |s| s.ident.to_string()),
                    _ => "Base".to_owned(),
                };
                let this = &item.ident;
                cx.error_spanned(
                    bound,
                    format!(
                        "supertraits are not served: `{this}Server` answers only `{this}`'s own methods. \
                         Make `{base}` a service of its own with `#[rpc_service]` and serve both on one server: \
                         `Services::new().with({base}Server::from_arc(x.clone()))?.with({this}Server::from_arc(x))?`"
                    ),
                );
            }
        }
        let default_shape = attrs.shape.map_or(Shape::Named, |(s, _)| s);
        let default_strict = attrs.strict.is_some_and(|(s, _)| s);
        let prefix = attrs.namespace.as_ref().map(|ns| {
            let sep = attrs
                .separator
                .as_ref()
                .map_or_else(|| ".".to_owned(), LitStr::value);
            format!("{}{}", ns.value(), sep)
        });
        if let (Some(sep), None) = (&attrs.separator, &attrs.namespace) {
            cx.error_spanned(sep, "`separator` needs a `namespace` to separate");
        }
        let mut methods = Vec::new();
        for trait_item in &item.items {
            match trait_item {
                TraitItem::Fn(f) => {
                    if let Some(m) =
                        Method::from_syn(cx, f, prefix.as_deref(), default_shape, default_strict)
                    {
                        methods.push(m);
                    }
                }
                TraitItem::Type(t) => {
                    cx.error_spanned(t, "associated types are not supported in a service trait")
                }
                TraitItem::Const(c) => {
                    cx.error_spanned(c, "associated consts are not supported in a service trait")
                }
                other => cx.error_spanned(other, "a service trait holds only methods"),
            }
        }
        Service {
            item,
            ident: &item.ident,
            vis: &item.vis,
            namespace: attrs.namespace,
            title: attrs.title,
            version: attrs.version,
            methods,
        }
    }
}

impl<'a> Method<'a> {
    fn from_syn(
        cx: &mut Ctxt,
        item: &'a TraitItemFn,
        prefix: Option<&str>,
        default_shape: Shape,
        default_strict: bool,
    ) -> Option<Self> {
        let errors_before = cx.count();
        let sig = &item.sig;
        let opts = attr::method_attrs(cx, &item.attrs);

        if let Some(c) = &sig.constness {
            cx.error_spanned(c, "service methods cannot be `const`");
        }
        if let Some(u) = &sig.unsafety {
            cx.error_spanned(u, "service methods cannot be `unsafe`");
        }
        if let Some(abi) = &sig.abi {
            cx.error_spanned(abi, "service methods cannot have an `extern` ABI");
        }
        if let Some(v) = &sig.variadic {
            cx.error_spanned(
                v,
                "variadic methods are not supported; use `#[rpc(raw_params)]`",
            );
        }
        let streamed = match &sig.output {
            ReturnType::Type(_, ty) => stream_of(ty),
            ReturnType::Default => None,
        };
        match (&sig.asyncness, opts.blocking) {
            (_, Some(blocking)) if streamed.is_some() => cx.error(
                blocking,
                "a streaming method cannot be `blocking`: its stream is polled on the runtime; do blocking work in `spawn_blocking` inside the stream",
            ),
            (None, None) if streamed.is_some() => {}
            (Some(_), Some(blocking)) => cx.error(
                blocking,
                "`blocking` is for `fn` methods, which run on the blocking pool; remove `async` or `blocking`",
            ),
            (None, None) => cx.error_spanned(
                sig.fn_token,
                "service methods must be `async fn`, or `fn` marked `#[rpc(blocking)]`",
            ),
            _ => {}
        }
        if let (Some(pool), Some(_)) = (&opts.pool, opts.blocking) {
            cx.error_spanned(
                pool,
                "`pool` and `blocking` conflict: a blocking method runs on the blocking pool",
            );
        }
        for param in &sig.generics.params {
            match param {
                GenericParam::Lifetime(_) => {}
                other => cx.error_spanned(
                    other,
                    "generic methods are not supported; only lifetime parameters are allowed",
                ),
            }
        }
        if let Some(where_clause) = &sig.generics.where_clause {
            cx.error_spanned(
                where_clause,
                "`where` clauses on service methods are not supported",
            );
        }

        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) => {
                if r.colon_token.is_some() {
                    cx.error_spanned(r, "expected `&self`");
                } else if r.reference.is_none() {
                    cx.error_spanned(
                        r,
                        "expected `&self`: the service is shared by all calls, so a method cannot take it by value",
                    );
                } else if r.mutability.is_some() {
                    cx.error_spanned(
                        r,
                        "expected `&self`: calls run concurrently, so a method cannot take `&mut self`",
                    );
                }
            }
            _ => cx.error_spanned(
                &sig.ident,
                "a service method takes `&self` as its first parameter",
            ),
        }

        let mut params = Vec::new();
        let mut context: Option<ContextParam> = None;
        for (position, input) in inputs.enumerate() {
            let FnArg::Typed(pt) = input else { continue };
            if let Some(by_ref) = context_type(&pt.ty) {
                if context.is_some() {
                    cx.error_spanned(&pt.ty, "a method takes at most one `CallContext`");
                } else if !pt.attrs.iter().any(attr::is_rpc) {
                    context = Some(ContextParam { position, by_ref });
                } else {
                    cx.error_spanned(
                        &pt.ty,
                        "a `CallContext` parameter is not part of the params, so it takes no `#[rpc(..)]` options",
                    );
                }
                if !matches!(&*pt.pat, Pat::Ident(_) | Pat::Wild(_)) {
                    cx.error_spanned(&pt.pat, "expected a parameter name");
                }
                continue;
            }
            let popts = attr::param_attrs(cx, &pt.attrs);
            let ident = match &*pt.pat {
                Pat::Ident(p)
                    if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() =>
                {
                    &p.ident
                }
                other => {
                    cx.error_spanned(
                        other,
                        "expected a parameter name: patterns are not supported in service methods",
                    );
                    continue;
                }
            };
            if !check_param_type(cx, &pt.ty) {
                continue;
            }
            let (wire, wire_span) = match &popts.rename {
                Some(lit) => (lit.value(), lit.span()),
                None => (unraw(ident), ident.span()),
            };
            params.push(Param {
                ident,
                ty: &pt.ty,
                wire,
                wire_span,
                kind: param_kind(&pt.ty),
            });
        }
        if let Some(raw) = opts.raw_params {
            if params.len() != 1 {
                cx.error(
                    raw,
                    "`raw_params` needs exactly one parameter, which receives the whole params value",
                );
            }
        }

        let output = match (&sig.output, streamed) {
            (ReturnType::Default, _) => Output::Unit,
            // Checked as items below; the stream itself is not sent.
            (ReturnType::Type(_, ty), Some(_)) => Output::Plain(ty),
            (ReturnType::Type(_, ty), None) => output_of(cx, ty),
        };
        if let Some((item, _)) = streamed {
            let decoded = match output_type(item) {
                Output::Result { ok, .. } => ok,
                _ => item,
            };
            let _ = output_of(cx, decoded);
            if let Some(n) = opts.notification {
                cx.error(
                    n,
                    "a notification cannot stream: it gets no answer to carry the subscription id",
                );
            }
        } else {
            for (key, span) in [
                ("item", opts.item.as_ref().map(LitStr::span)),
                ("unsubscribe", opts.unsubscribe.as_ref().map(LitStr::span)),
                ("buffer", opts.buffer.map(|(_, s)| s)),
                ("overflow", opts.overflow.as_ref().map(|(_, s)| *s)),
            ] {
                if let Some(span) = span {
                    cx.error(span, format!(
                        "`{key}` is for streaming methods, which return `impl Stream<Item = T> + Send` (or `Result<impl Stream<..>, E>`)"
                    ));
                }
            }
        }
        if let (Some(_), ReturnType::Type(_, ty), None) = (opts.notification, &sig.output, streamed)
        {
            if !matches!(output, Output::Unit) {
                cx.error_spanned(
                    ty,
                    "a notification cannot return a value: no response is sent",
                );
            }
        }

        if let (Some(idempotent), Some(_)) = (opts.idempotent, opts.notification) {
            cx.error(
                idempotent,
                "`idempotent` is for requests: a notification gets no response, so a client never knows to send it again",
            );
        }
        if let (Some(idempotent), Some(_)) = (opts.idempotent, streamed) {
            cx.error(
                idempotent,
                "`idempotent` is for requests: a lost subscription ends with `connection lost`, and the caller subscribes again",
            );
        }

        if let (Some(unordered), None) = (opts.unordered, opts.notification) {
            cx.error(
                unordered,
                "`unordered` is for notifications: add `notification`, or remove `unordered` (requests already run concurrently)",
            );
        }

        if cx.count() > errors_before {
            return None;
        }
        // An explicit name is the whole wire name (MCP's `tools/call` stays as is);
        // the namespace prefixes only names taken from the method.
        let (wire, wire_span) = match (&opts.name, prefix) {
            (Some(lit), _) => (lit.value(), lit.span()),
            (None, Some(prefix)) => (format!("{prefix}{}", unraw(&sig.ident)), sig.ident.span()),
            (None, None) => (unraw(&sig.ident), sig.ident.span()),
        };
        let stream = streamed.map(|(item_ty, refusal)| {
            let (item_method, unsubscribe_method) = stream_names(&wire);
            StreamOut {
                item: item_ty,
                item_ok: match output_type(item_ty) {
                    Output::Result { ok, .. } => Some(ok),
                    _ => None,
                },
                refusal,
                item_method: opts.item.as_ref().map_or(item_method, LitStr::value),
                unsubscribe_method: opts
                    .unsubscribe
                    .as_ref()
                    .map_or(unsubscribe_method, LitStr::value),
                buffer: opts.buffer.map(|(n, _)| n),
                overflow: opts.overflow.as_ref().map(|(o, _)| match o.as_str() {
                    "drop_oldest" => "DropOldest",
                    "close" => "Close",
                    _ => "Wait",
                }),
            }
        });
        Some(Method {
            stream,
            is_async: sig.asyncness.is_some(),
            item,
            ident: &sig.ident,
            sig,
            wire,
            wire_span,
            aliases: opts.aliases.iter().map(|a| (a.value(), a.span())).collect(),
            blocking: opts.blocking.is_some(),
            notification: opts.notification.is_some(),
            pool: opts.pool.as_ref().map(LitStr::value),
            timeout_ms: opts.timeout.map(|(ms, _)| ms),
            concurrency: opts.concurrency.map(|(n, _)| n),
            shape: opts.shape.map_or(default_shape, |(s, _)| s),
            raw_params: opts.raw_params.is_some(),
            strict: opts.strict.map_or(default_strict, |(s, _)| s),
            unordered: opts.unordered.is_some(),
            idempotent: opts.idempotent.is_some(),
            params,
            context,
            cfgs: item
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("cfg"))
                .collect(),
            output,
        })
    }

    /// The attributes to carry over to generated items (doc comments).
    pub fn docs(&self) -> impl Iterator<Item = &'a Attribute> {
        self.item.attrs.iter().filter(|a| a.path().is_ident("doc"))
    }
}

/// `Send`, `Sync` or `'static`: bounds the server needs anyway, which add no methods.
fn is_marker_bound(bound: &syn::TypeParamBound) -> bool {
    match bound {
        syn::TypeParamBound::Lifetime(lt) => lt.ident == "static",
        syn::TypeParamBound::Trait(t) => {
            matches!(t.modifier, syn::TraitBoundModifier::None)
                && t.lifetimes.is_none()
                && t.path.segments.last().is_some_and(|seg| {
                    seg.arguments.is_none() && (seg.ident == "Send" || seg.ident == "Sync")
                })
        }
        _ => false,
    }
}

/// `Some(by_ref)` for `CallContext` (`rpc::CallContext`, ..) and `&CallContext`.
fn context_type(ty: &Type) -> Option<bool> {
    let is_context = |ty: &Type| {
        last_segment(ty).is_some_and(|seg| seg.ident == "CallContext" && seg.arguments.is_none())
    };
    match ty {
        Type::Reference(r) if r.mutability.is_none() && is_context(&r.elem) => Some(true),
        Type::Group(g) => context_type(&g.elem),
        Type::Paren(p) => context_type(&p.elem),
        other if is_context(other) => Some(false),
        _ => None,
    }
}

pub fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// The last segment of a path type, if the type is a plain path.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn type_args(seg: &syn::PathSegment) -> Vec<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn param_kind(ty: &Type) -> ParamKind<'_> {
    let Some(seg) = last_segment(ty) else {
        return ParamKind::Plain;
    };
    let args = type_args(seg);
    if seg.ident == "Option" && args.len() == 1 {
        return ParamKind::Optional(args[0]);
    }
    if seg.ident == "Cow" && args.len() == 1 {
        if let Some(inner) = last_segment(args[0]) {
            if inner.ident == "str" && inner.arguments.is_none() {
                return ParamKind::CowStr;
            }
        }
    }
    ParamKind::Plain
}

fn output_of<'a>(cx: &mut Ctxt, ty: &'a Type) -> Output<'a> {
    let output = output_type(ty);
    if matches!(output, Output::Unit) {
        return output;
    }
    let mut borrows = Borrows::default();
    borrows.visit_type(ty);
    if let Some(tokens) = borrows.impl_trait {
        cx.error_spanned(
            tokens,
            "`impl Trait` is not supported here; name a concrete type",
        );
    } else if let Some(tokens) = borrows.self_type {
        cx.error_spanned(tokens, "`Self` cannot appear in a service method's types");
    } else if let Some(tokens) = borrows.reference.or(borrows.lifetime) {
        cx.error_spanned(tokens,
            "a return type cannot borrow: the client decodes it from a response it does not keep; return an owned type",
        );
    }
    output
}

/// For a streaming method's return type, `impl Stream<Item = X>` or
/// `Result<impl Stream<Item = X>, E>`: `X`, and `E`.
pub fn stream_of(ty: &Type) -> Option<(&Type, Option<&Type>)> {
    if let Output::Result { ok, err } = output_type(ty) {
        return stream_item(ok).map(|item| (item, Some(err)));
    }
    stream_item(ty).map(|item| (item, None))
}

/// `X` of `impl Stream<Item = X> + ..`.
fn stream_item(ty: &Type) -> Option<&Type> {
    let Type::ImplTrait(t) = ty else {
        return None;
    };
    t.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let seg = bound.path.segments.last()?;
        if seg.ident != "Stream" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &seg.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// The default item and unsubscribe methods of a streaming method named `wire`, by
/// its last part (after a namespace's `.` or `/`, which both keep): `subscribe_X` →
/// `X`, `unsubscribe_X`; `X_subscribe` (Ethereum's `eth_subscribe`) →
/// `X_subscription`, `X_unsubscribe`; otherwise `wire` itself and `un` before its
/// last part (`calc.watch` → `calc.unwatch`).
pub fn stream_names(wire: &str) -> (String, String) {
    let split = wire.rfind(['.', '/']).map_or(0, |i| i + 1);
    let (prefix, last) = wire.split_at(split);
    if let Some(rest) = last.strip_prefix("subscribe_").filter(|r| !r.is_empty()) {
        return (
            format!("{prefix}{rest}"),
            format!("{prefix}unsubscribe_{rest}"),
        );
    }
    if let Some(base) = last.strip_suffix("_subscribe").filter(|b| !b.is_empty()) {
        return (
            format!("{prefix}{base}_subscription"),
            format!("{prefix}{base}_unsubscribe"),
        );
    }
    (wire.to_owned(), format!("{prefix}un{last}"))
}

/// What a method's return type means, without checking it: `()`, `Result<T, E>` (by
/// its last path segment), or any other type.
pub fn output_type(ty: &Type) -> Output<'_> {
    if let Type::Tuple(t) = ty {
        if t.elems.is_empty() {
            return Output::Unit;
        }
    }
    if let Some(seg) = last_segment(ty) {
        let args = type_args(seg);
        if seg.ident == "Result" && args.len() == 2 {
            return Output::Result {
                ok: args[0],
                err: args[1],
            };
        }
    }
    Output::Plain(ty)
}

/// Checks a parameter's type; `false` when it was refused.
fn check_param_type(cx: &mut Ctxt, ty: &Type) -> bool {
    if let Type::ImplTrait(t) = ty {
        cx.error_spanned(
            t,
            "`impl Trait` parameters are not supported: the server needs a concrete type to decode",
        );
        return false;
    }
    let mut borrows = Borrows::default();
    borrows.visit_type(ty);
    if let Some(tokens) = borrows.impl_trait {
        cx.error_spanned(
            tokens,
            "`impl Trait` is not supported here; name a concrete type",
        );
        return false;
    }
    if let Some(tokens) = borrows.self_type {
        cx.error_spanned(tokens, "`Self` cannot appear in a service method's types");
        return false;
    }
    if let Some((tokens, message)) = borrows.bad_reference {
        cx.error_spanned(tokens, message);
        return false;
    }
    true
}

/// What a type borrows, and references in it that cannot borrow from JSON.
#[derive(Default)]
struct Borrows {
    lifetime: Option<TokenStream>,
    reference: Option<TokenStream>,
    bad_reference: Option<(TokenStream, String)>,
    impl_trait: Option<TokenStream>,
    self_type: Option<TokenStream>,
}

impl<'ast> Visit<'ast> for Borrows {
    fn visit_lifetime(&mut self, lt: &'ast syn::Lifetime) {
        if lt.ident != "static" && self.lifetime.is_none() {
            self.lifetime = Some(lt.to_token_stream());
        }
    }

    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        if self.reference.is_none() {
            self.reference = Some(r.to_token_stream());
        }
        if self.bad_reference.is_none() {
            let shown = quote::quote!(#r).to_string().replace("& ", "&");
            if r.mutability.is_some() {
                self.bad_reference = Some((
                    r.to_token_stream(),
                    format!(
                        "`{shown}` cannot be decoded: a parameter cannot be a mutable reference"
                    ),
                ));
            } else if r.lifetime.as_ref().is_some_and(|lt| lt.ident == "static") {
                self.bad_reference = Some((
                    r.to_token_stream(),
                    format!("`{shown}` cannot borrow from a request, which does not live for `'static`; use an owned type"),
                ));
            } else {
                let borrowable = last_segment(&r.elem).is_some_and(|seg| {
                    seg.arguments.is_none() && (seg.ident == "str" || seg.ident == "RawValue")
                });
                if !borrowable {
                    self.bad_reference = Some((
                        r.to_token_stream(),
                        format!("`{shown}` cannot be borrowed from JSON: only `&str` and `&RawValue` borrow from the frame; take an owned type instead"),
                    ));
                }
            }
        }
        syn::visit::visit_type_reference(self, r);
    }

    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        self.impl_trait.get_or_insert(t.to_token_stream());
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.is_ident("Self") || path.segments.first().is_some_and(|s| s.ident == "Self") {
            self.self_type.get_or_insert(path.to_token_stream());
        }
        syn::visit::visit_path(self, path);
    }
}
