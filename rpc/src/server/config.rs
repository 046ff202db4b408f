//! How a server runs calls: worker pools, overload policies, deadlines, and the
//! config of the connections it serves.

use std::borrow::Cow;
use std::time::Duration;

use crate::peer::ConnectionConfig;

/// What a pool does with a call when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverloadPolicy {
    /// Stop reading from the connection until there is room, so the transport pushes
    /// back on the sender (TCP's window fills).
    #[default]
    Wait,
    /// Answer at once with -32000 ("server overloaded") without running the call.
    Reject,
}

/// The size and policy of one worker pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPoolConfig {
    /// Calls that may run at once.
    pub workers: usize,
    /// Calls that may wait for a worker.
    pub queue: usize,
    /// What happens when the queue is full.
    pub overload: OverloadPolicy,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for WorkerPoolConfig {
    /// 64 running calls per core (async handlers mostly wait, so many can share a
    /// core) and a queue of 1024, waiting when full.
    fn default() -> Self {
        WorkerPoolConfig {
            workers: 64 * cores(),
            queue: 1024,
            overload: OverloadPolicy::Wait,
        }
    }
}

impl WorkerPoolConfig {
    /// The default for the blocking pool: 2 threads' worth of calls per core, since
    /// each running call holds a thread.
    pub fn blocking_default() -> Self {
        WorkerPoolConfig {
            workers: 2 * cores(),
            queue: 1024,
            overload: OverloadPolicy::Wait,
        }
    }
}

/// How a server runs calls and serves its connections.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpc::{ConnectionConfig, ServerConfig};
///
/// let config = ServerConfig {
///     handler_timeout: Some(Duration::from_secs(5)),
///     connection: ConnectionConfig {
///         max_in_flight: 64,
///         ..ConnectionConfig::default()
///     },
///     ..ServerConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The pool of async methods without a pool of their own.
    pub default_pool: WorkerPoolConfig,
    /// The pool of `blocking` methods.
    pub blocking_pool: WorkerPoolConfig,
    /// Named pools; a method naming a pool not listed here gets the default config.
    pub pools: Vec<(Cow<'static, str>, WorkerPoolConfig)>,
    /// How long a handler may run before its call is answered -32001, for methods
    /// without a deadline of their own (`None`: no deadline). Not to be confused with
    /// [`ConnectionConfig::request_timeout`], how long this end waits for the answers
    /// to its own calls.
    pub handler_timeout: Option<Duration>,
    /// How every connection the server serves behaves: its limits, timeouts and the
    /// calls it makes back to its client. The same for connections from the accept
    /// loops and those handed to [`crate::Server::serve_connection`], but for
    /// [`ServerConfig::accepted_idle_timeout`].
    pub connection: ConnectionConfig,
    /// How long a connection accepted by [`crate::Server::serve_tcp`] or
    /// [`crate::Server::serve_unix`] may stay quiet (no frame in, nothing in flight)
    /// before it is closed, in place of the connection's own
    /// [`ConnectionConfig::idle_timeout`]. Accepted sockets of clients that went
    /// silent are reclaimed; a stdio or child-process connection, whose closing would
    /// end its process's conversation, is left to the connection's setting (none by
    /// default).
    pub accepted_idle_timeout: Option<Duration>,
    /// Connections the accept loops serve at once; one more is answered with a
    /// -32000 error (id null) and closed.
    pub max_connections: usize,
    /// Calls in flight across every connection and session of the server (65,536),
    /// beside each connection's own [`ConnectionConfig::max_in_flight`]. At the
    /// limit a stream connection stops reading (its sender is pushed back); an HTTP
    /// request is answered 503 with `Retry-After` and a -32000 error body.
    pub max_in_flight: usize,
    /// Whether `rpc.discover` is answered with the service's OpenRPC document
    /// ([`crate::openrpc`]; feature `openrpc`) when the service does not answer it
    /// itself and describes its methods (true). Off, it is answered -32601.
    pub discover: bool,
    /// Whether a call's W3C `traceparent` (its HTTP request's header, or its params'
    /// `_meta.traceparent`) is read, recorded on its span as `trace_id` and
    /// `parent_id`, and handed to its handler ([`crate::CallContext::trace_context`]).
    /// Off by default: reading `_meta` costs a scan of each call's params. See
    /// [`crate::trace_context`].
    pub trace_context: bool,
    /// Whether a call is first polled by the connection's task, before it gets a task
    /// of its own (true). A handler that finishes without waiting is then answered
    /// there: one task hop less per call, and one allocation fewer when it uses the
    /// call's context. Its calls after it on the same connection wait meanwhile; turn
    /// this off for handlers that compute for long without awaiting, so a
    /// connection's calls run on several workers at once.
    pub run_ready_calls_inline: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_pool: WorkerPoolConfig::default(),
            blocking_pool: WorkerPoolConfig::blocking_default(),
            pools: Vec::new(),
            handler_timeout: Some(Duration::from_secs(60)),
            connection: ConnectionConfig::default(),
            accepted_idle_timeout: Some(Duration::from_secs(300)),
            max_connections: 10_000,
            max_in_flight: 65_536,
            discover: true,
            trace_context: false,
            run_ready_calls_inline: true,
        }
    }
}
