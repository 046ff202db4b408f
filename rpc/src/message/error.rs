//! Error codes and error objects of JSON-RPC 2.0.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON-RPC error code.
///
/// The spec reserves -32768..-32000; within it, -32099..-32000 is left to servers, and
/// this runtime uses it for its own conditions (overload, timeout, shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// -32700: the frame is not valid JSON.
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    /// -32600: the JSON is not a valid request object.
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    /// -32601: no such method.
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    /// -32602: the params do not fit the method.
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    /// -32603: the server failed while handling the call (a panic, an encoding failure).
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// -32000: the server is at capacity and refused the call without running it.
    pub const SERVER_OVERLOADED: ErrorCode = ErrorCode(-32000);
    /// -32001: the call ran past its deadline and was abandoned.
    pub const TIMEOUT: ErrorCode = ErrorCode(-32001);
    /// -32002: the server is shutting down and did not run the call.
    pub const SHUTTING_DOWN: ErrorCode = ErrorCode(-32002);
    /// -32800: the call was cancelled by the caller (as in LSP).
    pub const REQUEST_CANCELLED: ErrorCode = ErrorCode(-32800);

    /// The numeric code.
    pub fn code(self) -> i64 {
        self.0
    }

    /// Whether the code lies in the range the spec leaves to server-defined errors.
    pub fn is_server_error(self) -> bool {
        (-32099..=-32000).contains(&self.0)
    }

    /// The spec's short text for the predefined codes.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::PARSE_ERROR => "Parse error",
            Self::INVALID_REQUEST => "Invalid Request",
            Self::METHOD_NOT_FOUND => "Method not found",
            Self::INVALID_PARAMS => "Invalid params",
            Self::INTERNAL_ERROR => "Internal error",
            Self::SERVER_OVERLOADED => "Server overloaded",
            Self::TIMEOUT => "Request timed out",
            Self::SHUTTING_DOWN => "Server shutting down",
            Self::REQUEST_CANCELLED => "Request cancelled",
            _ if self.is_server_error() => "Server error",
            _ => "Error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An error object borrowed from a received response.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorObject<'a> {
    /// The error code.
    pub code: ErrorCode,
    /// A short description.
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    /// Extra information, kept raw; `"data": null` is kept as `null`, not taken for
    /// an absent member, so the error passes on as it came.
    #[serde(borrow, default, deserialize_with = "present")]
    pub data: Option<&'a RawValue>,
}

/// A member that is present, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl ErrorObject<'_> {
    /// Copies the error object into an owned [`RpcError`].
    pub fn to_owned_error(&self) -> RpcError {
        RpcError {
            code: self.code,
            message: Cow::Owned(self.message.clone().into_owned()),
            data: self.data.map(|d| d.to_owned()),
        }
    }
}

/// An owned JSON-RPC error object: what handlers return and callers receive.
///
/// # Examples
///
/// ```
/// use rpc::message::{ErrorCode, RpcError};
///
/// let err = RpcError::invalid_params("missing parameter `b`");
/// assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
/// assert_eq!(err.to_string(), "-32602: missing parameter `b`");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpcError {
    /// The error code.
    pub code: ErrorCode,
    /// A short description a person can act on.
    pub message: Cow<'static, str>,
    /// Extra information as raw JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
}

impl PartialEq for RpcError {
    fn eq(&self, other: &Self) -> bool {
        self.as_object() == other.as_object()
    }
}

impl PartialEq for ErrorObject<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.message == other.message
            && self.data.map(RawValue::get) == other.data.map(RawValue::get)
    }
}

impl RpcError {
    /// An error with a code and message and no data.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attaches data, serialized to JSON. Data that fails to serialize is left out.
    #[must_use]
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = serde_json::value::to_raw_value(data).ok();
        self
    }

    /// -32602 with the given message.
    pub fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// -32602 `invalid params: {err}`, for an error from decoding the params (serde's
    /// message, say).
    ///
    /// serde quotes the offending value whole, so the message is cut to
    /// [`MAX_MESSAGE_LEN`] bytes with [`bound_message`]: a huge string in the params
    /// does not make a huge error.
    ///
    /// # Examples
    ///
    /// ```
    /// use rpc::message::RpcError;
    ///
    /// let err = serde_json::from_str::<i64>(&format!("{:?}", "A".repeat(100_000))).unwrap_err();
    /// let err = RpcError::invalid_params_from(err);
    /// assert!(err.message.starts_with("invalid params: invalid type: string \"AAAA"));
    /// assert!(err.message.len() <= 256);
    /// ```
    pub fn invalid_params_from(err: impl fmt::Display) -> Self {
        Self::invalid_params(bound_message(
            format!("invalid params: {err}"),
            MAX_MESSAGE_LEN,
        ))
    }

    /// -32601 naming the method; a name longer than [`MAX_QUOTE_LEN`] bytes is cut
    /// (see [`bound_message`]).
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {}", bound_message(method, MAX_QUOTE_LEN)),
        )
    }

    /// -32603 with the given message.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }

    /// Decodes the error's `data` as `T`: `None` when there is none, `Some(Err(..))`
    /// when it does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rpc::message::{ErrorCode, RpcError};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Quota {
    ///     limit: u32,
    ///     retry_after_s: u32,
    /// }
    ///
    /// let err = RpcError::new(ErrorCode(-32010), "quota exceeded")
    ///     .with_data(&Quota { limit: 100, retry_after_s: 30 });
    /// let quota: Quota = err.data::<Quota>().unwrap().unwrap();
    /// assert_eq!(quota.retry_after_s, 30);
    /// assert!(RpcError::internal("no data").data::<Quota>().is_none());
    /// assert!(err.data::<Vec<u8>>().unwrap().is_err());
    /// ```
    pub fn data<'a, T: Deserialize<'a>>(&'a self) -> Option<Result<T, serde_json::Error>> {
        self.data
            .as_deref()
            .map(|data| serde_json::from_str(data.get()))
    }

    /// Borrows this error as an [`ErrorObject`].
    pub fn as_object(&self) -> ErrorObject<'_> {
        ErrorObject {
            code: self.code,
            message: Cow::Borrowed(&self.message),
            data: self.data.as_deref(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// The most bytes of an error message built from a decoder's message (serde quotes
/// the offending input whole, escaped); see [`bound_message`].
pub const MAX_MESSAGE_LEN: usize = 256;

/// The most bytes of a received name (a method, a header line) that an error message
/// quotes; see [`bound_message`].
pub const MAX_QUOTE_LEN: usize = 64;

/// `text` cut to at most `max` bytes, for error messages that quote received input.
///
/// Text that fits is returned as it came (no copy). Longer text keeps its start and
/// its end (about a quarter of the room, where serde puts `expected ...`), each cut at
/// a character boundary, joined by `…(N bytes cut)…`, `N` being the bytes left out;
/// the whole is at most `max` bytes once `max` leaves room for that marker (about 30
/// bytes).
///
/// # Examples
///
/// ```
/// use rpc::message::bound_message;
///
/// assert_eq!(bound_message("short", 64), "short");
/// let long = "x".repeat(1000);
/// let cut = bound_message(long.as_str(), 64);
/// assert!(cut.len() <= 64);
/// assert!(cut.starts_with("xxxx") && cut.contains("bytes cut)"));
/// ```
pub fn bound_message<'a>(text: impl Into<Cow<'a, str>>, max: usize) -> Cow<'a, str> {
    let text = text.into();
    if text.len() <= max {
        return text;
    }
    // The count has at most as many digits as the text's length.
    let digits = text.len().checked_ilog10().unwrap_or(0) as usize + 1;
    let marker = "…(".len() + digits + " bytes cut)…".len();
    let room = max.saturating_sub(marker);
    let tail = room / 4;
    let mut head_end = room - tail;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - tail;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let mut out = String::with_capacity(max);
    out.push_str(&text[..head_end]);
    out.push_str("…(");
    out.push_str(itoa::Buffer::new().format(tail_start - head_end));
    out.push_str(" bytes cut)…");
    out.push_str(&text[tail_start..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_message_keeps_short_text_and_cuts_long_text_at_char_boundaries() {
        assert!(matches!(bound_message("abc", 3), Cow::Borrowed("abc")));
        let owned = String::from("abc");
        let ptr = owned.as_ptr();
        let kept = bound_message(owned, 3);
        assert_eq!(kept.as_ptr(), ptr, "a short owned message is not copied");

        for max in [32, 64, 100, 256] {
            for text in ["é".repeat(5000), "a€b".repeat(777), "x".repeat(max + 1)] {
                let cut = bound_message(text.as_str(), max);
                assert!(cut.len() <= max, "{max}: {} bytes: {cut}", cut.len());
                let (head, rest) = cut.split_once("…(").unwrap();
                let (count, tail) = rest.split_once(" bytes cut)…").unwrap();
                assert!(text.starts_with(head) && text.ends_with(tail));
                assert_eq!(
                    head.len() + count.parse::<usize>().unwrap() + tail.len(),
                    text.len()
                );
                assert!(!head.is_empty());
            }
        }
    }

    #[test]
    fn method_not_found_quotes_a_bounded_name() {
        assert_eq!(
            RpcError::method_not_found("nope").message,
            "Method not found: nope"
        );
        let err = RpcError::method_not_found(&"m".repeat(4 << 20));
        assert!(err.message.len() <= "Method not found: ".len() + MAX_QUOTE_LEN);
        assert!(err.message.contains("bytes cut)"));
    }
}
