//! JSON text borrowed from a received frame.

use bytes::Bytes;

/// A run of JSON text borrowed from a received frame, kept alive by a reference to the
/// frame's buffer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonText(Bytes);

impl JsonText {
    /// `text` must lie within `frame` (it panics otherwise); no bytes are copied.
    pub(crate) fn within(frame: &Bytes, text: &str) -> Self {
        JsonText(frame.slice_ref(text.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: a `JsonText` is only made by `within`, from a `&str`, so its bytes
        // are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The bytes, sharing the frame's buffer.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
