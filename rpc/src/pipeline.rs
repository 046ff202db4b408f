//! The server's execution pipeline: worker pools, admission, deadlines and panic
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
use tokio_util::sync::CancellationToken;

use crate::message::{ErrorCode, ParseLimits, RpcError};
use crate::metrics::Metrics;
use crate::service::{Execution, Reply, Service};

/// What a pool does with a call when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverloadPolicy {
    /// Stop reading from the connection until there is room, so the transport pushes
    /// back on the sender (TCP's window fills).
    #[default]
    Wait,
    /// Answer at once with -32000 ("server overloaded") without running the call.
    Reject,
}

/// The size and policy of one worker pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPoolConfig {
    /// Calls that may run at once.
    pub workers: usize,
    /// Calls that may wait for a worker.
    pub queue: usize,
    /// What happens when the queue is full.
    pub overload: OverloadPolicy,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for WorkerPoolConfig {
    /// 64 running calls per core (async handlers mostly wait, so many can share a
    /// core) and a queue of 1024, waiting when full.
    fn default() -> Self {
        WorkerPoolConfig {
            workers: 64 * cores(),
            queue: 1024,
            overload: OverloadPolicy::Wait,
        }
    }
}

impl WorkerPoolConfig {
    /// The default for the blocking pool: 2 threads' worth of calls per core, since
    /// each running call holds a thread.
    pub fn blocking_default() -> Self {
        WorkerPoolConfig {
            workers: 2 * cores(),
            queue: 1024,
            overload: OverloadPolicy::Wait,
        }
    }
}

/// How a server runs calls.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The pool of async methods without a pool of their own.
    pub default_pool: WorkerPoolConfig,
    /// The pool of `blocking` methods.
    pub blocking_pool: WorkerPoolConfig,
    /// Named pools; a method naming a pool not listed here gets the default config.
    pub pools: Vec<(Cow<'static, str>, WorkerPoolConfig)>,
    /// The deadline of methods without one of their own (`None`: no deadline).
    pub call_timeout: Option<Duration>,
    /// Calls and notifications a connection may have in flight before the server
    /// stops reading from it. Each batch element counts as one; a call keeps its place
    /// until its answer has been handed to the socket, so answers waiting for a slow
    /// reader count too.
    pub max_in_flight_per_connection: usize,
    /// Bytes a connection may hold (frames of calls in flight, answers waiting to be
    /// written) before the server stops reading from it. It may go over by the one
    /// frame being read when the limit is reached.
    pub max_buffered_bytes_per_connection: usize,
    /// Limits on what one frame may hold.
    pub parse_limits: ParseLimits,
    /// Frames a connection's writer queues before handlers wait to send.
    pub write_queue: usize,
    /// How long a write may wait for a client that does not read before its
    /// connection is closed (`None`: forever).
    pub write_stall_timeout: Option<Duration>,
    /// How long one incoming frame may take to arrive, from its first byte to its last
    /// (a client that trickles a frame a byte a minute is disconnected).
    pub frame_timeout: Option<Duration>,
    /// How long a connection accepted by [`crate::Server::serve_tcp`] or
    /// [`crate::Server::serve_unix`] may stay quiet (no frame in, nothing in flight)
    /// before it is closed. Connections handed to [`crate::Server::serve_connection`]
    /// (stdio, a child process) are not closed for being idle unless the server's
    /// [`crate::PeerConfig::idle_timeout`] says so.
    pub idle_timeout: Option<Duration>,
    /// Connections the accept loops serve at once; one more is answered with a
    /// -32000 error (id null) and closed.
    pub max_connections: usize,
    /// Whether calls of a connection accepted by the accept loops are dropped when
    /// its client closes its sending side, instead of running to their answers. Off
    /// by default, so a client that half-closes its socket after its last request
    /// still gets every answer; turn it on when clients that go away are common and
    /// calls are long (a closed socket cannot be told from a half-closed one until a
    /// write fails). Calls are always dropped once the connection can no longer be
    /// written or its read fails; see [`crate::PeerConfig::abandon_calls_on_disconnect`].
    pub abandon_calls_on_disconnect: bool,
    /// How long calls of a connection accepted by the accept loops may go on after
    /// its client closed its sending side, before they are answered -32800; see
    /// [`crate::PeerConfig::half_close_grace`]. A client that has gone away cannot
    /// hold workers longer than this.
    pub half_close_grace: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_pool: WorkerPoolConfig::default(),
            blocking_pool: WorkerPoolConfig::blocking_default(),
            pools: Vec::new(),
            call_timeout: Some(Duration::from_secs(60)),
            max_in_flight_per_connection: 1024,
            max_buffered_bytes_per_connection: 16 * 1024 * 1024,
            parse_limits: ParseLimits::default(),
            write_queue: 1024,
            write_stall_timeout: Some(Duration::from_secs(30)),
            frame_timeout: Some(Duration::from_secs(60)),
            idle_timeout: Some(Duration::from_secs(300)),
            max_connections: 10_000,
            abandon_calls_on_disconnect: false,
            half_close_grace: Some(Duration::from_secs(5)),
        }
    }
}

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

/// A service with its pools, limits, metrics and shutdown state; shared by every
/// connection of a server.
pub(crate) struct Dispatcher {
    pub(crate) service: Arc<dyn Service>,
    pools: Vec<WorkerPool>,
    plans: Vec<MethodPlan>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: ServerConfig,
    /// Phase one of shutdown: connections stop reading new calls.
    pub(crate) stop_reading: CancellationToken,
    /// Phase two: the deadline passed; calls still running are answered -32002.
    pub(crate) hard_stop: CancellationToken,
}

const DEFAULT_POOL: usize = 0;
const BLOCKING_POOL: usize = 1;

impl Dispatcher {
    pub(crate) fn new(service: Arc<dyn Service>, config: ServerConfig) -> Self {
        let mut pools = vec![
            WorkerPool::new("default".into(), &config.default_pool),
            WorkerPool::new("blocking".into(), &config.blocking_pool),
        ];
        for (name, pool) in &config.pools {
            pools.push(WorkerPool::new(name.clone(), pool));
        }
        let mut plans = Vec::with_capacity(service.methods().len());
        for info in service.methods() {
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
                timeout: info.timeout.or(config.call_timeout),
                blocking: info.execution == Execution::Blocking,
            });
        }
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
        Dispatcher {
            metrics: Arc::new(Metrics::new(&names)),
            service,
            pools,
            plans,
            config,
            stop_reading: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        }
    }

    /// Takes a place in the method's pool now if there is one; otherwise refuses the
    /// call (`Reject`) or lets it wait for a place in its own task (`Wait`).
    pub(crate) fn admit(&self, method: usize) -> Result<Admission, RpcError> {
        let pool = &self.pools[self.plans[method].pool];
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
        let plan = &self.plans[method];
        let work = async {
            let queued = Gauge::new(&self.metrics, Metrics::add_queued);
            // Pool semaphores are never closed, so waiting always ends with a permit.
            let _admitted = match admission {
                Admission::Admitted(permit) => Some(permit),
                Admission::Waiting(pool) => pool.acquire_owned().await.ok(),
            };
            let pool = &self.pools[plan.pool];
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
