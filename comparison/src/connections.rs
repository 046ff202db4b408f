//! Workload: 1,000 concurrent connections to one server over loopback, one call in
//! flight on each (a task per connection calling in a loop), server and clients in
//! one process on a two-worker tokio runtime, as in [`crate::loopback`].
//!
//! Per round and contender, on a fresh runtime and server:
//! 1. open the connections, a bounded number at a time (a thousand handshakes at
//!    once would fill the listener's backlog and time out), and make one call on
//!    each; not timed as calls, reported as the time to open them all;
//! 2. every connection's task calls in a loop: a warm-up window, then the timed
//!    window (calls per second; each call's latency, p50 and p99 over all rounds);
//! 3. at the end of the timed window the kernel's table says how many connections
//!    the server holds ([`crate::sockets`]), so the row shows that all of them were
//!    open and in use.
//!
//! The contenders:
//! - **ours-tcp**: `rpc::Server::serve_tcp` and `rpc::Client::connect_tcp`, the
//!   generated `CalcClient`, default configs (the server takes up to 10,000
//!   connections);
//! - **ours-ws**: `rpc::Server::serve_http` and `rpc::Client::connect_ws`;
//! - **jsonrpsee-ws**: its server and `WsClientBuilder`, defaults except the server's
//!   `max_connections`, 100 by default, raised to let the thousand in.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{future, StreamExt};
use jsonrpsee::ws_client::WsClientBuilder;
use rpc::framing::Framing;
use rpc::transport::tcp;
use rpc::ConnectionConfig;
use tokio::net::TcpListener;

use crate::loopback::{nanos, Caller, Jsonrpsee, Ours, STOP, TIMED, WARMUP};
use crate::services::{Adder, CalcClient, CalcServer, JsonrpseeCalcServer};
use crate::sockets::{self, Connections};
use crate::stats::{median, percentile};

/// The stacks compared with many connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnContender {
    /// Ours over TCP, newline-delimited JSON.
    OursTcp,
    /// Ours over WebSocket.
    OursWs,
    /// jsonrpsee over WebSocket.
    JsonrpseeWs,
}

impl ConnContender {
    /// All contenders, in the order they run in a round.
    pub const ALL: [ConnContender; 3] = [
        ConnContender::OursTcp,
        ConnContender::OursWs,
        ConnContender::JsonrpseeWs,
    ];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            ConnContender::OursTcp => "ours-tcp",
            ConnContender::OursWs => "ours-ws",
            ConnContender::JsonrpseeWs => "jsonrpsee-ws",
        }
    }
}

/// How many connections, and how long.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionsConfig {
    /// Rounds over all contenders.
    pub rounds: usize,
    /// Client connections to the one server.
    pub connections: usize,
    /// Connections being opened at once while setting up.
    pub open_at_once: usize,
    /// Unmeasured time with every connection calling.
    pub warmup: Duration,
    /// The timed window.
    pub timed: Duration,
}

/// What one round of one contender measured.
#[derive(Debug, Clone, Default)]
pub struct ConnRound {
    /// How long opening all connections (and one call on each) took.
    pub open: Duration,
    /// Calls per second over all connections in the timed window.
    pub calls_per_sec: f64,
    /// Latencies of the timed window's calls, in nanoseconds.
    pub latencies: Vec<u32>,
    /// The server's connections at the end of the timed window.
    pub connections: Option<Connections>,
    /// The process's CPU time (every thread, user and system) in the timed window
    /// per call made in it, microseconds; `None` where it cannot be read.
    pub cpu_us_per_call: Option<f64>,
}

/// One contender's figures over all rounds.
#[derive(Debug, Clone)]
pub struct ConnFigures {
    /// Median over rounds of the time to open all connections, milliseconds.
    pub open_ms: f64,
    /// The fewest established connections seen at the end of a timed window.
    pub established: Option<usize>,
    /// Median over rounds of calls per second.
    pub calls_per_sec: f64,
    /// Calls per second round by round, for ratios paired by round.
    pub rounds_calls_per_sec: Vec<f64>,
    /// Median latency over all rounds, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency over all rounds, microseconds.
    pub p99_us: f64,
    /// Median over rounds of the CPU time per call, client and server together,
    /// microseconds. Calls per second move with whatever else the machine runs;
    /// this moves much less.
    pub cpu_us_per_call: Option<f64>,
}

/// Opens `config.connections` clients with `connect`, `config.open_at_once` at a
/// time, and makes one call on each.
async fn open<C, F>(config: &ConnectionsConfig, connect: impl Fn() -> F) -> Vec<C>
where
    C: Caller,
    F: std::future::Future<Output = C>,
{
    futures::stream::iter(0..config.connections)
        .map(|i| {
            let connecting = connect();
            async move {
                let client = connecting.await;
                assert_eq!(client.add(i as i64, 1).await, i as i64 + 1);
                client
            }
        })
        .buffer_unordered(config.open_at_once)
        .collect()
        .await
}

/// Every client calls in a loop, one call in flight each; returns calls per second
/// of the timed window, its latencies and the connections of the server on `port`
/// at its end.
async fn measure<C: Caller>(
    clients: Vec<C>,
    config: &ConnectionsConfig,
    port: u16,
) -> (f64, Vec<u32>, Option<Connections>, Option<f64>) {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let phase = phase.clone();
            tokio::spawn(async move {
                let mut calls = 0u64;
                let mut latencies = Vec::with_capacity(256);
                loop {
                    let now = phase.load(Ordering::Relaxed);
                    if now == STOP {
                        return (calls, latencies);
                    }
                    let start = Instant::now();
                    std::hint::black_box(client.add(now as i64, 1).await);
                    if now == TIMED {
                        latencies.push(nanos(start.elapsed()));
                        calls += 1;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(config.warmup).await;
    phase.store(TIMED, Ordering::SeqCst);
    let start = Instant::now();
    let cpu_start = crate::sockets::process_cpu();
    tokio::time::sleep(config.timed).await;
    let cpu = crate::sockets::process_cpu()
        .zip(cpu_start)
        .map(|(end, start)| end.saturating_sub(start));
    // While the calls go on: a task that stops drops its client, which closes its
    // connection. The window grows by the read, which its calls count in.
    let connections = sockets::connections(port);
    phase.store(STOP, Ordering::SeqCst);
    let elapsed = start.elapsed();
    let mut calls = 0;
    let mut latencies = Vec::new();
    for task in future::join_all(tasks).await {
        let (c, l) = task.expect("a calling task");
        calls += c;
        latencies.extend(l);
    }
    let cpu_us_per_call = cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / calls.max(1) as f64);
    (
        calls as f64 / elapsed.as_secs_f64(),
        latencies,
        connections,
        cpu_us_per_call,
    )
}

async fn round_ours(config: ConnectionsConfig, ws: bool) -> ConnRound {
    let server = Arc::new(rpc::Server::new(CalcServer::new(Adder)));
    let (addr, serving): (SocketAddr, _) = if ws {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server.clone();
        let serving = tokio::spawn(async move {
            server
                .serve_http(listener, rpc::http::HttpConfig::default())
                .await
        });
        (addr, serving)
    } else {
        let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = server.clone();
        (
            addr,
            tokio::spawn(async move { server.serve_tcp(&listener).await }),
        )
    };
    let started = Instant::now();
    let url = format!("ws://{addr}/");
    let clients = open(&config, || {
        let url = url.clone();
        async move {
            let client = if ws {
                rpc::Client::connect_ws(&url, ConnectionConfig::default()).await
            } else {
                rpc::Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default()).await
            };
            Ours(CalcClient::new(client.expect("ours: connect")))
        }
    })
    .await;
    let open = started.elapsed();
    let (calls_per_sec, latencies, connections, cpu_us_per_call) =
        measure(clients, &config, addr.port()).await;
    server.shutdown(Duration::from_secs(1)).await;
    serving.abort();
    ConnRound {
        open,
        calls_per_sec,
        latencies,
        connections,
        cpu_us_per_call,
    }
}

async fn round_jsonrpsee(config: ConnectionsConfig) -> ConnRound {
    let server = jsonrpsee::server::Server::builder()
        .set_config(
            jsonrpsee::server::ServerConfig::builder()
                .max_connections(config.connections as u32 + 16)
                .build(),
        )
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(Adder.into_rpc());
    let started = Instant::now();
    let url = format!("ws://{addr}");
    let clients = open(&config, || {
        let url = url.clone();
        async move {
            let client = WsClientBuilder::default()
                .build(url)
                .await
                .expect("jsonrpsee: connect");
            Jsonrpsee(Arc::new(client))
        }
    })
    .await;
    let open = started.elapsed();
    let (calls_per_sec, latencies, connections, cpu_us_per_call) =
        measure(clients, &config, addr.port()).await;
    handle.stop().unwrap();
    handle.stopped().await;
    ConnRound {
        open,
        calls_per_sec,
        latencies,
        connections,
        cpu_us_per_call,
    }
}

/// Runs one round of `contender` on a fresh two-worker runtime.
fn round(contender: ConnContender, config: ConnectionsConfig) -> ConnRound {
    crate::runtime::on_two_workers(async move {
        match contender {
            ConnContender::OursTcp => round_ours(config, false).await,
            ConnContender::OursWs => round_ours(config, true).await,
            ConnContender::JsonrpseeWs => round_jsonrpsee(config).await,
        }
    })
}

/// Panics, saying what to do, when this process may not open a file for both ends
/// of every connection (`ulimit -n`).
pub fn require_open_files(config: &ConnectionsConfig) {
    // Both ends of every connection, plus the runtime's and the bench's own.
    sockets::require_open_files(2 * config.connections as u64 + 256);
}

/// Runs the workload: `config.rounds` rounds over every contender, the order
/// rotating from round to round. `progress` hears about each finished round.
///
/// # Panics
///
/// When the process may not open a file descriptor for both ends of every
/// connection (`ulimit -n`), with what to do about it.
pub fn run(
    config: ConnectionsConfig,
    mut progress: impl FnMut(ConnContender, usize, &ConnRound),
) -> Vec<(ConnContender, ConnFigures)> {
    require_open_files(&config);
    let all = ConnContender::ALL;
    let mut rounds: Vec<Vec<ConnRound>> = vec![Vec::new(); all.len()];
    for r in 0..config.rounds {
        for k in 0..all.len() {
            let i = (r + k) % all.len();
            let result = round(all[i], config);
            progress(all[i], r, &result);
            rounds[i].push(result);
        }
    }
    all.iter()
        .zip(rounds)
        .map(|(&contender, rounds)| {
            let mut latencies: Vec<u32> = rounds
                .iter()
                .flat_map(|r| r.latencies.iter().copied())
                .collect();
            latencies.sort_unstable();
            let rounds_calls_per_sec: Vec<f64> = rounds.iter().map(|r| r.calls_per_sec).collect();
            let mut open_ms: Vec<f64> = rounds.iter().map(|r| r.open.as_secs_f64() * 1e3).collect();
            let figures = ConnFigures {
                open_ms: median(&mut open_ms),
                established: rounds
                    .iter()
                    .filter_map(|r| r.connections.map(|c| c.established))
                    .min(),
                calls_per_sec: median(&mut rounds_calls_per_sec.clone()),
                rounds_calls_per_sec,
                p50_us: percentile(&latencies, 50.0) as f64 / 1e3,
                p99_us: percentile(&latencies, 99.0) as f64 / 1e3,
                cpu_us_per_call: {
                    let mut cpu: Vec<f64> =
                        rounds.iter().filter_map(|r| r.cpu_us_per_call).collect();
                    (!cpu.is_empty()).then(|| median(&mut cpu))
                },
            };
            (contender, figures)
        })
        .collect()
}

/// Ours over jsonrpsee-ws in calls per second, the median of per-round ratios.
pub fn ratio_to_jsonrpsee(
    figures: &[(ConnContender, ConnFigures)],
    ours: ConnContender,
) -> Option<f64> {
    let rounds = |c: ConnContender| {
        figures
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, f)| f.rounds_calls_per_sec.clone())
    };
    let (ours, theirs) = (rounds(ours)?, rounds(ConnContender::JsonrpseeWs)?);
    let mut ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(o, t)| o / t).collect();
    (!ratios.is_empty()).then(|| median(&mut ratios))
}

/// The target for many connections: ours at least this many times
/// jsonrpsee's calls per second.
pub const TARGET_RATIO: f64 = 2.0;

/// The markdown table: a row per contender, with ours over jsonrpsee-ws and
/// the target.
pub fn table(figures: &[(ConnContender, ConnFigures)], config: ConnectionsConfig) -> String {
    let mut out = format!(
        "| {} connections, 1 call in flight each | opened in | established | calls/s | p50 µs | p99 µs | CPU µs/call | calls/s ÷ jsonrpsee-ws | target | met |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
        crate::report::per_sec(config.connections as f64)
    );
    for (contender, f) in figures {
        let (ratio, target, met) = match contender {
            ConnContender::JsonrpseeWs => ("—".to_string(), "", "".to_string()),
            ours => {
                let ratio = ratio_to_jsonrpsee(figures, *ours);
                (
                    ratio.map_or("—".into(), |r| format!("{r:.2}x")),
                    "≥ 2x jsonrpsee-ws calls/s",
                    ratio.map_or("—".into(), |r| crate::report::yes_no(r >= TARGET_RATIO)),
                )
            }
        };
        out.push_str(&format!(
            "| {} | {:.0} ms | {} | {} | {:.1} | {:.1} | {} | {ratio} | {target} | {met} |\n",
            contender.name(),
            f.open_ms,
            f.established.map_or("—".into(), |n| n.to_string()),
            crate::report::per_sec(f.calls_per_sec),
            f.p50_us,
            f.p99_us,
            f.cpu_us_per_call.map_or("—".into(), |c| format!("{c:.1}")),
        ));
    }
    out
}
