//! Decoding a method's params, for the code `#[rpc_service]` generates.
//!
//! The macro generates, per method, a params struct and its visitor (an array by
//! position or an object by name, borrowing from the frame). What those have in
//! common lives here and is reached through `rpc::__private`: turning serde's error
//! into -32602, the seeds that name a parameter in its error, the key matcher, and
//! small bounded functions through which the handlers meet the user's types.
//!
//! User types reach these items only as explicit generic arguments
//! (`decode_params::<Vec<u8>>(..)`, `respond::<Report>(..)`,
//! `into_rpc_error::<MyError>(..)`): a type that lacks `Deserialize`, `Serialize` or
//! `IntoRpcError` fails that one bound, so rustc reports one error, on the user's
//! type. Nothing on the success path allocates: the seeds and the key matcher hold
//! only `&'static` names.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{IncomingCall, Reply};
use crate::message::{bound_message, IntoRpcError, RpcError, MAX_MESSAGE_LEN};

/// -32602 `invalid params: ..` for a params decoding error, without serde_json's
/// ` at line L column C` suffixes (a position within the params value is noise to a
/// caller) and cut to [`MAX_MESSAGE_LEN`] bytes.
#[cold]
fn invalid_params(err: serde_json::Error) -> RpcError {
    fn digits(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    }
    let mut message = format!("invalid params: {err}");
    // serde_json appends " at line L column C", once per nesting level.
    while let Some(at) = message.rfind(" at line ") {
        let tail = &message[at + " at line ".len()..];
        let position = match tail.find(" column ") {
            Some(c) => digits(&tail[..c]) && digits(&tail[c + " column ".len()..]),
            None => false,
        };
        if !position {
            break;
        }
        message.truncate(at);
    }
    // serde quotes the offending value whole: keep a bounded start and end.
    RpcError::invalid_params(bound_message(message, MAX_MESSAGE_LEN))
}

/// Decodes a call's params text as `P`, borrowing from it; absent params are an empty
/// array. A decoding error is -32602 `invalid params: ..` with serde's message.
#[doc(hidden)]
pub fn decode_params<'de, P: Deserialize<'de>>(params: Option<&'de str>) -> Result<P, RpcError> {
    match serde_json::from_str::<P>(params.unwrap_or("[]")) {
        Ok(p) => Ok(p),
        Err(err) => Err(invalid_params(err)),
    }
}

/// Encodes a handler's result as the call's response: [`IncomingCall::respond`] with
/// the result type named as a generic argument.
#[doc(hidden)]
pub fn respond<T: Serialize + ?Sized>(call: &IncomingCall, value: &T) -> Reply {
    call.respond(value)
}

/// Converts a handler's error into the error response. Bound on [`IntoRpcError`]
/// rather than `Into<RpcError>` for its diagnostic: an error type that does not
/// convert is reported as such, with the fixes.
#[doc(hidden)]
pub fn into_rpc_error<E: IntoRpcError>(err: E) -> RpcError {
    err.into()
}

/// The decoding error for a required parameter that is absent:
/// ``missing parameter `name` ``.
#[doc(hidden)]
#[cold]
pub fn missing_param<E: de::Error>(name: &str) -> E {
    E::custom(format_args!("missing parameter `{name}`"))
}

/// The decoding error for a required parameter absent from a params object that had
/// a key the method does not take (a misspelling, often):
/// ``missing parameter `key` (got unknown `kye`)``.
#[doc(hidden)]
#[cold]
pub fn missing_named_param<E: de::Error>(name: &str, unknown: Option<&str>) -> E {
    match unknown {
        Some(unknown) => E::custom(format_args!(
            "missing parameter `{name}` (got unknown `{unknown}`)"
        )),
        None => missing_param(name),
    }
}

/// The decoding error for a key a strict method does not take:
/// ``unknown parameter `ttl`; this method takes `key`, `value` ``.
#[doc(hidden)]
#[cold]
pub fn unknown_param<E: de::Error>(key: &str, names: &[&str]) -> E {
    E::custom(format_args!("unknown parameter `{key}`; {}", takes(names)))
}

/// ``this method takes `a`, `b` `` (or ``takes no parameters``).
fn takes(names: &[&str]) -> String {
    if names.is_empty() {
        return "this method takes no parameters".to_owned();
    }
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("this method takes {}", list.join(", "))
}

/// The decoding error for a name given twice in a params object:
/// ``duplicate parameter `name` ``.
#[doc(hidden)]
#[cold]
pub fn duplicate_param<E: de::Error>(name: &str) -> E {
    E::custom(format_args!("duplicate parameter `{name}`"))
}

/// The decoding error for a params array longer than the method's parameter list
/// (surplus positional params are refused in every mode): ``too many parameters:
/// more than 2 given; this method takes `a`, `b` ``.
#[doc(hidden)]
#[cold]
pub fn too_many_params<E: de::Error>(names: &[&str]) -> E {
    E::custom(format_args!(
        "too many parameters: more than {} given; {}",
        names.len(),
        takes(names)
    ))
}

/// Matches a params object's key against a method's parameter names: `Ok(index)`, or
/// `Err(key)` for a key the method does not take (which a lenient decoder skips,
/// keeping it to name in a missing-parameter error, and a strict one refuses). The
/// key is borrowed from the frame unless it has escapes.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ParamKey(&'static [&'static str]);

impl ParamKey {
    /// A matcher for these names, in parameter order.
    pub const fn new(names: &'static [&'static str]) -> Self {
        ParamKey(names)
    }
}

impl<'de> DeserializeSeed<'de> for ParamKey {
    type Value = Result<usize, Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for ParamKey {
    type Value = Result<usize, Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a parameter name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .iter()
            .position(|name| *name == key)
            .ok_or(Cow::Borrowed(key)))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .iter()
            .position(|name| *name == key)
            .ok_or_else(|| Cow::Owned(key.to_owned())))
    }
}

/// Decodes one parameter as `A`, naming it in the error:
/// ``parameter `name`: invalid type: .. ``.
#[doc(hidden)]
pub struct ParamSeed<A>(&'static str, PhantomData<fn() -> A>);

impl<A> fmt::Debug for ParamSeed<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ParamSeed").field(&self.0).finish()
    }
}

impl<A> ParamSeed<A> {
    /// A seed for the parameter with this wire name.
    pub const fn new(name: &'static str) -> Self {
        ParamSeed(name, PhantomData)
    }
}

impl<'de, A: Deserialize<'de>> DeserializeSeed<'de> for ParamSeed<A> {
    type Value = A;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<A, D::Error> {
        match A::deserialize(d) {
            Ok(v) => Ok(v),
            Err(err) => Err(named_error::<D::Error>(self.0, err)),
        }
    }
}

/// Decodes a `Cow<str>` parameter (or an `Option` of one) as `A`, borrowing from the
/// frame unless the string has escapes, and naming the parameter in the error.
///
/// serde's own `Cow<str>` always copies; this seed asks for a borrowed string.
#[doc(hidden)]
pub struct CowStrSeed<A>(&'static str, PhantomData<fn() -> A>);

impl<A> fmt::Debug for CowStrSeed<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CowStrSeed").field(&self.0).finish()
    }
}

impl<A> CowStrSeed<A> {
    /// A seed for the parameter with this wire name.
    pub const fn new(name: &'static str) -> Self {
        CowStrSeed(name, PhantomData)
    }
}

impl<'de, A: From<Cow<'de, str>>> DeserializeSeed<'de> for CowStrSeed<A> {
    type Value = A;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<A, D::Error> {
        match d.deserialize_str(CowStrVisitor) {
            Ok(v) => Ok(A::from(v)),
            Err(err) => Err(named_error::<D::Error>(self.0, err)),
        }
    }
}

/// A string, borrowed when the input allows it.
struct CowStrVisitor;

impl<'de> Visitor<'de> for CowStrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// ``parameter `name`: {err}``, with serde's wording for a `&str` that cannot borrow
/// (an internal detail to a caller) said in the caller's terms.
#[cold]
fn named_error<E: de::Error>(name: &str, err: E) -> E {
    let message = err.to_string();
    if message.contains(BORROWED) {
        let message = message.replacen(BORROWED, IN_PLACE, 1);
        return E::custom(format_args!("parameter `{name}`: {message}"));
    }
    E::custom(format_args!("parameter `{name}`: {message}"))
}

/// How serde words its error for a `&str` given a string with escapes.
const BORROWED: &str = "expected a borrowed string";
/// What the caller is told instead.
const IN_PLACE: &str =
    "expected a string without escape sequences (`\\n`, `\\\"`, `\\u..`): this method reads it in place";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_params_drops_positions() {
        let err = serde_json::from_str::<(i64, i64)>("[1, \"x\"]").unwrap_err();
        let err = invalid_params(err);
        assert_eq!(err.code, crate::message::ErrorCode::INVALID_PARAMS);
        assert_eq!(
            err.message,
            "invalid params: invalid type: string \"x\", expected i64"
        );
    }

    #[test]
    fn invalid_params_keeps_text_that_only_looks_like_a_position() {
        let err = serde_json::from_str::<i64>("\" at line x\"").unwrap_err();
        let message = invalid_params(err).message;
        assert!(message.contains(" at line x"), "{message}");
        assert!(!message.ends_with(" column 13"), "{message}");
    }

    #[test]
    fn key_matches_names_in_order() {
        let key = ParamKey::new(&["a", "b"]);
        let mut de = serde_json::Deserializer::from_str("\"b\"");
        assert_eq!(key.deserialize(&mut de).unwrap(), Ok(1));
        let mut de = serde_json::Deserializer::from_str("\"c\"");
        assert!(matches!(
            key.deserialize(&mut de).unwrap(),
            Err(Cow::Borrowed("c"))
        ));
        let mut de = serde_json::Deserializer::from_str("\"c\\n\"");
        assert!(matches!(key.deserialize(&mut de).unwrap(), Err(Cow::Owned(k)) if k == "c\n"));
    }

    #[test]
    fn seeds_name_the_parameter() {
        let mut de = serde_json::Deserializer::from_str("\"x\"");
        let err = ParamSeed::<i64>::new("a").deserialize(&mut de).unwrap_err();
        assert!(
            err.to_string().starts_with("parameter `a`: invalid type"),
            "{err}"
        );
        let mut de = serde_json::Deserializer::from_str("1");
        let err = CowStrSeed::<Cow<str>>::new("t")
            .deserialize(&mut de)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("parameter `t`: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_what_the_method_takes() {
        let err: serde_json::Error = unknown_param("ttl", &["key", "value"]);
        assert_eq!(
            err.to_string(),
            "unknown parameter `ttl`; this method takes `key`, `value`"
        );
        let err: serde_json::Error = unknown_param("x", &[]);
        assert_eq!(
            err.to_string(),
            "unknown parameter `x`; this method takes no parameters"
        );
        let err: serde_json::Error = too_many_params(&["a"]);
        assert_eq!(
            err.to_string(),
            "too many parameters: more than 1 given; this method takes `a`"
        );
        let err: serde_json::Error = missing_named_param("key", Some("kye"));
        assert_eq!(
            err.to_string(),
            "missing parameter `key` (got unknown `kye`)"
        );
    }

    #[test]
    fn a_str_parameter_given_escapes_is_told_in_the_caller_s_terms() {
        let mut de = serde_json::Deserializer::from_str("\"a\\nb\"");
        let err = ParamSeed::<&str>::new("text")
            .deserialize(&mut de)
            .unwrap_err();
        let message = err.to_string();
        assert!(!message.contains("borrowed"), "{message}");
        assert!(
            message.starts_with("parameter `text`: invalid type: string \"a\\nb\", expected a string without escape sequences"),
            "{message}"
        );
    }

    #[test]
    fn cow_seed_borrows_unless_escaped() {
        let mut de = serde_json::Deserializer::from_str("\"plain\"");
        let v = CowStrSeed::<Cow<str>>::new("t")
            .deserialize(&mut de)
            .unwrap();
        assert!(matches!(v, Cow::Borrowed("plain")));
        let mut de = serde_json::Deserializer::from_str("\"a\\nb\"");
        let v = CowStrSeed::<Cow<str>>::new("t")
            .deserialize(&mut de)
            .unwrap();
        assert!(matches!(v, Cow::Owned(ref s) if s == "a\nb"));
    }
}
