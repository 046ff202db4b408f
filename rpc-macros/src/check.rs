//! Rules that need the whole service: wire names unique after namespace, rename and
//! aliases; the protocol's reserved `rpc.` prefix; names that clash with generated items.

use std::collections::HashMap;

use quote::ToTokens;

use crate::ast::{unraw, Method, Service};
use crate::ctxt::Ctxt;
use crate::symbol::{CLIENT_METHODS, RESERVED_PREFIX};

pub fn check(cx: &mut Ctxt, service: &Service) {
    reserved_names(cx, service);
    unique_wire_names(cx, service);
    unique_param_names(cx, service);
    client_clashes(cx, service);
}

fn reserved_names(cx: &mut Ctxt, service: &Service) {
    if let Some(ns) = &service.namespace {
        // One error on the namespace rather than one per method.
        if let Some(first) = service.methods.first() {
            if first.wire.starts_with(RESERVED_PREFIX)
                && !ns.value().is_empty()
                && (ns.value() + ".").starts_with(RESERVED_PREFIX)
            {
                cx.error_spanned(
                    ns,
                    "method names beginning with `rpc.` are reserved for the protocol; choose another namespace",
                );
                return;
            }
        }
    }
    for method in &service.methods {
        let names = std::iter::once((&method.wire, method.wire_span))
            .chain(method.aliases.iter().map(|(a, s)| (a, *s)));
        for (name, span) in names {
            if name.starts_with(RESERVED_PREFIX) {
                cx.error(
                    span,
                    format!("`{name}`: method names beginning with `rpc.` are reserved for the protocol"),
                );
            }
        }
    }
}

fn unique_wire_names(cx: &mut Ctxt, service: &Service) {
    // For each name: the method that answers it, and that method's `#[cfg]`s.
    let mut seen: HashMap<&str, (String, String)> = HashMap::new();
    for method in &service.methods {
        // A streaming method also answers to its unsubscribe method.
        let names = std::iter::once((&method.wire, method.wire_span))
            .chain(method.aliases.iter().map(|(a, s)| (a, *s)))
            .chain(
                method
                    .stream
                    .as_ref()
                    .map(|s| (&s.unsubscribe_method, method.wire_span)),
            );
        let cfgs = cfg_text(method);
        for (name, span) in names {
            let owner = unraw(method.ident);
            if let Some((previous, previous_cfgs)) = seen.get(name.as_str()) {
                // Alternatives under different `#[cfg]`s: at most one is compiled
                // (rustc itself refuses two methods of one name in a build).
                if !cfgs.is_empty() && !previous_cfgs.is_empty() && cfgs != *previous_cfgs {
                    continue;
                }
                let by = if *previous == owner {
                    "this method".to_owned()
                } else {
                    format!("`{previous}`")
                };
                cx.error(
                    span,
                    format!("duplicate wire name `{name}`: {by} already answers to it"),
                );
            } else {
                seen.insert(name, (owner, cfgs.clone()));
            }
        }
    }
}

/// A method's `#[cfg]` attributes as text, to tell alternatives apart.
fn cfg_text(method: &Method) -> String {
    method
        .cfgs
        .iter()
        .map(|a| a.to_token_stream().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn unique_param_names(cx: &mut Ctxt, service: &Service) {
    for method in service.methods.iter().filter(|m| !m.raw_params) {
        for (i, param) in method.params.iter().enumerate() {
            if let Some(previous) = method.params[..i].iter().find(|p| p.wire == param.wire) {
                cx.error(
                    param.wire_span,
                    format!(
                        "duplicate parameter name `{}`: `{}` already uses it",
                        param.wire,
                        unraw(previous.ident)
                    ),
                );
            }
        }
    }
}

fn client_clashes(cx: &mut Ctxt, service: &Service) {
    for method in &service.methods {
        let name = unraw(method.ident);
        if CLIENT_METHODS.contains(&name.as_str()) {
            cx.error_spanned(
                method.ident,
                format!(
                    "`{name}` clashes with the generated `{}Client::{name}`; rename the method and keep its wire name with `#[rpc(name = \"{name}\")]`",
                    service.ident
                ),
            );
        }
        if name.starts_with("__") {
            cx.error_spanned(
                method.ident,
                "method names beginning with `__` are reserved for generated code",
            );
        }
    }
}
