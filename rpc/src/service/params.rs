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
//! type. Nothing on the success path allocates: the seeds hold only `&'static` names,
//! and the key matcher keeps the first unknown key (for a missing parameter's error)
//! borrowed from the frame; only an unknown key with escapes is copied.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Error as _, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{IncomingCall, Reply};
use crate::message::{bound_message, encode_result, IntoRpcError, RpcError, MAX_MESSAGE_LEN};

/// -32602 `invalid params: ..` for a params decoding error, without serde_json's
/// ` at line L column C` suffixes (a position within the params value is noise to a
/// caller), with serde's words in JSON's ([`in_json_terms`]), and cut to
/// [`MAX_MESSAGE_LEN`] bytes.
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
    in_json_terms(&mut message);
    // serde quotes the offending value whole: keep a bounded start and end.
    RpcError::invalid_params(bound_message(message, MAX_MESSAGE_LEN))
}

/// Rewrites serde's "invalid type: {what it met}, expected {what it wanted}" in the
/// terms of the caller, who sent JSON: serde's "map" is an object and its "sequence"
/// an array; and serde's `&str`, met inside a parameter's type (`Vec<&str>`, a struct's
/// field, a `raw_params` value; a `&str` parameter itself has [`StrSeed`]), says
/// "expected a borrowed string", which is [`ESCAPED_STRING`] when it met a string
/// (one with escapes) and "expected a string" otherwise.
///
/// Only the start of serde's text (the kind of value met, before any quoted value) and
/// its end (what was expected, after it) are looked at, so a quoted value cannot
/// trigger a rewrite.
fn in_json_terms(message: &mut String) {
    const INVALID_TYPE: &str = "invalid type: ";
    const BORROWED: &str = ", expected a borrowed string";
    let Some(at) = message.find(INVALID_TYPE) else {
        return;
    };
    let met = at + INVALID_TYPE.len();
    if message.ends_with(BORROWED) && message[met..].starts_with("string ") {
        message.replace_range(at.., ESCAPED_STRING);
        return;
    }
    let expected = [
        (BORROWED, ", expected a string"),
        (", expected a sequence", ", expected an array"),
        (", expected a map", ", expected an object"),
    ];
    if let Some((serde, json)) = expected.iter().find(|(serde, _)| message.ends_with(serde)) {
        let cut = message.len() - serde.len();
        message.replace_range(cut.., json);
    }
    let met_kinds = [("map, ", "object, "), ("sequence, ", "array, ")];
    if let Some((serde, json)) = met_kinds
        .iter()
        .find(|(serde, _)| message[met..].starts_with(serde))
    {
        message.replace_range(met..met + serde.len(), json);
    }
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

/// Decodes a call's params text as a generated decoder's params struct `P`, as
/// [`decode_params`] does, with the top level walked by the scan and string values
/// unescaped in one pass (`service/params_walk.rs`); where the walk gives up, by
/// [`decode_params`]. On 64 KiB of text with an escape every 64 bytes, serde_json's
/// own read of the string cost as much as the scan and the copy together.
///
/// `P`'s `Deserialize` must call `deserialize_any` once and read every member or
/// element, as the generated ones do; the walk gives up on anything else.
#[doc(hidden)]
pub fn decode_generated_params<'de, P: Deserialize<'de>>(
    params: Option<&'de str>,
) -> Result<P, RpcError> {
    let text = match params {
        Some(text) if text.len() >= super::params_walk::WALK_MIN => text,
        // Short params: serde_json at once costs less than a walk that hands it each
        // value on its own (a small call's decode took a tenth longer).
        _ => return decode_params(params),
    };
    match super::params_walk::walk::<P>(text) {
        Some(Ok(p)) => Ok(p),
        Some(Err(err)) => Err(invalid_params(err)),
        None => decode_params(params),
    }
}

/// Encodes a handler's result as the call's response, as [`IncomingCall::respond`]
/// does, with the result type named as a generic argument: the answer is written
/// where this thread's pooled room lies and cut off there
/// ([`crate::buffer::BufferPool::frame_with`]), which put a small answer at the
/// cost of serde_json writing into a reused buffer.
#[doc(hidden)]
pub fn respond<T: Serialize + ?Sized>(call: &IncomingCall, value: &T) -> Reply {
    let Some(id) = call.id() else {
        return Ok(Bytes::new());
    };
    let pool = call.session.state.engine.buffer_pool();
    pool.frame_with(512, |buf| encode_result(buf, id, value))
        .map_err(|err| RpcError::internal(format!("failed to encode the result: {err}")))
}

/// Converts a handler's error into the error response. Bound on [`IntoRpcError`]
/// rather than `Into<RpcError>` for its diagnostic: an error type that does not
/// convert is reported as such, with the fixes.
#[doc(hidden)]
pub fn into_rpc_error<E: IntoRpcError>(err: E) -> RpcError {
    err.into()
}

/// The decoding error for a required parameter that is absent:
/// ``missing parameter `name` ``, and when the params object had a key the method does
/// not take, the first such key, since it is likely the misspelt name:
/// ``missing parameter `key` (got unknown `kye`)``.
#[doc(hidden)]
#[cold]
pub fn missing_param<E: de::Error>(name: &str, unknown: Option<&str>) -> E {
    match unknown {
        None => E::custom(format_args!("missing parameter `{name}`")),
        Some(key) => E::custom(format_args!(
            "missing parameter `{name}` (got unknown `{key}`)"
        )),
    }
}

/// The decoding error for a name given twice in a params object:
/// ``duplicate parameter `name` ``.
#[doc(hidden)]
#[cold]
pub fn duplicate_param<E: de::Error>(name: &str) -> E {
    E::custom(format_args!("duplicate parameter `{name}`"))
}

/// The decoding error for a params array longer than the method's parameter list
/// `names`, once the decoder has seen one element too many:
/// ``too many parameters: got 3; this method takes `a`, `b` ``.
///
/// Counts the rest of the array (skipping the values) to say how many were given; if
/// the rest fails to decode, that error is the answer instead.
#[doc(hidden)]
#[cold]
pub fn too_many_params<'de, S: SeqAccess<'de>>(mut seq: S, names: &[&str]) -> S::Error {
    let mut got = names.len() + 1;
    loop {
        match seq.next_element::<IgnoredAny>() {
            Ok(Some(_)) => got += 1,
            Ok(None) => break,
            Err(err) => return err,
        }
    }
    S::Error::custom(format_args!(
        "too many parameters: got {got}; this method takes {}",
        Takes(names)
    ))
}

/// The decoding error for a key a `strict` method does not take:
/// ``unknown parameter `ttl`; this method takes `key`, `value` ``.
#[cold]
fn unknown_param<E: de::Error>(key: &str, names: &[&str]) -> E {
    E::custom(format_args!(
        "unknown parameter `{key}`; this method takes {}",
        Takes(names)
    ))
}

/// What a method takes, for an error: `` `a`, `b` `` or `no parameters`.
struct Takes<'a>(&'a [&'a str]);

impl fmt::Display for Takes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no parameters");
        }
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

/// Matches a params object's key against a method's parameter names: `Some(index)`,
/// or `None` for a key the method does not know, which the decoder skips.
///
/// The first unknown key is kept in `unknown` (borrowed from the frame; copied only
/// when it has escapes), so that a missing parameter's error can name it: the params
/// object is streamed, so it cannot be looked at again. A strict matcher refuses an
/// unknown key instead ([`unknown_param`]). A known key costs what it did before
/// strictness existed: the scan of `names`.
#[doc(hidden)]
#[derive(Debug)]
pub struct ParamKey<'a, 'de> {
    names: &'static [&'static str],
    strict: bool,
    unknown: &'a mut Option<Cow<'de, str>>,
}

impl<'a, 'de> ParamKey<'a, 'de> {
    /// A matcher for these names, in parameter order, that skips other keys and
    /// remembers the first in `unknown`.
    pub fn new(names: &'static [&'static str], unknown: &'a mut Option<Cow<'de, str>>) -> Self {
        ParamKey {
            names,
            strict: false,
            unknown,
        }
    }

    /// A matcher for these names, in parameter order, that refuses other keys.
    pub fn strict(names: &'static [&'static str], unknown: &'a mut Option<Cow<'de, str>>) -> Self {
        ParamKey {
            names,
            strict: true,
            unknown,
        }
    }

    fn matched<E: de::Error>(
        self,
        key: &str,
        keep: impl FnOnce() -> Cow<'de, str>,
    ) -> Result<Option<usize>, E> {
        match self.names.iter().position(|name| *name == key) {
            Some(i) => Ok(Some(i)),
            None => self.unknown_key(key, keep),
        }
    }

    #[cold]
    fn unknown_key<E: de::Error>(
        self,
        key: &str,
        keep: impl FnOnce() -> Cow<'de, str>,
    ) -> Result<Option<usize>, E> {
        if self.strict {
            return Err(unknown_param(key, self.names));
        }
        if self.unknown.is_none() {
            *self.unknown = Some(keep());
        }
        Ok(None)
    }
}

impl<'de> DeserializeSeed<'de> for ParamKey<'_, 'de> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for ParamKey<'_, 'de> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // JSON object keys are strings: a caller cannot make the decoder say this.
        f.write_str("a parameter name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Option<usize>, E> {
        self.matched(key, || Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        self.matched(key, || Cow::Owned(key.to_owned()))
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

/// Decodes a `&str` parameter as `A`, borrowed from the frame, naming the parameter
/// in the error.
///
/// A string with escapes cannot be borrowed (its text differs from the frame's), and
/// serde's own `&str` says so as "expected a borrowed string"; this seed says it in the
/// caller's terms instead ([`ESCAPED_STRING`]).
#[doc(hidden)]
pub struct StrSeed<A>(&'static str, PhantomData<fn() -> A>);

impl<A> fmt::Debug for StrSeed<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StrSeed").field(&self.0).finish()
    }
}

impl<A> StrSeed<A> {
    /// A seed for the parameter with this wire name.
    pub const fn new(name: &'static str) -> Self {
        StrSeed(name, PhantomData)
    }
}

impl<'de, A: From<&'de str>> DeserializeSeed<'de> for StrSeed<A> {
    type Value = A;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<A, D::Error> {
        match d.deserialize_str(StrVisitor) {
            Ok(v) => Ok(A::from(v)),
            Err(err) => Err(named_error::<D::Error>(self.0, err)),
        }
    }
}

/// What a caller reads when it sends a string with escapes to a `&str` parameter. The
/// caller cannot send most of these characters otherwise (JSON requires `\"` and
/// `\n`), so the message says what the method cannot take rather than what to send.
pub(crate) const ESCAPED_STRING: &str =
    "this method cannot take a string with escape sequences (like `\\n`, `\\\"` or `\\u00e9`)";

/// A string borrowed from the input, or the error for one with escapes.
struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = &'de str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(v)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(ESCAPED_STRING))
    }
}

/// Decodes an `Option` parameter with the seed of its inner type: `null` is `None`.
/// (The decoder makes a parameter that is left out `None` itself.)
#[doc(hidden)]
#[derive(Debug)]
pub struct OptionSeed<S>(S);

impl<S> OptionSeed<S> {
    /// A seed for `Option<S::Value>`.
    pub const fn new(inner: S) -> Self {
        OptionSeed(inner)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// ``parameter `name`: {err}``.
#[cold]
fn named_error<E: de::Error>(name: &str, err: E) -> E {
    E::custom(format_args!("parameter `{name}`: {err}"))
}

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

    /// The -32602 message for decoding `json` as `T`.
    fn message_for<'de, T: Deserialize<'de> + fmt::Debug>(json: &'de str) -> String {
        invalid_params(serde_json::from_str::<T>(json).unwrap_err())
            .message
            .into_owned()
    }

    #[test]
    fn invalid_params_speaks_json() {
        assert_eq!(
            message_for::<Vec<i64>>(r#"{"a":1}"#),
            "invalid params: invalid type: object, expected an array"
        );
        assert_eq!(
            message_for::<std::collections::HashMap<String, i64>>("[1]"),
            "invalid params: invalid type: array, expected an object"
        );
        // serde's `&str` below a parameter: a string with escapes, or not a string.
        assert_eq!(
            message_for::<Vec<&str>>(r#"["a", "b\nc"]"#),
            format!("invalid params: {ESCAPED_STRING}")
        );
        assert_eq!(
            message_for::<Vec<&str>>("[1]"),
            "invalid params: invalid type: integer `1`, expected a string"
        );
        // Through a seed that names the parameter.
        let mut de = serde_json::Deserializer::from_str(r#"["x\ty"]"#);
        let err = ParamSeed::<Vec<&str>>::new("tags")
            .deserialize(&mut de)
            .unwrap_err();
        assert_eq!(
            invalid_params(err).message,
            format!("invalid params: parameter `tags`: {ESCAPED_STRING}")
        );
        // A quoted value is not read as serde's words.
        assert_eq!(
            message_for::<i64>(r#""map, expected a sequence""#),
            "invalid params: invalid type: string \"map, expected a sequence\", expected i64"
        );
    }

    #[test]
    fn invalid_params_keeps_text_that_only_looks_like_a_position() {
        let err = serde_json::from_str::<i64>("\" at line x\"").unwrap_err();
        let message = invalid_params(err).message;
        assert!(message.contains(" at line x"), "{message}");
        assert!(!message.ends_with(" column 13"), "{message}");
    }

    /// `seed` run on `json` with serde_json's text deserializer.
    fn decode<'de, S: DeserializeSeed<'de>>(
        seed: S,
        json: &'de str,
    ) -> serde_json::Result<S::Value> {
        seed.deserialize(&mut serde_json::Deserializer::from_str(json))
    }

    #[test]
    fn key_matches_names_in_order() {
        let mut unknown = None;
        assert_eq!(
            decode(ParamKey::new(&["a", "b"], &mut unknown), "\"b\"").unwrap(),
            Some(1)
        );
        assert_eq!(
            decode(ParamKey::new(&["a", "b"], &mut unknown), "\"a\"").unwrap(),
            Some(0)
        );
        assert_eq!(unknown, None);
        // A key with escapes is compared as decoded.
        assert_eq!(
            decode(ParamKey::new(&["a", "b"], &mut unknown), r#""\u0062""#).unwrap(),
            Some(1)
        );
        assert_eq!(
            decode(ParamKey::strict(&["a", "b"], &mut unknown), "\"b\"").unwrap(),
            Some(1)
        );
    }

    #[test]
    fn key_remembers_the_first_unknown_key_borrowed_unless_escaped() {
        let mut unknown = None;
        assert_eq!(
            decode(ParamKey::new(&["a"], &mut unknown), "\"kye\"").unwrap(),
            None
        );
        assert!(matches!(unknown, Some(Cow::Borrowed("kye"))), "{unknown:?}");
        assert_eq!(
            decode(ParamKey::new(&["a"], &mut unknown), "\"other\"").unwrap(),
            None
        );
        assert!(matches!(unknown, Some(Cow::Borrowed("kye"))), "{unknown:?}");

        let mut unknown = None;
        assert_eq!(
            decode(ParamKey::new(&[], &mut unknown), r#""k\u0079e""#).unwrap(),
            None
        );
        assert!(
            matches!(unknown, Some(Cow::Owned(ref k)) if k == "kye"),
            "{unknown:?}"
        );
    }

    #[test]
    fn strict_key_refuses_an_unknown_key_naming_what_the_method_takes() {
        let mut unknown = None;
        let err = decode(ParamKey::strict(&["key", "value"], &mut unknown), "\"ttl\"").unwrap_err();
        assert_eq!(
            invalid_params(err).message,
            "invalid params: unknown parameter `ttl`; this method takes `key`, `value`"
        );
        let err = decode(ParamKey::strict(&[], &mut unknown), "\"x\"").unwrap_err();
        assert_eq!(
            invalid_params(err).message,
            "invalid params: unknown parameter `x`; this method takes no parameters"
        );
        assert_eq!(unknown, None);
    }

    #[test]
    fn missing_param_names_an_unknown_key_when_there_was_one() {
        let err: serde_json::Error = missing_param("key", None);
        assert_eq!(err.to_string(), "missing parameter `key`");
        let err: serde_json::Error = missing_param("key", Some("kye"));
        assert_eq!(
            err.to_string(),
            "missing parameter `key` (got unknown `kye`)"
        );
    }

    /// Takes `names.len()` elements of an array, then reports the rest as surplus.
    struct Surplus(&'static [&'static str]);

    impl<'de> DeserializeSeed<'de> for Surplus {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Surplus {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
            for _ in self.0 {
                seq.next_element::<IgnoredAny>()?;
            }
            seq.next_element::<IgnoredAny>()?;
            Err(too_many_params(seq, self.0))
        }
    }

    #[test]
    fn too_many_params_counts_what_was_given() {
        let err = decode(Surplus(&["a", "b"]), "[1, 2, 3, [4, 5], {\"x\": 6}]").unwrap_err();
        assert_eq!(
            invalid_params(err).message,
            "invalid params: too many parameters: got 5; this method takes `a`, `b`"
        );
        let err = decode(Surplus(&[]), "[null]").unwrap_err();
        assert_eq!(
            invalid_params(err).message,
            "invalid params: too many parameters: got 1; this method takes no parameters"
        );
    }

    #[test]
    fn str_seed_borrows_and_explains_escapes() {
        let v: &str = decode(StrSeed::<&str>::new("t"), "\"plain\"").unwrap();
        assert_eq!(v, "plain");
        for escaped in [r#""a\nb""#, r#""\"q\"""#, r#""caf\u00e9""#, r#""a\/b""#] {
            let err = decode(StrSeed::<&str>::new("t"), escaped).unwrap_err();
            assert_eq!(
                invalid_params(err).message,
                format!("invalid params: parameter `t`: {ESCAPED_STRING}"),
                "{escaped}"
            );
        }
        let err = decode(StrSeed::<&str>::new("t"), "7").unwrap_err();
        assert_eq!(
            invalid_params(err).message,
            "invalid params: parameter `t`: invalid type: integer `7`, expected a string"
        );
    }

    #[test]
    fn option_seed_takes_null_or_the_inner_seed() {
        let seed = || OptionSeed::new(StrSeed::<&str>::new("t"));
        assert_eq!(decode(seed(), "null").unwrap(), None);
        assert_eq!(decode(seed(), "\"x\"").unwrap(), Some("x"));
        let err = decode(seed(), r#""a\nb""#).unwrap_err();
        assert!(err.to_string().contains(ESCAPED_STRING), "{err}");
        let seed = OptionSeed::new(ParamSeed::<i64>::new("n"));
        assert_eq!(decode(seed, "3").unwrap(), Some(3));
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
