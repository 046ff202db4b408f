//! A typed JSON-RPC 2.0 runtime: messages parsed in place, streaming framing, a
//! buffer pool and transports.
//!
//! The layers, bottom up:
//! - [`message`]: parse frames into requests, notifications, responses and batches that
//!   borrow from the frame; encode straight into `BytesMut`.
//! - [`framing`]: newline-delimited and `Content-Length` framing on tokio-util's codec
//!   traits, with a maximum frame size enforced before buffering.
//! - [`buffer`]: a bounded pool of `BytesMut` in size classes.
//! - [`transport`]: framed readers and coalescing writers over TCP, Unix sockets,
//!   stdio, a child process and in-memory pipes.
//! - [`service`]: the interface generated code implements ([`service::Service`]), and
//!   [`service::Router`] for services written by hand.
//! - [`engine`]: the call engine, independent of any connection: from one received
//!   frame to its answer (routing, admission to worker pools, limits, deadlines,
//!   panic isolation, cancellation, batches), as a `tower::Service` per call so
//!   tower's layers wrap calls ([`Server::layer`]), and callable in process without a
//!   socket ([`Server::session`], [`Session::handle_frame`]).
//! - [`peer`] and [`client`]: a stream connection's two directions (the reader that
//!   drives the engine, outgoing calls matched to their responses), and clients over
//!   one connection, a reconnecting one ([`Client::reconnecting`]) or a balanced set
//!   of endpoints ([`Client::balanced`], [`Client::discover`], [`Client::sticky`]),
//!   each a `tower::Service` that reports its load; [`ConnectionConfig`] configures
//!   a connection at either end.
//! - [`server`]: serving a service on listeners and connections, with graceful
//!   shutdown; [`ServerConfig`] holds its pools, deadlines and connection config.
//! - [`metrics`]: counters and latency histograms, as a serializable snapshot; with
//!   the `metrics` feature, exported through the `metrics` facade (Prometheus,
//!   OpenTelemetry) by method and transport.
//! - Tracing: each call runs in an `rpc.call` span (DEBUG) that records its outcome
//!   and duration; connections, refusals and shutdown log through `tracing`;
//!   [`trace_context`] reads W3C `traceparent`s, opt in.
//! - [`stream`]: streaming methods (subscriptions): the wire shape, buffers and
//!   overflow policies, and the client's typed [`stream::Subscription`].
//! - `openrpc` (feature `openrpc`, on by default): OpenRPC documents of services,
//!   from their traits and `schemars` derives, answered by `rpc.discover`.
//!
//! # Guarantees
//!
//! - Every call that was accepted gets exactly one answer (a frame handed in process
//!   gets its answer back as a value), written before the
//!   connection is reported closed ([`Peer::closed`] returns after the writer has
//!   written it): when the other end closes its sending side (EOF on stdio or a child's
//!   stdin, a TCP half-close; calls run on to their answers, for at most
//!   [`ConnectionConfig::half_close_grace`], after which they are answered -32800), on
//!   [`Peer::close`], and
//!   in [`Server::shutdown`], whose [`server::ShutdownReport`] counts the answers
//!   written and lost. A failed read or write ends the connection and drops its calls.
//! - Memory per connection is bounded: calls in flight
//!   ([`ConnectionConfig::max_in_flight`], each batch element and
//!   notification counting one, each call holding its place until its answer has been
//!   handed to the socket), bytes of frames and waiting answers
//!   ([`ConnectionConfig::max_buffered_bytes`]), frame sizes. Over a limit,
//!   the connection is not read until it is back under, so the sender is pushed back.
//!   A reader that writes less than [`transport::MIN_WRITE_PROGRESS`] per
//!   `write_stall_timeout` is cut off.
//! - On one connection, notifications are handled one after another in arrival
//!   order, and a call that arrives after a notification starts only after that
//!   notification's handler has finished. Requests run concurrently and may answer out
//!   of order. A notification method marked [`service::MethodInfo::unordered`]
//!   (`#[rpc(notification, unordered)]`) neither waits nor is waited for. A call's
//!   first poll happens in its connection's task, and a handler that finishes there
//!   without waiting is answered with no task of its own; the connection reads its
//!   next frame after it. Handlers that compute for long without awaiting belong in
//!   the blocking pool, or turn [`ServerConfig::run_ready_calls_inline`] off.
//! - A streaming method's items ([`stream`]) arrive in order, after the call's answer
//!   (after the batch's array in a batch), each stream holding at most its buffer of
//!   items (and the client at most [`ConnectionConfig::subscription_buffer`] per
//!   subscription, holding its connection back for at most
//!   [`ConnectionConfig::subscription_wait`] before the subscription lags), so one
//!   slow stream or reader never stalls the other calls on its connection; a stream ends with a last notification saying why (ended,
//!   failed, lagged, shutdown), is dropped when its connection closes, and stops
//!   when its client unsubscribes or drops the subscription.
//! - A client never sends a call twice unless its method is marked idempotent
//!   (`#[rpc(idempotent)]`, [`CallOptions::idempotent`]): a managed client sends
//!   such a call again when its connection died before the response came, and
//!   fails any other with [`Error::ConnectionClosed`] naming the endpoint. A call
//!   that was not sent (the connection had closed, or no endpoint was connected in
//!   time) fails with [`Error::NotSent`], and is always safe to send again.
//! - A panicking handler answers -32603 for its own id; a response that fails to decode
//!   fails only its own call; an overloaded server answers with an error; no error
//!   answer is larger than the connection's frame limit.
//! - Each call runs the method it named: composed services ([`service::Services`])
//!   renumber calls for the service that has the method, and a call forwarded
//!   unchanged by a hand-written service is answered -32603 instead of running
//!   another method ([`service::IncomingCall::reroute`]).
//! - A handler's [`CallContext`] token is cancelled once its call is over, whatever
//!   ended it (a cancel, the deadline, the connection, shutdown, or the answer),
//!   including for blocking handlers, which a deadline cannot stop.
//! - Notifications a handler sends its caller with [`CallContext::notify`] before
//!   returning arrive before the call's answer, in the order sent (over HTTP, as
//!   events of the call's event stream); where nothing can carry them, `notify`
//!   says so and the answer is unaffected.
//! - A server generated by [`rpc_service`] takes params by position or by name,
//!   decoding them without building a `serde_json::Value` and allocating nothing of
//!   its own; a mistake is answered -32602 naming the parameter by its wire name, in JSON's terms
//!   (missing, with the unknown name sent instead if any; surplus positional;
//!   duplicate; mistyped). Unknown names are ignored, or refused with `strict`.
//!
//! # Errors
//!
//! A method's error becomes the error response: a code, a message and optional
//! `data`. A method returns [`RpcError`] itself, or an error type of its own that
//! converts into one ([`IntoRpcError`]); `#[derive(IntoRpcError)]` writes that
//! conversion from a code per variant, the message from `Display` (so it goes with
//! `thiserror`) and a field marked `#[rpc(data)]`. On the client the error is
//! [`Error::Rpc`], with [`Error::code`] and [`Error::data`].
//!
//! ```
//! use rpc::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, PartialEq)]
//! pub struct Quota {
//!     pub limit: u32,
//!     pub retry_after_s: u32,
//! }
//!
//! #[derive(Debug, thiserror::Error, IntoRpcError)]
//! pub enum StoreError {
//!     #[error("no key `{0}`")]
//!     #[rpc(code = -32020)]
//!     NotFound(String),
//!     #[error("over the quota of {} reads", .0.limit)]
//!     #[rpc(code = -32021)]
//!     OverQuota(#[rpc(data)] Quota),
//! }
//!
//! #[rpc_service]
//! pub trait Store {
//!     async fn get(&self, key: String) -> Result<String, StoreError>;
//! }
//!
//! struct Empty;
//!
//! impl Store for Empty {
//!     async fn get(&self, key: String) -> Result<String, StoreError> {
//!         if key == "hot" {
//!             return Err(StoreError::OverQuota(Quota { limit: 100, retry_after_s: 30 }));
//!         }
//!         Err(StoreError::NotFound(key))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (client_end, server_end) = rpc::transport::memory::pair(Framing::Ndjson, 1 << 16);
//! Server::new(StoreServer::new(Empty)).serve_connection(server_end);
//! let store = StoreClient::new(Client::new(client_end, ConnectionConfig::default()));
//!
//! let err = store.get("cold".into()).await.unwrap_err();
//! assert_eq!(err.code(), Some(ErrorCode(-32020)));
//! assert_eq!(err.rpc_error().unwrap().message, "no key `cold`");
//!
//! let err = store.get("hot".into()).await.unwrap_err();
//! assert_eq!(err.code(), Some(ErrorCode(-32021)));
//! let quota: Quota = err.data().unwrap().unwrap();
//! assert_eq!(quota.retry_after_s, 30);
//! # }
//! ```
//!
//! Strings are not errors (`Result<T, String>` does not compile): they carry no code,
//! and any code given them implicitly would be wrong for someone (-32603 would present
//! a refused request as a crash). Map them in the method, as
//! `.map_err(RpcError::internal)`, or give them a type.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod buffer;
pub mod client;
pub mod engine;
mod error;
pub mod framing;
#[cfg(feature = "http")]
pub mod http;
pub mod message;
pub mod metrics;
#[cfg(feature = "openrpc")]
pub mod openrpc;
pub mod peer;
pub mod server;
pub mod service;
mod slots;
pub mod stream;
pub mod trace_context;
pub mod transport;

pub use client::{CallOptions, Client, ClientPool, Endpoint, Reconnect};
pub use engine::Session;
pub use error::Error;
pub use message::{ErrorCode, IntoRpcError, RpcError};
pub use peer::{Batch, BatchCall, BatchResponses, ConnectionConfig, Peer};
pub use server::{OverloadPolicy, Server, ServerConfig, WorkerPoolConfig};
pub use service::{CallContext, NotifyError};

pub use rpc_macros::{rpc_service, IntoRpcError};

/// The JSON Schema derive that OpenRPC documents take their schemas from
/// ([`openrpc`]): `#[derive(rpc::schemars::JsonSchema)]` with
/// `#[schemars(crate = "rpc::schemars")]`, or a dependency on `schemars` 1.x of
/// your own.
#[cfg(feature = "openrpc")]
pub use schemars;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The names most programs need: `use rpc::prelude::*;`.
pub mod prelude {
    pub use crate::client::{CallOptions, Client, ClientPool, Endpoint, Reconnect};
    pub use crate::engine::Session;
    pub use crate::error::Error;
    pub use crate::framing::Framing;
    pub use crate::message::{ErrorCode, RpcError};
    pub use crate::peer::{Batch, ConnectionConfig, Peer};
    pub use crate::rpc_service;
    pub use crate::server::Server;
    pub use crate::server::{OverloadPolicy, ServerConfig, WorkerPoolConfig};
    pub use crate::service::{CallContext, IncomingCall, MethodInfo, Router, Service, Services};
    // The trait and the derive of that name.
    pub use crate::IntoRpcError;
}
