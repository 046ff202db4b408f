//! Encoding messages straight into a `BytesMut`.
//!
//! Every encoder appends one compact JSON object to the buffer, with no intermediate
//! `String` or `Value`. Compact JSON never holds a raw newline, so the output is a valid
//! newline-delimited frame as it stands. When serializing a value fails, the buffer is
//! truncated back to where it was, so a failed encode never leaves half a message.

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{ErrorCode, ErrorObject, Id};

/// Serializing a value into a message failed (a `Serialize` impl returned an error, or
/// a map had non-string keys).
#[derive(Debug, thiserror::Error)]
#[error("failed to encode JSON-RPC message: {0}")]
pub struct EncodeError(#[from] serde_json::Error);

/// Appends `{"jsonrpc":"2.0","id":ID,"method":METHOD[,"params":PARAMS]}`.
///
/// Params that serialize as `null` (such as `()` or `None`) are left out.
///
/// # Errors
///
/// When `params` fails to serialize; the buffer is left as it was.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use rpc::message::{encode_request, Id};
///
/// let mut buf = BytesMut::new();
/// encode_request(&mut buf, Id::from_json("1").unwrap(), "add", Some(&[1, 2])).unwrap();
/// assert_eq!(&buf[..], br#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#);
/// ```
pub fn encode_request<P: Serialize + ?Sized>(
    buf: &mut BytesMut,
    id: Id<'_>,
    method: &str,
    params: Option<&P>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    buf.extend_from_slice(id.as_json().as_bytes());
    buf.extend_from_slice(br#","method":"#);
    guarded(buf, start, |buf| {
        write_json(buf, method)?;
        write_params(buf, params)
    })
}

/// Appends `{"jsonrpc":"2.0","method":METHOD[,"params":PARAMS]}`.
///
/// # Errors
///
/// When `params` fails to serialize; the buffer is left as it was.
pub fn encode_notification<P: Serialize + ?Sized>(
    buf: &mut BytesMut,
    method: &str,
    params: Option<&P>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    guarded(buf, start, |buf| {
        write_json(buf, method)?;
        write_params(buf, params)
    })
}

/// Appends `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
///
/// # Errors
///
/// When `result` fails to serialize; the buffer is left as it was.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use rpc::message::{encode_result, Id};
///
/// let mut buf = BytesMut::new();
/// encode_result(&mut buf, Id::from_json("\"a\"").unwrap(), &3).unwrap();
/// assert_eq!(&buf[..], br#"{"jsonrpc":"2.0","id":"a","result":3}"#);
/// ```
pub fn encode_result<R: Serialize + ?Sized>(
    buf: &mut BytesMut,
    id: Id<'_>,
    result: &R,
) -> Result<(), EncodeError> {
    let start = buf.len();
    write_head(buf, id);
    buf.extend_from_slice(br#","result":"#);
    guarded(buf, start, |buf| {
        write_json(buf, result)?;
        buf.put_u8(b'}');
        Ok(())
    })
}

/// Appends a success response whose result is already JSON text.
pub fn encode_raw_result(buf: &mut BytesMut, id: Id<'_>, result: &RawValue) {
    write_head(buf, id);
    buf.extend_from_slice(br#","result":"#);
    buf.extend_from_slice(result.get().as_bytes());
    buf.put_u8(b'}');
}

/// Appends `{"jsonrpc":"2.0","id":ID,"error":{"code":..,"message":..[,"data":..]}}`.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use rpc::message::{encode_error, ErrorCode, Id};
///
/// let mut buf = BytesMut::new();
/// encode_error(&mut buf, Id::NULL, ErrorCode::PARSE_ERROR, "Parse error", None);
/// assert_eq!(
///     &buf[..],
///     br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#
/// );
/// ```
pub fn encode_error(
    buf: &mut BytesMut,
    id: Id<'_>,
    code: ErrorCode,
    message: &str,
    data: Option<&RawValue>,
) {
    write_head(buf, id);
    buf.extend_from_slice(br#","error":{"code":"#);
    buf.extend_from_slice(itoa::Buffer::new().format(code.0).as_bytes());
    buf.extend_from_slice(br#","message":"#);
    // A &str always serializes.
    write_json(buf, message).expect("a string serializes");
    if let Some(data) = data {
        buf.extend_from_slice(br#","data":"#);
        buf.extend_from_slice(data.get().as_bytes());
    }
    buf.extend_from_slice(b"}}");
}

/// Appends an error response built from an [`ErrorObject`].
pub fn encode_error_object(buf: &mut BytesMut, id: Id<'_>, error: &ErrorObject<'_>) {
    encode_error(buf, id, error.code, &error.message, error.data);
}

/// Writes the members of a batch response array as they are produced.
///
/// A batch whose elements were all notifications gets no response at all, so the
/// opening `[` is only written with the first element, and [`BatchWriter::finish`]
/// reports whether anything was written.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use rpc::message::{encode_result, BatchWriter, Id};
///
/// let mut buf = BytesMut::new();
/// let mut batch = BatchWriter::new();
/// for n in 1..=2u64 {
///     batch.begin_element(&mut buf);
///     let mut s = itoa::Buffer::new();
///     encode_result(&mut buf, Id::from_json(s.format(n)).unwrap(), &n).unwrap();
/// }
/// assert!(batch.finish(&mut buf));
/// assert_eq!(&buf[..], br#"[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]"#);
/// ```
#[derive(Debug, Default)]
pub struct BatchWriter {
    elements: usize,
}

impl BatchWriter {
    /// Starts an empty batch response.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the separator (or the opening bracket) before the next element.
    pub fn begin_element(&mut self, buf: &mut BytesMut) {
        buf.put_u8(if self.elements == 0 { b'[' } else { b',' });
        self.elements += 1;
    }

    /// Closes the array; returns `false` (and writes nothing) when it had no element.
    pub fn finish(self, buf: &mut BytesMut) -> bool {
        if self.elements > 0 {
            buf.put_u8(b']');
        }
        self.elements > 0
    }

    /// How many elements were written.
    pub fn len(&self) -> usize {
        self.elements
    }

    /// Whether no element was written yet.
    pub fn is_empty(&self) -> bool {
        self.elements == 0
    }
}

fn write_head(buf: &mut BytesMut, id: Id<'_>) {
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    buf.extend_from_slice(id.as_json().as_bytes());
}

fn write_params<P: Serialize + ?Sized>(
    buf: &mut BytesMut,
    params: Option<&P>,
) -> Result<(), EncodeError> {
    if let Some(params) = params {
        let before = buf.len();
        buf.extend_from_slice(br#","params":"#);
        let value = buf.len();
        write_json(buf, params)?;
        // `()` and `None` serialize as `null`, which is not valid params: send none.
        if &buf[value..] == b"null" {
            buf.truncate(before);
        }
    }
    buf.put_u8(b'}');
    Ok(())
}

/// Serializes `value` as compact JSON onto the end of `buf`.
pub fn write_json<T: Serialize + ?Sized>(buf: &mut BytesMut, value: &T) -> Result<(), EncodeError> {
    serde_json::to_writer(Appender(buf), value).map_err(EncodeError)
}

/// `io::Write` onto the end of a `BytesMut`. serde_json writes every token with
/// `write_all`, a few bytes at a time; `bytes`' own writer goes through `write` and
/// `BufMut::put_slice`, and `extend_from_slice` checks the room twice. Here the room
/// is checked once and the bytes copied, as `Vec`'s writer does: the copy loop was a
/// tenth of encoding 64 KiB of small structs.
///
/// Tokens of up to 16 bytes whose length is known only at run time (an integer's
/// digits, a float's, a short string's text) are copied inline ([`copy_short`])
/// rather than through a call to `memcpy`: that call was a fifth of encoding 64 KiB
/// of small structs, for serde_json writing into a `Vec` as much as for us.
struct Appender<'a>(&'a mut BytesMut);

impl Appender<'_> {
    #[inline(always)]
    fn append(&mut self, bytes: &[u8]) {
        let buf = &mut *self.0;
        let len = buf.len();
        if buf.capacity() - len < bytes.len() {
            grow(buf, bytes.len());
        }
        // SAFETY: there is room for `bytes` after `len` (reserved above), the source
        // cannot overlap the buffer's spare room (the caller holds it borrowed), and
        // the new length covers only initialised bytes.
        unsafe {
            let dst = buf.as_mut_ptr().add(len);
            if bytes.len() <= 16 {
                copy_short(bytes, dst);
            } else {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
            }
            buf.set_len(len + bytes.len());
        }
    }
}

/// Copies `src` (at most 16 bytes) to `dst` with at most two loads and two stores of
/// the width that fits, which may overlap each other; no call, no loop.
///
/// # Safety
///
/// `dst` must be valid for writing `src.len()` bytes that do not overlap `src`.
#[inline(always)]
unsafe fn copy_short(src: &[u8], dst: *mut u8) {
    use std::ptr::{read_unaligned, write_unaligned};
    let n = src.len();
    debug_assert!(n <= 16);
    let s = src.as_ptr();
    // SAFETY (all branches): each load reads `width` bytes at 0 or `n - width` within
    // `src`, and each store writes as many at the same offsets within `dst`'s `n`
    // bytes, since `width <= n`.
    unsafe {
        if n >= 8 {
            let head = read_unaligned(s.cast::<u64>());
            let tail = read_unaligned(s.add(n - 8).cast::<u64>());
            write_unaligned(dst.cast::<u64>(), head);
            write_unaligned(dst.add(n - 8).cast::<u64>(), tail);
        } else if n >= 4 {
            let head = read_unaligned(s.cast::<u32>());
            let tail = read_unaligned(s.add(n - 4).cast::<u32>());
            write_unaligned(dst.cast::<u32>(), head);
            write_unaligned(dst.add(n - 4).cast::<u32>(), tail);
        } else if n > 0 {
            // 1 to 3 bytes: the first, the middle and the last (some the same).
            let (a, b, c) = (*s, *s.add(n / 2), *s.add(n - 1));
            *dst = a;
            *dst.add(n / 2) = b;
            *dst.add(n - 1) = c;
        }
    }
}

#[cold]
#[inline(never)]
fn grow(buf: &mut BytesMut, additional: usize) {
    buf.reserve(additional);
}

impl std::io::Write for Appender<'_> {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.append(bytes);
        Ok(bytes.len())
    }

    #[inline(always)]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.append(bytes);
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn guarded(
    buf: &mut BytesMut,
    start: usize,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let out = body(buf);
    if out.is_err() {
        buf.truncate(start);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_serde_json_writes_for_tokens_of_every_short_length() {
        // Every length around the inline copy's widths (1-3, 4-7, 8-16, longer), in
        // strings, numbers, and a buffer that has to grow.
        for n in 0..40 {
            let text: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let value = (
                text.as_str(),
                n as u64 * 1_234_567_891,
                n as f64 / 7.0,
                [n; 3],
            );
            let mut buf = BytesMut::new();
            write_json(&mut buf, &value).unwrap();
            assert_eq!(&buf[..], &serde_json::to_vec(&value).unwrap()[..], "{n}");
        }
    }
}
