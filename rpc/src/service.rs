//! The interface between the runtime and the code that handles calls.
//!
//! A [`Service`] is a table of methods: [`Service::methods`] describes how each one
//! runs, [`Service::route`] maps a wire name to its index in the table, and
//! [`Service::call`] runs one call and returns its encoded response. The
//! `#[rpc_service]` macro generates all three (the route is a `match` on the name);
//! [`Router`] builds one by hand from closures.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::message::{encode_result, Id, RpcError};
use crate::peer::Peer;

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
        }
    }

    /// Lets the method's notifications run out of order, alongside other calls
    /// (see the `unordered` field).
    pub fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }

    /// Runs the method's calls on the blocking pool.
    pub fn blocking(mut self) -> Self {
        self.execution = Execution::Blocking;
        self
    }

    /// Runs the method's calls in the named pool.
    pub fn pool(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.execution = Execution::Pool(name.into());
        self
    }

    /// Sets the method's deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Limits how many of its calls run at once.
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = Some(limit);
        self
    }
}

/// A run of JSON text borrowed from a received frame, kept alive by a reference to the
/// frame's buffer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonText(Bytes);

impl JsonText {
    /// `text` must lie within `frame` (it panics otherwise); no bytes are copied.
    pub(crate) fn within(frame: &Bytes, text: &str) -> Self {
        JsonText(frame.slice_ref(text.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: a `JsonText` is only made by `within`, from a `&str`, so its bytes
        // are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The bytes, sharing the frame's buffer.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call handed to [`Service::call`]: which method, its id and params (borrowed
/// from the received frame) and the peer it came from.
pub struct IncomingCall {
    pub(crate) method: usize,
    pub(crate) id: Option<JsonText>,
    pub(crate) params: Option<JsonText>,
    pub(crate) peer: Peer,
}

impl IncomingCall {
    /// The method's index in the service's table.
    pub fn method(&self) -> usize {
        self.method
    }

    /// The call's id; `None` for a notification.
    pub fn id(&self) -> Option<Id<'_>> {
        self.id.as_ref().and_then(|t| Id::from_json(t.as_str()))
    }

    /// Whether the call is a notification (it gets no response).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// The params' raw JSON text (an array or an object), if any were sent.
    pub fn params(&self) -> Option<&str> {
        self.params.as_ref().map(JsonText::as_str)
    }

    /// Decodes the params, borrowing from the frame where `T` allows it.
    ///
    /// Missing params decode as an empty array, so a method without parameters accepts
    /// both forms.
    ///
    /// # Errors
    ///
    /// -32602 with serde's message, which names the field or position at fault.
    pub fn decode_params<'a, T: Deserialize<'a>>(&'a self) -> Result<T, RpcError> {
        serde_json::from_str(self.params().unwrap_or("[]")).map_err(RpcError::invalid_params_from)
    }

    /// The peer the call came from; use it to call back on the same connection.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Encodes a success response into a pooled buffer. For a notification it
    /// encodes nothing and returns an empty frame.
    ///
    /// # Errors
    ///
    /// -32603 when `value` fails to serialize.
    pub fn respond<T: Serialize + ?Sized>(&self, value: &T) -> Reply {
        let Some(id) = self.id() else {
            return Ok(Bytes::new());
        };
        let mut buf = self.peer.buffer_pool().take(512);
        match encode_result(&mut buf, id, value) {
            Ok(()) => Ok(self.peer.buffer_pool().freeze(buf)),
            Err(err) => {
                self.peer.buffer_pool().give(buf);
                Err(RpcError::internal(format!(
                    "failed to encode the result: {err}"
                )))
            }
        }
    }
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("method", &self.method)
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
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

    /// Starts one call in a task of its own: `spawner.spawn(future)` with the future
    /// [`Service::call`] would return.
    ///
    /// The default boxes that future, so the call costs two allocations (the box and
    /// the task). Generated services override it and pass each method's future
    /// unboxed, so the handler lives inside the task: one allocation.
    fn spawn_call(&self, call: IncomingCall, spawner: CallSpawner) -> tokio::task::AbortHandle {
        spawner.spawn(self.call(call))
    }
}

/// Starts an admitted call's task: applies the method's deadline, catches panics,
/// writes the reply and keeps the call cancellable. Handed to [`Service::spawn_call`].
pub struct CallSpawner {
    pub(crate) context: crate::peer::CallContext,
}

impl CallSpawner {
    /// Spawns the task that runs `future` (the call's handler) to its reply.
    pub fn spawn<F>(self, future: F) -> tokio::task::AbortHandle
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        crate::peer::spawn_call(self.context, future)
    }
}

impl std::fmt::Debug for CallSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSpawner").finish_non_exhaustive()
    }
}

type Handler = Box<dyn Fn(IncomingCall) -> BoxFuture<'static, Reply> + Send + Sync>;

/// A service built by hand from closures.
///
/// # Examples
///
/// ```
/// use rpc::service::{MethodInfo, Router};
///
/// let router = Router::new()
///     .method(MethodInfo::new("ping"), |call| async move { call.respond("pong") })
///     .method(MethodInfo::new("add"), |call| async move {
///         let (a, b): (i64, i64) = call.decode_params()?;
///         call.respond(&(a + b))
///     });
/// ```
#[derive(Default)]
pub struct Router {
    methods: Vec<MethodInfo>,
    handlers: Vec<Handler>,
    index: HashMap<Cow<'static, str>, usize>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method.
    ///
    /// # Panics
    ///
    /// When a method of that name was already added.
    pub fn method<F, Fut>(mut self, info: MethodInfo, handler: F) -> Self
    where
        F: Fn(IncomingCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let index = self.methods.len();
        let previous = self.index.insert(info.name.clone(), index);
        assert!(
            previous.is_none(),
            "method {:?} registered twice",
            info.name
        );
        self.methods.push(info);
        self.handlers.push(Box::new(move |call| {
            Box::pin(handler(call)) as BoxFuture<'static, Reply>
        }));
        self
    }
}

impl Service for Router {
    fn methods(&self) -> &[MethodInfo] {
        &self.methods
    }

    fn route(&self, method: &str) -> Option<usize> {
        self.index.get(method).copied()
    }

    fn call(&self, call: IncomingCall) -> BoxFuture<'static, Reply> {
        (self.handlers[call.method])(call)
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}
