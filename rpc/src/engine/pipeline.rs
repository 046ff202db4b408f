//! Running one admitted call: worker pools, admission, deadlines and panic
//! isolation.
//!
//! ```text
//! reader ──admit──▶ call task: pool queue ──worker slot──▶ method limit ──▶ handler
//!          │ full: reject (-32000 at once), or wait in the call's own task
//!          deadline and panic catching wrap everything after admission
//! ```
//!
//! A pool is two counts of places (`crate::slots::Slots`, which serves its waiters
//! in turn as a semaphore does): `admission` (workers + queue) bounds what has been
//! accepted, `running` (workers) bounds what runs. Under the `Wait` policy a call
//! that finds its pool full waits for admission in its own task, not in the
//! connection's reader: the reader must stay free to read `$/cancelRequest`, or calls
//! running until cancelled could hold every worker while their cancels sit unread
//! behind the calls waiting for those workers (a deadlock the soak test found). What
//! pushes a sender back is then its connection's in-flight limit.
//!
//! Each method runs in the default pool, the blocking pool or a named pool, so a slow
//! method in its own pool cannot starve the others (a bulkhead).

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};

use super::trace::Outcome;
use super::Engine;
use crate::message::{ErrorCode, RpcError};
use crate::metrics::Metrics;
use crate::server::{OverloadPolicy, ServerConfig, WorkerPoolConfig};
use crate::service::{Execution, MethodInfo, Reply};
use crate::slots::{OwnedPlace, Slots};

struct WorkerPool {
    name: Cow<'static, str>,
    admission: Arc<Slots>,
    running: Slots,
    overload: OverloadPolicy,
    workers: usize,
    queue: usize,
}

impl WorkerPool {
    fn new(name: Cow<'static, str>, config: &WorkerPoolConfig) -> Self {
        let workers = config.workers.max(1);
        WorkerPool {
            name,
            admission: Arc::new(Slots::new(workers + config.queue)),
            running: Slots::new(workers),
            overload: config.overload,
            workers,
            queue: config.queue,
        }
    }
}

struct MethodPlan {
    pool: usize,
    limit: Option<Slots>,
    timeout: Option<Duration>,
    blocking: bool,
}

/// A call's place in its pool, held from admission until it is answered; or, when the
/// pool was full under the `Wait` policy, the pool to wait for.
pub(crate) enum Admission {
    Admitted(OwnedPlace),
    Waiting(Arc<Slots>),
}

/// The pools and the plan of every method of one service.
pub(crate) struct Pipeline {
    pools: Vec<WorkerPool>,
    plans: Vec<MethodPlan>,
}

const DEFAULT_POOL: usize = 0;
const BLOCKING_POOL: usize = 1;

impl Pipeline {
    pub(crate) fn new(methods: &[MethodInfo], config: &ServerConfig) -> Self {
        let mut pools = vec![
            WorkerPool::new("default".into(), &config.default_pool),
            WorkerPool::new("blocking".into(), &config.blocking_pool),
        ];
        for (name, pool) in &config.pools {
            pools.push(WorkerPool::new(name.clone(), pool));
        }
        let mut plans = Vec::with_capacity(methods.len());
        for info in methods {
            let pool = match &info.execution {
                Execution::Async => DEFAULT_POOL,
                Execution::Blocking => BLOCKING_POOL,
                Execution::Pool(name) => match pools.iter().position(|p| &p.name == name) {
                    Some(index) => index,
                    None => {
                        pools.push(WorkerPool::new(name.clone(), &WorkerPoolConfig::default()));
                        pools.len() - 1
                    }
                },
            };
            plans.push(MethodPlan {
                pool,
                limit: info.concurrency.map(|n| Slots::new(n.max(1))),
                timeout: info.timeout.or(config.handler_timeout),
                blocking: info.execution == Execution::Blocking,
            });
        }
        Pipeline { pools, plans }
    }
}

impl Engine {
    /// The deadline the engine gives the method's calls.
    pub(crate) fn timeout_of(&self, method: usize) -> Option<Duration> {
        self.pipeline.plans[method].timeout
    }

    /// Takes a place in the method's pool now if there is one; otherwise refuses the
    /// call (`Reject`) or lets it wait for a place in its own task (`Wait`).
    pub(crate) fn admit(&self, method: usize) -> Result<Admission, RpcError> {
        let pool = &self.pipeline.pools[self.pipeline.plans[method].pool];
        match pool.admission.try_take_owned() {
            Some(place) => Ok(Admission::Admitted(place)),
            None if pool.overload == OverloadPolicy::Wait => {
                Ok(Admission::Waiting(pool.admission.clone()))
            }
            None => {
                self.metrics.record_rejection();
                tracing::debug!(
                    method = %self.service.methods()[method].name,
                    pool = %pool.name,
                    "call refused: its worker pool and queue are full"
                );
                Err(RpcError::new(
                    ErrorCode::SERVER_OVERLOADED,
                    format!(
                        "server overloaded: the `{}` pool has all {} workers busy and {} calls queued; retry later",
                        pool.name, pool.workers, pool.queue
                    ),
                ))
            }
        }
    }

    /// Runs an admitted call: waits for a worker and the method's limit, then runs
    /// the handler under its deadline with panics caught; says how it ended.
    ///
    /// The handler is lent, pinned where its task holds it: every async fn it
    /// were moved into would keep a copy of it in the task's future.
    pub(crate) async fn run<F>(
        &self,
        admission: Admission,
        method: usize,
        handler: Pin<&mut Handler<F>>,
    ) -> (Reply, Outcome)
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        let plan = &self.pipeline.plans[method];
        let work = async {
            let queued = Gauge::new(&self.metrics, Metrics::add_queued);
            // Pool slots are never closed, so waiting always ends with a place.
            let _admitted = match admission {
                Admission::Admitted(place) => Some(place),
                Admission::Waiting(pool) => pool.take_owned().await,
            };
            let pool = &self.pipeline.pools[plan.pool];
            let _worker = pool.running.take_place().await;
            let _limit = match &plan.limit {
                Some(limit) => limit.take_place().await,
                None => None,
            };
            drop(queued);
            match handler.await {
                Ok(reply) => {
                    let outcome = Outcome::of(&reply);
                    (reply, outcome)
                }
                Err(payload) => {
                    self.metrics.record_panic();
                    let name = &self.service.methods()[method].name;
                    tracing::error!(method = %name, panic = panic_message(&*payload), "handler panicked");
                    let reply = Err(RpcError::internal(format!(
                        "Internal error: the handler of `{name}` panicked"
                    )));
                    (reply, Outcome::Panic)
                }
            }
        };
        match plan.timeout {
            Some(deadline) => match tokio::time::timeout(deadline, work).await {
                Ok(ran) => ran,
                Err(_) => {
                    self.metrics.record_timeout();
                    let reply = Err(RpcError::new(
                        ErrorCode::TIMEOUT,
                        format!(
                            "`{}` did not finish within {deadline:?} and was abandoned",
                            self.service.methods()[method].name
                        ),
                    ));
                    (reply, Outcome::Timeout)
                }
            },
            None => work.await,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)")
}

/// Moves a gauge up now and back down when dropped, whichever way the call ends.
pub(crate) struct Gauge<'a> {
    metrics: &'a Metrics,
    add: fn(&Metrics, i64),
}

impl<'a> Gauge<'a> {
    pub(crate) fn new(metrics: &'a Metrics, add: fn(&Metrics, i64)) -> Self {
        add(metrics, 1);
        Gauge { metrics, add }
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        (self.add)(self.metrics, -1);
    }
}

pin_project_lite::pin_project! {
    /// A call's handler, run in its task or, for a method of the blocking pool, on
    /// a thread of tokio's blocking pool; a panic becomes an error carrying its
    /// payload.
    #[project = HandlerProjection]
    pub(crate) enum Handler<F: Future<Output = Reply>> {
        Inline { #[pin] future: F },
        /// The future moves to its thread when first polled (after the call's
        /// worker slot is taken), so it is never pinned here.
        Blocking { future: Option<F>, thread: Option<JoinHandle<Reply>> },
    }
}

impl<F: Future<Output = Reply> + Send + 'static> Handler<F> {
    /// The handler of a call to `method`, as its plan says to run it.
    pub(crate) fn new(engine: &Engine, method: usize, future: F) -> Self {
        if engine.pipeline.plans[method].blocking {
            Handler::Blocking {
                future: Some(future),
                thread: None,
            }
        } else {
            Handler::Inline { future }
        }
    }
}

impl<F: Future<Output = Reply> + Send + 'static> Future for Handler<F> {
    type Output = Result<Reply, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            HandlerProjection::Inline { future } => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(reply)) => Poll::Ready(Ok(reply)),
                    Err(payload) => Poll::Ready(Err(payload)),
                }
            }
            HandlerProjection::Blocking { future, thread } => {
                let thread = thread.get_or_insert_with(|| {
                    let future = future.take().expect("a blocking handler starts once");
                    let handle = tokio::runtime::Handle::current();
                    tokio::task::spawn_blocking(move || handle.block_on(future))
                });
                // A blocking task cannot be aborted, so its only error is a panic.
                Pin::new(thread).poll(cx).map_err(JoinError::into_panic)
            }
        }
    }
}
