//! `Content-Length` framing, as the Language Server Protocol uses.
//!
//! ```text
//! Content-Length: 42\r\n            ┐
//! Content-Type: application/...\r\n ├ header block: names in any case, other
//! \r\n                              ┘ headers ignored, `\n` alone accepted
//! {"jsonrpc":"2.0",...}               body: exactly 42 bytes
//! ```

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{FrameError, DEFAULT_MAX_FRAME_LEN};
use crate::message::{bound_message, MAX_QUOTE_LEN};

/// The default limit on one header block.
pub const DEFAULT_MAX_HEADER_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading headers; bytes before `line_start` are complete header lines, and
    /// bytes before `scanned` are known to hold no newline past `line_start`.
    Headers { line_start: usize, scanned: usize },
    /// Waiting for a body of this many bytes.
    Body(usize),
    /// Dropping an oversized body; this many bytes are left to drop.
    Discard(usize),
    /// A malformed header block was seen; nothing more can be read.
    Failed,
}

/// Decoder and encoder for `Content-Length` framed messages.
///
/// A body larger than the maximum frame size is refused from its header, before any of
/// it is buffered, and its bytes are dropped as they arrive; the next frame then
/// decodes normally. Once the header is read, the buffer reserves room for the whole
/// body at once, so a large frame costs one allocation and one pass.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use rpc::framing::ContentLengthCodec;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = ContentLengthCodec::new();
/// let mut buf = BytesMut::from(&b"content-length: 7\r\nContent-Type: x\r\n\r\n{\"a\":1}"[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"{\"a\":1}"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct ContentLengthCodec {
    max_frame_len: usize,
    max_header_len: usize,
    state: State,
}

const START: State = State::Headers {
    line_start: 0,
    scanned: 0,
};

impl ContentLengthCodec {
    /// A codec with the default limits.
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A codec that refuses bodies longer than `max_frame_len` bytes.
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        ContentLengthCodec {
            max_frame_len,
            max_header_len: DEFAULT_MAX_HEADER_LEN,
            state: START,
        }
    }

    /// Sets the limit on one header block.
    #[must_use]
    pub fn max_header_len(mut self, max_header_len: usize) -> Self {
        self.max_header_len = max_header_len;
        self
    }

    /// The maximum frame size.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Whether the codec knows the size of the body it waits for (and has reserved
    /// room for it), so a reader should read into that room and not grow the buffer.
    pub(crate) fn awaiting_body(&self) -> bool {
        matches!(self.state, State::Body(_))
    }

    /// Whether the codec is past a frame's header: waiting for its body or dropping
    /// an oversized one.
    pub(crate) fn in_frame(&self) -> bool {
        matches!(self.state, State::Body(_) | State::Discard(_))
    }

    /// Writes the header block for a body of `body_len` bytes.
    pub(crate) fn write_header(&self, body_len: usize, dst: &mut BytesMut) {
        dst.extend_from_slice(b"Content-Length: ");
        dst.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        dst.extend_from_slice(b"\r\n\r\n");
    }

    /// Writes what goes after a body (nothing, for this framing).
    pub(crate) fn write_trailer(&self, _dst: &mut BytesMut) {}

    fn fail(&mut self, message: String) -> FrameError {
        self.state = State::Failed;
        FrameError::Malformed(message)
    }

    /// Reads the `Content-Length` out of a complete header block.
    fn body_len(&mut self, block: &[u8]) -> Result<usize, FrameError> {
        let mut length = None;
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                let shown = bound_message(String::from_utf8_lossy(line), MAX_QUOTE_LEN);
                return Err(self.fail(format!("header line without a colon: {shown:?}")));
            };
            if !line[..colon]
                .trim_ascii()
                .eq_ignore_ascii_case(b"content-length")
            {
                continue;
            }
            let value = line[colon + 1..].trim_ascii();
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (parsed, length) {
                (None, _) => {
                    let shown = bound_message(String::from_utf8_lossy(value), MAX_QUOTE_LEN);
                    return Err(self.fail(format!("Content-Length is not a length: {shown:?}")));
                }
                (Some(n), Some(m)) if n != m => {
                    return Err(
                        self.fail(format!("conflicting Content-Length headers: {m} and {n}"))
                    )
                }
                (Some(n), _) => length = Some(n),
            }
        }
        length.ok_or_else(|| self.fail("header block without Content-Length".into()))
    }
}

impl Default for ContentLengthCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for ContentLengthCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            match self.state {
                State::Failed => {
                    buf.clear();
                    return Ok(None);
                }
                State::Discard(left) => {
                    let n = left.min(buf.len());
                    buf.advance(n);
                    if n < left {
                        self.state = State::Discard(left - n);
                        return Ok(None);
                    }
                    self.state = START;
                }
                State::Body(len) => {
                    if buf.len() < len {
                        buf.reserve(len - buf.len());
                        return Ok(None);
                    }
                    self.state = START;
                    return Ok(Some(buf.split_to(len).freeze()));
                }
                State::Headers {
                    line_start,
                    scanned,
                } => {
                    let Some(offset) = memchr::memchr(b'\n', &buf[scanned..]) else {
                        // One byte of slack: a `\r` may be the start of the blank line
                        // that ends the block, which does not count against the limit
                        // (as when the whole block arrives at once).
                        if buf.len() > self.max_header_len + 1 {
                            let max = self.max_header_len;
                            return Err(self.fail(format!("header block longer than {max} bytes")));
                        }
                        self.state = State::Headers {
                            line_start,
                            scanned: buf.len(),
                        };
                        return Ok(None);
                    };
                    let newline = scanned + offset;
                    let line = &buf[line_start..newline];
                    let blank = line.is_empty() || line == b"\r";
                    if !blank {
                        if newline + 1 > self.max_header_len {
                            let max = self.max_header_len;
                            return Err(self.fail(format!("header block longer than {max} bytes")));
                        }
                        self.state = State::Headers {
                            line_start: newline + 1,
                            scanned: newline + 1,
                        };
                        continue;
                    }
                    if line_start == 0 {
                        // Blank lines between messages carry nothing.
                        buf.advance(newline + 1);
                        self.state = START;
                        continue;
                    }
                    let len = self.body_len(&buf[..line_start])?;
                    buf.advance(newline + 1);
                    if len > self.max_frame_len {
                        self.state = State::Discard(len);
                        return Err(FrameError::TooLarge {
                            size: Some(len),
                            max: self.max_frame_len,
                        });
                    }
                    self.state = State::Body(len);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let state = std::mem::replace(&mut self.state, START);
        match state {
            State::Body(_) => Err(FrameError::Truncated(buf.len())),
            State::Headers { .. } if !buf.iter().all(u8::is_ascii_whitespace) => {
                Err(FrameError::Truncated(buf.len()))
            }
            _ => {
                buf.clear();
                Ok(None)
            }
        }
    }
}

impl Encoder<&[u8]> for ContentLengthCodec {
    type Error = FrameError;

    /// Appends the header block and `frame`.
    ///
    /// # Errors
    ///
    /// When the frame exceeds the maximum frame size.
    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        if frame.len() > self.max_frame_len {
            return Err(FrameError::TooLarge {
                size: Some(frame.len()),
                max: self.max_frame_len,
            });
        }
        dst.reserve(frame.len() + 32);
        self.write_header(frame.len(), dst);
        dst.extend_from_slice(frame);
        Ok(())
    }
}

impl Encoder<Bytes> for ContentLengthCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&frame[..], dst)
    }
}
