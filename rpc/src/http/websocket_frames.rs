//! A WebSocket as the frames a peer runs over: each text (or binary) message in is
//! one frame, each frame out one text message. The peer's reader and writer work on
//! the WebSocket's two halves directly, with no pipe or task between them, so a
//! WebSocket call costs what a TCP call does plus the WebSocket's own framing.
//!
//! The WebSocket's rules live here too: a ping at an interval (queued by the reader
//! as an empty frame, which the writer sends as a ping), a close when nothing, not
//! even a pong, came for the idle timeout, and close frames that say why.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Interval};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::websocket::KeepAlive;
use crate::framing::FrameError;
use crate::transport::{FrameSink, FrameSource, Progress, WriterHandle, WriterStats};

/// Why the connection closes, when the reader knows better than "closing": the
/// writer's close frame says it.
type CloseWhy = Arc<Mutex<Option<(CloseCode, &'static str)>>>;

/// Splits `ws` into the source and sink a peer runs over, with messages up to
/// `max_message` bytes.
pub(crate) fn frames<S>(
    ws: WebSocketStream<S>,
    keep_alive: KeepAlive,
    max_message: usize,
) -> (WsSource<S>, WsSink<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    let why = CloseWhy::default();
    let ping = keep_alive.ping_every.map(|every| {
        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    (
        WsSource {
            stream,
            max_message,
            idle_timeout: keep_alive.idle_timeout,
            ping,
            last_heard: Instant::now(),
            unwatched: 0,
            pinger: None,
            why: why.clone(),
            eof: None,
        },
        WsSink {
            sink,
            stats: WriterStats::default(),
            why,
        },
    )
}

/// The WebSocket's incoming messages as frames.
pub(crate) struct WsSource<S> {
    stream: SplitStream<WebSocketStream<S>>,
    max_message: usize,
    idle_timeout: Option<std::time::Duration>,
    ping: Option<Interval>,
    /// When a message last came, as of the last message [`WsSource::next_frame`]
    /// took while also watching the clock (at most [`WATCH_EVERY`] messages ago).
    last_heard: Instant,
    /// Messages taken since the clock was last watched.
    unwatched: u32,
    /// Where pings are queued (the connection's writer), once it runs.
    pinger: Option<WriterHandle>,
    why: CloseWhy,
    /// Set by [`SeesEof`] under the WebSocket when the other end closed its
    /// sending side without a close frame.
    eof: Option<Arc<AtomicBool>>,
}

/// A message that is there already is taken without the wait on the ping interval
/// and the end of the stream, and without reading the clock, up to this many in a
/// row: on a fast stream the wait, made afresh per message, and the clock were a
/// tenth of the reader's time. The interval is still looked at every this many
/// messages, so pings go out on time under any traffic.
const WATCH_EVERY: u32 = 32;

impl<S> WsSource<S> {
    /// Ends the frames when `eof` is set ([`SeesEof`]), as a close frame would.
    pub(crate) fn ending_at(mut self, eof: Arc<AtomicBool>) -> Self {
        self.eof = Some(eof);
        self
    }

    fn closing(&self, code: CloseCode, why: &'static str) {
        *self.why.lock().unwrap_or_else(|e| e.into_inner()) = Some((code, why));
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameSource for WsSource<S> {
    async fn next_frame(&mut self) -> Option<Result<Bytes, FrameError>> {
        loop {
            if self.unwatched < WATCH_EVERY {
                let stream = &mut self.stream;
                let ready = std::future::poll_fn(|cx| Poll::Ready(stream.poll_next_unpin(cx)));
                if let Poll::Ready(message) = ready.await {
                    self.unwatched += 1;
                    match self.heard(message) {
                        Heard::Frame(frame) => return frame,
                        Heard::Nothing => continue,
                    }
                }
            }
            self.unwatched = 0;
            let message = {
                let (stream, ping, eof) = (&mut self.stream, &mut self.ping, &self.eof);
                let tick = async {
                    match ping {
                        Some(interval) => {
                            interval.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                // A flag, not a `Notify`: a wait made per message would join and
                // leave a waiter list per message. `SeesEof` sets it while this
                // task polls the stream, and wakes this task to look.
                let eof = std::future::poll_fn(|_| match eof {
                    Some(eof) if eof.load(Ordering::Acquire) => std::task::Poll::Ready(()),
                    _ => std::task::Poll::Pending,
                });
                tokio::select! {
                    message = stream.next() => Some(message),
                    () = tick => None,
                    // The other end stops sending without a close frame: as for
                    // one, the peer answers what it accepted.
                    () = eof => return None,
                }
            };
            let Some(message) = message else {
                let silent = self.last_heard.elapsed();
                if self.idle_timeout.is_some_and(|idle| silent > idle) {
                    let why = "idle timeout: nothing heard, not even a pong";
                    self.closing(CloseCode::Away, why);
                    return Some(Err(FrameError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        why,
                    ))));
                }
                if let Some(pinger) = &self.pinger {
                    // Best effort: a full queue is traffic enough to keep a
                    // connection open.
                    let _ = pinger.try_send(Bytes::new());
                }
                continue;
            };
            self.last_heard = Instant::now();
            match self.heard(message) {
                Heard::Frame(frame) => return frame,
                Heard::Nothing => continue,
            }
        }
    }

    fn max_frame_len(&self) -> usize {
        self.max_message
    }

    fn attach(&mut self, writer: &WriterHandle) {
        if self.ping.is_some() {
            self.pinger = Some(writer.clone());
        }
    }
}

/// What a message read means to the peer.
enum Heard {
    /// What [`FrameSource::next_frame`] returns.
    Frame(Option<Result<Bytes, FrameError>>),
    /// A message that carries no frame (a ping, a pong).
    Nothing,
}

impl<S> WsSource<S> {
    /// What `message`, the stream's next, means to the peer.
    fn heard(&mut self, message: Option<Result<Message, WsError>>) -> Heard {
        Heard::Frame(match message {
            Some(Ok(Message::Text(text))) => Some(Ok(Bytes::from(text))),
            Some(Ok(Message::Binary(bytes))) => Some(Ok(bytes)),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                return Heard::Nothing
            }
            // The other end stops sending: the peer answers what it accepted.
            Some(Ok(Message::Close(_)))
            | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed))
            | None => None,
            Some(Err(WsError::Io(err))) => Some(Err(FrameError::Io(err))),
            Some(Err(err @ WsError::Capacity(_))) => {
                self.closing(CloseCode::Size, "a message over the size limit");
                Some(Err(FrameError::Malformed(err.to_string())))
            }
            // RFC 6455, 7.4.1: 1007 for data inconsistent with the message's
            // type (a text message that is not UTF-8), not 1002: the framing
            // itself was fine.
            Some(Err(err @ WsError::Utf8(_))) => {
                self.closing(CloseCode::Invalid, "a text message that is not UTF-8");
                Some(Err(FrameError::Malformed(err.to_string())))
            }
            Some(Err(err)) => {
                self.closing(CloseCode::Protocol, "a WebSocket protocol error");
                Some(Err(FrameError::Malformed(err.to_string())))
            }
        })
    }
}

/// Frames going out as the WebSocket's messages.
pub(crate) struct WsSink<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    stats: WriterStats,
    why: CloseWhy,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> WsSink<S> {
    /// The client's close came in while answers were on their way: tungstenite
    /// sends no message after it, and holds its reply to that close until the next
    /// flush. The writer stops at the error this returns, so it flushes that reply
    /// first: without it the connection was dropped with no close frame at all
    /// (found by the `websocket_messages` fuzz target). The answers are lost to a
    /// client that closed first, as RFC 6455 allows.
    async fn closed_first(&mut self) -> io::Error {
        // The first flush may still meet a message the split sink held back (it is
        // dropped then); the second writes the reply.
        for _ in 0..2 {
            if self.sink.flush().await.is_ok() {
                break;
            }
        }
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the client closed the WebSocket before these answers",
        )
    }
}

fn io_error(err: WsError) -> io::Error {
    match err {
        WsError::Io(err) => err,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameSink for WsSink<S> {
    const SHARES_ITS_SOURCE: bool = true;

    async fn write_frames(
        &mut self,
        frames: &mut Vec<Bytes>,
        mut progress: Option<&mut Progress>,
    ) -> io::Result<()> {
        for frame in frames.drain(..) {
            let len = frame.len();
            let message = if frame.is_empty() {
                Message::Ping(Bytes::new())
            } else if std::str::from_utf8(&frame).is_ok() {
                // SAFETY: checked just above.
                Message::Text(unsafe { Utf8Bytes::from_bytes_unchecked(frame) })
            } else {
                // Encoders write JSON, which is UTF-8; a frame that is not (one
                // relayed as it came) still goes out, as a binary message.
                Message::Binary(frame)
            };
            // `feed` buffers the message and writes only when the WebSocket's
            // buffer is full, so frames queued together leave in one write.
            let feed = async {
                match self.sink.feed(message).await {
                    Err(WsError::Protocol(ProtocolError::SendAfterClosing)) => {
                        Err(self.closed_first().await)
                    }
                    fed => fed.map_err(io_error),
                }
            };
            match progress.as_deref_mut() {
                Some(progress) => {
                    progress.within(feed).await?;
                    progress.wrote(len);
                }
                None => feed.await?,
            }
            self.stats.frames += 1;
            self.stats.bytes += len as u64;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.stats.writes += 1;
        match self.sink.flush().await {
            // A message the split sink held back meets the client's close.
            Err(WsError::Protocol(ProtocolError::SendAfterClosing)) => {
                Err(self.closed_first().await)
            }
            flushed => flushed.map_err(io_error),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        let (code, reason) = self
            .why
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or((CloseCode::Normal, "the connection is closing"));
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        // The other end may have closed first; its close was answered already.
        let _ = self.sink.send(Message::Close(Some(frame))).await;
        self.sink.close().await.map_err(io_error)
    }

    fn stats(&self) -> WriterStats {
        self.stats
    }
}

/// A server WebSocket's connection, which does not show tungstenite the end of
/// the client's sending side: it sets `eof` instead, wakes the reading task to
/// see it, and reads nothing more.
///
/// Seeing the end of its input without a close frame, tungstenite fails the
/// read with "reset without closing handshake" and refuses every write after it,
/// so the answers of calls the client had sent were lost. A client that closes
/// its sending side (a TCP half-close) may still read, as over TCP, where those
/// answers are written; with this, they are here too, then the close frame.
pub(crate) struct SeesEof<S> {
    inner: S,
    eof: Arc<AtomicBool>,
    seen: bool,
}

impl<S> SeesEof<S> {
    pub(crate) fn new(inner: S, eof: Arc<AtomicBool>) -> Self {
        SeesEof {
            inner,
            eof,
            seen: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SeesEof<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.seen {
            // Nothing more comes; the frames' reader has been told.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                this.seen = true;
                this.eof.store(true, Ordering::Release);
                // The frames' reader checks the flag when its task is next polled,
                // which may have been before this read in the same poll.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SeesEof<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
