//! Reading frames from a byte stream.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::Decoder;

use crate::framing::{FrameCodec, FrameError};

/// The read buffer starts at this size and grows as frames need.
const INITIAL_READ_BUFFER: usize = 16 * 1024;
/// A read asks for at least this much room.
const MIN_READ_ROOM: usize = 4 * 1024;

/// Reads frames from an `AsyncRead`.
///
/// Frames are `Bytes` split off the read buffer, so reading them copies nothing. Once
/// the frames handed out are dropped, the buffer's room is reclaimed in place, so a
/// steady stream of frames reads without allocating.
///
/// A frame over the size limit is reported as [`FrameError::TooLarge`] and skipped;
/// reading can go on after it. Any other error ends the stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    codec: FrameCodec,
    buf: BytesMut,
    eof: bool,
    failed: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `io` with `codec`.
    pub fn new(io: R, codec: impl Into<FrameCodec>) -> Self {
        FrameReader {
            io,
            codec: codec.into(),
            buf: BytesMut::with_capacity(INITIAL_READ_BUFFER),
            eof: false,
            failed: false,
        }
    }

    /// The next frame; `None` once the stream has ended.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] for a frame over the limit (the next call goes on with
    /// the following frame); any other error ends the stream, and later calls return
    /// `None`.
    pub async fn next_frame(&mut self) -> Option<Result<Bytes, FrameError>> {
        loop {
            if self.failed {
                return None;
            }
            let decoded = if self.eof {
                self.codec.decode_eof(&mut self.buf)
            } else {
                self.codec.decode(&mut self.buf)
            };
            match decoded {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) if self.eof => return None,
                Ok(None) => {}
                Err(err) => {
                    self.failed = !err.is_recoverable();
                    return Some(Err(err));
                }
            }
            let room = self.buf.capacity() - self.buf.len();
            // A body of known size has its room reserved already; growing the buffer
            // near its end would copy the whole body.
            let reserved = self.codec.awaiting_body() && room > 0;
            if room < MIN_READ_ROOM && !reserved {
                // `BytesMut` reclaims the room in place when the frames handed out
                // are gone, and otherwise grows geometrically.
                self.buf.reserve(MIN_READ_ROOM);
            }
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(err) => {
                    self.failed = true;
                    return Some(Err(FrameError::Io(err)));
                }
            }
        }
    }

    /// The codec in use.
    pub fn codec(&self) -> &FrameCodec {
        &self.codec
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// Gives back the underlying stream and any bytes read but not yet decoded.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.io, self.buf)
    }
}
