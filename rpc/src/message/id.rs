//! Request ids, kept as the exact JSON text they arrived as.

use std::fmt;

use serde_json::value::RawValue;

/// The kind of a request id, as JSON-RPC 2.0 allows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `null`.
    Null,
    /// A JSON number, integer or not, of any size.
    Number,
    /// A JSON string.
    String,
}

/// A request id borrowed from the received frame.
///
/// The id is kept as its raw JSON text, so it is echoed back byte for byte: an integer
/// beyond `f64`'s precision such as `9007199254740993`, a string with escapes, or
/// `null` all come back exactly as they came.
///
/// # Examples
///
/// ```
/// use rpc::message::{Id, IdKind};
///
/// let id = Id::from_json("9007199254740993").unwrap();
/// assert_eq!(id.kind(), IdKind::Number);
/// assert_eq!(id.as_u64(), Some(9007199254740993));
/// assert_eq!(id.as_json(), "9007199254740993");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id<'a> {
    raw: &'a str,
}

impl<'a> Id<'a> {
    /// The `null` id, used in error responses when the request's id could not be read.
    pub const NULL: Id<'static> = Id { raw: "null" };

    /// Reads an id from the raw JSON of an `id` member.
    ///
    /// Returns `None` when the value is not a string, a number or `null` (objects,
    /// arrays and booleans are not valid ids).
    pub fn from_raw(raw: &'a RawValue) -> Option<Self> {
        Self::from_json(raw.get())
    }

    /// Reads an id from JSON text that is known to hold one JSON value.
    ///
    /// Only the first byte is inspected to classify the value; pass text that came out
    /// of a JSON parser (such as [`RawValue::get`]). Returns `None` for values that are
    /// not valid ids.
    pub fn from_json(raw: &'a str) -> Option<Self> {
        match raw.as_bytes().first()? {
            b'"' | b'-' | b'0'..=b'9' => Some(Id { raw }),
            b'n' if raw == "null" => Some(Id { raw }),
            _ => None,
        }
    }

    /// Builds a numeric id; the text is written into `scratch`.
    pub(crate) fn from_u64(value: u64, scratch: &'a mut itoa::Buffer) -> Id<'a> {
        Id {
            raw: scratch.format(value),
        }
    }

    /// The kind of this id.
    pub fn kind(&self) -> IdKind {
        match self.raw.as_bytes()[0] {
            b'"' => IdKind::String,
            b'n' => IdKind::Null,
            _ => IdKind::Number,
        }
    }

    /// Whether this is the `null` id.
    pub fn is_null(&self) -> bool {
        self.kind() == IdKind::Null
    }

    /// The id's exact JSON text, ready to be written into a response.
    pub fn as_json(&self) -> &'a str {
        self.raw
    }

    /// The id as an unsigned integer, when it is a plain non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        if self.kind() != IdKind::Number {
            return None;
        }
        self.raw.parse().ok()
    }

    /// Copies the id into an owned value that can outlive the frame.
    pub fn to_owned_id(&self) -> OwnedId {
        OwnedId {
            raw: self.raw.into(),
        }
    }
}

impl fmt::Debug for Id<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.raw)
    }
}

impl fmt::Display for Id<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// An id that owns its JSON text, for keeping past the life of a frame.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedId {
    raw: Box<str>,
}

impl OwnedId {
    /// Borrows this id.
    pub fn as_id(&self) -> Id<'_> {
        Id { raw: &self.raw }
    }
}

impl From<u64> for OwnedId {
    fn from(value: u64) -> Self {
        OwnedId {
            raw: value.to_string().into_boxed_str(),
        }
    }
}

impl fmt::Debug for OwnedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnedId({})", self.raw)
    }
}
