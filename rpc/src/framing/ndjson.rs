//! Newline-delimited JSON framing, as MCP's stdio transport uses.
//!
//! ```text
//! {"jsonrpc":"2.0",...}\n{"jsonrpc":"2.0",...}\r\n\n{"jsonrpc":"2.0",...}\n
//! └──────── frame ─────┘ └──────── frame ─────┘   └ blank lines are skipped
//! ```
//!
//! A frame ends at `\n`; a `\r` before it and white space around the frame are
//! trimmed. Compact JSON never contains a raw newline, so no escaping is needed.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{FrameError, DEFAULT_MAX_FRAME_LEN};

/// Decoder and encoder for newline-delimited frames.
///
/// The decoder remembers how far it has scanned, so each byte is looked at once however
/// the bytes arrive, and it refuses a frame as soon as the unterminated line grows past
/// the maximum: the line's bytes are dropped as they arrive until its newline, and the
/// next frame decodes normally.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use rpc::framing::NdjsonCodec;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = NdjsonCodec::new();
/// let mut buf = BytesMut::from(&b"{\"a\":1}\r\n\n{\"b\""[..]);
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"{\"a\":1}"[..]);
/// assert!(codec.decode(&mut buf).unwrap().is_none());
/// buf.extend_from_slice(b":2}\n");
/// assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"{\"b\":2}"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct NdjsonCodec {
    max_frame_len: usize,
    /// Bytes of the buffer already known to hold no newline.
    scanned: usize,
    /// Inside an oversized line: drop bytes up to its newline.
    discarding: bool,
    /// White space that would have taken the line past the limit was dropped after its
    /// content (the `scanned` bytes of the buffer): the line is that frame if only white
    /// space comes before its newline, and too large otherwise.
    padded: bool,
}

impl NdjsonCodec {
    /// A codec with the default maximum frame size.
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A codec that refuses frames longer than `max_frame_len` bytes.
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        NdjsonCodec {
            max_frame_len,
            scanned: 0,
            discarding: false,
            padded: false,
        }
    }

    /// The maximum frame size.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Whether the codec is inside an oversized line whose bytes it drops (they are
    /// not kept in the buffer, so the buffer alone does not show the frame).
    pub(crate) fn in_frame(&self) -> bool {
        self.discarding || self.padded
    }

    /// Refuses the line being read: its bytes are dropped up to its newline.
    fn refuse(&mut self, buf: &mut BytesMut) -> FrameError {
        buf.clear();
        self.scanned = 0;
        self.padded = false;
        self.discarding = true;
        FrameError::TooLarge {
            size: None,
            max: self.max_frame_len,
        }
    }

    /// Writes what goes before a frame's body (nothing, for this framing).
    pub(crate) fn write_header(&self, _body_len: usize, _dst: &mut BytesMut) {}

    /// Writes what goes after a frame's body: the newline.
    pub(crate) fn write_trailer(&self, dst: &mut BytesMut) {
        dst.put_u8(b'\n');
    }
}

impl Default for NdjsonCodec {
    fn default() -> Self {
        Self::new()
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Decoder for NdjsonCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            let Some(offset) = memchr::memchr(b'\n', &buf[self.scanned..]) else {
                // The limit applies to the frame, which is the line without the white
                // space around it, however the line's bytes arrive: white space before
                // the content is dropped at once, and white space after it is dropped
                // (and remembered) once it would take the buffer past the limit.
                if self.discarding {
                    buf.clear();
                    self.scanned = 0;
                } else if self.padded {
                    if !buf[self.scanned..].iter().all(|&b| is_space(b)) {
                        return Err(self.refuse(buf));
                    }
                    buf.truncate(self.scanned);
                } else {
                    let blank = buf.iter().position(|&b| !is_space(b));
                    buf.advance(blank.unwrap_or(buf.len()));
                    // One byte of slack for a `\r` that is not part of the frame.
                    if buf.len() > self.max_frame_len + 1 {
                        let content = buf.iter().rposition(|&b| !is_space(b)).map_or(0, |e| e + 1);
                        if content > self.max_frame_len {
                            return Err(self.refuse(buf));
                        }
                        buf.truncate(content);
                        self.padded = true;
                    }
                    self.scanned = buf.len();
                }
                return Ok(None);
            };
            let newline = self.scanned + offset;
            // Content after dropped white space: the frame is over the limit.
            let padded_over = std::mem::take(&mut self.padded)
                && !buf[self.scanned..newline].iter().all(|&b| is_space(b));
            self.scanned = 0;
            let line = &buf[..newline];
            let start = line.iter().position(|&b| !is_space(b));
            let end = line
                .iter()
                .rposition(|&b| !is_space(b))
                .map_or(0, |e| e + 1);
            match start {
                _ if padded_over => {
                    buf.advance(newline + 1);
                    return Err(FrameError::TooLarge {
                        size: None,
                        max: self.max_frame_len,
                    });
                }
                _ if self.discarding => {
                    self.discarding = false;
                    buf.advance(newline + 1);
                }
                None => buf.advance(newline + 1),
                Some(start) if end - start > self.max_frame_len => {
                    buf.advance(newline + 1);
                    return Err(FrameError::TooLarge {
                        size: Some(end - start),
                        max: self.max_frame_len,
                    });
                }
                Some(start) => {
                    let mut frame = buf.split_to(newline + 1);
                    frame.truncate(end);
                    frame.advance(start);
                    return Ok(Some(frame.freeze()));
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // The last line may lack its newline.
        if self.discarding || buf.iter().all(|&b| is_space(b)) {
            self.discarding = false;
            self.padded = false;
            self.scanned = 0;
            buf.clear();
            return Ok(None);
        }
        buf.put_u8(b'\n');
        self.decode(buf)
    }
}

impl Encoder<&[u8]> for NdjsonCodec {
    type Error = FrameError;

    /// Appends `frame` and a newline.
    ///
    /// # Errors
    ///
    /// When the frame contains a newline (it would split into two frames) or exceeds
    /// the maximum frame size.
    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        if frame.len() > self.max_frame_len {
            return Err(FrameError::TooLarge {
                size: Some(frame.len()),
                max: self.max_frame_len,
            });
        }
        if memchr::memchr(b'\n', frame).is_some() {
            return Err(FrameError::Malformed(
                "a newline-delimited frame must not contain a newline".into(),
            ));
        }
        dst.reserve(frame.len() + 1);
        dst.extend_from_slice(frame);
        self.write_trailer(dst);
        Ok(())
    }
}

impl Encoder<Bytes> for NdjsonCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&frame[..], dst)
    }
}
