//! Correlation: registering a call and completing it with its response, with 1, 1,000
//! and 100,000 other calls already pending on the same connection.
//!
//! Why: the design holds correlation to O(1), flat from 1 to 100,000 calls in flight.
//! The pending map (`Pending`, in `rpc/src/peer/correlation.rs`) is crate-private, so
//! this measures through the public path: a `Client` (a `Peer`) over the in-memory pipe,
//! whose other end is a minimal responder written here with the public framing and
//! message API (no server pipeline). The responder answers `ping` at once and ignores
//! `hold`; the pending calls are `hold` calls sent as batches of 10,000 (no call
//! timeout, so they stay pending for the whole run). Each measured `ping` registers its
//! id in the pending map, and its response completes it; the rest of the round trip
//! (encoding, the pipe, the responder) is the same for every pending count, so any
//! growth with the count is correlation's.
//!
//! - `correlation/round_trip/pending_N`: one `ping` at a time.
//! - `correlation/pipelined_64/pending_N`: 64 `ping`s in flight, so the per-call
//!   overhead of the round trip is smaller and the map's share larger.
//!
//! Everything runs on a current-thread tokio runtime, so the figures carry no
//! cross-thread wake-up noise. Throughput is in calls.
//!
//! Run: `cargo bench --bench correlation`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpc::framing::Framing;
use rpc::message::{encode_result, parse, Incoming, Message};
use rpc::transport::memory::{self, MemoryConnection};
use rpc::transport::Connection;
use rpc::{Client, ConnectionConfig};
use tokio::runtime::Runtime;

const PENDING: [usize; 3] = [1, 1_000, 100_000];
const HOLD_BATCH: usize = 10_000;
const IN_FLIGHT: usize = 64;

/// Answers every `ping` request with `"pong"`; ignores everything else.
async fn respond(connection: MemoryConnection) {
    let Connection {
        mut reader,
        mut writer,
    } = connection;
    let mut out = BytesMut::with_capacity(64 * 1024);
    while let Some(frame) = reader.next_frame().await {
        let Ok(frame) = frame else { continue };
        if let Ok(Incoming::Single(Message::Request(req))) = parse(&frame) {
            if req.method == "ping" {
                encode_result(&mut out, req.id, &"pong").unwrap();
                let frame = out.split().freeze();
                if writer.send(frame).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A client with `pending` calls that will never be answered.
async fn client_with_pending(pending: usize) -> Client {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 20);
    tokio::spawn(respond(theirs));
    let client = Client::new(
        ours,
        ConnectionConfig {
            request_timeout: None,
            ..ConnectionConfig::default()
        },
    );
    let mut left = pending;
    while left > 0 {
        let n = left.min(HOLD_BATCH);
        left -= n;
        let holder = client.clone();
        tokio::spawn(async move {
            let mut batch = holder.peer().expect("one connection").batch();
            for _ in 0..n {
                batch = batch.call("hold", &());
            }
            let _ = batch.send().await;
        });
    }
    while client.pending_calls() < pending {
        tokio::task::yield_now().await;
    }
    // The responder has read (and dropped) every batch once a ping comes back.
    ping(&client).await;
    assert_eq!(client.pending_calls(), pending);
    client
}

async fn ping(client: &Client) {
    let response = client
        .call_raw("ping", None::<&()>, None)
        .await
        .expect("the responder answers pings");
    assert_eq!(response.result(), Ok("\"pong\""));
}

fn sequential(rt: &Runtime, client: &Client, iters: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            ping(client).await;
        }
        start.elapsed()
    })
}

fn pipelined(rt: &Runtime, client: &Client, iters: u64) -> Duration {
    rt.block_on(async {
        let left = Arc::new(AtomicU64::new(iters));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let client = client.clone();
            let left = left.clone();
            tasks.spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    ping(&client).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        start.elapsed()
    })
}

fn correlation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clients: Vec<(usize, Client)> = PENDING
        .iter()
        .map(|&n| (n, rt.block_on(client_with_pending(n))))
        .collect();

    let mut group = c.benchmark_group("correlation/round_trip");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    for (pending, client) in &clients {
        group.bench_function(BenchmarkId::new("pending", pending), |b| {
            b.iter_custom(|iters| sequential(&rt, client, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("correlation/pipelined_{IN_FLIGHT}"));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    for (pending, client) in &clients {
        group.bench_function(BenchmarkId::new("pending", pending), |b| {
            b.iter_custom(|iters| pipelined(&rt, client, iters))
        });
    }
    group.finish();

    for (pending, client) in &clients {
        // The held calls are still there: the measured calls neither leaked nor
        // disturbed them.
        assert_eq!(client.pending_calls(), *pending);
    }
}

criterion_group!(benches, correlation);
criterion_main!(benches);
