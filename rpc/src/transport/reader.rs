//! Reading frames from a byte stream.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use tokio_util::codec::Decoder;

use crate::framing::{FrameCodec, FrameError};

/// The first read asks for this much room: until its first bytes come, a
/// connection holds no more (a server with many idle connections pays this per
/// connection, not a full buffer).
const FIRST_READ_ROOM: usize = 64;
/// Once bytes have come, the buffer takes this size, and grows as frames need.
/// Large enough that the room after a frame outlasts the frame: a buffer must be
/// unique to be reclaimed in place, and one reserved while the frame before is
/// still in use is a new allocation (4 KiB cost two allocations per call).
const READ_BUFFER: usize = 16 * 1024;
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
///
/// With a frame timeout ([`FrameReader::with_frame_timeout`]), a frame must arrive
/// whole within that time of its first byte: a peer that trickles a frame one byte a
/// minute gets an error (an [`io::ErrorKind::TimedOut`] inside [`FrameError::Io`])
/// instead of holding the buffer forever. Waiting between frames is not limited here.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    codec: FrameCodec,
    buf: BytesMut,
    eof: bool,
    failed: bool,
    frame_timeout: Option<Duration>,
    /// When the first byte of the frame being read arrived.
    frame_started: Option<Instant>,
    /// Whether the buffer has taken its full size ([`READ_BUFFER`]): not until
    /// the first bytes come.
    sized: bool,
    /// The largest room the buffer has had: the size of its allocation, to take
    /// back whole when no frame is begun.
    allocation: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `io` with `codec`.
    pub fn new(io: R, codec: impl Into<FrameCodec>) -> Self {
        FrameReader {
            io,
            codec: codec.into(),
            buf: BytesMut::new(),
            eof: false,
            failed: false,
            frame_timeout: None,
            frame_started: None,
            sized: false,
            allocation: 0,
        }
    }

    /// Limits how long one frame may take to arrive, from its first byte to its last.
    #[must_use]
    pub fn with_frame_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.frame_timeout = timeout;
        self
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
                Ok(Some(frame)) => {
                    self.frame_started = None;
                    return Some(Ok(frame));
                }
                Ok(None) if self.eof => return None,
                Ok(None) => {
                    if self.buf.is_empty() && !self.codec.in_frame() {
                        // Only blank bytes came since the last frame: no frame started.
                        self.frame_started = None;
                    }
                }
                Err(err) => {
                    self.frame_started = None;
                    self.failed = !err.is_recoverable();
                    return Some(Err(err));
                }
            }
            let room = self.buf.capacity() - self.buf.len();
            // A body of known size has its room reserved already; growing the buffer
            // near its end would copy the whole body.
            let reserved = self.codec.awaiting_body() && room > 0;
            if !self.sized {
                if self.buf.capacity() == 0 {
                    self.buf = BytesMut::with_capacity(FIRST_READ_ROOM);
                }
            } else if !reserved {
                // With no frame begun, the whole allocation is taken back from its
                // start once the frames handed out are gone (a check of one count
                // when they are not). Going on in the room after the last frame
                // would, at the allocation's end, copy the frame begun there to the
                // front: a second copy of every large frame.
                if self.buf.is_empty() && room < self.allocation {
                    // When it cannot (a frame is still in use), the room after
                    // the last frame serves, as below.
                    let _whole = self.buf.try_reclaim(self.allocation);
                }
                if self.buf.capacity() - self.buf.len() < MIN_READ_ROOM {
                    // `BytesMut` reclaims the room in place when the frames handed
                    // out are gone, and grows geometrically if they are not.
                    self.buf.reserve(MIN_READ_ROOM);
                }
                self.allocation = self.allocation.max(self.buf.capacity());
            }
            // A frame begun: its time runs from the read that brought its first
            // bytes (this one, or one before). Noted here, not after every read: a
            // read that brings whole frames then costs no look at the clock.
            if self.frame_timeout.is_some()
                && self.frame_started.is_none()
                && (!self.buf.is_empty() || self.codec.in_frame())
            {
                self.frame_started = Some(Instant::now());
            }
            let read = self.io.read_buf(&mut self.buf);
            let read = match (self.frame_timeout, self.frame_started) {
                (Some(limit), Some(started)) => {
                    match tokio::time::timeout_at(started + limit, read).await {
                        Ok(read) => read,
                        Err(_) => {
                            self.failed = true;
                            return Some(Err(FrameError::Io(io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("a frame did not arrive whole within {limit:?} of its first byte"),
                            ))));
                        }
                    }
                }
                _ => read.await,
            };
            match read {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    if !self.sized {
                        // The first bytes: the buffer takes its full size before a
                        // codec reserves room in the small one. A new buffer rather
                        // than `reserve`: a `BytesMut` made with a capacity
                        // remembers it, and takes as much again whenever it must
                        // reallocate; one grown from empty would reallocate 4 KiB
                        // at a time, on every call.
                        let mut sized = BytesMut::with_capacity(
                            READ_BUFFER.max(self.buf.len() + MIN_READ_ROOM),
                        );
                        sized.extend_from_slice(&self.buf);
                        self.allocation = sized.capacity();
                        self.buf = sized;
                        self.sized = true;
                    }
                }
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
