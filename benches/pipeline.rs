//! The server pipeline: dispatch throughput by worker-pool size, and the cost of a call
//! refused under overload against the cost of a call served.
//!
//! Every bench drives a `#[rpc_service]` server (`rpc::Server`) through a generated
//! client over the in-memory pipe, on a tokio multi-thread runtime with 2 workers, with
//! 64 calls in flight unless said otherwise. The reported time is per call (throughput
//! in calls).
//!
//! - `pipeline/dispatch_noop/workers_N`: `add(a, b)` with a default pool of N workers
//!   (N = 1, 2, 4, 16; `WorkerPoolConfig::workers` is how many calls may run at once,
//!   not threads). The handler does nothing, so this is the pipeline's own cost:
//!   admission, the worker semaphore, the task, the deadline, the reply. It should not
//!   fall as N grows, nor collapse at N = 1.
//! - `pipeline/dispatch_cpu/workers_N`: `spin(n)`, a handler that computes for about
//!   5 µs (`handler_alone` times the same work called directly). With 2 cores, N = 1
//!   runs one handler at a time; N >= 2 can use both cores, though the client, the
//!   server's reader and writer compete for them.
//! - `pipeline/overload/...`: a pool of 1 worker and a queue of 1 with
//!   `OverloadPolicy::Reject`, both places taken by calls that never finish, so every
//!   measured call is answered at once with -32000 (`rejected_*`); against the same
//!   call served by a default pool (`served_*`), one at a time (`_seq`) and with 64 in
//!   flight (`_64`). A rejection should cost no more than a served call.
//!
//! Why: the design promises bounded queues and an explicit overload policy; a rejection
//! that costs more than the work it refuses would make overload worse.
//!
//! Run: `cargo bench --bench pipeline`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpc::framing::Framing;
use rpc::prelude::*;
use rpc::transport::memory;
use tokio::runtime::Runtime;

#[rpc_service]
pub trait Bench {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn spin(&self, rounds: u64) -> u64;
    async fn hold(&self);
}

struct Impl;

/// About 5 µs of arithmetic on the development machine with `SPIN_ROUNDS`.
fn spin(rounds: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for i in 0..rounds {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    x
}

const SPIN_ROUNDS: u64 = 4_000;

impl Bench for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn spin(&self, rounds: u64) -> u64 {
        spin(rounds)
    }
    async fn hold(&self) {
        std::future::pending::<()>().await
    }
}

const IN_FLIGHT: usize = 64;
const WORKERS: [usize; 4] = [1, 2, 4, 16];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A client of a server with `config`; the server lives as long as the client's
/// connection.
fn connect(config: ServerConfig) -> (BenchClient, Server) {
    let server = Server::with_config(BenchServer::new(Impl), config);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = Client::new(
        ours,
        ConnectionConfig {
            // The calls that hold the pool never finish; they must not time out.
            request_timeout: None,
            ..ConnectionConfig::default()
        },
    );
    (BenchClient::new(client), server)
}

fn pool(workers: usize, queue: usize, overload: OverloadPolicy) -> ServerConfig {
    ServerConfig {
        default_pool: WorkerPoolConfig {
            workers,
            queue,
            overload,
        },
        handler_timeout: None,
        ..ServerConfig::default()
    }
}

/// `iters` calls of `call`, made by `in_flight` tasks on the runtime; the time taken.
fn drive<F, Fut>(
    rt: &Runtime,
    client: &BenchClient,
    in_flight: usize,
    iters: u64,
    call: F,
) -> Duration
where
    F: Fn(BenchClient) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let client = client.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            let left = Arc::new(AtomicU64::new(iters));
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..in_flight {
                let client = client.clone();
                let left = left.clone();
                tasks.spawn(async move {
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        call(client.clone()).await;
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

async fn served_add(client: BenchClient) {
    assert_eq!(client.add(black_box(1), 2).await.unwrap(), 3);
}

async fn served_spin(client: BenchClient) {
    black_box(client.spin(SPIN_ROUNDS).await.unwrap());
}

async fn rejected_add(client: BenchClient) {
    match client.add(black_box(1), 2).await {
        Err(rpc::Error::Rpc(err)) if err.code == ErrorCode::SERVER_OVERLOADED => {}
        other => panic!("expected -32000, got {other:?}"),
    }
}

fn dispatch(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pipeline/dispatch_noop");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for workers in WORKERS {
        let (client, _server) =
            rt.block_on(async { connect(pool(workers, 1024, OverloadPolicy::Wait)) });
        group.bench_function(BenchmarkId::new("workers", workers), |b| {
            b.iter_custom(|iters| drive(&rt, &client, IN_FLIGHT, iters, served_add))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("pipeline/dispatch_cpu");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    group.bench_function("handler_alone", |b| b.iter(|| spin(black_box(SPIN_ROUNDS))));
    for workers in WORKERS {
        let (client, _server) =
            rt.block_on(async { connect(pool(workers, 1024, OverloadPolicy::Wait)) });
        group.bench_function(BenchmarkId::new("workers", workers), |b| {
            b.iter_custom(|iters| drive(&rt, &client, IN_FLIGHT, iters, served_spin))
        });
    }
    group.finish();
}

fn overload(c: &mut Criterion) {
    let rt = runtime();
    let (served, _served_server) = rt.block_on(async { connect(ServerConfig::default()) });
    let (rejecting, rejecting_server) = rt.block_on(async {
        let (client, server) = connect(pool(1, 1, OverloadPolicy::Reject));
        // Take the worker and the queue place for good.
        for _ in 0..2 {
            let holder = client.clone();
            tokio::spawn(async move { holder.hold().await });
        }
        // Once both are taken, every call is refused.
        loop {
            match client.add(1, 2).await {
                Err(rpc::Error::Rpc(err)) if err.code == ErrorCode::SERVER_OVERLOADED => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(err) => panic!("{err}"),
            }
        }
        (client, server)
    });

    let mut group = c.benchmark_group("pipeline/overload");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for (in_flight, suffix) in [(1, "seq"), (IN_FLIGHT, "64")] {
        group.bench_function(format!("served_{suffix}"), |b| {
            b.iter_custom(|iters| drive(&rt, &served, in_flight, iters, served_add))
        });
        group.bench_function(format!("rejected_{suffix}"), |b| {
            b.iter_custom(|iters| drive(&rt, &rejecting, in_flight, iters, rejected_add))
        });
    }
    group.finish();
    let metrics = rejecting_server.metrics();
    eprintln!(
        "rejecting server: {} calls rejected, {} in flight (the two that hold the pool)",
        metrics.rejected, metrics.in_flight
    );
}

criterion_group!(benches, dispatch, overload);
criterion_main!(benches);
