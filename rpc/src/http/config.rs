//! The limits and paths of the HTTP server.

use std::time::Duration;

use super::{Allowlist, HttpSessions};

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
    /// How long a client may take to send a request's body, from when its head was
    /// read (60 s, as a stream connection's `frame_timeout`; HTTP/1.1 and HTTP/2).
    /// Over it the request is answered 408 with a -32600 error body and, on
    /// HTTP/1.1, the connection is closed: a client trickling a byte now and then,
    /// or announcing a chunk it never sends, cannot hold a connection and its
    /// buffered body for good (`header_read_timeout` covers only the head).
    pub body_read_timeout: Option<Duration>,
    /// Whether HTTP/1.1 connections are kept alive between requests (`true`).
    pub keep_alive: bool,
    /// How long a connection may stay idle, with no request being served and no
    /// response being sent, before the server closes it (2 min; HTTP/1.1 and
    /// HTTP/2 alike). An HTTP/1.1 connection waiting for its next request is also
    /// ended by `header_read_timeout`; this is what ends an HTTP/2 connection that
    /// a client keeps open and unused. An answer ready to send that the client
    /// takes nothing of (an HTTP/2 client that grants no flow-control window)
    /// counts as idle too, as over TCP `write_stall_timeout` ends a client that
    /// does not read. A WebSocket has its own idle timeout.
    pub idle_timeout: Option<Duration>,
    /// Whether a `GET` upgrade on the path becomes a WebSocket (`true`; feature
    /// `websocket`). Without it such a request answers 405.
    pub websocket: bool,
    /// The largest WebSocket message, and frame (1 MiB). A larger one closes the
    /// WebSocket with code 1009 (message too big), fragments counted together. (A
    /// text message that is not UTF-8 closes it with 1007.)
    pub websocket_max_message_bytes: usize,
    /// How much a WebSocket reads at a time, its read buffer's size (4 KiB). Each
    /// open WebSocket holds one, idle or not, and tungstenite zero-fills its free
    /// room before every read, so the default is small (tungstenite's own is
    /// 128 KiB, which it recommends lowering to 4 KiB for many connections); a
    /// message larger than it is read in several reads into a buffer that grows to
    /// the message. A server with few, busy WebSockets carrying large messages
    /// reads them in fewer system calls with more.
    pub websocket_read_buffer_bytes: usize,
    /// How often the server pings a WebSocket client (30 s).
    pub websocket_ping_interval: Option<Duration>,
    /// How long a WebSocket may stay silent, pongs included, before the server
    /// closes it with code 1001 and the reason "idle timeout" (90 s; checked at
    /// each ping).
    pub websocket_idle_timeout: Option<Duration>,
    /// Answers as server-sent events (15 s). A client whose `Accept` names
    /// `text/event-stream` and JSON gets JSON when the answer is ready within this
    /// time, and otherwise a `text/event-stream` response: a keep-alive comment at
    /// once and at each interval (so proxies keep the request open), then the answer
    /// as one `message` event. One that accepts only event streams gets one at
    /// once. The client closing the stream stops the calls it waits for. `None`
    /// answers only with JSON, and a client that accepts only event streams 406.
    pub sse_keep_alive: Option<Duration>,
    /// The `Host` (HTTP/2: `:authority`) values answered on the path ([`Allowlist::Any`]).
    /// Another answers 421 with a -32600 error body: the defence against DNS
    /// rebinding for a server on a private address ([`Allowlist::Loopback`]).
    pub allowed_hosts: Allowlist,
    /// The `Origin` values answered on the path, WebSocket upgrades included
    /// ([`Allowlist::Any`]). A request without `Origin` (not from a browser) is
    /// answered; one from another origin answers 403 with a -32600 error body.
    pub allowed_origins: Allowlist,
    /// Sessions named by a header (none): see [`HttpSessions`].
    pub sessions: Option<HttpSessions>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            path: "/".to_owned(),
            health_path: Some("/health".to_owned()),
            max_body_bytes: 1 << 20,
            max_header_bytes: 16 << 10,
            header_read_timeout: Some(Duration::from_secs(30)),
            body_read_timeout: Some(Duration::from_secs(60)),
            keep_alive: true,
            idle_timeout: Some(Duration::from_secs(120)),
            websocket: true,
            websocket_max_message_bytes: 1 << 20,
            websocket_read_buffer_bytes: 4 * 1024,
            websocket_ping_interval: Some(Duration::from_secs(30)),
            websocket_idle_timeout: Some(Duration::from_secs(90)),
            sse_keep_alive: Some(Duration::from_secs(15)),
            allowed_hosts: Allowlist::Any,
            allowed_origins: Allowlist::Any,
            sessions: None,
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

    /// Sets (or, with `None`, removes) the idle timeout of connections.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Turns WebSocket upgrades on the path on or off.
    #[must_use]
    pub fn websocket(mut self, on: bool) -> Self {
        self.websocket = on;
        self
    }

    /// Sets (or, with `None`, turns off) answers as server-sent events and their
    /// keep-alive interval.
    #[must_use]
    pub fn sse_keep_alive(mut self, every: Option<Duration>) -> Self {
        self.sse_keep_alive = every;
        self
    }

    /// Sets the `Host` values answered.
    #[must_use]
    pub fn allowed_hosts(mut self, hosts: Allowlist) -> Self {
        self.allowed_hosts = hosts;
        self
    }

    /// Sets the `Origin` values answered.
    #[must_use]
    pub fn allowed_origins(mut self, origins: Allowlist) -> Self {
        self.allowed_origins = origins;
        self
    }

    /// Keeps sessions across requests, named by a header.
    #[must_use]
    pub fn sessions(mut self, sessions: HttpSessions) -> Self {
        self.sessions = Some(sessions);
        self
    }
}
