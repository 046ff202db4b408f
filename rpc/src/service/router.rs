//! Services written by hand, from closures.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;

use crate::service::{BoxFuture, IncomingCall, MethodInfo, Reply, Service};

type Handler = Box<dyn Fn(IncomingCall) -> BoxFuture<'static, Reply> + Send + Sync>;

/// Describes one method for the OpenRPC document, with the schemas' generators at
/// hand.
#[cfg(feature = "openrpc")]
type Description =
    Box<dyn Fn(&mut crate::openrpc::Describer) -> crate::openrpc::MethodDoc + Send + Sync>;

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
    /// Each described method's description, by table index.
    #[cfg(feature = "openrpc")]
    descriptions: Vec<(usize, Description)>,
    #[cfg(feature = "openrpc")]
    info: Option<crate::openrpc::Info>,
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

    /// Describes a method added before, for the OpenRPC document that `rpc.discover`
    /// answers ([`crate::openrpc`]): `doc` names the method, and carries its params,
    /// result and errors, with schemas written by hand. Methods not described are
    /// left out of the document; a router that describes none has none.
    ///
    /// # Panics
    ///
    /// When no method of that name was added.
    ///
    /// # Examples
    ///
    /// ```
    /// use rpc::openrpc::{ContentDescriptor, MethodDoc};
    /// use rpc::service::{MethodInfo, Router};
    /// use serde_json::json;
    ///
    /// let router = Router::new()
    ///     .method(MethodInfo::new("add"), |call| async move {
    ///         let (a, b): (i64, i64) = call.decode_params()?;
    ///         call.respond(&(a + b))
    ///     })
    ///     .describe(
    ///         MethodDoc::new("add")
    ///             .summary("Adds two integers.")
    ///             .param(ContentDescriptor::new("a", json!({ "type": "integer" })))
    ///             .param(ContentDescriptor::new("b", json!({ "type": "integer" })))
    ///             .result(ContentDescriptor::new("sum", json!({ "type": "integer" }))),
    ///     );
    /// let document = rpc::openrpc::document_of(&router).unwrap();
    /// assert_eq!(document["methods"][0]["params"][1]["name"], "b");
    /// ```
    #[cfg(feature = "openrpc")]
    #[must_use]
    pub fn describe(self, doc: crate::openrpc::MethodDoc) -> Self {
        let name = doc.name.clone();
        self.describe_with(&name, move |_| doc.clone())
    }

    /// Describes the method `name` with `describe`, which is handed the document's
    /// schema generators: `describer.param_schema::<T>()` and
    /// `describer.result_schema::<T>()` give the schemas of types that derive
    /// `JsonSchema`, shared with the rest of the document.
    ///
    /// # Panics
    ///
    /// When no method of that name was added.
    #[cfg(feature = "openrpc")]
    #[must_use]
    pub fn describe_with<F>(mut self, name: &str, describe: F) -> Self
    where
        F: Fn(&mut crate::openrpc::Describer) -> crate::openrpc::MethodDoc + Send + Sync + 'static,
    {
        let Some(&index) = self.index.get(name) else {
            panic!("no method {name:?} to describe: add it with `Router::method` first");
        };
        self.descriptions.retain(|(i, _)| *i != index);
        self.descriptions.push((index, Box::new(describe)));
        self.descriptions.sort_by_key(|(i, _)| *i);
        self
    }

    /// The `info` of the router's OpenRPC document: its title and version.
    #[cfg(feature = "openrpc")]
    #[must_use]
    pub fn info(mut self, info: crate::openrpc::Info) -> Self {
        self.info = Some(info);
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

    #[cfg(feature = "openrpc")]
    fn describe(&self, describer: &mut crate::openrpc::Describer) {
        if self.descriptions.is_empty() {
            return;
        }
        if let Some(info) = &self.info {
            describer.info(info.clone());
        }
        for (index, describe) in &self.descriptions {
            let mut doc = describe(describer);
            doc.name = self.methods[*index].name.clone();
            describer.method(doc);
        }
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}
