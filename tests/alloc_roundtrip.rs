//! Heap allocations per call on whole round trips in steady state, client and server
//! together, counted by a global allocator in this test binary: a hand-built `Router`
//! and a generated `#[rpc_service]` pair, over the in-memory pipe and TCP loopback, one
//! call at a time and 64 in flight. Each runs on a current-thread runtime, so one
//! thread's count holds client, server and transport.
//!
//! The budgets are the figures reached (printed with `--nocapture`); lower them when
//! the path gets leaner. What is left per call on the generated path: the caller's
//! oneshot and the allocation the server tries the call in, which holds the
//! handler's future unboxed (`Service::spawn_call`; a call that finishes there, as
//! these do, needs no task: `ServerConfig::run_ready_calls_inline`); a `Router` boxes
//! its handlers' futures, one more. A Prometheus recorder or a subscriber that
//! filters the call spans out adds none (the recorder's histogram takes a block now
//! and then: 0.02 per call).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router};
use rpc::transport::{memory, tcp};
use rpc::{rpc_service, Client, ConnectionConfig, Endpoint, Reconnect, Server};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[rpc_service]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Impl;

impl Calc for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

const WARM_UP: i64 = 2000;
const CALLS: i64 = 1000;
const IN_FLIGHT: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of a fresh server, over the in-memory pipe or TCP loopback.
async fn connect(server: &'static Server, tcp: bool) -> Client {
    if tcp {
        let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { server.serve_tcp(&listener).await });
        Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default())
            .await
            .unwrap()
    } else {
        let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
        server.serve_connection(theirs);
        Client::new(ours, ConnectionConfig::default())
    }
}

/// A managed client of a fresh server listening on `endpoints` TCP ports (one: a
/// reconnecting client; more: a balanced one), once all are connected.
async fn connect_managed(server: &'static Server, endpoints: usize) -> Client {
    let mut list = Vec::new();
    for _ in 0..endpoints {
        let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { server.serve_tcp(&listener).await });
        list.push(Endpoint::tcp(
            addr.to_string(),
            Framing::Ndjson,
            ConnectionConfig::default(),
        ));
    }
    let client = Client::balanced(list, Reconnect::default());
    for _ in 0..5000 {
        if client.endpoints().iter().filter(|e| e.connected).count() == endpoints {
            return client;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("not connected: {:?}", client.endpoints());
}

/// Allocations per call of `call`, one at a time, after a warm-up.
async fn sequential<F: Future<Output = i64>>(call: impl Fn(i64) -> F) -> f64 {
    for i in 0..WARM_UP {
        assert_eq!(call(i).await, i + 1);
    }
    let before = counting_alloc::allocations();
    for i in 0..CALLS {
        assert_eq!(call(i).await, i + 1);
    }
    (counting_alloc::allocations() - before) as f64 / CALLS as f64
}

/// Allocations per call of `call` with `IN_FLIGHT` calls at a time, polled in place
/// (no task or box per call, so the count is the stack's own).
async fn pipelined<F: Future<Output = i64>>(call: impl Fn(i64) -> F) -> f64 {
    async fn round<F: Future<Output = i64>>(call: &impl Fn(i64) -> F, base: i64) {
        let calls: [F; IN_FLIGHT] = std::array::from_fn(|k| call(base + k as i64));
        let mut calls = pin!(calls);
        let mut done = [false; IN_FLIGHT];
        poll_fn(|cx| {
            for (k, finished) in done.iter_mut().enumerate() {
                if *finished {
                    continue;
                }
                // SAFETY: the array is pinned and never moved; its elements are
                // polled in place and never moved out.
                let fut = unsafe { calls.as_mut().map_unchecked_mut(|a| &mut a[k]) };
                if let Poll::Ready(sum) = fut.poll(cx) {
                    assert_eq!(sum, base + k as i64 + 1);
                    *finished = true;
                }
            }
            if done.iter().all(|&d| d) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    let rounds = CALLS / IN_FLIGHT as i64;
    for r in 0..WARM_UP / IN_FLIGHT as i64 {
        round(&call, r * IN_FLIGHT as i64).await;
    }
    let before = counting_alloc::allocations();
    for r in 0..rounds {
        round(&call, r * IN_FLIGHT as i64).await;
    }
    (counting_alloc::allocations() - before) as f64 / (rounds * IN_FLIGHT as i64) as f64
}

fn router() -> Router {
    Router::new().method(MethodInfo::new("add"), |call| async move {
        let (a, b): (i64, i64) = call.decode_params()?;
        call.respond(&(a + b))
    })
}

fn generated_server() -> &'static Server {
    Box::leak(Box::new(Server::new(CalcServer::new(Impl))))
}

/// Runs `measure` against a generated client over the given transport.
fn generated(tcp: bool, in_flight: bool) -> f64 {
    generated_over(
        move |server| Box::pin(async move { connect(server, tcp).await }),
        in_flight,
    )
}

type Connect = fn(&'static Server) -> std::pin::Pin<Box<dyn Future<Output = Client>>>;

/// Runs `measure` against a generated client over what `connect` opens.
fn generated_over(
    connect: impl FnOnce(&'static Server) -> std::pin::Pin<Box<dyn Future<Output = Client>>>,
    in_flight: bool,
) -> f64 {
    runtime().block_on(async {
        let calc = CalcClient::new(connect(generated_server()).await);
        let call = |i: i64| {
            let calc = &calc;
            async move { calc.add(i, 1).await.unwrap() }
        };
        if in_flight {
            pipelined(call).await
        } else {
            sequential(call).await
        }
    })
}

fn check(what: &str, per_call: f64, budget: f64) {
    println!("{what}: {per_call:.2} allocations per call (budget {budget})");
    assert!(
        per_call <= budget,
        "{what}: {per_call} allocations per call, over the budget of {budget}"
    );
}

#[test]
fn router_in_memory_sequential() {
    let per_call = runtime().block_on(async {
        let server: &'static Server = Box::leak(Box::new(Server::new(router())));
        let client = connect(server, false).await;
        sequential(|i| {
            let client = &client;
            async move { client.call::<_, i64>("add", &[i, 1]).await.unwrap() }
        })
        .await
    });
    check("Router, in-memory, sequential", per_call, 3.1);
}

#[test]
fn generated_in_memory_sequential() {
    check(
        "generated, in-memory, sequential",
        generated(false, false),
        2.1,
    );
}

#[test]
fn generated_in_memory_64_in_flight() {
    check(
        "generated, in-memory, 64 in flight",
        generated(false, true),
        2.1,
    );
}

#[test]
fn generated_tcp_sequential() {
    check(
        "generated, TCP loopback, sequential",
        generated(true, false),
        2.1,
    );
}

/// A managed client adds no allocation: the pick reads the endpoints under a lock
/// and clones a peer handle.
#[test]
fn generated_reconnecting_tcp_sequential() {
    let connect: Connect = |server| Box::pin(connect_managed(server, 1));
    check(
        "generated, reconnecting, TCP loopback, sequential",
        generated_over(connect, false),
        2.1,
    );
}

#[test]
fn generated_balanced_over_3_tcp_64_in_flight() {
    let connect: Connect = |server| Box::pin(connect_managed(server, 3));
    check(
        "generated, balanced over 3, TCP loopback, 64 in flight",
        generated_over(connect, true),
        2.1,
    );
}

#[test]
fn generated_tcp_64_in_flight() {
    check(
        "generated, TCP loopback, 64 in flight",
        generated(true, true),
        2.1,
    );
}

/// With a Prometheus recorder (what `examples/metrics_prometheus` serves), a call
/// records on handles its server registered once per method and transport.
#[test]
fn generated_in_memory_sequential_prometheus() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let per_call = metrics::with_local_recorder(&recorder, || generated(false, false));
    check(
        "generated, in-memory, sequential, Prometheus recorder",
        per_call,
        2.1,
    );
}

/// With a subscriber that filters DEBUG out, a call's span costs a check, no
/// allocation.
#[test]
fn generated_in_memory_sequential_tracing_info() {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_writer(std::io::sink)
        .finish();
    let per_call = tracing::subscriber::with_default(subscriber, || generated(false, false));
    check(
        "generated, in-memory, sequential, tracing at INFO",
        per_call,
        2.1,
    );
}
