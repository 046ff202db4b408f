//! The server's HTTP accept loop: HTTP/1.1 and HTTP/2 on one port (hyper-util's
//! auto builder), the connection limit, and graceful shutdown.

use std::convert::Infallible;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::{HttpConfig, HttpService};
use crate::engine::Session;
use crate::message::{encode_error, ErrorCode, Id};
use crate::Server;

impl Server {
    /// The HTTP service of this server, to nest in another HTTP application (axum's
    /// `Router::nest_service`, a hyper server) or wrap in tower-http layers. Each
    /// request is served in a session of its own; shutdown waits for its calls.
    pub fn http_service(&self, config: HttpConfig) -> HttpService {
        HttpService::new(self, Arc::new(config), None, None)
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
        let config = Arc::new(config);
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            // hyper's floor for its read buffer.
            .max_buf_size(config.max_header_bytes.max(8192))
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(config.keep_alive);
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
            let io = TokioIo::new(stream);
            let open = self.open_connections.clone();
            if open.load(Ordering::Relaxed) >= self.engine.config.max_connections {
                self.engine.metrics.record_refused_connection();
                let max = self.engine.config.max_connections;
                let refuse = hyper::service::service_fn(move |_| async move {
                    Ok::<_, Infallible>(over_capacity(max))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(io, refuse);
                self.connections.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                });
                continue;
            }
            let session = Session::for_exchanges_from(self.engine.clone(), Some(remote_addr));
            let service = HttpService::new(self, config.clone(), Some(session), Some(remote_addr));
            let conn = builder
                .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
                .into_owned();
            let conn = graceful.watch(conn);
            open.fetch_add(1, Ordering::Relaxed);
            self.engine.metrics.add_connections(1);
            self.connections.spawn(async move {
                if let Err(err) = conn.await {
                    tracing::debug!(%err, "HTTP connection ended with an error");
                }
                open.fetch_sub(1, Ordering::Relaxed);
            });
        }
        // Requests in flight finish; idle keep-alive connections close now.
        graceful.shutdown().await;
        Ok(())
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
