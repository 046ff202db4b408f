//! The interface between the runtime and the code that handles calls.
//!
//! A [`Service`] is a table of methods: [`Service::methods`] describes how each one
//! runs, [`Service::route`] maps a wire name to its index in the table, and
//! [`Service::call`] runs one call and returns its encoded response. The
//! `#[rpc_service]` macro generates all three (the route is a `match` on the name);
//! [`Router`] builds one by hand from closures; [`Services`] serves several as one.

mod call;
mod compose;
mod context;
pub(crate) mod params;
mod params_walk;
mod router;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use crate::message::RpcError;

pub use call::IncomingCall;
pub(crate) use call::{table_address, CallExtras};
pub use compose::{DuplicateMethod, Services};
pub use context::{CallContext, ConnectionInfo, NotifyError, Transport};
pub use router::Router;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a call produces: the complete encoded response frame (empty for a
/// notification), or an error for the runtime to encode with the call's id.
pub type Reply = Result<Bytes, RpcError>;

/// Where a method's calls run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Execution {
    /// On the async runtime, in the server's default pool.
    #[default]
    Async,
    /// On the async runtime, in the named pool (a bulkhead: its own workers and queue).
    Pool(Cow<'static, str>),
    /// On the blocking thread pool, for handlers that compute or block.
    Blocking,
}

/// How one method runs; the service's table holds one per method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInfo {
    /// The wire name.
    pub name: Cow<'static, str>,
    /// Where its calls run.
    pub execution: Execution,
    /// Its deadline, overriding the server's default.
    pub timeout: Option<Duration>,
    /// How many of its calls may run at once, across all connections.
    pub concurrency: Option<usize>,
    /// For a notification: whether it may run alongside the notifications and calls
    /// around it. By default a connection's notifications are handled one after
    /// another in arrival order, and a call that arrives after a notification starts
    /// once that notification has been handled; an unordered notification neither
    /// waits nor is waited for. Requests always run concurrently.
    pub unordered: bool,
    /// Whether its handler reads the call's [`CallContext`]: the runtime then gives
    /// each call a cancellation token (an allocation the other methods do without)
    /// and a deadline.
    pub context: bool,
    /// For a streaming method: how its items are sent (see [`crate::stream`]).
    pub stream: Option<crate::stream::StreamSpec>,
}

impl MethodInfo {
    /// An async method with no limits of its own.
    pub const fn new(name: &'static str) -> Self {
        MethodInfo {
            name: Cow::Borrowed(name),
            execution: Execution::Async,
            timeout: None,
            concurrency: None,
            unordered: false,
            context: false,
            stream: None,
        }
    }

    /// Declares the method streaming: its handler answers with
    /// [`IncomingCall::stream`], and its items go out as `spec` says.
    #[must_use]
    pub fn streaming(mut self, spec: crate::stream::StreamSpec) -> Self {
        self.stream = Some(spec);
        self
    }

    /// Gives the method's calls a cancellation token and a deadline in their
    /// [`IncomingCall::context`] (see the `context` field).
    #[must_use]
    pub fn takes_context(mut self) -> Self {
        self.context = true;
        self
    }

    /// Lets the method's notifications run out of order, alongside other calls
    /// (see the `unordered` field).
    #[must_use]
    pub fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }

    /// Runs the method's calls on the blocking pool.
    #[must_use]
    pub fn blocking(mut self) -> Self {
        self.execution = Execution::Blocking;
        self
    }

    /// Runs the method's calls in the named pool.
    #[must_use]
    pub fn pool(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.execution = Execution::Pool(name.into());
        self
    }

    /// Sets the method's deadline.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Limits how many of its calls run at once.
    #[must_use]
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = Some(limit);
        self
    }
}

/// A table of methods that the runtime dispatches calls to.
///
/// Implemented by the code `#[rpc_service]` generates, and by [`Router`].
pub trait Service: Send + Sync + 'static {
    /// The methods, in table order; indexes into this slice identify methods.
    fn methods(&self) -> &[MethodInfo];

    /// The index of the method with this wire name, if the service has one.
    fn route(&self, method: &str) -> Option<usize>;

    /// Runs one call.
    ///
    /// The future must answer through [`IncomingCall::respond`] (or return an error);
    /// the runtime applies the method's deadline, catches panics and writes the reply.
    fn call(&self, call: IncomingCall) -> BoxFuture<'static, Reply>;

    /// Starts one call: `spawner.spawn(future)` with the future [`Service::call`]
    /// would return. The spawner polls it once in place and gives it a task of its
    /// own only if it waits ([`crate::ServerConfig::run_ready_calls_inline`]).
    ///
    /// The default boxes that future, so the call costs two allocations (that box
    /// and the one the spawner keeps the call in). Generated services override it and
    /// pass each method's future unboxed, so the handler lives inside the call's
    /// own allocation: one.
    fn spawn_call(
        &self,
        call: IncomingCall,
        spawner: crate::engine::CallSpawner,
    ) -> crate::engine::Started {
        spawner.spawn(self.call(call))
    }

    /// Describes the service's methods for its OpenRPC document
    /// ([`crate::openrpc`]), in table order. Generated services describe every
    /// method; the default describes none.
    #[cfg(feature = "openrpc")]
    fn describe(&self, describer: &mut crate::openrpc::Describer) {
        let _ = describer;
    }
}
