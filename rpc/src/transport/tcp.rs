//! TCP.

use std::io;
use std::net::SocketAddr;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use super::Connection;
use crate::framing::FrameCodec;

/// A framed TCP connection.
pub type TcpConnection = Connection<OwnedReadHalf, OwnedWriteHalf>;

/// Connects to `addr`.
///
/// Nagle's algorithm is turned off: the writer already gathers frames, and a request
/// should leave as soon as it is written.
///
/// # Errors
///
/// When the connection cannot be made.
pub async fn connect(
    addr: impl ToSocketAddrs,
    codec: impl Into<FrameCodec>,
) -> io::Result<TcpConnection> {
    from_stream(TcpStream::connect(addr).await?, codec)
}

/// Frames an established stream.
///
/// # Errors
///
/// When setting `TCP_NODELAY` fails.
pub fn from_stream(stream: TcpStream, codec: impl Into<FrameCodec>) -> io::Result<TcpConnection> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok(Connection::new(read, write, codec))
}

/// Accepts framed TCP connections.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    codec: FrameCodec,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free port; see [`Listener::local_addr`]).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs, codec: impl Into<FrameCodec>) -> io::Result<Self> {
        Ok(Listener {
            inner: TcpListener::bind(addr).await?,
            codec: codec.into(),
        })
    }

    /// The address listened on.
    ///
    /// # Errors
    ///
    /// When the socket cannot tell.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// When accepting fails.
    pub async fn accept(&self) -> io::Result<(TcpConnection, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((from_stream(stream, self.codec.clone())?, peer))
    }
}
