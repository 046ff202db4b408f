//! What a handler may know about the call it serves, beyond its params: the peer it
//! came from, the connection, and when the call is over.

use std::net::SocketAddr;
use std::time::Instant;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use std::sync::Arc;

use serde::Serialize;

use crate::engine::{RequestMeta, Session};
use crate::message::{encode_notification, EncodeError, Id, JsonText};
use crate::peer::Peer;
use crate::trace_context::TraceContext;
use crate::transport::WriterHandle;

/// The connection a call came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Unique in this process: one per connection (and per in-process
    /// [`Session`]), never reused.
    pub id: u64,
    /// The other end's address, for connections a server accepted over TCP or
    /// was handed with [`crate::Server::serve_connection_from`]; `None` otherwise.
    pub remote_addr: Option<SocketAddr>,
    /// How the call's frames came: the `transport` label of metrics and traces.
    pub transport: Transport,
}

/// How a connection's frames reach the server: the `transport` label of its
/// metrics and the field of its calls' spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Transport {
    /// A TCP connection the server accepted ([`crate::Server::serve_tcp`]).
    Tcp,
    /// A Unix socket connection the server accepted ([`crate::Server::serve_unix`]).
    Unix,
    /// HTTP requests (`Server::serve_http`, `rpc::http::HttpService`).
    Http,
    /// A WebSocket upgraded on the HTTP server.
    WebSocket,
    /// A connection handed to [`crate::Server::serve_connection`]: stdio, a child
    /// process, an in-memory pair or a socket accepted elsewhere; and the
    /// connections of clients ([`crate::Peer::connect`]).
    Stream,
    /// Frames handed in process ([`crate::Server::session`]).
    InProcess,
}

impl Transport {
    /// The label: `tcp`, `unix`, `http`, `websocket`, `stream` or `in_process`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
            Transport::Stream => "stream",
            Transport::InProcess => "in_process",
        }
    }

    /// Every transport, in the order of [`Transport::index`].
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Transport; 6] = [
        Transport::Tcp,
        Transport::Unix,
        Transport::Http,
        Transport::WebSocket,
        Transport::Stream,
        Transport::InProcess,
    ];

    /// A dense index, for per-transport tables.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The context of one call, for a handler that needs more than its params: the
/// peer to call back, the connection it came in on, the call's id, its deadline and
/// a token that tells when the call is over.
///
/// A `#[rpc_service]` method receives it by declaring a parameter of type
/// `CallContext` or `&CallContext` (in any position); it is not part of the params
/// and does not appear in the generated client. A [`super::Router`] handler gets it
/// from [`super::IncomingCall::context`].
///
/// # Examples
///
/// ```
/// use rpc::prelude::*;
///
/// #[rpc_service]
/// pub trait Jobs {
///     /// Runs a job; the caller may cancel it, and is told of progress.
///     async fn run(&self, cx: &CallContext, steps: u32) -> Result<u32, RpcError>;
/// }
///
/// #[rpc_service]
/// pub trait Progress {
///     #[rpc(notification)]
///     async fn step(&self, done: u32);
/// }
///
/// struct Worker;
///
/// impl Jobs for Worker {
///     async fn run(&self, cx: &CallContext, steps: u32) -> Result<u32, RpcError> {
///         // The caller's own service, typed, over the connection the call came in on.
///         let progress = cx.peer().map(ProgressClient::new);
///         for done in 1..=steps {
///             if cx.is_cancelled() {
///                 return Err(RpcError::internal("stopped"));
///             }
///             if let Some(progress) = &progress {
///                 let _ = progress.step(done).await;
///             }
///         }
///         Ok(steps)
///     }
/// }
/// # let _ = JobsServer::new(Worker);
/// ```
#[derive(Clone)]
pub struct CallContext {
    pub(crate) session: Session,
    pub(crate) id: Option<JsonText>,
    /// The method's index in the server's table.
    pub(crate) method: usize,
    pub(crate) cancel: CancellationToken,
    pub(crate) deadline: Option<Instant>,
    /// What the call's frame came with (an HTTP request's head).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) request: Option<Arc<RequestMeta>>,
    /// For a call over an exchange that carries them (an HTTP event stream): where
    /// its notifications go.
    pub(crate) events: Option<WriterHandle>,
    pub(crate) trace_context: Option<TraceContext>,
}

/// Why [`CallContext::notify`] could not tell the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// Nothing can carry a notification to this call's caller: it came over HTTP
    /// without `Accept: text/event-stream` (or in a batch, or started a session),
    /// or it was handed in process ([`crate::Server::handle_frame`]).
    #[error(
        "this call's caller cannot be sent notifications: over HTTP, POST the call \
         alone with `Accept: application/json, text/event-stream`; or call over a \
         WebSocket or another connection"
    )]
    Unreachable,
    /// The call is over (answered, cancelled, past its deadline): its caller no
    /// longer listens for it.
    #[error("the call is over (answered, cancelled or past its deadline); nobody listens for its notifications")]
    CallOver,
    /// The connection (or the HTTP response) closed.
    #[error("the caller's connection closed; the notification was not sent")]
    Closed,
    /// The params could not be encoded; nothing was sent.
    #[error("could not encode the notification's params: {0}")]
    Encode(#[from] EncodeError),
}

impl CallContext {
    /// The peer the call came from, to call it back on the same connection (wrap it
    /// in a generated client for typed calls); `None` for a frame handed in process
    /// ([`crate::Server::handle_frame`], a [`Session`]) or once the connection has
    /// closed.
    pub fn peer(&self) -> Option<Peer> {
        let shared = self.session.state.peer.upgrade()?;
        Some(Peer { shared })
    }

    /// The connection the call came in on.
    pub fn connection(&self) -> ConnectionInfo {
        self.session.state.info
    }

    /// The call's id; `None` for a notification.
    pub fn id(&self) -> Option<Id<'_>> {
        self.id.as_ref().and_then(|t| Id::from_json(t.as_str()))
    }

    /// The method's wire name, as the server's table has it.
    pub fn method(&self) -> &str {
        &self.session.state.engine.service.methods()[self.method].name
    }

    /// When the server abandons the call (answering it with a timeout error): the
    /// method's `timeout`, or the server's `handler_timeout`, from when the call was
    /// admitted. `None` when neither is set.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the call is over: its caller cancelled it (`$/cancelRequest`), its
    /// deadline passed, its connection closed, the server's shutdown deadline came,
    /// or it was answered. Work a handler started for the call (a blocking loop, a
    /// spawned task) should stop then: nobody will read its result.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when [`CallContext::is_cancelled`] becomes true.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// The HTTP request the call came in (its method, URI, headers and extensions,
    /// where a tower layer may have put what it knows: an authenticated user, say);
    /// for a call on a WebSocket, the upgrade request that opened it; `None` for a
    /// call that did not come over HTTP.
    #[cfg(feature = "http")]
    pub fn http_request(&self) -> Option<&http::request::Parts> {
        self.request.as_deref().map(|r| &r.http)
    }

    /// The request's headers; see [`CallContext::http_request`].
    #[cfg(feature = "http")]
    pub fn headers(&self) -> Option<&http::HeaderMap> {
        self.http_request().map(|r| &r.headers)
    }

    /// The request's extensions; see [`CallContext::http_request`].
    #[cfg(feature = "http")]
    pub fn extensions(&self) -> Option<&http::Extensions> {
        self.http_request().map(|r| &r.extensions)
    }

    /// Sends the caller a notification `method` with `params`, ahead of the call's
    /// answer: progress, log lines, partial results (MCP's
    /// `notifications/progress`, LSP's `$/progress`). Waits while the connection's
    /// write queue is full, so a handler cannot outrun a slow reader.
    ///
    /// Notifications sent before the handler returns reach the caller before its
    /// answer, in the order they were sent, on every transport: on a connection
    /// (TCP, Unix, stdio, child process, memory, WebSocket) they are written to it;
    /// over HTTP, a call POSTed alone by a client that accepts
    /// `text/event-stream` is answered by an event stream that carries them, then
    /// the answer (the server's `HttpConfig::sse_keep_alive` must
    /// not be off). The method must read its context (a `CallContext` parameter,
    /// or [`super::MethodInfo::takes_context`] for a [`super::Router`] method) for
    /// its HTTP calls to get such a stream.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Unreachable`] when nothing can carry it (an HTTP request that
    /// accepts only JSON, a batch's element over HTTP, a frame handed in process),
    /// [`NotifyError::CallOver`] once the call is over, [`NotifyError::Closed`]
    /// when the connection has closed, [`NotifyError::Encode`] when `params` does
    /// not serialize.
    pub async fn notify<P: Serialize + ?Sized>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<(), NotifyError> {
        if self.is_cancelled() {
            return Err(NotifyError::CallOver);
        }
        let state = &self.session.state;
        // An exchange's event stream, else the connection (exchanges have none).
        let writer = self
            .events
            .as_ref()
            .or(state.writer.as_ref())
            .ok_or(NotifyError::Unreachable)?;
        let pool = state.engine.buffer_pool();
        let mut buf = pool.take(128);
        if let Err(err) = encode_notification(&mut buf, method, Some(params)) {
            pool.give(buf);
            return Err(err.into());
        }
        writer
            .send_note(pool.freeze(buf))
            .await
            .map_err(|_| NotifyError::Closed)
    }

    /// The caller's W3C trace context, when the server reads them
    /// ([`crate::ServerConfig::trace_context`]) and the call carried a valid one:
    /// the parent to give an OpenTelemetry span of the handler's.
    pub fn trace_context(&self) -> Option<&TraceContext> {
        self.trace_context.as_ref()
    }

    /// The token behind [`CallContext::is_cancelled`], to hand to spawned work.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("method", &self.method())
            .field("id", &self.id)
            .field("connection", &self.connection())
            .field("deadline", &self.deadline)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
