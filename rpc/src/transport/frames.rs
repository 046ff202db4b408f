//! What a connection's reader and writer tasks run over: a source of whole frames
//! and a sink that writes lists of them.
//!
//! A byte stream cut by a codec ([`FrameReader`], [`FrameWriter`]) is one kind; a
//! transport whose messages are frames already (a WebSocket, feature `websocket`) is
//! another, served by the same peer with no pipe or task between them.

use std::future::Future;
use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::writer::Progress;
use super::{FrameReader, FrameWriter, WriterHandle, WriterStats};
use crate::framing::FrameError;

/// Whole frames coming in.
pub(crate) trait FrameSource: Send + 'static {
    /// The next frame; `None` once the other end has nothing more to send.
    ///
    /// Cancel-safe: a frame is never lost when the future is dropped unfinished.
    fn next_frame(&mut self) -> impl Future<Output = Option<Result<Bytes, FrameError>>> + Send;

    /// The largest frame this source hands out.
    fn max_frame_len(&self) -> usize;

    /// Called once the connection's writer runs: a source with frames of its own to
    /// send (a WebSocket's pings) keeps the handle.
    fn attach(&mut self, _writer: &WriterHandle) {}
}

/// Lists of frames going out.
pub(crate) trait FrameSink: Send + 'static {
    /// Whether this sink shares a lock with its source (a WebSocket's two halves):
    /// then the connection's reading and writing run in one task, since two tasks
    /// taking turns at the lock wake each other across threads on every message.
    const SHARES_ITS_SOURCE: bool = false;

    /// Writes every frame of `frames` in order and empties it, under the stall rule
    /// when there is one. An empty frame asks for a keep-alive where the transport
    /// has one (a WebSocket ping), and is skipped otherwise.
    fn write_frames(
        &mut self,
        frames: &mut Vec<Bytes>,
        progress: Option<&mut Progress>,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// Pushes what was written out to the other end.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Ends the sending side (a socket's FIN, a WebSocket's close frame).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// The counters so far.
    fn stats(&self) -> WriterStats;
}

impl<R: AsyncRead + Unpin + Send + 'static> FrameSource for FrameReader<R> {
    fn next_frame(&mut self) -> impl Future<Output = Option<Result<Bytes, FrameError>>> + Send {
        FrameReader::next_frame(self)
    }

    fn max_frame_len(&self) -> usize {
        self.codec().max_frame_len()
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> FrameSink for FrameWriter<W> {
    fn write_frames(
        &mut self,
        frames: &mut Vec<Bytes>,
        progress: Option<&mut Progress>,
    ) -> impl Future<Output = io::Result<()>> + Send {
        // A byte stream has no keep-alive of its own.
        frames.retain(|frame| !frame.is_empty());
        self.write_frames_watched(frames, progress)
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        FrameWriter::flush(self)
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        FrameWriter::shutdown(self)
    }

    fn stats(&self) -> WriterStats {
        FrameWriter::stats(self)
    }
}
