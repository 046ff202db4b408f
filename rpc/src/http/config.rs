//! The limits and paths of the HTTP server.

use std::time::Duration;

/// How [`crate::Server::serve_http`] and [`super::HttpService`] serve JSON-RPC over
/// HTTP. Every limit is separate; what hitting each looks like on the wire is said
/// on its field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The path JSON-RPC is posted to (`/`). Another path answers 404.
    pub path: String,
    /// A path answering `GET` with 200 `ok`, for load balancers (`Some("/health")`).
    pub health_path: Option<String>,
    /// The largest request body (1 MiB). A larger one is refused while it streams
    /// in, before it is buffered: 413 with a JSON-RPC -32600 error body.
    pub max_body_bytes: usize,
    /// The largest request head, in bytes, for HTTP/1.1 (16 KiB). Over it the
    /// connection is answered 431 and closed (hyper's rule).
    pub max_header_bytes: usize,
    /// How long an HTTP/1.1 client may take to send a request head (30 s); the
    /// connection is closed after it. This also ends idle keep-alive connections.
    pub header_read_timeout: Option<Duration>,
    /// Whether HTTP/1.1 connections are kept alive between requests (`true`).
    pub keep_alive: bool,
    /// Whether a `GET` upgrade on the path becomes a WebSocket (`true`; feature
    /// `websocket`). Without it such a request answers 405.
    pub websocket: bool,
    /// The largest WebSocket message, and frame (1 MiB). A larger one closes the
    /// WebSocket with code 1009 (message too big).
    pub websocket_max_message_bytes: usize,
    /// How often the server pings a WebSocket client (30 s).
    pub websocket_ping_interval: Option<Duration>,
    /// How long a WebSocket may stay silent, pongs included, before the server
    /// closes it with code 1001 and the reason "idle timeout" (90 s; checked at
    /// each ping).
    pub websocket_idle_timeout: Option<Duration>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            path: "/".to_owned(),
            health_path: Some("/health".to_owned()),
            max_body_bytes: 1 << 20,
            max_header_bytes: 16 << 10,
            header_read_timeout: Some(Duration::from_secs(30)),
            keep_alive: true,
            websocket: true,
            websocket_max_message_bytes: 1 << 20,
            websocket_ping_interval: Some(Duration::from_secs(30)),
            websocket_idle_timeout: Some(Duration::from_secs(90)),
        }
    }
}

impl HttpConfig {
    /// Serves JSON-RPC on `path` instead of `/`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets (or, with `None`, removes) the health path.
    #[must_use]
    pub fn health_path(mut self, path: Option<&str>) -> Self {
        self.health_path = path.map(str::to_owned);
        self
    }

    /// Sets the largest request body.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}
