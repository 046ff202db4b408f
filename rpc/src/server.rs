//! Serving a service on any transport, with graceful shutdown.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::message::{encode_error, ErrorCode, Id};
use crate::metrics::MetricsSnapshot;
use crate::peer::{Peer, PeerConfig};
use crate::pipeline::{Dispatcher, ServerConfig};
use crate::service::Service;
use crate::transport::{tcp, Connection};

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every accepted call finished before the deadline; when `false`, the
    /// calls still running were answered with -32002.
    pub drained: bool,
}

/// Serves one service on any number of connections.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rpc::framing::Framing;
/// use rpc::server::Server;
/// use rpc::service::{MethodInfo, Router};
/// use rpc::transport::tcp;
///
/// let router = Router::new().method(MethodInfo::new("ping"), |call| async move { call.respond("pong") });
/// let server = Server::new(router);
/// let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson).await?;
/// server.serve_tcp(&listener).await
/// # }
/// ```
pub struct Server {
    dispatcher: Arc<Dispatcher>,
    peer_config: PeerConfig,
    connections: TaskTracker,
    /// Connections being served, by any path; the accept loops refuse more than
    /// `ServerConfig::max_connections`.
    open_connections: Arc<AtomicUsize>,
    stop_accepting: CancellationToken,
}

impl Server {
    /// A server with the default configuration.
    pub fn new(service: impl Service) -> Self {
        Self::with_config(service, ServerConfig::default())
    }

    /// A server with the given configuration.
    pub fn with_config(service: impl Service, config: ServerConfig) -> Self {
        let peer_config = PeerConfig {
            write_queue: config.write_queue,
            write_stall_timeout: config.write_stall_timeout,
            parse_limits: config.parse_limits,
            frame_timeout: config.frame_timeout,
            ..PeerConfig::default()
        };
        Server {
            dispatcher: Arc::new(Dispatcher::new(Arc::new(service), config)),
            peer_config,
            connections: TaskTracker::new(),
            open_connections: Arc::new(AtomicUsize::new(0)),
            stop_accepting: CancellationToken::new(),
        }
    }

    /// Sets how the server's connections make calls back to their clients.
    pub fn peer_config(mut self, config: PeerConfig) -> Self {
        self.peer_config = config;
        self
    }

    /// Serves one connection; the returned peer can call the client back.
    ///
    /// The connection counts towards `ServerConfig::max_connections` but is never
    /// refused: the caller chose to serve it.
    pub fn serve_connection<R, W>(&self, connection: Connection<R, W>) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_with(connection, self.peer_config.clone())
    }

    fn serve_with<R, W>(&self, connection: Connection<R, W>, config: PeerConfig) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let peer = Peer::start(connection, config, Some(self.dispatcher.clone()));
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        let open = self.open_connections.clone();
        let watched = peer.clone();
        self.connections.spawn(async move {
            watched.closed().await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
        peer
    }

    /// Answers a connection over the limit with one error and closes it, off the
    /// accept loop so a client that does not read cannot stall it.
    fn refuse<R, W>(&self, connection: Connection<R, W>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.dispatcher.metrics.record_refused_connection();
        let max = self.dispatcher.config.max_connections;
        let Connection { reader, mut writer } = connection;
        drop(reader);
        self.connections.spawn(async move {
            let mut buf = BytesMut::with_capacity(160);
            encode_error(
                &mut buf,
                Id::NULL,
                ErrorCode::SERVER_OVERLOADED,
                &format!("too many connections: this server serves at most {max} at once; try again later"),
                None,
            );
            let goodbye = async {
                writer.send(buf.freeze()).await?;
                writer.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
        });
    }

    /// Accepts and serves TCP connections until [`Server::shutdown`] is called.
    ///
    /// # Errors
    ///
    /// When accepting fails for a reason other than a per-connection error (those are
    /// logged and skipped).
    pub async fn serve_tcp(&self, listener: &tcp::Listener) -> io::Result<()> {
        self.accept_loop(|| async { listener.accept().await.map(|(c, _)| c) })
            .await
    }

    /// Accepts and serves Unix socket connections until [`Server::shutdown`] is called.
    ///
    /// # Errors
    ///
    /// As [`Server::serve_tcp`].
    #[cfg(unix)]
    pub async fn serve_unix(&self, listener: &crate::transport::unix::Listener) -> io::Result<()> {
        self.accept_loop(|| listener.accept()).await
    }

    /// Serves what `accept` yields until shutdown; errors that concern one connection
    /// are logged and skipped.
    async fn accept_loop<R, W, F, Fut>(&self, mut accept: F) -> io::Result<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = io::Result<Connection<R, W>>>,
    {
        loop {
            let accepted = tokio::select! {
                () = self.stop_accepting.cancelled() => return Ok(()),
                accepted = accept() => accepted,
            };
            match accepted {
                Ok(connection)
                    if self.open_connections.load(Ordering::Relaxed)
                        >= self.dispatcher.config.max_connections =>
                {
                    self.refuse(connection);
                }
                Ok(connection) => {
                    // What applies to accepted sockets only comes from the server's config.
                    let server = &self.dispatcher.config;
                    let config = PeerConfig {
                        idle_timeout: server.idle_timeout,
                        abandon_calls_on_disconnect: server.abandon_calls_on_disconnect,
                        ..self.peer_config.clone()
                    };
                    self.serve_with(connection, config);
                }
                Err(err) if is_per_connection(&err) => {
                    tracing::warn!(%err, "accepting a connection failed");
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Shuts down gracefully: stops accepting connections and reading new calls,
    /// lets accepted calls finish for up to `grace`, answers those still running with
    /// -32002, and closes every connection.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.stop_accepting.cancel();
        self.dispatcher.stop_reading.cancel();
        self.connections.close();
        let drained = tokio::time::timeout(grace, self.connections.wait())
            .await
            .is_ok();
        if !drained {
            self.dispatcher.hard_stop.cancel();
            self.connections.wait().await;
        }
        ShutdownReport { drained }
    }

    /// A snapshot of the server's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.dispatcher
            .metrics
            .snapshot(self.peer_config.buffer_pool.stats())
    }
}

fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || err.raw_os_error() == Some(24) // EMFILE: out of descriptors, try again later
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}
