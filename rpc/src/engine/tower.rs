//! The engine as `tower` services: each call is a request to a
//! `tower::Service<IncomingCall>`, so tower's layers (timeout, concurrency limit, load
//! shedding, rate limit) and tower-http's wrap calls; and a [`Session`] is a
//! `tower::Service` of whole frames, for embedding the server in another stack.
//!
//! ```text
//! pool, worker, method limit ─▶ [ layer ─▶ … ─▶ layer ─▶ Handler ] ─▶ answer
//!                                 added last        added first
//! ```
//!
//! Layers run inside the engine's pipeline: after the call has its place in its pool,
//! under the method's deadline and with panics caught. A layer's error (a timeout, a
//! shed load, anything it returns) is answered as a JSON-RPC error for the call's id;
//! a layer that is not ready holds the call in its own task, never the connection's
//! reader.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tower::{Layer, Service};

use super::Session;
use crate::message::{ErrorCode, RpcError};
use crate::service::{BoxFuture, IncomingCall, Reply};

/// The error a layer may return; any error type converts into it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The innermost service of a server's call stack: runs one call's handler.
#[derive(Clone)]
pub(crate) struct Handler {
    service: Arc<dyn crate::service::Service>,
}

impl Handler {
    pub(crate) fn new(service: Arc<dyn crate::service::Service>) -> Self {
        Handler { service }
    }
}

impl Service<IncomingCall> for Handler {
    type Response = Reply;
    type Error = Infallible;
    type Future = OkFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: IncomingCall) -> OkFuture {
        OkFuture(self.service.call(call))
    }
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").finish_non_exhaustive()
    }
}

/// The future of a call that cannot fail as a service: its reply, in `Ok`.
pub struct OkFuture(BoxFuture<'static, Reply>);

impl Future for OkFuture {
    type Output = Result<Reply, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

impl std::fmt::Debug for OkFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OkFuture")
    }
}

/// A server's call stack with its type erased: the service's handlers and the layers
/// added with [`crate::Server::layer`]. Cloning clones every layer's service, as tower
/// expects of a service handed to concurrent callers.
pub struct CallStack {
    inner: Box<dyn ErasedStack>,
    /// The error a layer's `poll_ready` returned, answered by the next call.
    refused: Option<RpcError>,
}

trait ErasedStack: Send + Sync {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RpcError>>;
    fn call(&mut self, call: IncomingCall) -> BoxFuture<'static, Reply>;
    fn clone_box(&self) -> Box<dyn ErasedStack>;
}

struct Erased<S>(S);

impl<S> ErasedStack for Erased<S>
where
    S: Service<IncomingCall, Response = Reply> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RpcError>> {
        self.0.poll_ready(cx).map_err(|err| layer_error(err.into()))
    }

    fn call(&mut self, call: IncomingCall) -> BoxFuture<'static, Reply> {
        let future = self.0.call(call);
        Box::pin(async move {
            future
                .await
                .unwrap_or_else(|err| Err(layer_error(err.into())))
        })
    }

    fn clone_box(&self) -> Box<dyn ErasedStack> {
        Box::new(Erased(self.0.clone()))
    }
}

impl CallStack {
    pub(crate) fn new(handler: Handler) -> Self {
        Self::erase(handler)
    }

    fn erase<S>(service: S) -> Self
    where
        S: Service<IncomingCall, Response = Reply> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        CallStack {
            inner: Box::new(Erased(service)),
            refused: None,
        }
    }

    /// This stack wrapped in `layer`.
    #[must_use]
    pub(crate) fn wrap<L>(self, layer: L) -> Self
    where
        L: Layer<CallStack>,
        L::Service: Service<IncomingCall, Response = Reply> + Clone + Send + Sync + 'static,
        <L::Service as Service<IncomingCall>>::Error: Into<BoxError>,
        <L::Service as Service<IncomingCall>>::Future: Send + 'static,
    {
        Self::erase(layer.layer(self))
    }

    /// Runs one call through a clone of the stack: waits until every layer is ready,
    /// then calls it.
    pub(crate) fn run(&self, call: IncomingCall) -> impl Future<Output = Reply> + Send + 'static {
        let mut stack = self.clone();
        async move {
            poll_fn(|cx| stack.inner.poll_ready(cx)).await?;
            stack.inner.call(call).await
        }
    }
}

impl Clone for CallStack {
    fn clone(&self) -> Self {
        CallStack {
            inner: self.inner.clone_box(),
            refused: None,
        }
    }
}

impl Service<IncomingCall> for CallStack {
    type Response = Reply;
    type Error = Infallible;
    type Future = OkFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            // Not an error of the service: the call it was readied for is answered
            // with it.
            Poll::Ready(Err(err)) => {
                self.refused = Some(err);
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, call: IncomingCall) -> OkFuture {
        match self.refused.take() {
            Some(err) => OkFuture(Box::pin(std::future::ready(Err(err)))),
            None => OkFuture(self.inner.call(call)),
        }
    }
}

impl std::fmt::Debug for CallStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStack").finish_non_exhaustive()
    }
}

/// The JSON-RPC error for a layer's error: tower's timeout and load-shed errors get
/// their codes; an [`RpcError`] is answered as it is; anything else is -32603 with
/// the error's message.
pub(crate) fn layer_error(err: BoxError) -> RpcError {
    if err.is::<tower::timeout::error::Elapsed>() {
        return RpcError::new(
            ErrorCode::TIMEOUT,
            "the call did not finish within the deadline of the server's timeout layer",
        );
    }
    if err.is::<tower::load_shed::error::Overloaded>() {
        return RpcError::new(
            ErrorCode::SERVER_OVERLOADED,
            "server overloaded: a load-shedding layer refused the call; retry later",
        );
    }
    match err.downcast::<RpcError>() {
        Ok(err) => *err,
        Err(err) => RpcError::internal(format!("a layer of the server failed the call: {err}")),
    }
}

/// A session serves whole frames as a `tower::Service`: the answer to a frame, or
/// `None` when it gets none (see [`Session::handle_frame`]).
impl Service<Bytes> for Session {
    type Response = Option<Bytes>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Option<Bytes>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each frame waits for its calls' places in the session's limits itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, frame: Bytes) -> Self::Future {
        let session = self.clone();
        Box::pin(async move { Ok(session.handle_frame(frame).await) })
    }
}
