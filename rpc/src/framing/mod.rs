//! Streaming framing: splitting a byte stream into frames and back.
//!
//! Two framings, each a tokio-util [`Decoder`] and [`Encoder`]:
//! - [`NdjsonCodec`]: one frame per line (MCP's stdio transport);
//! - [`ContentLengthCodec`]: a `Content-Length` header block before each frame (LSP).
//!
//! [`FrameCodec`] picks one at run time. Decoders hand out frames as [`bytes::Bytes`]
//! split off the read buffer (no copy), scan each byte once however the bytes arrive,
//! and refuse a frame over the maximum size before buffering it.

mod content_length;
mod error;
mod ndjson;

use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

pub use content_length::{ContentLengthCodec, DEFAULT_MAX_HEADER_LEN};
pub use error::FrameError;
pub use ndjson::NdjsonCodec;

/// The default maximum frame size: 4 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// Which framing a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Newline-delimited JSON.
    #[default]
    Ndjson,
    /// `Content-Length` headers.
    ContentLength,
}

impl Framing {
    /// A codec for this framing with the given maximum frame size.
    pub fn codec(self, max_frame_len: usize) -> FrameCodec {
        match self {
            Framing::Ndjson => FrameCodec::Ndjson(NdjsonCodec::with_max_frame_len(max_frame_len)),
            Framing::ContentLength => {
                FrameCodec::ContentLength(ContentLengthCodec::with_max_frame_len(max_frame_len))
            }
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::Ndjson => "ndjson",
            Framing::ContentLength => "content-length",
        })
    }
}

/// The text was not a framing's name.
#[derive(Debug, thiserror::Error)]
#[error("unknown framing {0:?}: expected \"ndjson\" or \"content-length\"")]
pub struct UnknownFraming(String);

impl FromStr for Framing {
    type Err = UnknownFraming;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ndjson" | "newline" | "lines" => Ok(Framing::Ndjson),
            "content-length" | "lsp" => Ok(Framing::ContentLength),
            _ => Err(UnknownFraming(s.to_owned())),
        }
    }
}

/// A codec for either framing, chosen at run time.
#[derive(Debug, Clone)]
pub enum FrameCodec {
    /// Newline-delimited JSON.
    Ndjson(NdjsonCodec),
    /// `Content-Length` headers.
    ContentLength(ContentLengthCodec),
}

impl FrameCodec {
    /// Which framing this codec implements.
    pub fn framing(&self) -> Framing {
        match self {
            FrameCodec::Ndjson(_) => Framing::Ndjson,
            FrameCodec::ContentLength(_) => Framing::ContentLength,
        }
    }

    /// The maximum frame size.
    pub fn max_frame_len(&self) -> usize {
        match self {
            FrameCodec::Ndjson(c) => c.max_frame_len(),
            FrameCodec::ContentLength(c) => c.max_frame_len(),
        }
    }

    /// Whether the codec waits for a body of known size whose room it has reserved.
    pub(crate) fn awaiting_body(&self) -> bool {
        match self {
            FrameCodec::Ndjson(_) => false,
            FrameCodec::ContentLength(c) => c.awaiting_body(),
        }
    }

    /// Whether the codec is in the middle of a frame whose bytes are not all in the
    /// buffer (a body it waits for, or an oversized frame it drops).
    pub(crate) fn in_frame(&self) -> bool {
        match self {
            FrameCodec::Ndjson(c) => c.in_frame(),
            FrameCodec::ContentLength(c) => c.in_frame(),
        }
    }

    /// Writes what goes before a body of `body_len` bytes.
    pub(crate) fn write_header(&self, body_len: usize, dst: &mut BytesMut) {
        match self {
            FrameCodec::Ndjson(c) => c.write_header(body_len, dst),
            FrameCodec::ContentLength(c) => c.write_header(body_len, dst),
        }
    }

    /// Writes what goes after a body.
    pub(crate) fn write_trailer(&self, dst: &mut BytesMut) {
        match self {
            FrameCodec::Ndjson(c) => c.write_trailer(dst),
            FrameCodec::ContentLength(c) => c.write_trailer(dst),
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Framing::Ndjson.codec(DEFAULT_MAX_FRAME_LEN)
    }
}

impl From<NdjsonCodec> for FrameCodec {
    fn from(codec: NdjsonCodec) -> Self {
        FrameCodec::Ndjson(codec)
    }
}

impl From<ContentLengthCodec> for FrameCodec {
    fn from(codec: ContentLengthCodec) -> Self {
        FrameCodec::ContentLength(codec)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self {
            FrameCodec::Ndjson(c) => c.decode(buf),
            FrameCodec::ContentLength(c) => c.decode(buf),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self {
            FrameCodec::Ndjson(c) => c.decode_eof(buf),
            FrameCodec::ContentLength(c) => c.decode_eof(buf),
        }
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        match self {
            FrameCodec::Ndjson(c) => c.encode(frame, dst),
            FrameCodec::ContentLength(c) => c.encode(frame, dst),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&frame[..], dst)
    }
}

impl From<Framing> for FrameCodec {
    /// The framing's codec with the default maximum frame size.
    fn from(framing: Framing) -> Self {
        framing.codec(DEFAULT_MAX_FRAME_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames whose header and trailer differ: tiny, empty-looking, with escapes and
    /// newlines inside strings, and several KiB long (a four-digit length).
    fn sample_frames() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"1"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(br#""""#),
            Bytes::from_static(br#"{"text":"line one\nline two\r\n\t\"quoted\" \u00e9"}"#),
            Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","id":1,"params":["{}"]}}"#,
                "x".repeat(5000)
            )),
        ]
    }

    #[test]
    fn write_header_and_trailer_frame_like_encode() {
        for mut codec in [
            Framing::Ndjson.codec(1 << 20),
            Framing::ContentLength.codec(1 << 20),
        ] {
            for frame in sample_frames() {
                let mut encoded = BytesMut::new();
                codec.encode(frame.clone(), &mut encoded).unwrap();
                let mut assembled = BytesMut::new();
                codec.write_header(frame.len(), &mut assembled);
                assembled.extend_from_slice(&frame);
                codec.write_trailer(&mut assembled);
                assert_eq!(encoded, assembled, "{}", codec.framing());
            }
        }
    }
}
