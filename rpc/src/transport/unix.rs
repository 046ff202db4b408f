//! Unix domain sockets.

use std::io;
use std::path::Path;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use super::Connection;
use crate::framing::FrameCodec;

/// A framed Unix socket connection.
pub type UnixConnection = Connection<OwnedReadHalf, OwnedWriteHalf>;

/// Connects to the socket at `path`.
///
/// # Errors
///
/// When the connection cannot be made.
pub async fn connect(
    path: impl AsRef<Path>,
    codec: impl Into<FrameCodec>,
) -> io::Result<UnixConnection> {
    Ok(from_stream(UnixStream::connect(path).await?, codec))
}

/// Frames an established stream.
pub fn from_stream(stream: UnixStream, codec: impl Into<FrameCodec>) -> UnixConnection {
    let (read, write) = stream.into_split();
    Connection::new(read, write, codec)
}

/// Accepts framed Unix socket connections.
#[derive(Debug)]
pub struct Listener {
    inner: UnixListener,
    codec: FrameCodec,
}

impl Listener {
    /// Listens on a socket file at `path` (which must not exist yet).
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound.
    pub fn bind(path: impl AsRef<Path>, codec: impl Into<FrameCodec>) -> io::Result<Self> {
        Ok(Listener {
            inner: UnixListener::bind(path)?,
            codec: codec.into(),
        })
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// When accepting fails.
    pub async fn accept(&self) -> io::Result<UnixConnection> {
        let (stream, _) = self.inner.accept().await?;
        Ok(from_stream(stream, self.codec.clone()))
    }
}
