//! JSON-RPC over HTTP POST (feature `http`): a server and a client on hyper 1.x.
//!
//! - [`crate::Server::serve_http`] accepts HTTP/1.1 and HTTP/2 connections on a TCP
//!   listener and serves POSTed frames through the same serving core as every other
//!   transport; [`crate::Server::http_service`] gives the same as a
//!   `tower::Service<http::Request<_>>` ([`HttpService`]) to nest in an axum or hyper
//!   application.
//! - [`crate::Client::connect_http`] makes a [`crate::Client`] whose calls are POSTed,
//!   so generated typed clients work over HTTP unchanged: pooled connections,
//!   HTTP/2 where the server offers it by ALPN (or from the first byte when told),
//!   a timeout per request, batches as one POST ([`HttpClientConfig`]).
//! - With the `tls` feature, `https://` and `wss://` URLs: the web's public
//!   authorities by default, or your own `rustls::ClientConfig`.
//! - With the `websocket` feature, a `GET` upgrade on the same path is a WebSocket
//!   with a stream peer's full semantics (server-to-client calls included), and
//!   `Client::connect_ws` is its client.
//!
//! - Answers as server-sent events for clients that accept them
//!   ([`HttpConfig::sse_keep_alive`]), `Host` and `Origin` allowlists
//!   ([`Allowlist`]), and sessions named by a header ([`HttpSessions`]) serve MCP's
//!   Streamable HTTP transport, or any protocol built the same way;
//!   [`crate::Server::serve_http_with_layer`] adds a protocol's own checks.
//!
//! The status codes and limits are on [`HttpService`] and [`HttpConfig`].

mod allowlist;
mod body;
mod client;
mod client_config;
mod config;
mod idle;
mod request_body;
mod serve;
mod service;
mod sessions;
mod sse;
#[cfg(feature = "websocket")]
mod websocket;
#[cfg(feature = "websocket")]
mod websocket_client;
#[cfg(feature = "websocket")]
mod websocket_frames;

pub use allowlist::Allowlist;
pub use body::HttpBody;
pub(crate) use client::{probe, transport_failure, TransportFailure};
pub use client_config::HttpClientConfig;
pub use config::HttpConfig;
pub use service::HttpService;
pub use sessions::HttpSessions;
