//! Transports: byte streams carrying framed messages.
//!
//! Every transport gives a [`Connection`]: a [`FrameReader`] and a [`FrameWriter`] over
//! the two directions of one stream, with the framing of your choice.
//!
//! | transport | constructor |
//! | --- | --- |
//! | TCP | [`tcp::connect`], [`tcp::Listener`] |
//! | Unix socket | [`unix::connect`], [`unix::Listener`] |
//! | this process's stdin/stdout | [`stdio::connection`] |
//! | a child process's stdin/stdout | [`child::spawn`] |
//! | in-memory pipe | [`memory::pair`] |

pub mod child;
mod frames;
pub mod memory;
mod outbox;
mod quiet;
mod reader;
pub mod stdio;
pub mod tcp;
#[cfg(unix)]
pub mod unix;
mod writer;

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::framing::FrameCodec;

pub(crate) use frames::{FrameSink, FrameSource};
pub(crate) use quiet::Quiet;
pub use reader::FrameReader;
#[cfg(feature = "http")]
pub(crate) use writer::Progress;
#[cfg(feature = "http")]
pub(crate) use writer::{frame_queue, FrameQueue, Queued};
pub(crate) use writer::{writer_loop, ExpectedFrames, WriterHandle};
pub use writer::{FrameWriter, WriterStats, MIN_WRITE_PROGRESS};

/// What the transport layer's unit tests share.
#[cfg(test)]
mod test_support {
    /// Runs a test body with a time limit, so a hang fails instead of stalling the run.
    pub(crate) async fn bounded<T>(body: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(10), body)
            .await
            .expect("test timed out")
    }
}

/// A boxed reading half, for code that handles every transport alike.
pub type BoxReader = Pin<Box<dyn AsyncRead + Send>>;
/// A boxed writing half, for code that handles every transport alike.
pub type BoxWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// The two framed halves of one stream.
#[derive(Debug)]
pub struct Connection<R, W> {
    /// Reads incoming frames.
    pub reader: FrameReader<R>,
    /// Writes outgoing frames.
    pub writer: FrameWriter<W>,
}

impl<R, W> Connection<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// Frames both halves with clones of `codec`.
    pub fn new(reader: R, writer: W, codec: impl Into<FrameCodec>) -> Self {
        let codec = codec.into();
        Connection {
            reader: FrameReader::new(reader, codec.clone()),
            writer: FrameWriter::new(writer, codec),
        }
    }
}

impl<R, W> Connection<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    /// Erases the stream types, so connections of every transport have one type.
    pub fn boxed(self) -> Connection<BoxReader, BoxWriter> {
        let (reader, read_buf) = self.reader.into_parts();
        debug_assert!(
            read_buf.is_empty(),
            "boxing a connection that has read data"
        );
        let codec = self.writer.codec().clone();
        let writer = self.writer.into_inner();
        Connection::new(
            Box::pin(reader) as BoxReader,
            Box::pin(writer) as BoxWriter,
            codec,
        )
    }
}
