//! The call engine: from one received frame to its encoded answer, independent of any
//! connection.
//!
//! Every transport drives the same engine: a stream connection's reader
//! ([`crate::peer`]) hands it each frame as it arrives and lets the answers go to the
//! connection's writer; an exchange (a frame handed in process with
//! [`Session::handle_frame`], later an HTTP request) gets its answer back as a value.
//!
//! One request's path, and the file of each step:
//!
//! ```text
//! session.rs  parse the frame; a single call, a batch, a cancel or a response
//! call.rs     take the call's place in the session's in-flight limit (budget.rs),
//!             route it, admit it to its pool, keep notifications in order
//!             (order.rs), register it for `$/cancelRequest` (cancel.rs), and start
//!             its task through the service (generated `spawn_call`)
//! pipeline.rs wait for a worker and the method's limit; run the handler under its
//!             deadline with panics caught
//! answer.rs   encode the reply (or the error) and send it where the frame's answer
//!             goes: the connection's writer, the exchange's caller, or the batch's
//!             array (batch.rs)
//! ```
//!
//! Single calls and batch elements take the same path: the same admission, limits,
//! registration for cancellation, metrics and deadlines; a batch's elements run
//! concurrently, at most `ConnectionConfig::max_batch_concurrency` at a time.
//!
//! With tower layers ([`crate::Server::layer`], `tower.rs`), the handler in step
//! `pipeline.rs` is called through the layered [`CallStack`] instead of directly.

mod answer;
mod batch;
pub(crate) mod budget;
mod call;
mod cancel;
mod order;
mod pipeline;
pub(crate) mod session;
mod tower;
mod trace;

use std::borrow::Cow;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::buffer::BufferPool;
use crate::metrics::Metrics;
use crate::server::ServerConfig;
use crate::service::Service;

pub use call::{CallSpawner, Started};
pub(crate) use cancel::CANCEL_METHOD;
#[cfg(feature = "http")]
pub(crate) use session::Exchanged;
pub use session::Session;
pub(crate) use session::{RequestMeta, Responses, Sink};
pub(crate) use tower::Handler;
pub use tower::{BoxError, CallStack, OkFuture};

/// A service with its pools, limits, metrics and shutdown state: everything the
/// calls of a server share, whatever transport they came on.
pub(crate) struct Engine {
    pub(crate) service: Arc<dyn Service>,
    pipeline: pipeline::Pipeline,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: ServerConfig,
    /// Phase one of shutdown: connections stop reading new calls, and exchanges are
    /// refused.
    pub(crate) stop_reading: CancellationToken,
    /// Phase two: the deadline passed; calls still running are answered -32002.
    pub(crate) hard_stop: CancellationToken,
    /// The calls of exchanges (frames handed in process), which belong to no
    /// connection; shutdown waits for them as for connections.
    pub(crate) exchanges: TaskTracker,
    /// The tower layers calls run through, when any were added; without them a call
    /// runs its handler directly (one allocation less).
    pub(crate) layers: Option<CallStack>,
    /// Calls in flight across every session: [`ServerConfig::max_in_flight`].
    pub(crate) in_flight: Arc<crate::slots::Slots>,
    /// The service's OpenRPC document as `rpc.discover` answers it, made at the first
    /// request for it; `None` inside when the service describes no method.
    #[cfg(feature = "openrpc")]
    discovery: std::sync::OnceLock<Option<Box<serde_json::value::RawValue>>>,
}

impl Engine {
    pub(crate) fn new(service: Arc<dyn Service>, config: ServerConfig) -> Self {
        let names: Vec<&'static str> = service
            .methods()
            .iter()
            .map(|m| match &m.name {
                Cow::Borrowed(name) => *name,
                // Method tables live as long as the server; a hand-built name is
                // leaked once per server so that metrics can hold `&'static str`.
                Cow::Owned(name) => Box::leak(name.clone().into_boxed_str()),
            })
            .collect();
        let in_flight = Arc::new(crate::slots::Slots::new(config.max_in_flight.max(1)));
        Engine {
            pipeline: pipeline::Pipeline::new(service.methods(), &config),
            metrics: Arc::new(Metrics::exported(&names)),
            service,
            config,
            stop_reading: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            exchanges: TaskTracker::new(),
            layers: None,
            in_flight,
            #[cfg(feature = "openrpc")]
            discovery: std::sync::OnceLock::new(),
        }
    }

    /// What `rpc.discover` answers: the service's OpenRPC document, when the server
    /// answers it ([`ServerConfig::discover`]) and the service describes its methods.
    #[cfg(feature = "openrpc")]
    pub(crate) fn discovery(&self) -> Option<&serde_json::value::RawValue> {
        if !self.config.discover {
            return None;
        }
        self.discovery
            .get_or_init(|| {
                let document = crate::openrpc::document_of(&*self.service)?;
                serde_json::value::to_raw_value(&document).ok()
            })
            .as_deref()
    }

    /// Wraps every call's handler in `layer`, around the layers added before.
    pub(crate) fn add_layer<L>(&mut self, layer: L)
    where
        L: ::tower::Layer<CallStack>,
        L::Service: ::tower::Service<crate::service::IncomingCall, Response = crate::service::Reply>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as ::tower::Service<crate::service::IncomingCall>>::Error: Into<BoxError>,
        <L::Service as ::tower::Service<crate::service::IncomingCall>>::Future: Send + 'static,
    {
        let stack = self
            .layers
            .take()
            .unwrap_or_else(|| CallStack::new(Handler::new(self.service.clone())));
        self.layers = Some(stack.wrap(layer));
    }

    /// An engine that serves no method: a client's connection answers the calls that
    /// come to it with -32601.
    pub(crate) fn without_service(config: ServerConfig) -> Self {
        let mut engine = Self::new(Arc::new(crate::service::Router::new()), config);
        // A client's connection: its counters stay its own, not the server's export.
        engine.metrics = Arc::new(Metrics::new(&[]));
        engine
    }

    /// Where answers are encoded.
    pub(crate) fn buffer_pool(&self) -> &Arc<BufferPool> {
        &self.config.connection.buffer_pool
    }
}
