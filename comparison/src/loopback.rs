//! Workload 2: calls over loopback TCP (127.0.0.1) on one connection, server and
//! client in one process on a multi-thread tokio runtime with two workers (the
//! machine has two cores). Each contender gets a fresh runtime, server and connection
//! per round; rounds alternate between contenders so that machine noise falls on all
//! alike.
//!
//! Per round and contender:
//! 1. warm-up: sequential calls, not measured;
//! 2. allocations, sequential: heap allocations of the whole process (client and
//!    server together) over a window of sequential calls, divided by the calls;
//! 3. latency: sequential calls, each timed alone (p50 and p99 over all rounds);
//! 4. in flight: 64 tasks sharing the one connection, each calling in a loop, first
//!    unmeasured, then an allocation window (allocations per call with 64 in flight),
//!    then the timed window (calls per second, the median over rounds; each call's
//!    latency, p50 and p99 over all rounds; and the server's connections as the
//!    kernel counts them at the end of the window, see [`crate::sockets`]).
//!
//! The contenders:
//! - **ours**: `rpc::Server::serve_tcp` and `rpc::Client::connect_tcp`, newline-delimited
//!   JSON, the `#[rpc_service]` trait's generated `CalcClient` and `CalcServer`;
//! - **jsonrpsee**: its WebSocket server (`jsonrpsee::server::Server`) and client
//!   (`WsClientBuilder`), the `#[rpc(server, client)]` trait, params by name;
//! - **tarpc-json** / **tarpc-bincode**: `tarpc::serde_transport` over TCP with
//!   tokio-serde's JSON or bincode codec, the `#[tarpc::service]` trait, a task per
//!   request on the server as tarpc's examples do. tarpc's own `tcp::connect` leaves
//!   Nagle's algorithm on, so the streams are made here with `TCP_NODELAY`, as ours and
//!   jsonrpsee set it by default;
//! - **floor**: a bare tokio program that writes newline-terminated lines of our
//!   request's size and answers each with a line of our response's size, no JSON at
//!   all, one write per line on both ends (with 64 in flight, a writer task writes a
//!   line whenever fewer than 64 are outstanding and a reader task counts the answers);
//! - **floor-batched**: the same echo, but every read is answered with one write of
//!   all the lines it completed, and with 64 in flight one client task keeps a window
//!   of 64 lines and answers every read with one write: no per-message work at all,
//!   what the loopback and two cores allow. Reported beside the table, not as the
//!   floor: it measures syscall batching, not a message-at-a-time program;
//! - **floor-tasks**: the floor's lines through the same six task hops as a call of
//!   ours ([`crate::floor_tasks`]). Reported beside the table: its p50 over the
//!   floor's is what the hops cost, ours over it what ours does per call besides.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{future, StreamExt};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use rpc::framing::Framing;
use rpc::transport::tcp;
use rpc::ConnectionConfig;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::{Bincode, Json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::counting::Window;
use crate::services::{
    Adder, CalcClient, CalcServer, JsonrpseeCalcClient, JsonrpseeCalcServer, TarpcCalc,
    TarpcCalcClient,
};
use crate::sockets::{self, Connections};
use crate::stats::{median, percentile};

/// The stacks compared over loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// This repository's `rpc`.
    Ours,
    /// jsonrpsee over WebSocket.
    Jsonrpsee,
    /// tarpc with its JSON codec.
    TarpcJson,
    /// tarpc with its bincode codec.
    TarpcBincode,
    /// The bare tokio line echo, one write per line: the floor.
    Floor,
    /// The bare tokio line echo answering every read with one write, and with 64 in
    /// flight a client that does the same: what the loopback itself allows.
    FloorBatched,
    /// The floor's lines moved through the same six task hops as a call of ours
    /// ([`crate::floor_tasks`]): what ours' task structure costs alone.
    FloorTasks,
    /// Ours over WebSocket (`Server::serve_http`, `Client::connect_ws`), against
    /// jsonrpsee's WebSocket (the `jsonrpsee` row).
    OursWs,
    /// Ours over HTTP POST (`Server::serve_http`, `Client::connect_http`).
    OursHttp,
    /// jsonrpsee over HTTP POST (its server and `HttpClient`).
    JsonrpseeHttp,
    /// Ours' HTTP server called by jsonrpsee's `HttpClient`: against
    /// `JsonrpseeHttp`, the two servers behind the same client.
    OursServerHttp,
}

impl Contender {
    /// All contenders, in the order they run in a round.
    pub const ALL: [Contender; 11] = [
        Contender::Ours,
        Contender::Jsonrpsee,
        Contender::TarpcJson,
        Contender::TarpcBincode,
        Contender::Floor,
        Contender::FloorBatched,
        Contender::FloorTasks,
        Contender::OursWs,
        Contender::OursHttp,
        Contender::JsonrpseeHttp,
        Contender::OursServerHttp,
    ];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Ours => "ours",
            Contender::Jsonrpsee => "jsonrpsee",
            Contender::TarpcJson => "tarpc-json",
            Contender::TarpcBincode => "tarpc-bincode",
            Contender::Floor => "floor",
            Contender::FloorBatched => "floor-batched",
            Contender::FloorTasks => "floor-tasks",
            Contender::OursWs => "ours-ws",
            Contender::OursHttp => "ours-http",
            Contender::JsonrpseeHttp => "jsonrpsee-http",
            Contender::OursServerHttp => "ours-server-http",
        }
    }
}

/// How long the loopback workload runs.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackConfig {
    /// Rounds over all contenders.
    pub rounds: usize,
    /// Unmeasured sequential calls at the start of a round.
    pub warmup_calls: u64,
    /// Sequential calls in the allocation window.
    pub alloc_calls: u64,
    /// Sequential calls timed one by one, per round.
    pub latency_calls: usize,
    /// Calls in flight on the connection in the throughput phase.
    pub in_flight: usize,
    /// Unmeasured time with `in_flight` calls before the allocation window.
    pub in_flight_warmup: Duration,
    /// The allocation window with `in_flight` calls.
    pub in_flight_alloc: Duration,
    /// The timed window with `in_flight` calls.
    pub in_flight_timed: Duration,
}

/// What one round of one contender measured.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// Latencies of the sequential calls, in nanoseconds.
    pub latencies: Vec<u64>,
    /// Allocations per sequential call.
    pub seq_allocs: f64,
    /// Allocations per call with `in_flight` calls.
    pub in_flight_allocs: f64,
    /// Calls per second with `in_flight` calls.
    pub calls_per_sec: f64,
    /// Latencies of the calls of the timed window with `in_flight` calls, in
    /// nanoseconds (empty for the floors, whose calls are not told apart).
    pub in_flight_latencies: Vec<u32>,
    /// The server's connections at the end of the timed window.
    pub connections: Option<Connections>,
}

/// One contender's figures over all rounds.
#[derive(Debug, Clone)]
pub struct LoopbackFigures {
    /// Median sequential latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile sequential latency, microseconds.
    pub p99_us: f64,
    /// Sequential latency at [`PERCENTILES`], microseconds.
    pub percentiles_us: [f64; 4],
    /// Median latency with `in_flight` calls, microseconds, over all rounds (`None`
    /// for the floors).
    pub in_flight_p50_us: Option<f64>,
    /// 99th percentile latency with `in_flight` calls, likewise.
    pub in_flight_p99_us: Option<f64>,
    /// The server's connections at the end of the timed window: the most
    /// established and the most in `TIME_WAIT` seen in any round.
    pub connections: Option<Connections>,
    /// Median over rounds of calls per second with `in_flight` calls.
    pub calls_per_sec: f64,
    /// Median over rounds of allocations per sequential call.
    pub seq_allocs: f64,
    /// Median over rounds of allocations per call with `in_flight` calls.
    pub in_flight_allocs: f64,
    /// Calls per second with `in_flight` calls, round by round (for ratios paired
    /// by round: contenders of one round run within seconds of each other).
    pub rounds_calls_per_sec: Vec<f64>,
}

/// The percentiles of [`LoopbackFigures::percentiles_us`] (and the latency chart).
pub const PERCENTILES: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// A connected client of one RPC stack, cheap to clone, making the `add` call.
pub(crate) trait Caller: Clone + Send + Sync + 'static {
    fn add(&self, a: i64, b: i64) -> impl Future<Output = i64> + Send;
}

#[derive(Clone)]
pub(crate) struct Ours(pub(crate) CalcClient);

impl Caller for Ours {
    async fn add(&self, a: i64, b: i64) -> i64 {
        self.0.add(a, b).await.expect("ours: add")
    }
}

#[derive(Clone)]
pub(crate) struct Jsonrpsee(pub(crate) Arc<WsClient>);

impl Caller for Jsonrpsee {
    async fn add(&self, a: i64, b: i64) -> i64 {
        JsonrpseeCalcClient::add(&*self.0, a, b)
            .await
            .expect("jsonrpsee: add")
    }
}

#[derive(Clone)]
struct JsonrpseeHttp(Arc<jsonrpsee::http_client::HttpClient>);

impl Caller for JsonrpseeHttp {
    async fn add(&self, a: i64, b: i64) -> i64 {
        JsonrpseeCalcClient::add(&*self.0, a, b)
            .await
            .expect("jsonrpsee-http: add")
    }
}

#[derive(Clone)]
struct Tarpc(TarpcCalcClient);

impl Caller for Tarpc {
    async fn add(&self, a: i64, b: i64) -> i64 {
        self.0
            .add(tarpc::context::current(), a, b)
            .await
            .expect("tarpc: add")
    }
}

/// The phases of the in-flight run, read by every calling task before each call.
pub(crate) const WARMUP: u8 = 0;
pub(crate) const COUNTED: u8 = 1;
pub(crate) const TIMED: u8 = 2;
pub(crate) const STOP: u8 = 3;

/// Drives the phases of the in-flight run (the calling tasks run on their own) and
/// returns the allocations per call of the counted window, the calls per second of
/// the timed one and the connections of the server on `port` at its end; `counts`
/// resolves to the calls made in each phase once all stop.
async fn drive_phases(
    phase: &AtomicU8,
    config: &LoopbackConfig,
    port: u16,
    counts: impl Future<Output = [u64; 3]>,
) -> (f64, f64, Option<Connections>) {
    tokio::time::sleep(config.in_flight_warmup).await;
    let window = Window::open();
    phase.store(COUNTED, Ordering::SeqCst);
    tokio::time::sleep(config.in_flight_alloc).await;
    phase.store(TIMED, Ordering::SeqCst);
    let allocs = window.finish();
    let start = Instant::now();
    tokio::time::sleep(config.in_flight_timed).await;
    // While the calls go on, so that every connection they use is open; the window
    // grows by the read, which its calls count in.
    let connections = sockets::connections(port);
    phase.store(STOP, Ordering::SeqCst);
    let elapsed = start.elapsed();
    let counts = counts.await;
    (
        allocs as f64 / counts[COUNTED as usize].max(1) as f64,
        counts[TIMED as usize] as f64 / elapsed.as_secs_f64(),
        connections,
    )
}

/// Measures one round of an RPC stack against the server on `port`: the sequential
/// phases through the first of `clients`, and with `in_flight` calls task `i` calls
/// through `clients[i % clients.len()]` (one client shared by all, or one client
/// per task).
pub(crate) async fn measure<C: Caller>(
    clients: Vec<C>,
    config: LoopbackConfig,
    port: u16,
) -> Round {
    let client = clients[0].clone();
    for i in 0..config.warmup_calls as i64 {
        assert_eq!(client.add(i, 1).await, i + 1);
    }
    let window = Window::open();
    for i in 0..config.alloc_calls as i64 {
        std::hint::black_box(client.add(i, 1).await);
    }
    let seq_allocs = window.finish() as f64 / config.alloc_calls as f64;
    let mut latencies = Vec::with_capacity(config.latency_calls);
    for i in 0..config.latency_calls as i64 {
        let start = Instant::now();
        std::hint::black_box(client.add(i, 1).await);
        latencies.push(start.elapsed().as_nanos() as u64);
    }

    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = (0..config.in_flight)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let phase = phase.clone();
            tokio::spawn(async move {
                let mut counts = [0u64; 3];
                // Allocated now, so that the counted window does not see it grow.
                let mut latencies = Vec::with_capacity(4096);
                loop {
                    let now = phase.load(Ordering::Relaxed);
                    if now == STOP {
                        return (counts, latencies);
                    }
                    let start = Instant::now();
                    std::hint::black_box(client.add(now as i64, 1).await);
                    if now == TIMED {
                        latencies.push(nanos(start.elapsed()));
                    }
                    counts[now as usize] += 1;
                }
            })
        })
        .collect();
    let mut in_flight_latencies = Vec::new();
    let counts = async {
        let mut total = [0u64; 3];
        for task in future::join_all(tasks).await {
            let (counts, latencies) = task.expect("a calling task");
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
            in_flight_latencies.extend(latencies);
        }
        total
    };
    let (in_flight_allocs, calls_per_sec, connections) =
        drive_phases(&phase, &config, port, counts).await;
    Round {
        latencies,
        seq_allocs,
        in_flight_allocs,
        calls_per_sec,
        in_flight_latencies,
        connections,
    }
}

/// A latency in nanoseconds, saturating at about 4.3 s (half the memory of a
/// `u64` for the hundreds of thousands of calls of a timed window).
pub fn nanos(elapsed: Duration) -> u32 {
    elapsed.as_nanos().min(u32::MAX as u128) as u32
}

async fn round_ours(config: LoopbackConfig) -> Round {
    let server = Arc::new(rpc::Server::new(CalcServer::new(Adder)));
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_tcp(&listener).await })
    };
    let client = rpc::Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap();
    let round = measure(vec![Ours(CalcClient::new(client))], config, addr.port()).await;
    server.shutdown(Duration::from_secs(1)).await;
    serving.abort();
    round
}

/// HTTP/1.1 carries one request at a time on a connection, so "HTTP with 64
/// keep-alive connections" is 64 clients, one per calling task, each keeping its
/// one connection: a single pooling client with 64 in flight keeps no fixed number
/// of connections (jsonrpsee's opened about 100; ours, whose pool keeps at most 32
/// idle connections by default, closed and reopened thousands per second). The
/// sequential phases use the first of them.
fn http_clients<C>(config: &LoopbackConfig, connect: impl Fn() -> C) -> Vec<C> {
    (0..config.in_flight).map(|_| connect()).collect()
}

/// jsonrpsee's HTTP client of the server at `addr`.
fn jsonrpsee_http(addr: SocketAddr) -> JsonrpseeHttp {
    let client = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .unwrap();
    JsonrpseeHttp(Arc::new(client))
}

/// Ours over the HTTP server, called as `contender` says: by our WebSocket client
/// (`OursWs`), our HTTP client (`OursHttp`) or jsonrpsee's (`OursServerHttp`).
async fn round_ours_http(config: LoopbackConfig, contender: Contender) -> Round {
    let server = Arc::new(rpc::Server::new(CalcServer::new(Adder)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .serve_http(listener, rpc::http::HttpConfig::default())
                .await
        })
    };
    let round = match contender {
        Contender::OursWs => {
            let client =
                rpc::Client::connect_ws(&format!("ws://{addr}/"), ConnectionConfig::default())
                    .await
                    .unwrap();
            measure(vec![Ours(CalcClient::new(client))], config, addr.port()).await
        }
        Contender::OursHttp => {
            let clients = http_clients(&config, || {
                let client = rpc::Client::connect_http(
                    &format!("http://{addr}/"),
                    ConnectionConfig::default(),
                )
                .unwrap();
                Ours(CalcClient::new(client))
            });
            measure(clients, config, addr.port()).await
        }
        _ => {
            let clients = http_clients(&config, || jsonrpsee_http(addr));
            measure(clients, config, addr.port()).await
        }
    };
    server.shutdown(Duration::from_secs(1)).await;
    serving.abort();
    round
}

async fn round_jsonrpsee_http(config: LoopbackConfig) -> Round {
    let server = jsonrpsee::server::Server::builder()
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(Adder.into_rpc());
    let clients = http_clients(&config, || jsonrpsee_http(addr));
    let round = measure(clients, config, addr.port()).await;
    handle.stop().unwrap();
    handle.stopped().await;
    round
}

async fn round_jsonrpsee(config: LoopbackConfig) -> Round {
    let server = jsonrpsee::server::Server::builder()
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(Adder.into_rpc());
    let client = WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .unwrap();
    let round = measure(vec![Jsonrpsee(Arc::new(client))], config, addr.port()).await;
    handle.stop().unwrap();
    handle.stopped().await;
    round
}

/// One round of tarpc with the codec `$codec` (`Json` or `Bincode`); a macro because
/// the codec's type differs between the two ends (its item types swap).
macro_rules! round_tarpc {
    ($config:expr, $codec:ident) => {{
        let config: LoopbackConfig = $config;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let transport =
                    tarpc::serde_transport::Transport::from((stream, $codec::default()));
                tokio::spawn(
                    BaseChannel::with_defaults(transport)
                        .execute(Adder.serve())
                        .for_each(|response| async move {
                            tokio::spawn(response);
                        }),
                );
            }
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let transport = tarpc::serde_transport::Transport::from((stream, $codec::default()));
        let client = TarpcCalcClient::new(tarpc::client::Config::default(), transport).spawn();
        let round = measure(vec![Tarpc(client)], config, addr.port()).await;
        serving.abort();
        round
    }};
}

async fn round_tarpc_json(config: LoopbackConfig) -> Round {
    round_tarpc!(config, Json)
}

async fn round_tarpc_bincode(config: LoopbackConfig) -> Round {
    round_tarpc!(config, Bincode)
}

/// The floor's lines: our request and response frames (with a five-digit id, as in
/// the steady state of a run) with their newlines.
pub(crate) fn floor_lines() -> (Vec<u8>, Vec<u8>) {
    let request = br#"{"jsonrpc":"2.0","id":12345,"method":"add","params":{"a":1,"b":2}}"#;
    let response = br#"{"jsonrpc":"2.0","id":12345,"result":3}"#;
    (
        [&request[..], b"\n"].concat(),
        [&response[..], b"\n"].concat(),
    )
}

/// The floor's server: reads what has arrived and answers every complete line with
/// one response line; `batched` answers all the lines of one read with one write,
/// otherwise every line gets its own write, as a program that handles messages one by
/// one does.
async fn floor_serve(mut stream: TcpStream, response: Arc<[u8]>, batched: bool) {
    let mut input = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut output = Vec::with_capacity(64 * 1024);
    loop {
        let n = match stream.read(&mut input[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut consumed = 0;
        while let Some(at) = newline(&input[consumed..filled]) {
            consumed += at + 1;
            if batched {
                output.extend_from_slice(&response);
            } else if stream.write_all(&response).await.is_err() {
                return;
            }
        }
        input.copy_within(consumed..filled, 0);
        filled -= consumed;
        if batched {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
    }
}

/// The first newline in `bytes`.
fn newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Reads once and returns how many complete lines arrived; `pending` carries the
/// bytes of a partly read line from call to call.
async fn floor_read_lines(
    stream: &mut (impl AsyncRead + Unpin),
    input: &mut [u8],
    pending: &mut usize,
) -> usize {
    let n = stream.read(&mut input[*pending..]).await.unwrap();
    assert!(n > 0, "the floor's server closed");
    let filled = *pending + n;
    let mut consumed = 0;
    let mut lines = 0;
    while let Some(at) = newline(&input[consumed..filled]) {
        consumed += at + 1;
        lines += 1;
    }
    input.copy_within(consumed..filled, 0);
    *pending = filled - consumed;
    lines
}

/// One round of the bare line echo; see [`Contender::Floor`] and
/// [`Contender::FloorBatched`] for the two ways of keeping 64 lines in flight.
async fn round_floor(config: LoopbackConfig, batched: bool) -> Round {
    let (request, response) = floor_lines();
    let response: Arc<[u8]> = response.into();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(floor_serve(stream, response.clone(), batched));
        }
    });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut input = vec![0u8; 64 * 1024];
    let mut pending = 0;

    let mut call = async |stream: &mut TcpStream| {
        stream.write_all(&request).await.unwrap();
        let mut got = 0;
        while got == 0 {
            got = floor_read_lines(stream, &mut input, &mut pending).await;
        }
    };
    for _ in 0..config.warmup_calls {
        call(&mut stream).await;
    }
    let window = Window::open();
    for _ in 0..config.alloc_calls {
        call(&mut stream).await;
    }
    let seq_allocs = window.finish() as f64 / config.alloc_calls as f64;
    let mut latencies = Vec::with_capacity(config.latency_calls);
    for _ in 0..config.latency_calls {
        let start = Instant::now();
        call(&mut stream).await;
        latencies.push(start.elapsed().as_nanos() as u64);
    }

    let phase = Arc::new(AtomicU8::new(WARMUP));
    let in_flight = config.in_flight;
    let (mut reader, mut writer) = stream.into_split();
    let client = if batched {
        // One task keeps the window full: it writes the whole window, then answers
        // every read with one write of as many lines as came back.
        let phase = phase.clone();
        tokio::spawn(async move {
            let mut counts = [0u64; 3];
            let mut output = request.repeat(in_flight);
            writer.write_all(&output).await.unwrap();
            let mut outstanding = in_flight;
            loop {
                let lines = floor_read_lines(&mut reader, &mut input, &mut pending).await;
                outstanding -= lines;
                let now = phase.load(Ordering::Relaxed);
                if now == STOP {
                    if outstanding == 0 {
                        return counts;
                    }
                    continue;
                }
                counts[now as usize] += lines as u64;
                output.clear();
                for _ in 0..lines {
                    output.extend_from_slice(&request);
                }
                writer.write_all(&output).await.unwrap();
                outstanding += lines;
            }
        })
    } else {
        // A writer task writes one line per write whenever there is room in the
        // window; the reader gives room back for every answer.
        let room = Arc::new(Semaphore::new(in_flight));
        let writing = {
            let room = room.clone();
            tokio::spawn(async move {
                // Ends when aborted or when the connection goes at the end of the round.
                loop {
                    room.acquire().await.unwrap().forget();
                    if writer.write_all(&request).await.is_err() {
                        return;
                    }
                }
            })
        };
        let phase = phase.clone();
        tokio::spawn(async move {
            let mut counts = [0u64; 3];
            loop {
                let lines = floor_read_lines(&mut reader, &mut input, &mut pending).await;
                let now = phase.load(Ordering::Relaxed);
                if now == STOP {
                    writing.abort();
                    return counts;
                }
                counts[now as usize] += lines as u64;
                room.add_permits(lines);
            }
        })
    };
    let counts = async { client.await.expect("the floor's client") };
    let (in_flight_allocs, calls_per_sec, connections) =
        drive_phases(&phase, &config, addr.port(), counts).await;
    serving.abort();
    Round {
        latencies,
        seq_allocs,
        in_flight_allocs,
        calls_per_sec,
        in_flight_latencies: Vec::new(),
        connections,
    }
}

/// Runs one round of `contender` on a fresh two-worker runtime.
fn round(contender: Contender, config: LoopbackConfig) -> Round {
    crate::runtime::on_two_workers(async move {
        match contender {
            Contender::Ours => round_ours(config).await,
            Contender::Jsonrpsee => round_jsonrpsee(config).await,
            Contender::TarpcJson => round_tarpc_json(config).await,
            Contender::TarpcBincode => round_tarpc_bincode(config).await,
            Contender::Floor => round_floor(config, false).await,
            Contender::FloorBatched => round_floor(config, true).await,
            Contender::FloorTasks => crate::floor_tasks::round(config).await,
            Contender::OursWs | Contender::OursHttp | Contender::OursServerHttp => {
                round_ours_http(config, contender).await
            }
            Contender::JsonrpseeHttp => round_jsonrpsee_http(config).await,
        }
    })
}

/// Runs the loopback workload: `config.rounds` rounds over `contenders`, the order
/// rotating from round to round. `progress` hears about each finished round.
pub fn run(
    config: LoopbackConfig,
    contenders: &[Contender],
    mut progress: impl FnMut(Contender, usize, &Round),
) -> Vec<(Contender, LoopbackFigures)> {
    let all = contenders;
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); all.len()];
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
            let mut latencies: Vec<u64> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
            latencies.sort_unstable();
            let rounds_calls_per_sec: Vec<f64> = rounds.iter().map(|r| r.calls_per_sec).collect();
            let mut per_sec = rounds_calls_per_sec.clone();
            let mut seq_allocs: Vec<f64> = rounds.iter().map(|r| r.seq_allocs).collect();
            let mut in_flight_allocs: Vec<f64> =
                rounds.iter().map(|r| r.in_flight_allocs).collect();
            let mut in_flight: Vec<u32> = rounds
                .iter()
                .flat_map(|r| r.in_flight_latencies.iter().copied())
                .collect();
            in_flight.sort_unstable();
            let in_flight_at =
                |p: f64| (!in_flight.is_empty()).then(|| percentile(&in_flight, p) as f64 / 1e3);
            let connections =
                rounds
                    .iter()
                    .filter_map(|r| r.connections)
                    .reduce(|a, b| Connections {
                        established: a.established.max(b.established),
                        time_wait: a.time_wait.max(b.time_wait),
                    });
            let figures = LoopbackFigures {
                p50_us: percentile(&latencies, 50.0) as f64 / 1e3,
                p99_us: percentile(&latencies, 99.0) as f64 / 1e3,
                percentiles_us: PERCENTILES.map(|p| percentile(&latencies, p) as f64 / 1e3),
                in_flight_p50_us: in_flight_at(50.0),
                in_flight_p99_us: in_flight_at(99.0),
                connections,
                calls_per_sec: median(&mut per_sec),
                seq_allocs: median(&mut seq_allocs),
                in_flight_allocs: median(&mut in_flight_allocs),
                rounds_calls_per_sec,
            };
            (contender, figures)
        })
        .collect()
}
