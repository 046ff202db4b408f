//! What metrics export and tracing cost per call.
//!
//! Every bench drives a `#[rpc_service]` server through a generated client over the
//! in-memory pipe, on a tokio current-thread runtime (so that a recorder or a
//! subscriber scoped to the bench's thread sees the server's tasks too), one call at
//! a time (`seq`) and with 64 in flight (`64`). The reported time is per call.
//!
//! - `observability/plain`: no recorder, no subscriber: what every other bench
//!   measures (the `metrics` facade's calls go to its no-op recorder).
//! - `observability/prometheus`: the Prometheus recorder of
//!   `metrics-exporter-prometheus` (what `examples/metrics_prometheus` serves):
//!   per call a counter, a histogram sample and two gauge moves, on handles the
//!   server registered once per method and transport.
//! - `observability/tracing_info`: a fmt subscriber at INFO, so each call's DEBUG span
//!   and its `call finished` event are only checked against the filter.
//! - `observability/tracing_debug`: a fmt subscriber at DEBUG writing to
//!   `io::sink`: each call's span is opened, its fields recorded, and its event
//!   formatted (the cost of running with `RUST_LOG=rpc=debug`).
//!
//! Why: the issue that brought metrics and tracing promised they cost little when
//! on and nothing when off; this is where the ratio to `plain` is read.
//!
//! Run: `cargo bench --bench observability`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::stream::{FuturesUnordered, StreamExt};
use metrics_exporter_prometheus::PrometheusBuilder;
use rpc::framing::Framing;
use rpc::prelude::*;
use rpc::transport::memory;
use tokio::runtime::Runtime;
use tracing_subscriber::filter::LevelFilter;

#[rpc_service]
pub trait Bench {
    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Impl;

impl Bench for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

const IN_FLIGHT: usize = 64;

/// A client of a fresh server; the server lives as long as the client's connection.
fn connect() -> (BenchClient, Server) {
    let server = Server::new(BenchServer::new(Impl));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    (BenchClient::new(client), server)
}

/// `iters` calls, `in_flight` at a time; the time taken.
async fn drive(client: &BenchClient, in_flight: usize, iters: u64) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    let mut calls = FuturesUnordered::new();
    loop {
        while left > 0 && calls.len() < in_flight {
            left -= 1;
            let client = client.clone();
            calls.push(async move { client.add(black_box(1), 2).await });
        }
        match calls.next().await {
            Some(answer) => assert_eq!(answer.unwrap(), 3),
            None => break,
        }
    }
    start.elapsed()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` with what the case installs on the bench's thread.
fn within<T>(case: &str, f: impl FnOnce() -> T) -> T {
    match case {
        "plain" => f(),
        "prometheus" => {
            let recorder = PrometheusBuilder::new().build_recorder();
            metrics::with_local_recorder(&recorder, f)
        }
        "tracing_info" | "tracing_debug" => {
            let level = if case == "tracing_info" {
                LevelFilter::INFO
            } else {
                LevelFilter::DEBUG
            };
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(std::io::sink)
                .finish();
            tracing::subscriber::with_default(subscriber, f)
        }
        _ => unreachable!("no case {case}"),
    }
}

fn observability(c: &mut Criterion) {
    let mut group = c.benchmark_group("observability");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for case in ["plain", "prometheus", "tracing_info", "tracing_debug"] {
        for (name, in_flight) in [("seq", 1), ("64", IN_FLIGHT)] {
            group.bench_function(format!("{case}/{name}"), |b| {
                b.iter_custom(|iters| {
                    within(case, || {
                        let rt = runtime();
                        rt.block_on(async {
                            // A fresh server, so that its metric handles are
                            // registered with this case's recorder.
                            let (client, _server) = connect();
                            drive(&client, in_flight, iters).await
                        })
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, observability);
criterion_main!(benches);
