//! One end of a stream connection: it serves the calls that come in and makes calls of
//! its own, so a server can call its client back on the same connection.
//!
//! ```text
//!              ┌──────────────── Peer (cheap to clone) ────────────────┐
//! frames in ──▶│ reader (connection.rs) ─ calls ──▶ Session (the engine) ──┐
//!              │                        └ responses ─▶ Pending ─▶ caller │ │
//! frames out ◀─│ writer task ◀── answers, calls (outgoing.rs), notifications ◀┘
//!              └───────────────────────────────────────────────────────┘
//! ```
//!
//! - `connection.rs`: the reader loop, the stream driver of the call engine, and how
//!   a connection ends.
//! - `outgoing.rs`: calls, notifications and batches this end sends.
//! - `correlation.rs`: responses matched to the calls waiting for them.
//! - `config.rs`: [`ConnectionConfig`], shared by clients and servers.
//! - `duplex.rs`: reading and writing in one task, for a WebSocket.

mod config;
mod connection;
mod correlation;
mod deadlines;
mod duplex;
mod outgoing;
mod typed_batch;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::buffer::BufferPool;
use crate::engine::{Engine, Session};
use crate::metrics::MetricsSnapshot;
use crate::server::ServerConfig;
use crate::stream::queue::{Deferred, WakeBeforeWaiting};
use crate::transport::{self, Connection, ExpectedFrames, FrameSink, FrameSource, WriterHandle};

pub use config::ConnectionConfig;
pub use correlation::RawResponse;
pub use outgoing::BatchBuilder;
pub use typed_batch::{Batch, BatchCall, BatchResponses};

pub(crate) struct Shared {
    writer: WriterHandle,
    pending: correlation::Pending,
    next_id: AtomicU64,
    /// The serving side: the engine's state for this connection.
    session: Session,
    /// The subscriptions this end made, for the reader to hand their items to.
    pub(crate) subscriptions: crate::stream::client::Subscriptions,
    close: CancellationToken,
    done: CancellationToken,
}

/// The reader's held-back wake-ups of subscriptions (see [`WakeBeforeWaiting`]).
impl AsRef<Deferred> for Shared {
    fn as_ref(&self) -> &Deferred {
        self.subscriptions.as_ref()
    }
}

impl Shared {
    pub(crate) fn config(&self) -> &ConnectionConfig {
        &self.session.state.engine.config.connection
    }

    /// The deadline of a call made now that waits at most `timeout`, in the ticks of
    /// the connection's timer (`u64::MAX` for none).
    fn deadline(&self, timeout: Option<std::time::Duration>) -> u64 {
        let at = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        at.map_or(u64::MAX, |at| self.pending.deadlines.ticks(at))
    }
}

/// A handle to one end of a connection: make calls, send notifications, and (when
/// it serves a service) answer the other end's calls.
///
/// Cloning is cheap. The connection stays open until the other end closes it,
/// [`Peer::close`] is called, or the server shuts down; [`crate::client::Client`] also
/// closes it when its last clone is dropped. To serve a service on a connection, hand
/// it to [`crate::Server::serve_connection`].
#[derive(Clone)]
pub struct Peer {
    pub(crate) shared: Arc<Shared>,
}

impl Peer {
    /// Starts a peer that only makes calls (incoming calls get -32601).
    pub fn connect<R, W>(connection: Connection<R, W>, config: ConnectionConfig) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let engine = Engine::without_service(ServerConfig {
            connection: config,
            ..ServerConfig::default()
        });
        Self::start(
            connection,
            Arc::new(engine),
            None,
            (None, crate::service::Transport::Stream),
            None,
        )
    }

    /// [`Peer::connect`] over any source and sink of frames, which came by
    /// `transport`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn connect_framed(
        source: impl FrameSource,
        sink: impl FrameSink,
        config: ConnectionConfig,
        transport: crate::service::Transport,
    ) -> Peer {
        let engine = Engine::without_service(ServerConfig {
            connection: config,
            ..ServerConfig::default()
        });
        Self::start_framed(
            source,
            sink,
            Arc::new(engine),
            None,
            (None, transport),
            None,
        )
    }

    /// Starts the reader and writer of a connection served by `engine`, under the
    /// engine's connection config (`idle_timeout` replaced when given);
    /// `remote_addr` is the other end's, when known, and `transport` how it came.
    pub(crate) fn start<R, W>(
        connection: Connection<R, W>,
        engine: Arc<Engine>,
        idle_timeout: Option<Option<std::time::Duration>>,
        from: (Option<std::net::SocketAddr>, crate::service::Transport),
        opened_by: Option<Arc<crate::engine::RequestMeta>>,
    ) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { reader, writer } = connection;
        let reader = reader.with_frame_timeout(engine.config.connection.frame_timeout);
        Self::start_framed(reader, writer, engine, idle_timeout, from, opened_by)
    }

    /// [`Peer::start`] over any source and sink of frames (a WebSocket's messages).
    pub(crate) fn start_framed<S: FrameSource, K: FrameSink>(
        mut source: S,
        sink: K,
        engine: Arc<Engine>,
        idle_timeout: Option<Option<std::time::Duration>>,
        (remote_addr, transport): (Option<std::net::SocketAddr>, crate::service::Transport),
        opened_by: Option<Arc<crate::engine::RequestMeta>>,
    ) -> Peer {
        let config = &engine.config.connection;
        let max_frame_len = source.max_frame_len();
        let mut writing = None;
        let shared = Arc::new_cyclic(|this: &std::sync::Weak<Shared>| {
            // The writer is told how many frames are on their way (calls waiting for
            // answers, calls being served), so it can gather them into one write.
            let hint = this.clone();
            let expected: ExpectedFrames = Box::new(move || {
                hint.upgrade().map_or(0, |shared| {
                    shared.pending.len() + shared.session.state.tasks.len()
                })
            });
            let (writer, write_loop) = transport::writer_loop(
                sink,
                config.write_queue,
                config.write_stall_timeout,
                Some(expected),
            );
            writing = Some(write_loop);
            Shared {
                session: Session::for_connection(
                    engine.clone(),
                    writer.clone(),
                    this.clone(),
                    max_frame_len,
                    remote_addr,
                    transport,
                    opened_by,
                ),
                writer,
                pending: correlation::Pending::new(),
                subscriptions: crate::stream::client::Subscriptions::default(),
                next_id: AtomicU64::new(1),
                close: CancellationToken::new(),
                done: CancellationToken::new(),
            }
        });
        source.attach(&shared.writer);
        engine.metrics.add_connections(transport, 1);
        tracing::debug!(
            connection = shared.session.state.info.id,
            peer = remote_addr.map(tracing::field::display),
            transport = %transport,
            "connection opened"
        );
        let writing = writing.expect("the writer starts with the peer");
        let idle_timeout = idle_timeout.unwrap_or(config.idle_timeout);
        if K::SHARES_ITS_SOURCE {
            // One task reads and writes: the two halves' lock is then never waited
            // for across tasks (and threads).
            let (written, done) = tokio::sync::oneshot::channel();
            let reading = WakeBeforeWaiting::new(
                connection::read_loop(
                    shared.clone(),
                    source,
                    async { done.await.ok() },
                    idle_timeout,
                ),
                shared.clone(),
            );
            tokio::spawn(duplex::Duplex::new(
                reading,
                writing,
                shared.writer.clone(),
                written,
            ));
        } else {
            let writer_task = tokio::spawn(writing);
            tokio::spawn(WakeBeforeWaiting::new(
                connection::read_loop(
                    shared.clone(),
                    source,
                    async { writer_task.await.ok() },
                    idle_timeout,
                ),
                shared.clone(),
            ));
        }
        Peer { shared }
    }

    /// How many outgoing calls are waiting for responses.
    pub fn pending_calls(&self) -> usize {
        self.shared.pending.len()
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.pending.is_closed()
    }

    /// Why the connection closed, once it has ("" while it is open).
    pub fn close_reason(&self) -> String {
        self.shared.pending.close_reason()
    }

    /// Closes the connection: stops reading, fails waiting calls, lets running
    /// incoming calls finish, then closes the stream.
    pub fn close(&self) {
        self.shared.close.cancel();
    }

    /// Waits until the connection has fully closed: every call it accepted has been
    /// answered and the answers written (or the stream failed).
    pub async fn closed(&self) {
        self.shared.done.cancelled().await;
    }

    /// The counters of this peer (shared with its server, when it has one).
    pub fn metrics(&self) -> MetricsSnapshot {
        let engine = &self.shared.session.state.engine;
        engine.metrics.snapshot(engine.buffer_pool().stats())
    }

    /// The pool messages are encoded in.
    pub fn buffer_pool(&self) -> &BufferPool {
        self.shared.session.state.engine.buffer_pool()
    }

    /// The engine's state for this connection: its calls in flight and their limits.
    pub fn session(&self) -> &Session {
        &self.shared.session
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("pending", &self.shared.pending)
            .field("session", &self.shared.session)
            .finish_non_exhaustive()
    }
}
