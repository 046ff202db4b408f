//! Several services served as one: each call routed by its wire name to the service
//! that has it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::CallSpawner;
use crate::message::RpcError;
use crate::service::{table_address, BoxFuture, IncomingCall, MethodInfo, Reply, Service};

/// Services served together on one server or connection: generated services and
/// [`super::Router`]s side by side, each call routed by its wire name.
///
/// The table is the services' tables one after another; a call reaches its service
/// with the method's index in that service's own table, so every service runs
/// exactly the method that was called. Two services that answer the same wire name
/// are refused when the composition is built: a method's name against another
/// service's names and aliases, either way round. Two aliases alone cannot be told
/// apart (a generated service's aliases live only in its `route`): the service added
/// first answers such an alias.
///
/// A hand-written `Service` that forwards calls must renumber each one for the
/// service it hands it to, with [`IncomingCall::reroute`]: a call passed on
/// unchanged carries an index into the outer table, and generated services and
/// [`super::Router`]s refuse it (-32603) rather than run whichever method has that
/// index in theirs.
///
/// # Examples
///
/// ```
/// use rpc::service::{MethodInfo, Router, Services};
/// use rpc::Server;
///
/// let echo = Router::new().method(MethodInfo::new("echo.say"), |call| async move {
///     let (text,): (String,) = call.decode_params()?;
///     call.respond(&text)
/// });
/// let math = Router::new().method(MethodInfo::new("math.add"), |call| async move {
///     let (a, b): (i64, i64) = call.decode_params()?;
///     call.respond(&(a + b))
/// });
/// let both = Services::new().with(echo)?.with(math)?;
/// let server = Server::new(both);
/// # let _ = server;
///
/// let again = Router::new().method(MethodInfo::new("math.add"), |call| async move { call.respond(&0) });
/// let clash = Services::new()
///     .with(Router::new().method(MethodInfo::new("math.add"), |call| async move { call.respond(&1) }))?
///     .with(again);
/// assert_eq!(clash.unwrap_err().name(), "math.add");
/// # Ok::<(), rpc::service::DuplicateMethod>(())
/// ```
#[derive(Default)]
pub struct Services {
    methods: Vec<MethodInfo>,
    /// For each method of the table: its service, and its index in that service.
    owners: Vec<(usize, usize)>,
    services: Vec<Arc<dyn Service>>,
    names: HashMap<String, usize>,
}

/// Two services of a composition answer the same wire name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two services answer the wire name `{name}`; rename one (`#[rpc(name = ..)]` or a `namespace`) before serving them together")]
pub struct DuplicateMethod {
    name: String,
}

impl DuplicateMethod {
    /// The wire name both services answer.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Services {
    /// No services yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service after those added before.
    ///
    /// # Errors
    ///
    /// [`DuplicateMethod`] when the service has a method whose wire name a service
    /// added before answers (by its name or an alias), or the other way round.
    pub fn with(mut self, service: impl Service) -> Result<Self, DuplicateMethod> {
        let service: Arc<dyn Service> = Arc::new(service);
        for info in service.methods() {
            let name = info.name.as_ref();
            if self.names.contains_key(name)
                || self.services.iter().any(|s| s.route(name).is_some())
            {
                return Err(DuplicateMethod {
                    name: name.to_owned(),
                });
            }
        }
        for name in self.names.keys() {
            if service.route(name).is_some() {
                return Err(DuplicateMethod { name: name.clone() });
            }
        }
        let owner = self.services.len();
        for (local, info) in service.methods().iter().enumerate() {
            self.names.insert(info.name.to_string(), self.methods.len());
            self.owners.push((owner, local));
            self.methods.push(info.clone());
        }
        self.services.push(service);
        Ok(self)
    }

    /// The service a call of the table's method `method` goes to, with the call
    /// renumbered for that service's own table.
    fn owner(&self, mut call: IncomingCall) -> Result<(&Arc<dyn Service>, IncomingCall), RpcError> {
        if !call.is_routed_by(&self.methods) {
            return Err(call.misrouted());
        }
        let (service, local) = self.owners[call.method];
        let service = &self.services[service];
        call.method = local;
        call.table = table_address(service.methods());
        Ok((service, call))
    }
}

impl Service for Services {
    fn methods(&self) -> &[MethodInfo] {
        &self.methods
    }

    fn route(&self, method: &str) -> Option<usize> {
        if let Some(&index) = self.names.get(method) {
            return Some(index);
        }
        // An alias: asked of each service in turn, and mapped into the table.
        self.services
            .iter()
            .enumerate()
            .find_map(|(owner, service)| {
                let local = service.route(method)?;
                self.owners.iter().position(|&o| o == (owner, local))
            })
    }

    fn call(&self, call: IncomingCall) -> BoxFuture<'static, Reply> {
        match self.owner(call) {
            Ok((service, call)) => service.call(call),
            Err(err) => Box::pin(async move { Err(err) }),
        }
    }

    #[cfg(feature = "openrpc")]
    fn describe(&self, describer: &mut crate::openrpc::Describer) {
        for service in &self.services {
            service.describe(describer);
        }
    }

    fn spawn_call(&self, call: IncomingCall, spawner: CallSpawner) -> crate::engine::Started {
        // The spawner keeps the table's index, for the pool, deadline and metrics
        // this table gives the method.
        match self.owner(call) {
            Ok((service, call)) => service.spawn_call(call, spawner),
            Err(err) => spawner.spawn(async move { Err(err) }),
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("methods", &self.methods)
            .finish_non_exhaustive()
    }
}
