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
//! - [`pipeline`] and [`server`]: worker pools, overload policies, deadlines, panic
//!   isolation, cancellation and graceful shutdown.
//! - [`peer`], [`correlation`] and [`client`]: calls in both directions on one
//!   connection, responses matched to callers, connection pools.
//! - [`metrics`]: counters and latency histograms.
#![warn(missing_docs)]

mod budget;
pub mod buffer;
pub mod client;
pub mod correlation;
mod error;
pub mod framing;
pub mod message;
pub mod metrics;
pub mod peer;
pub mod pipeline;
pub mod server;
pub mod service;
pub mod transport;

pub use client::{Client, ClientPool};
pub use error::Error;
pub use message::{ErrorCode, RpcError};
pub use peer::{Peer, PeerConfig};
pub use pipeline::{OverloadPolicy, ServerConfig, WorkerPoolConfig};
pub use server::Server;

pub use rpc_macros::rpc_service;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The names most programs need: `use rpc::prelude::*;`.
pub mod prelude {
    pub use crate::client::{Client, ClientPool};
    pub use crate::error::Error;
    pub use crate::framing::Framing;
    pub use crate::message::{ErrorCode, RpcError};
    pub use crate::peer::{Peer, PeerConfig};
    pub use crate::pipeline::{OverloadPolicy, ServerConfig, WorkerPoolConfig};
    pub use crate::rpc_service;
    pub use crate::server::Server;
    pub use crate::service::{IncomingCall, MethodInfo, Router, Service};
}
