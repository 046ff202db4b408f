//! The side-by-side comparison of the `rpc` SDK with its peers: jsonrpsee 0.26,
//! tarpc (JSON and bincode codecs) and, as the floor, what serde_json or a bare tokio
//! line echo does with no RPC machinery at all.
//!
//! The runnable entry point is the `comparison` bench (`benches/comparison.rs`), which
//! installs the counting allocator of [`counting`] and runs:
//! - [`codec`]: decoding one small call and encoding its result, in process, no I/O;
//! - [`loopback`]: calls over loopback TCP on one connection, server and client in one
//!   process on a two-worker tokio runtime;
//! - [`streams`]: items per second of subscriptions, ours (TCP and WebSocket) and
//!   jsonrpsee's (WebSocket);
//! - [`connections`]: 1,000 connections to one server, one call in flight on each.
//!
//! [`report`] turns the figures into markdown tables with ratios and the performance
//! targets, [`charts`] into SVG charts; [`sockets`] checks with the kernel that the
//! connections are the ones claimed; [`runtime`] is the fresh two-worker runtime
//! every round runs on. `README.md` beside this crate says what each
//! figure means and holds the last results.

pub mod charts;
pub mod codec;
pub mod connections;
pub mod counting;
pub mod floor_tasks;
pub mod loopback;
pub mod report;
pub mod runtime;
pub mod services;
pub mod sockets;
pub mod stats;
pub mod streams;
