//! Serving a service on any transport, with graceful shutdown.
//!
//! - `mod.rs`: [`Server`], serving one connection, in-process sessions, shutdown.
//! - `accept.rs`: the accept loops (TCP, Unix), the connection limit, and what a
//!   failed accept means.
//! - `config.rs`: [`ServerConfig`] and the worker pools.

mod accept;
mod config;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{BoxError, CallStack, Engine, Session};
use crate::metrics::MetricsSnapshot;
use crate::peer::Peer;
use crate::service::{IncomingCall, Reply, Service, Transport};
use crate::transport::Connection;

pub use config::{OverloadPolicy, ServerConfig, WorkerPoolConfig};

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
    pub(crate) engine: Arc<Engine>,
    pub(crate) connections: TaskTracker,
    /// Connections being served, by any path; the accept loops refuse more than
    /// `ServerConfig::max_connections`.
    pub(crate) open_connections: Arc<AtomicUsize>,
    pub(crate) stop_accepting: CancellationToken,
}

impl Server {
    /// A server with the default configuration.
    pub fn new(service: impl Service) -> Self {
        Self::with_config(service, ServerConfig::default())
    }

    /// A server with the given configuration.
    pub fn with_config(service: impl Service, config: ServerConfig) -> Self {
        Server {
            engine: Arc::new(Engine::new(Arc::new(service), config)),
            connections: TaskTracker::new(),
            open_connections: Arc::new(AtomicUsize::new(0)),
            stop_accepting: CancellationToken::new(),
        }
    }

    /// Runs every call through `layer` (any `tower::Layer`: timeout, concurrency
    /// limit, load shedding, rate limit, tower-http's), around the layers added
    /// before; so the layer added last sees each call first. Layers run after the
    /// call has its place in its worker pool, under the method's deadline, with
    /// panics caught; a layer's error is answered as a JSON-RPC error for the call's
    /// id: tower's timeout error as -32001, its load-shed error as -32000, an
    /// [`RpcError`](crate::RpcError) as it is, and anything else as -32603 with the
    /// error's message.
    ///
    /// # Panics
    ///
    /// When the server already serves a connection or a session: layers are added
    /// before serving.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpc::service::{MethodInfo, Router};
    /// use rpc::Server;
    ///
    /// let router = Router::new().method(MethodInfo::new("ping"), |call| async move { call.respond("pong") });
    /// let server = Server::new(router)
    ///     .layer(tower::load_shed::LoadShedLayer::new())
    ///     .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(5)));
    /// # let _ = server;
    /// ```
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower::Layer<CallStack>,
        L::Service: tower::Service<IncomingCall, Response = Reply> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<IncomingCall>>::Error: Into<BoxError>,
        <L::Service as tower::Service<IncomingCall>>::Future: Send + 'static,
    {
        Arc::get_mut(&mut self.engine)
            .expect("Server::layer is called before the server serves anything")
            .add_layer(layer);
        self
    }

    /// Serves one connection (stdio, a child process, a socket accepted elsewhere)
    /// under [`ServerConfig::connection`], exactly as the accept loops serve theirs;
    /// the returned peer can call the client back.
    ///
    /// The connection counts towards `ServerConfig::max_connections` but is never
    /// refused: the caller chose to serve it.
    pub fn serve_connection<R, W>(&self, connection: Connection<R, W>) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_with(connection, None, (None, Transport::Stream))
    }

    /// Serves one connection as [`Server::serve_connection`] does, telling its calls
    /// the other end's address (see [`crate::service::ConnectionInfo`]): for sockets
    /// accepted outside the server's own accept loops.
    pub fn serve_connection_from<R, W>(
        &self,
        connection: Connection<R, W>,
        remote_addr: SocketAddr,
    ) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_with(connection, None, (Some(remote_addr), Transport::Stream))
    }

    /// Serves a connection; `idle_timeout` replaces the connection config's for
    /// accepted sockets.
    pub(crate) fn serve_with<R, W>(
        &self,
        connection: Connection<R, W>,
        idle_timeout: Option<Option<Duration>>,
        from: (Option<SocketAddr>, Transport),
    ) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let peer = Peer::start(connection, self.engine.clone(), idle_timeout, from, None);
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        let open = self.open_connections.clone();
        let watched = peer.clone();
        self.connections.spawn(async move {
            watched.closed().await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
        peer
    }

    /// A session for frames handed in process, with no socket: its frames are served
    /// as a connection's are (limits, order of notifications, `$/cancelRequest`
    /// across its frames), and shutdown waits for its calls. See
    /// [`Session::handle_frame`].
    pub fn session(&self) -> Session {
        Session::for_exchanges(self.engine.clone())
    }

    /// The OpenRPC document of the server's service ([`crate::openrpc`]), as
    /// `rpc.discover` answers it; `None` when the service describes no method.
    #[cfg(feature = "openrpc")]
    pub fn openrpc(&self) -> Option<serde_json::Value> {
        crate::openrpc::document_of(&*self.engine.service)
    }

    /// Serves one frame in process, in a session of its own, and returns its
    /// answer (`None` for notifications); as jsonrpsee's `raw_json_request`. Frames
    /// that should share notification order or cancellation belong in one
    /// [`Server::session`].
    pub async fn handle_frame(&self, frame: impl Into<Bytes>) -> Option<Bytes> {
        self.session().handle_frame(frame.into()).await
    }

    /// Shuts down gracefully: stops accepting connections and reading new calls,
    /// lets accepted calls finish for up to `grace`, answers those still running with
    /// -32002, and closes every connection.
    ///
    /// It returns once every connection has written its answers and closed: a
    /// connection whose client does not read is given up after the write-stall time.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let before = self.engine.metrics.snapshot(Default::default());
        tracing::info!(
            ?grace,
            in_flight = before.in_flight,
            connections = before.connections,
            "shutting down: no new connections; accepted calls may finish"
        );
        self.stop_accepting.cancel();
        self.engine.stop_reading.cancel();
        self.connections.close();
        self.engine.exchanges.close();
        let everything = async {
            self.connections.wait().await;
            self.engine.exchanges.wait().await;
        };
        let drained = tokio::time::timeout(grace, everything).await.is_ok();
        if !drained {
            tracing::warn!(
                ?grace,
                "shutdown deadline passed: calls still running are answered -32002"
            );
            self.engine.hard_stop.cancel();
            self.connections.wait().await;
            self.engine.exchanges.wait().await;
        }
        let after = self.engine.metrics.snapshot(Default::default());
        let report = ShutdownReport {
            drained,
            interrupted: after.interrupted_by_shutdown - before.interrupted_by_shutdown,
            answers_written: after.answers_written - before.answers_written,
            answers_lost: after.answers_lost - before.answers_lost,
        };
        tracing::info!(
            drained,
            interrupted = report.interrupted,
            answers_written = report.answers_written,
            answers_lost = report.answers_lost,
            "shut down"
        );
        report
    }

    /// A snapshot of the server's counters: serializable, and short when printed
    /// (`{}`). With the `metrics` feature, taking one also publishes the buffer
    /// pool's figures, as [`Server::publish_metrics`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use rpc::service::{MethodInfo, Router};
    /// use rpc::Server;
    ///
    /// let router = Router::new().method(MethodInfo::new("ping"), |call| async move { call.respond("pong") });
    /// let server = Server::new(router);
    /// server.session().handle_frame(r#"{"jsonrpc":"2.0","method":"ping","id":1}"#.into()).await;
    /// let metrics = server.metrics();
    /// assert_eq!(metrics.method("ping").unwrap().calls, 1);
    /// println!("{metrics}"); // connections 0, in flight 0 (queued 0), … and a line for `ping`
    /// let json = serde_json::to_value(&metrics).unwrap();
    /// assert_eq!(json["methods"][0]["latency"]["count"], 1);
    /// # }
    /// ```
    pub fn metrics(&self) -> MetricsSnapshot {
        let pool = self.engine.buffer_pool().stats();
        self.engine.metrics.publish_pool(pool);
        self.engine.metrics.snapshot(pool)
    }

    /// With the `metrics` feature, sets the exported figures that are read rather
    /// than recorded as they move (the buffer pool's); everything else is recorded
    /// through the `metrics` facade as it happens. Call it before rendering a scrape
    /// (the `metrics_prometheus` example does) or on an interval. Without the
    /// feature it does nothing.
    pub fn publish_metrics(&self) {
        self.engine
            .metrics
            .publish_pool(self.engine.buffer_pool().stats());
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}
