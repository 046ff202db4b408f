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
#![warn(missing_docs)]

pub mod buffer;
pub mod framing;
pub mod message;
pub mod transport;

pub use rpc_macros::rpc_service;
