//! The server's HTTP accept loop: HTTP/1.1 and HTTP/2 on one port (hyper-util's
//! auto builder), the connection limit, and graceful shutdown.

use std::convert::Infallible;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::layer::util::Identity;
use tower::Layer;

use super::idle::{Activity, Tracked};
use super::{HttpConfig, HttpService};
use crate::engine::Session;
use crate::message::{encode_error, ErrorCode, Id};
use crate::service::Transport;
use crate::Server;

impl Server {
    /// The HTTP service of this server, to nest in another HTTP application (axum's
    /// `Router::nest_service`, a hyper server) or wrap in tower-http layers. Each
    /// request is served in a session of its own; shutdown waits for its calls.
    pub fn http_service(&self, config: HttpConfig) -> HttpService {
        let sessions = HttpService::session_table(&config);
        HttpService::new(self, Arc::new(config), sessions, None, None)
    }

    /// Accepts HTTP connections (HTTP/1.1 and HTTP/2, told apart by the client's
    /// first bytes) and serves JSON-RPC over POST on them until
    /// [`Server::shutdown`], which lets requests in flight finish and closes
    /// keep-alive connections.
    ///
    /// Each connection is one session: its calls share the connection's in-flight
    /// limit, and their [`crate::CallContext`] knows the client's address. Over
    /// `ServerConfig::max_connections`, a connection is answered 503 with
    /// `Retry-After` and a -32000 error body, then closed.
    ///
    /// # Errors
    ///
    /// When accepting fails for a reason other than one connection's.
    pub async fn serve_http(&self, listener: TcpListener, config: HttpConfig) -> io::Result<()> {
        self.serve_http_with(listener, config, None, Identity::new())
            .await
    }

    /// [`Server::serve_http`] with `layer` around each connection's
    /// [`HttpService`]: tower-http's CORS, compression or tracing, or a layer of
    /// the application's own that checks requests before they are served (the
    /// `mcp_server` example checks MCP's headers against the body this way).
    ///
    /// # Errors
    ///
    /// As [`Server::serve_http`].
    pub async fn serve_http_with_layer<L, B>(
        &self,
        listener: TcpListener,
        config: HttpConfig,
        layer: L,
    ) -> io::Result<()>
    where
        L: Layer<HttpService>,
        L::Service: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        <L::Service as tower::Service<Request<Incoming>>>::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.serve_http_with(listener, config, None, layer).await
    }

    /// [`Server::serve_http`] over TLS (feature `tls`): HTTPS, and WSS for
    /// WebSocket upgrades. `tls` is the certificate and key; when it names no ALPN
    /// protocols, `h2` and `http/1.1` are offered. The handshake runs in the
    /// connection's task, within `HttpConfig::header_read_timeout`, so a client
    /// that stalls it holds only its own connection.
    ///
    /// # Errors
    ///
    /// As [`Server::serve_http`].
    #[cfg(feature = "tls")]
    pub async fn serve_https(
        &self,
        listener: TcpListener,
        config: HttpConfig,
        tls: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> io::Result<()> {
        let tls = if tls.alpn_protocols.is_empty() {
            let mut with_alpn = (*tls).clone();
            with_alpn.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Arc::new(with_alpn)
        } else {
            tls
        };
        self.serve_http_with(listener, config, Some(tls.into()), Identity::new())
            .await
    }

    async fn serve_http_with<L, B>(
        &self,
        listener: TcpListener,
        config: HttpConfig,
        tls: Option<Acceptor>,
        layer: L,
    ) -> io::Result<()>
    where
        L: Layer<HttpService>,
        L::Service: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        <L::Service as tower::Service<Request<Incoming>>>::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let sessions = HttpService::session_table(&config);
        let config = Arc::new(config);
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // hyper's floor for its read buffer.
            .max_buf_size(config.max_header_bytes.max(8192))
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(config.keep_alive);
        // An HTTP/2 client is held back by the protocol at the connection's
        // in-flight limit, rather than answered 503 for each request over it.
        builder.http2().max_concurrent_streams(
            u32::try_from(self.engine.config.connection.max_in_flight).unwrap_or(u32::MAX),
        );
        let graceful = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                () = self.stop_accepting.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, remote_addr) = match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_one_connection(&err) => continue,
                Err(err) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(%err, "accepting an HTTP connection failed");
                    self.engine.metrics.record_accept_error();
                    tokio::select! {
                        () = self.stop_accepting.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            };
            // Answers are written whole; waiting to fill a segment only adds latency.
            let _ = stream.set_nodelay(true);
            let open = self.open_connections.clone();
            let over = open.load(Ordering::Relaxed) >= self.engine.config.max_connections;
            let service = if over {
                self.engine.metrics.record_refused_connection();
                None
            } else {
                let session = Session::for_exchanges_from(self.engine.clone(), Some(remote_addr));
                open.fetch_add(1, Ordering::Relaxed);
                self.engine.metrics.add_connections(Transport::Http, 1);
                tracing::debug!(connection = session.state.info.id, peer = %remote_addr, transport = %Transport::Http, "connection opened");
                Some(layer.layer(HttpService::new(
                    self,
                    config.clone(),
                    sessions.clone(),
                    Some(session),
                    Some(remote_addr),
                )))
            };
            let max = self.engine.config.max_connections;
            let (idle_timeout, metrics) = (config.idle_timeout, self.engine.metrics.clone());
            #[allow(clippy::clone_on_copy)] // `Option<Infallible>` without the tls feature
            let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
            #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
            let handshake = config
                .header_read_timeout
                .unwrap_or(Duration::from_secs(30));
            self.connections.spawn(async move {
                let counted = service.is_some();
                match tls {
                    None => {
                        drive(
                            TokioIo::new(stream),
                            service,
                            builder,
                            watcher,
                            max,
                            idle_timeout,
                        )
                        .await;
                    }
                    #[cfg(feature = "tls")]
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                drive(
                                    TokioIo::new(stream),
                                    service,
                                    builder,
                                    watcher,
                                    max,
                                    idle_timeout,
                                )
                                .await;
                            }
                            Ok(Err(err)) => tracing::debug!(%err, "a TLS handshake failed"),
                            Err(_) => tracing::debug!("a TLS handshake did not finish in time"),
                        }
                    }
                }
                if counted {
                    open.fetch_sub(1, Ordering::Relaxed);
                    metrics.add_connections(Transport::Http, -1);
                    tracing::debug!(peer = %remote_addr, transport = %Transport::Http, "connection closed");
                }
            });
        }
        // Requests in flight finish; idle keep-alive connections close now.
        graceful.shutdown().await;
        Ok(())
    }
}

/// What turns an accepted socket into a TLS stream, when the server has one.
#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
/// No TLS without the `tls` feature.
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

/// Serves one HTTP connection (`service`) until it ends or stays idle for
/// `idle_timeout`, or refuses it with 503 when it is over the limit (`None`).
async fn drive<I, S, B>(
    io: TokioIo<I>,
    service: Option<S>,
    builder: Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    max: usize,
    idle_timeout: Option<Duration>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match service {
        Some(service) => {
            let activity = Activity::new();
            let service = Tracked::new(service, activity.clone());
            let conn = builder
                .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
                .into_owned();
            let served = watcher.watch(conn);
            let idle = async {
                match idle_timeout {
                    Some(limit) => activity.idle(limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ended = served => {
                    if let Err(err) = ended {
                        tracing::debug!(%err, "HTTP connection ended with an error");
                    }
                }
                // Nothing is being served or sent on it: dropping it loses nothing.
                () = idle => tracing::debug!("closing an idle HTTP connection"),
            }
        }
        None => {
            let refuse = hyper::service::service_fn(move |_| async move {
                Ok::<_, Infallible>(over_capacity(max))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(io, refuse);
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// Errors of one connection that failed before it was accepted.
fn is_one_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// 503 for a connection over the limit.
fn over_capacity(max: usize) -> Response<Full<Bytes>> {
    let mut buf = BytesMut::with_capacity(160);
    encode_error(
        &mut buf,
        Id::NULL,
        ErrorCode::SERVER_OVERLOADED,
        &format!("too many connections: this server serves at most {max} at once; try again later"),
        None,
    );
    let mut response = Response::new(Full::new(buf.freeze()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}
