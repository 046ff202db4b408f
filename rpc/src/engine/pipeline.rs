//! Running one admitted call: worker pools, admission, deadlines and panic
//! isolation.
//!
//! ```text
//! reader ──admit──▶ call task: pool queue ──worker slot──▶ method limit ──▶ handler
//!          │ full: reject (-32000 at once), or wait in the call's own task
//!          deadline and panic catching wrap everything after admission
//! ```
//!
//! A pool is two semaphores: `admission` (workers + queue) bounds what has been
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

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Engine;
use crate::message::{ErrorCode, RpcError};
use crate::metrics::Metrics;
use crate::server::{OverloadPolicy, ServerConfig, WorkerPoolConfig};
use crate::service::{Execution, MethodInfo, Reply};

struct WorkerPool {
    name: Cow<'static, str>,
    admission: Arc<Semaphore>,
    running: Arc<Semaphore>,
    overload: OverloadPolicy,
    workers: usize,
    queue: usize,
}

impl WorkerPool {
    fn new(name: Cow<'static, str>, config: &WorkerPoolConfig) -> Self {
        let workers = config.workers.max(1);
        WorkerPool {
            name,
            admission: Arc::new(Semaphore::new(workers + config.queue)),
            running: Arc::new(Semaphore::new(workers)),
            overload: config.overload,
            workers,
            queue: config.queue,
        }
    }
}

struct MethodPlan {
    pool: usize,
    limit: Option<Arc<Semaphore>>,
    timeout: Option<Duration>,
    blocking: bool,
}

/// A call's place in its pool, held from admission until it is answered; or, when the
/// pool was full under the `Wait` policy, the pool to wait for.
pub(crate) enum Admission {
    Admitted(OwnedSemaphorePermit),
    Waiting(Arc<Semaphore>),
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
                limit: info.concurrency.map(|n| Arc::new(Semaphore::new(n.max(1)))),
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
        match pool.admission.clone().try_acquire_owned() {
            Ok(permit) => Ok(Admission::Admitted(permit)),
            Err(_) if pool.overload == OverloadPolicy::Wait => {
                Ok(Admission::Waiting(pool.admission.clone()))
            }
            Err(_) => {
                self.metrics.record_rejection();
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
    /// the handler under its deadline with panics caught.
    pub(crate) async fn run<F>(&self, admission: Admission, method: usize, future: F) -> Reply
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        let plan = &self.pipeline.plans[method];
        let work = async {
            let queued = Gauge::new(&self.metrics, Metrics::add_queued);
            // Pool semaphores are never closed, so waiting always ends with a permit.
            let _admitted = match admission {
                Admission::Admitted(permit) => Some(permit),
                Admission::Waiting(pool) => pool.acquire_owned().await.ok(),
            };
            let pool = &self.pipeline.pools[plan.pool];
            let _worker = pool.running.acquire().await;
            let _limit = match &plan.limit {
                Some(limit) => Some(limit.acquire().await),
                None => None,
            };
            drop(queued);
            let outcome = if plan.blocking {
                let handle = tokio::runtime::Handle::current();
                match tokio::task::spawn_blocking(move || handle.block_on(future)).await {
                    Ok(reply) => Ok(reply),
                    Err(err) => Err(err.into_panic()),
                }
            } else {
                CatchUnwind(std::pin::pin!(future)).await
            };
            outcome.unwrap_or_else(|payload| {
                self.metrics.record_panic();
                let name = &self.service.methods()[method].name;
                tracing::error!(method = %name, panic = panic_message(&*payload), "handler panicked");
                Err(RpcError::internal(format!(
                    "Internal error: the handler of `{name}` panicked"
                )))
            })
        };
        let reply = match plan.timeout {
            Some(deadline) => match tokio::time::timeout(deadline, work).await {
                Ok(reply) => reply,
                Err(_) => {
                    self.metrics.record_timeout();
                    Err(RpcError::new(
                        ErrorCode::TIMEOUT,
                        format!(
                            "`{}` did not finish within {deadline:?} and was abandoned",
                            self.service.methods()[method].name
                        ),
                    ))
                }
            },
            None => work.await,
        };
        reply
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

/// Polls a future, turning a panic into an error carrying its payload.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
