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

/// How a shutdown ended. It is returned once every connection has closed, so every
/// answer it counts had been handed to its socket, or was lost with its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every accepted call finished before the deadline; when `false`, the
    /// calls still running were answered with -32002.
    pub drained: bool,
    /// Calls answered -32002 because they were still running at the deadline.
    pub interrupted: u64,
    /// Answers written to their connections while the server shut down.
    pub answers_written: u64,
    /// Answers that could not be written while the server shut down, because their
    /// connection had failed or its client stopped reading.
    pub answers_lost: u64,
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
        let mut exhausted = Exhaustion::default();
        loop {
            let accepted = tokio::select! {
                () = self.stop_accepting.cancelled() => return Ok(()),
                accepted = accept() => accepted,
            };
            if accepted.is_ok() {
                exhausted.ended();
            }
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
                        half_close_grace: server.half_close_grace,
                        ..self.peer_config.clone()
                    };
                    self.serve_with(connection, config);
                }
                Err(err) => match classify(&err) {
                    AcceptError::OneConnection => {
                        tracing::debug!(%err, "accepting a connection failed");
                    }
                    AcceptError::Exhausted => {
                        // The listener stays readable while there is no descriptor to
                        // accept with: retrying at once would spin a core. Wait, and
                        // let connections that end give their descriptors back.
                        self.dispatcher.metrics.record_accept_error();
                        let pause = exhausted.next_pause(&err);
                        tokio::select! {
                            () = self.stop_accepting.cancelled() => return Ok(()),
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                    AcceptError::Fatal => return Err(err),
                },
            }
        }
    }

    /// Shuts down gracefully: stops accepting connections and reading new calls,
    /// lets accepted calls finish for up to `grace`, answers those still running with
    /// -32002, and closes every connection.
    ///
    /// It returns once every connection has written its answers and closed: a
    /// connection whose client does not read is given up after the write-stall time.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let before = self.dispatcher.metrics.snapshot(Default::default());
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
        let after = self.dispatcher.metrics.snapshot(Default::default());
        ShutdownReport {
            drained,
            interrupted: after.interrupted_by_shutdown - before.interrupted_by_shutdown,
            answers_written: after.answers_written - before.answers_written,
            answers_lost: after.answers_lost - before.answers_lost,
        }
    }

    /// A snapshot of the server's counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.dispatcher
            .metrics
            .snapshot(self.peer_config.buffer_pool.stats())
    }
}

/// What a failed accept means for the accept loop.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
    /// One connection failed before it was accepted; accept the next at once.
    OneConnection,
    /// The process or system is out of descriptors or memory: wait, then go on.
    Exhausted,
    /// The listener itself is broken.
    Fatal,
}

fn classify(err: &io::Error) -> AcceptError {
    match err.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock
        | io::ErrorKind::TimedOut => return AcceptError::OneConnection,
        io::ErrorKind::OutOfMemory => return AcceptError::Exhausted,
        _ => {}
    }
    #[cfg(unix)]
    if let Some(code) = err.raw_os_error() {
        if [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM].contains(&code) {
            return AcceptError::Exhausted;
        }
        // accept(2) passes on network errors of the pending connection; Linux's
        // manual asks to treat them like EAGAIN. EPERM is a firewall refusing it.
        let of_the_connection = [
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
            libc::EPERM,
            #[cfg(target_os = "linux")]
            libc::ENONET,
        ];
        if of_the_connection.contains(&code) {
            return AcceptError::OneConnection;
        }
    }
    AcceptError::Fatal
}

/// An episode of failed accepts for want of descriptors or memory: the pause before
/// the next try doubles from 10 ms up to 1 s, and the episode is logged once when it
/// starts and once when it ends.
#[derive(Debug, Default)]
struct Exhaustion {
    failures: u64,
    pause: Duration,
}

impl Exhaustion {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    fn next_pause(&mut self, err: &io::Error) -> Duration {
        if self.failures == 0 {
            tracing::warn!(
                %err,
                "cannot accept connections: out of file descriptors or memory; retrying with back-off (raise `ulimit -n` or lower ServerConfig::max_connections)"
            );
            self.pause = Self::FIRST_PAUSE;
        } else {
            self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        }
        self.failures += 1;
        self.pause
    }

    fn ended(&mut self) {
        if self.failures > 0 {
            tracing::warn!(failures = self.failures, "accepting connections again");
            *self = Exhaustion::default();
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}
