//! Parsing frames into messages, borrowing from the frame.
//!
//! Parsing is one pass of serde_json over the frame into an envelope whose members are
//! all [`RawValue`]s, followed by checks on those raw members. The envelope accepts any
//! JSON value in any member, so a syntax error (-32700) is told apart from a valid JSON
//! value that is not a valid message (-32600), and the id is kept whenever it could
//! be read.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::{bound_message, scan, ErrorCode, ErrorObject, Id, MAX_MESSAGE_LEN};

/// A request: a call that expects a response.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The id, echoed back in the response.
    pub id: Id<'a>,
    /// The method name; borrowed from the frame unless it contained escapes.
    pub method: Cow<'a, str>,
    /// The params, kept raw for the method's own decoder.
    pub params: Option<&'a RawValue>,
}

/// A notification: a call without an id, which never gets a response.
#[derive(Debug, Clone)]
pub struct Notification<'a> {
    /// The method name; borrowed from the frame unless it contained escapes.
    pub method: Cow<'a, str>,
    /// The params, kept raw for the method's own decoder.
    pub params: Option<&'a RawValue>,
}

/// A response to an earlier request: a result or an error.
#[derive(Debug, Clone)]
pub struct Response<'a> {
    /// The id of the request this answers (`null` when the server could not read it).
    pub id: Id<'a>,
    /// The raw result (which may be `null`) or the error object.
    pub outcome: Result<&'a RawValue, ErrorObject<'a>>,
}

/// One JSON-RPC message.
#[derive(Debug, Clone)]
pub enum Message<'a> {
    /// A call that expects a response.
    Request(Request<'a>),
    /// A call that gets no response.
    Notification(Notification<'a>),
    /// A response to a request.
    Response(Response<'a>),
}

/// What one frame holds: a single message or a batch.
#[derive(Debug, Clone)]
pub enum Incoming<'a> {
    /// A single message.
    Single(Message<'a>),
    /// A non-empty batch; each element parsed on its own, so one invalid element does
    /// not spoil the others.
    Batch(Vec<Result<Message<'a>, Invalid<'a>>>),
}

/// A frame or batch element that is not a valid message.
///
/// It carries everything needed to answer it: the error code, the id when it could be
/// read (otherwise `null`) and a reason a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid<'a> {
    /// -32700 for bad JSON, -32600 for JSON that is not a valid message.
    pub code: ErrorCode,
    /// The id, when it could be read; [`Id::NULL`] otherwise.
    pub id: Id<'a>,
    /// What is wrong, for the error message.
    pub reason: Cow<'static, str>,
    /// Whether the object looked like a response (it had `result` or `error` and no
    /// `method`). A peer should drop such an object rather than answer it, so that two
    /// peers never trade error responses forever.
    pub is_response: bool,
}

impl<'a> Invalid<'a> {
    fn parse_error(err: &serde_json::Error) -> Self {
        // serde_json stops at its nesting limit with a syntax error; the frame may be
        // valid JSON, so say which limit it hit.
        if err.to_string().starts_with("recursion limit exceeded") {
            return Invalid::too_deep(MAX_DEPTH);
        }
        Invalid {
            code: ErrorCode::PARSE_ERROR,
            id: Id::NULL,
            reason: bound_message(format!("Parse error: {err}"), MAX_MESSAGE_LEN),
            is_response: false,
        }
    }

    fn too_deep(limit: usize) -> Self {
        Invalid {
            code: ErrorCode::INVALID_REQUEST,
            id: Id::NULL,
            reason: Cow::Owned(format!(
                "Invalid Request: arrays and objects nested deeper than the limit of {limit} levels"
            )),
            is_response: false,
        }
    }

    fn request(id: Id<'a>, reason: &'static str) -> Invalid<'a> {
        Invalid {
            code: ErrorCode::INVALID_REQUEST,
            id,
            reason: Cow::Borrowed(reason),
            is_response: false,
        }
    }
}

/// The default limit on nesting: serde_json's own recursion limit, which every typed
/// decode applies anyway.
pub const MAX_DEPTH: usize = 128;

/// Limits applied while parsing, against hostile peers.
///
/// Frame size is limited by the framing codec; see [`crate::framing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// The largest number of elements accepted in one batch.
    pub max_batch_len: usize,
    /// The deepest nesting of arrays and objects in a frame, the message object itself
    /// counting as one level; a deeper frame is refused with -32600 before anything
    /// runs. `None` skips the check: typed parameters still stop at serde_json's
    /// limit of 128 (-32602), and raw parameters reach the handler as they came. The
    /// check is one scan of the frame, skipped for frames too short to nest that deep.
    pub max_depth: Option<usize>,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_batch_len: 1024,
            max_depth: Some(MAX_DEPTH),
        }
    }
}

/// Whether arrays and objects in `json` nest deeper than `limit`. Brackets inside
/// strings do not count; malformed JSON is left to the parser. Iterative, so any depth
/// is safe to scan.
fn nests_deeper_than(json: &[u8], limit: usize) -> bool {
    // Every level takes an opening and a closing byte.
    if json.len() <= limit.saturating_mul(2) {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(found) = memchr::memchr3(b'"', b'[', b'{', &json[i..]) {
        // Closing brackets before the next opening one or string.
        let closing = json[i..i + found]
            .iter()
            .filter(|&&b| b == b']' || b == b'}')
            .count();
        depth = depth.saturating_sub(closing);
        i += found + 1;
        if json[i - 1] == b'"' {
            // To the next quote not escaped by an odd run of backslashes.
            loop {
                let Some(at) = memchr::memchr(b'"', &json[i..]) else {
                    return false;
                };
                let quote = i + at;
                let backslashes = json[..quote]
                    .iter()
                    .rev()
                    .take_while(|&&b| b == b'\\')
                    .count();
                i = quote + 1;
                if backslashes % 2 == 0 {
                    break;
                }
            }
        } else {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
    }
    false
}

/// Parses one frame with the default [`ParseLimits`].
///
/// A frame holds a single message (`Ok(Incoming::Single)`) or a batch
/// (`Ok(Incoming::Batch)`). A frame that is not valid JSON, an empty batch `[]`, a
/// JSON value that is neither an object nor an array, or an object that is not a
/// valid message gives `Err` with the code and id to answer with.
///
/// Parsing a single request allocates nothing unless the method name contains JSON
/// escapes.
///
/// # Errors
///
/// See [`Invalid`]; `code` is -32700 for invalid JSON (including invalid UTF-8) and
/// -32600 for everything else.
///
/// # Examples
///
/// ```
/// use rpc::message::{parse, Incoming, Message};
///
/// let frame = br#"{"jsonrpc":"2.0","id":7,"method":"add","params":{"a":1,"b":2}}"#;
/// let Ok(Incoming::Single(Message::Request(req))) = parse(frame) else { panic!() };
/// assert_eq!(req.method, "add");
/// assert_eq!(req.id.as_json(), "7");
/// assert_eq!(req.params.unwrap().get(), r#"{"a":1,"b":2}"#);
/// ```
pub fn parse(frame: &[u8]) -> Result<Incoming<'_>, Invalid<'_>> {
    parse_with(frame, ParseLimits::default())
}

/// Parses one frame with the given limits; see [`parse`].
pub fn parse_with(frame: &[u8], limits: ParseLimits) -> Result<Incoming<'_>, Invalid<'_>> {
    if frame.first() == Some(&b'{') {
        if let Some(parsed) = parse_plain(frame, limits) {
            return parsed.map(Incoming::Single);
        }
    }
    parse_general(frame, limits)
}

/// [`parse_with`] for any frame, with serde_json reading the envelope.
fn parse_general(frame: &[u8], limits: ParseLimits) -> Result<Incoming<'_>, Invalid<'_>> {
    if let Some(limit) = limits.max_depth {
        if nests_deeper_than(frame, limit) {
            return Err(Invalid::too_deep(limit));
        }
    }
    // One UTF-8 check of the whole frame up front (std's, with its ASCII fast path):
    // serde_json then reads a `str` and does not check each string and raw value
    // again, which took a quarter of a small call's parse. Invalid UTF-8 anywhere is
    // invalid JSON, so the answer is the same -32700.
    let frame = match std::str::from_utf8(frame) {
        Ok(text) => text,
        Err(err) => {
            return Err(Invalid {
                code: ErrorCode::PARSE_ERROR,
                id: Id::NULL,
                reason: Cow::Owned(format!(
                    "Parse error: invalid UTF-8 at byte {}",
                    err.valid_up_to()
                )),
                is_response: false,
            })
        }
    };
    match first_byte(frame.as_bytes()) {
        Some(b'{') => parse_object(frame).map(Incoming::Single),
        Some(b'[') => parse_batch(frame, limits),
        _ => Err(match serde_json::from_str::<IgnoredAny>(frame) {
            Ok(_) => Invalid::request(Id::NULL, "a message must be a JSON object or array"),
            Err(err) => Invalid::parse_error(&err),
        }),
    }
}

fn first_byte(frame: &[u8]) -> Option<u8> {
    frame
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn parse_batch(frame: &str, limits: ParseLimits) -> Result<Incoming<'_>, Invalid<'_>> {
    let elements: Vec<&RawValue> = match serde_json::from_str(frame) {
        Ok(elements) => elements,
        Err(err) => return Err(Invalid::parse_error(&err)),
    };
    if elements.is_empty() {
        return Err(Invalid::request(Id::NULL, "empty batch"));
    }
    if elements.len() > limits.max_batch_len {
        return Err(Invalid {
            code: ErrorCode::INVALID_REQUEST,
            id: Id::NULL,
            reason: Cow::Owned(format!(
                "batch of {} elements exceeds the limit of {}",
                elements.len(),
                limits.max_batch_len
            )),
            is_response: false,
        });
    }
    Ok(Incoming::Batch(
        elements
            .into_iter()
            .map(|raw| {
                let text = raw.get();
                if text.starts_with('{') {
                    parse_object(text)
                } else {
                    Err(Invalid::request(
                        Id::NULL,
                        "a batch element must be a JSON object",
                    ))
                }
            })
            .collect(),
    ))
}

/// Every member of a message, raw; `None` means absent (a JSON `null` is `Some`).
#[derive(Deserialize, Default)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<StrMember<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<StrMember<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that must be a string, read in the envelope's one pass (borrowed unless it
/// has escapes); any other JSON value is skipped and remembered as not a string.
enum StrMember<'a> {
    Str(Cow<'a, str>),
    NotAString,
}

impl<'de: 'a, 'a> Deserialize<'de> for StrMember<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = StrMember<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StrMember::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrMember::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StrMember::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(StrMember::NotAString)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(StrMember::NotAString)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(StrMember::NotAString)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(StrMember::NotAString)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StrMember::NotAString)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(StrMember::NotAString)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StrMember::NotAString)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A member read as present (`Some`) whatever its value, `null` included.
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Parses a single message, skipping every member value with [`scan::skip_value`]
/// instead of serde_json: on 64 KiB of params the envelope's pass (with the UTF-8
/// check and the nesting scan it replaces) takes a quarter less time, on a small
/// request or notification 0.6x the time (77 against 125 ns, most of which was
/// serde_json's own), and it still validates the whole frame.
///
/// It reads the members the way the derived [`Envelope`] does, for the plain case
/// only: member names without escapes, `jsonrpc` and `method`
/// without escapes, no duplicates, and nothing but whitespace after the message's
/// `}`. The nesting is the deepest member plus the message object's level, as
/// [`nests_deeper_than`] would find it in the whole frame.
///
/// `None` for any frame outside that case, and for every frame that is not valid JSON
/// or UTF-8: the caller then takes the general path, whose answer (with its error
/// messages) is the one every frame gets. When this returns, it returns what the
/// general path would.
fn parse_plain(frame: &[u8], limits: ParseLimits) -> Option<Result<Message<'_>, Invalid<'_>>> {
    let scan = &mut scan::Scan::default();
    let mut env = Envelope::default();
    // The message object is level 1.
    let mut deepest = 1;
    let end = scan::walk_object(frame, scan, |name, value, depth| {
        deepest = deepest.max(1 + depth);
        // SAFETY: the scan validated the value as one JSON value, and the text from
        // there as UTF-8 as far as it went (see `scan::skip_value`); it starts after
        // `:` or whitespace, ASCII, so at a character boundary.
        let value = unsafe { std::str::from_utf8_unchecked(&frame[value]) };
        match &frame[name?] {
            b"params" => once(&mut env.params, scan::raw(value)),
            b"jsonrpc" => once(&mut env.jsonrpc, str_member(value)?),
            b"method" => once(&mut env.method, str_member(value)?),
            b"id" => once(&mut env.id, scan::raw(value)),
            b"result" => once(&mut env.result, scan::raw(value)),
            b"error" => once(&mut env.error, scan::raw(value)),
            _ => Some(()),
        }
    })?;
    if scan::skip_whitespace(frame, end) != frame.len() {
        return None;
    }
    if let Some(limit) = limits.max_depth {
        if deepest > limit {
            return Some(Err(Invalid::too_deep(limit)));
        }
    }
    Some(message_of(env))
}

/// Sets a member read once; `None` for a second time, which the general path reports.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// A validated JSON value as the [`StrMember`] the envelope would read; `None` for a
/// string with escapes (left to the general path, which unescapes it).
fn str_member(value: &str) -> Option<StrMember<'_>> {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(text) if !text.contains('\\') => Some(StrMember::Str(Cow::Borrowed(text))),
        Some(_) => None,
        None => Some(StrMember::NotAString),
    }
}

/// Parses a frame that starts with `{` into one message.
pub(crate) fn parse_object(text: &str) -> Result<Message<'_>, Invalid<'_>> {
    let env: Envelope<'_> = match serde_json::from_str(text) {
        Ok(env) => env,
        Err(err) => {
            return Err(match err.classify() {
                // Valid JSON of the wrong shape: a duplicated member.
                Category::Data => Invalid {
                    code: ErrorCode::INVALID_REQUEST,
                    id: Id::NULL,
                    reason: bound_message(format!("Invalid Request: {err}"), MAX_MESSAGE_LEN),
                    is_response: false,
                },
                _ => Invalid::parse_error(&err),
            });
        }
    };
    message_of(env)
}

/// The message an envelope holds, or why it holds none.
fn message_of(env: Envelope<'_>) -> Result<Message<'_>, Invalid<'_>> {
    let id = match env.id {
        None => None,
        Some(raw) => match Id::from_raw(raw) {
            Some(id) => Some(id),
            None => {
                return Err(Invalid::request(
                    Id::NULL,
                    "id must be a string, a number or null",
                ))
            }
        },
    };
    let reply_id = id.unwrap_or(Id::NULL);
    let is_response = env.method.is_none() && (env.result.is_some() || env.error.is_some());

    match &env.jsonrpc {
        Some(StrMember::Str(version)) if version == "2.0" => {}
        Some(_) => {
            return Err(Invalid {
                is_response,
                ..Invalid::request(reply_id, "jsonrpc must be exactly \"2.0\"")
            })
        }
        None => {
            return Err(Invalid {
                is_response,
                ..Invalid::request(reply_id, "missing member \"jsonrpc\": \"2.0\"")
            })
        }
    }

    if let Some(method) = env.method {
        if env.result.is_some() || env.error.is_some() {
            return Err(Invalid::request(
                reply_id,
                "a request must not carry result or error",
            ));
        }
        let StrMember::Str(method) = method else {
            return Err(Invalid::request(reply_id, "method must be a string"));
        };
        if let Some(params) = env.params {
            if !matches!(params.get().as_bytes()[0], b'[' | b'{') {
                return Err(Invalid::request(
                    reply_id,
                    "params must be an array or an object",
                ));
            }
        }
        return Ok(match id {
            Some(id) => Message::Request(Request {
                id,
                method,
                params: env.params,
            }),
            None => Message::Notification(Notification {
                method,
                params: env.params,
            }),
        });
    }

    let invalid_response = |reason| Invalid {
        is_response: true,
        ..Invalid::request(reply_id, reason)
    };
    let outcome = match (env.result, env.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => match serde_json::from_str::<ErrorObject<'_>>(error.get()) {
            Ok(error) => Err(error),
            Err(_) => {
                return Err(invalid_response(
                    "error must be an object with an integer code and a string message",
                ))
            }
        },
        (Some(_), Some(_)) => {
            return Err(invalid_response(
                "a response must carry result or error, not both",
            ))
        }
        (None, None) => return Err(Invalid::request(reply_id, "missing member \"method\"")),
    };
    match id {
        Some(id) => Ok(Message::Response(Response { id, outcome })),
        None => Err(invalid_response("a response must carry an id")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame the plain parse takes gets what the general path gives it.
    #[test]
    fn the_plain_parse_answers_as_the_general_path_does() {
        let frames = [
            r#"{"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","result":5}}"#,
            r#"{"jsonrpc":"2.0","id":17,"method":"add","params":[1,2]}"#,
            r#"{ "params" : [1] , "method" : "m" , "id" : "x" , "jsonrpc" : "2.0" }  "#,
            r#"{"jsonrpc":"2.0","id":17,"result":3}"#,
            r#"{"jsonrpc":"2.0","id":null,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"},"result":2}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","result":2}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":3}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"m"}"#,
            r#"{"jsonrpc":2,"id":1,"method":"m"}"#,
            r#"{"id":1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","other":{"a":[[[]]]},"id":1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":[[[[1]]]]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"é"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"é","params":{"é":"ü"}}"#,
            r#"{"jsonrpc":"2.0","ü":[1],"id":1,"method":"m"}"#,
            "{\"jsonrpc\":\"2.0\",\"a\u{1}\":1,\"id\":1,\"method\":\"m\"}",
            // Outside the plain case (the general path alone answers these).
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m"} x"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m",}"#,
            r#"{"jsonrpc":"2.0","id":1 "method":"m"}"#,
            r#"{"jsonrp\u0063":"2.0","id":1,"method":"m"}"#,
            r#"{}"#,
        ];
        let limits = [
            ParseLimits::default(),
            ParseLimits {
                max_depth: Some(3),
                ..ParseLimits::default()
            },
        ];
        let mut plain = 0;
        for frame in frames {
            for limits in limits {
                let general = format!("{:?}", parse_general(frame.as_bytes(), limits));
                if let Some(parsed) = parse_plain(frame.as_bytes(), limits) {
                    plain += 1;
                    assert_eq!(
                        format!("{:?}", parsed.map(Incoming::Single)),
                        general,
                        "{frame}"
                    );
                }
                assert_eq!(
                    format!("{:?}", parse_with(frame.as_bytes(), limits)),
                    general,
                    "{frame}"
                );
            }
        }
        assert!(plain >= 36, "the plain parse took {plain}");
    }
}
