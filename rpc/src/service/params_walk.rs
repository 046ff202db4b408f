//! The generated params decoders' own walk of a params object or array.
//!
//! serde_json's typed decode of params reads every byte of them, which the
//! envelope's parse has already validated (`message/scan.rs`) so that invalid JSON is
//! answered -32700 before anything runs; for a long string, serde_json's read of it
//! cost as much as the scan and the copy put together. Here the params' top level is
//! walked with the scan (members delimited, keys borrowed), a string value is
//! unescaped in one pass ([`unescape`]), and serde_json decodes every other value from
//! its own text, as it would have within the params.
//!
//! The walk gives up, and the caller decodes the whole params with serde_json as
//! before, on anything it does not take: an array or object value near the start of
//! the params (serde_json reads it at once, where the walk would scan it first), one
//! nested deeper than [`MAX_VALUE_DEPTH`] (serde_json's nesting limit counts from the
//! params, here it would count from the value), text it does not expect, or a visitor
//! that does not read the members to the end. So what a call gets, a value or an
//! error message, is what serde_json gives, but for the positions in messages, which
//! [`super::params`] drops anyway.

use std::borrow::Cow;
use std::cell::Cell;

use serde::de::{self, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;

use crate::message::scan::{self, Scan};
use crate::message::unescape::unescape;

/// The walk's error: serde_json's (made as serde_json makes it, for the same
/// message), or giving up, which allocates nothing (a serde_json error always does):
/// a call that the walk leaves to serde_json costs no allocation more.
#[derive(Debug)]
pub(crate) enum Error {
    Json(serde_json::Error),
    GaveUp,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Json(err) => err.fmt(f),
            Error::GaveUp => f.write_str("left to serde_json"),
        }
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Json(err)
    }
}

/// Every constructor is serde_json's own (which words some of them its own way).
impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::Json(serde_json::Error::custom(msg))
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::Json(serde_json::Error::invalid_type(unexp, exp))
    }
    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error::Json(serde_json::Error::invalid_value(unexp, exp))
    }
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Error::Json(serde_json::Error::invalid_length(len, exp))
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::Json(serde_json::Error::unknown_variant(variant, expected))
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Error::Json(serde_json::Error::unknown_field(field, expected))
    }
    fn missing_field(field: &'static str) -> Self {
        Error::Json(serde_json::Error::missing_field(field))
    }
    fn duplicate_field(field: &'static str) -> Self {
        Error::Json(serde_json::Error::duplicate_field(field))
    }
}

/// Params shorter than this are decoded by serde_json at once (see
/// [`super::params::decode_generated_params`]).
pub(crate) const WALK_MIN: usize = 1024;

/// An array or object value that starts this far into the params, or further, is
/// delimited by the scan and decoded from its own text; one that starts before makes
/// the walk give up, which then costs little.
const WALK_CONTAINERS_FROM: usize = 4096;

/// The deepest an array or object value may nest for the walk to hand it to
/// serde_json on its own: well under serde_json's limit of 128, counted from the
/// params, so that the value decodes or fails as it would within them.
pub(crate) const MAX_VALUE_DEPTH: usize = 120;

/// Decodes `text` (a params array or object, validated) as `P` by the walk; `None`
/// when the walk gave up, for the caller to decode with serde_json.
pub(crate) fn walk<'de, P: de::Deserialize<'de>>(
    text: &'de str,
) -> Option<Result<P, serde_json::Error>> {
    // Kept apart from the error, which a visitor may wrap in its own.
    let gave_up = Cell::new(false);
    let walked = P::deserialize(Params(Walk {
        text,
        at: 0,
        gave_up: &gave_up,
    }));
    if gave_up.get() {
        return None;
    }
    match walked {
        Ok(p) => Some(Ok(p)),
        Err(Error::Json(err)) => Some(Err(err)),
        Err(Error::GaveUp) => None,
    }
}

/// Where the walk is in the params.
struct Walk<'de, 'a> {
    text: &'de str,
    at: usize,
    gave_up: &'a Cell<bool>,
}

impl<'de> Walk<'de, '_> {
    /// Gives up: the caller decodes the params with serde_json instead.
    #[cold]
    fn give_up<T>(&self) -> Result<T, Error> {
        self.gave_up.set(true);
        Err(Error::GaveUp)
    }

    fn peek(&mut self) -> Option<u8> {
        self.at = scan::skip_whitespace(self.text.as_bytes(), self.at);
        self.text.as_bytes().get(self.at).copied()
    }

    /// The JSON value at `at` (no whitespace before it), delimited.
    fn value(&mut self) -> Result<Value<'de>, Error> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let container = matches!(bytes.get(start), Some(b'[' | b'{'));
        if container && start < WALK_CONTAINERS_FROM {
            return self.give_up();
        }
        let Some((end, depth)) = scan::skip_value(bytes, start, &mut Scan::utf8()) else {
            return self.give_up();
        };
        if depth > MAX_VALUE_DEPTH {
            return self.give_up();
        }
        self.at = end;
        let raw = &self.text[start..end];
        let text = if bytes[start] == b'"' {
            unescape(raw)
        } else {
            None
        };
        Ok(Value { raw, text })
    }
}

/// The params as a whole: an object or an array, for `deserialize_any` (the only
/// call generated decoders make).
struct Params<'de, 'a>(Walk<'de, 'a>);

impl<'de> de::Deserializer<'de> for Params<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Error> {
        let walk = &mut self.0;
        let value = match walk.peek() {
            Some(b'{') => {
                walk.at += 1;
                visitor.visit_map(Members { walk, first: true })?
            }
            Some(b'[') => {
                walk.at += 1;
                visitor.visit_seq(Members { walk, first: true })?
            }
            _ => return walk.give_up(),
        };
        // The visitor read every member, as the generated ones do on success.
        if walk.peek().is_some() {
            return walk.give_up();
        }
        Ok(value)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

/// The members of the params object, or the elements of the params array.
struct Members<'w, 'de, 'a> {
    walk: &'w mut Walk<'de, 'a>,
    first: bool,
}

impl Members<'_, '_, '_> {
    /// Moves past the separator before the next member; `false` at the closing
    /// `close`, which it moves past.
    fn next(&mut self, close: u8) -> Result<bool, Error> {
        let walk = &mut *self.walk;
        match walk.peek() {
            Some(b) if b == close => {
                walk.at += 1;
                return Ok(false);
            }
            Some(b',') if !self.first => {
                walk.at += 1;
                walk.peek();
            }
            Some(_) if self.first => {}
            _ => return walk.give_up(),
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> de::MapAccess<'de> for Members<'_, 'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.next(b'}')? {
            return Ok(None);
        }
        let walk = &mut *self.walk;
        let bytes = walk.text.as_bytes();
        let start = walk.at;
        if bytes.get(start) != Some(&b'"') {
            return walk.give_up();
        }
        let Some((end, _)) = scan::skip_value(bytes, start, &mut Scan::utf8()) else {
            return walk.give_up();
        };
        walk.at = end;
        if walk.peek() != Some(b':') {
            return walk.give_up();
        }
        walk.at += 1;
        walk.peek();
        seed.deserialize(Key(&walk.text[start..end])).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(self.walk.value()?)
    }
}

impl<'de> de::SeqAccess<'de> for Members<'_, 'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if !self.next(b']')? {
            return Ok(None);
        }
        seed.deserialize(self.walk.value()?).map(Some)
    }
}

/// A member's name (its token, quotes included), read as serde_json reads a key:
/// borrowed when it has no escapes, else unescaped.
struct Key<'de>(&'de str);

impl<'de> de::Deserializer<'de> for Key<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match unescape(self.0) {
            Some(Cow::Borrowed(key)) => visitor.visit_borrowed_str(key),
            Some(Cow::Owned(key)) => visitor.visit_str(&key),
            None => Ok(serde_json::Deserializer::from_str(self.0).deserialize_str(visitor)?),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

/// One value of the params: its text, and for a string, what it reads as (unless
/// [`unescape`] left it to serde_json). A string is handed to the visitor from
/// here; everything else is serde_json's decode of the value's text.
struct Value<'de> {
    raw: &'de str,
    text: Option<Cow<'de, str>>,
}

impl<'de> Value<'de> {
    fn serde(&self) -> serde_json::Deserializer<serde_json::de::StrRead<'de>> {
        serde_json::Deserializer::from_str(self.raw)
    }
}

/// Methods that hand the value's text to serde_json.
macro_rules! to_serde_json {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            Ok(self.serde().$method($($arg,)* visitor)?)
        }
    )*};
}

/// A string's text to the visitor as serde_json hands it (borrowed, or owned once
/// unescaped: `visit_string`, which is `visit_str` to visitors that do not take an
/// owned string); else `or`, serde_json's.
macro_rules! string_or {
    ($self:ident, $visitor:ident, $or:ident) => {
        match $self.text {
            Some(Cow::Borrowed(text)) => $visitor.visit_borrowed_str(text),
            Some(Cow::Owned(text)) => $visitor.visit_string(text),
            None => Ok($self.serde().$or($visitor)?),
        }
    };
}

impl<'de> de::Deserializer<'de> for Value<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        string_or!(self, visitor, deserialize_any)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        string_or!(self, visitor, deserialize_str)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        string_or!(self, visitor, deserialize_string)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.raw == "null" {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Validated already, as serde_json's skip would.
        visitor.visit_unit()
    }

    to_serde_json! {
        deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
        deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16();
        deserialize_u32(); deserialize_u64(); deserialize_u128(); deserialize_f32();
        deserialize_f64(); deserialize_char(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }
}
