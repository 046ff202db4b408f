//! End-to-end calls through a generated client and `rpc::Server`, over the in-memory
//! pipe (`rpc::transport::memory::pair`), TCP loopback (127.0.0.1), HTTP POST
//! (`Server::serve_http`, `Client::connect_http`: HTTP/1.1 with pooled keep-alive
//! connections) and WebSocket (`Client::connect_ws`), on a tokio multi-thread runtime
//! with 2 workers.
//!
//! Two shapes of load:
//! - `round_trip`: one call at a time; the reported time is the latency of one call.
//! - `pipelined_64`: 64 calls in flight on one connection (64 tasks sharing one client);
//!   the reported time is per call, so its inverse is the throughput in calls/s.
//!
//! and three payloads: `small` is `add(a, b)` (a frame of about 60 bytes each way);
//! `4KiB` and `64KiB` are `echo(text)` with that much text going out and coming back.
//!
//! Why: the design's end-to-end figures are on loopback TCP: sequential p50 within 1.5x
//! of a bare tokio line echo (about 21 µs on the 2-core machine) and, with 64 in flight,
//! at least 0.55x the bare echo's 350,000 calls/s. The in-memory pipe shows what is left
//! without the kernel. Throughput is in calls (elements).
//!
//! The whole client loop runs as a task on the runtime (not in `block_on` on the bench
//! thread), so client, server and transport share the 2 workers, as on a 2-core machine.
//!
//! Run: `cargo bench --bench transport`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpc::framing::Framing;
use rpc::prelude::*;
use rpc::transport::{memory, tcp};
use tokio::runtime::Runtime;

#[rpc_service]
pub trait Bench {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn echo(&self, text: &str) -> String;
}

struct Impl;

impl Bench for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }
}

const IN_FLIGHT: usize = 64;

#[derive(Clone, Copy)]
enum Payload {
    Small,
    Text(usize),
}

impl Payload {
    fn label(self) -> &'static str {
        match self {
            Payload::Small => "small",
            Payload::Text(4096) => "4KiB",
            Payload::Text(65536) => "64KiB",
            Payload::Text(_) => unreachable!(),
        }
    }
}

const PAYLOADS: [Payload; 3] = [Payload::Small, Payload::Text(4096), Payload::Text(65536)];

#[derive(Clone, Copy)]
enum Transport {
    Memory,
    Tcp,
    /// TCP through a reconnecting client (`Client::reconnecting`).
    TcpReconnecting,
    /// TCP through a client balanced over three ports of the server.
    TcpBalanced3,
    Http,
    WebSocket,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Memory => "memory",
            Transport::Tcp => "tcp",
            Transport::TcpReconnecting => "tcp_reconnecting",
            Transport::TcpBalanced3 => "tcp_balanced_3",
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A server and a connected client; the server lives as long as the returned value.
struct Setup {
    client: BenchClient,
    _server: Arc<Server>,
}

async fn setup(transport: Transport) -> Setup {
    let server = Arc::new(Server::new(BenchServer::new(Impl)));
    let client = match transport {
        Transport::Memory => {
            let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 18);
            server.serve_connection(theirs);
            Client::new(ours, ConnectionConfig::default())
        }
        Transport::Tcp => {
            let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
                .await
                .unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            let serving = server.clone();
            tokio::spawn(async move { serving.serve_tcp(&listener).await });
            Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default())
                .await
                .unwrap()
        }
        Transport::TcpReconnecting | Transport::TcpBalanced3 => {
            let ports = if let Transport::TcpBalanced3 = transport {
                3
            } else {
                1
            };
            let mut endpoints = Vec::new();
            for _ in 0..ports {
                let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
                    .await
                    .unwrap();
                let addr: SocketAddr = listener.local_addr().unwrap();
                let serving = server.clone();
                tokio::spawn(async move { serving.serve_tcp(&listener).await });
                endpoints.push(rpc::Endpoint::tcp(
                    addr.to_string(),
                    Framing::Ndjson,
                    ConnectionConfig::default(),
                ));
            }
            let client = Client::balanced(endpoints, rpc::Reconnect::default());
            while client.endpoints().iter().filter(|e| e.connected).count() < ports {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            client
        }
        Transport::Http | Transport::WebSocket => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            let serving = server.clone();
            tokio::spawn(async move {
                serving
                    .serve_http(listener, rpc::http::HttpConfig::default())
                    .await
            });
            if let Transport::Http = transport {
                Client::connect_http(&format!("http://{addr}/"), ConnectionConfig::default())
                    .unwrap()
            } else {
                Client::connect_ws(&format!("ws://{addr}/"), ConnectionConfig::default())
                    .await
                    .unwrap()
            }
        }
    };
    Setup {
        client: BenchClient::new(client),
        _server: server,
    }
}

async fn one_call(client: &BenchClient, payload: Payload, text: &str) {
    match payload {
        Payload::Small => {
            assert_eq!(client.add(black_box(1), 2).await.unwrap(), 3);
        }
        Payload::Text(len) => {
            assert_eq!(client.echo(black_box(text)).await.unwrap().len(), len);
        }
    }
}

fn text(payload: Payload) -> Arc<str> {
    match payload {
        Payload::Small => "".into(),
        Payload::Text(len) => (0..len)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect::<String>()
            .into(),
    }
}

/// `iters` calls one at a time; the time they took.
fn sequential(
    rt: &Runtime,
    client: &BenchClient,
    payload: Payload,
    text: &Arc<str>,
    iters: u64,
) -> Duration {
    let client = client.clone();
    let text = text.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                one_call(&client, payload, &text).await;
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

/// `iters` calls made by `IN_FLIGHT` tasks sharing one client; the time they took.
fn pipelined(
    rt: &Runtime,
    client: &BenchClient,
    payload: Payload,
    text: &Arc<str>,
    iters: u64,
) -> Duration {
    let client = client.clone();
    let text = text.clone();
    rt.block_on(async move {
        tokio::spawn(async move {
            let left = Arc::new(AtomicU64::new(iters));
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..IN_FLIGHT {
                let client = client.clone();
                let text = text.clone();
                let left = left.clone();
                tasks.spawn(async move {
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        one_call(&client, payload, &text).await;
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

fn bench_transport(c: &mut Criterion, transport: Transport) {
    let rt = runtime();
    let setup = rt.block_on(setup(transport));
    let client = &setup.client;

    let mut group = c.benchmark_group(format!("transport/{}/round_trip", transport.label()));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    for payload in PAYLOADS {
        let text = text(payload);
        group.bench_function(BenchmarkId::from_parameter(payload.label()), |b| {
            b.iter_custom(|iters| sequential(&rt, client, payload, &text, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!(
        "transport/{}/pipelined_{IN_FLIGHT}",
        transport.label()
    ));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for payload in PAYLOADS {
        let text = text(payload);
        group.bench_function(BenchmarkId::from_parameter(payload.label()), |b| {
            b.iter_custom(|iters| pipelined(&rt, client, payload, &text, iters))
        });
    }
    group.finish();

    drop(setup);
    rt.shutdown_timeout(Duration::from_secs(1));
}

fn memory_pipe(c: &mut Criterion) {
    bench_transport(c, Transport::Memory);
}

fn tcp_loopback(c: &mut Criterion) {
    bench_transport(c, Transport::Tcp);
}

fn tcp_reconnecting(c: &mut Criterion) {
    bench_transport(c, Transport::TcpReconnecting);
}

fn tcp_balanced_3(c: &mut Criterion) {
    bench_transport(c, Transport::TcpBalanced3);
}

fn http_post(c: &mut Criterion) {
    bench_transport(c, Transport::Http);
}

fn websocket(c: &mut Criterion) {
    bench_transport(c, Transport::WebSocket);
}

criterion_group!(
    benches,
    memory_pipe,
    tcp_loopback,
    tcp_reconnecting,
    tcp_balanced_3,
    http_post,
    websocket
);
criterion_main!(benches);
