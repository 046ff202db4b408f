//! Services written by hand, from closures.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;

use crate::service::{BoxFuture, IncomingCall, MethodInfo, Reply, Service};

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
    #[must_use]
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
        if !call.is_routed_by(&self.methods) {
            let err = call.misrouted();
            return Box::pin(async move { Err(err) });
        }
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
