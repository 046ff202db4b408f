//! Streams: items per second of one subscription, and of 64 at once, on one
//! connection over loopback; ours over TCP and WebSocket, jsonrpsee's subscriptions
//! over its WebSocket (the only transport its subscriptions have).
//!
//! Both servers stream the numbers `from..from + count` as fast as the reader takes
//! them (`subscribe_count`, item `count`, `unsubscribe_count`): ours with a method
//! returning `impl Stream`, jsonrpsee with its `#[subscription]` and a loop of
//! `sink.send`, as its documentation shows. The client reads every item and checks
//! the order.

use std::time::{Duration, Instant};

use futures::StreamExt;
use jsonrpsee::core::client::SubscriptionClientT;
use rpc::stream::Stream;
use rpc::ConnectionConfig;
use tokio::net::TcpListener;

/// Ours: a streaming method.
#[rpc::rpc_service(positional)]
pub trait Counter {
    /// `count` numbers from `from`.
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send;
}

#[derive(Clone, Copy)]
struct Numbers;

impl Counter for Numbers {
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send + 'static {
        futures::stream::iter(from..from + count)
    }
}

/// jsonrpsee: the same subscription.
#[jsonrpsee::proc_macros::rpc(server)]
pub trait JsonrpseeCounter {
    /// `count` numbers from `from`.
    #[subscription(name = "subscribe_count", item = u64, unsubscribe = "unsubscribe_count")]
    async fn subscribe_count(&self, from: u64, count: u64) -> jsonrpsee::core::SubscriptionResult;
}

#[jsonrpsee::core::async_trait]
impl JsonrpseeCounterServer for Numbers {
    async fn subscribe_count(
        &self,
        pending: jsonrpsee::PendingSubscriptionSink,
        from: u64,
        count: u64,
    ) -> jsonrpsee::core::SubscriptionResult {
        let sink = pending.accept().await?;
        for n in from..from + count {
            let item = serde_json::value::to_raw_value(&n)?;
            sink.send(item).await?;
        }
        Ok(())
    }
}

/// Which stack and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamContender {
    OursTcp,
    OursWs,
    JsonrpseeWs,
}

impl StreamContender {
    pub const ALL: [StreamContender; 3] = [
        StreamContender::OursTcp,
        StreamContender::OursWs,
        StreamContender::JsonrpseeWs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StreamContender::OursTcp => "ours-tcp",
            StreamContender::OursWs => "ours-ws",
            StreamContender::JsonrpseeWs => "jsonrpsee-ws",
        }
    }
}

/// How much to stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamsConfig {
    pub rounds: usize,
    /// Items of the one-stream workload.
    pub one: u64,
    /// Streams of the many-streams workload, and items of each.
    pub many: usize,
    pub each: u64,
}

/// Items per second of one contender's round: one stream, then many at once.
#[derive(Debug, Clone, Copy)]
pub struct StreamRound {
    pub one_per_sec: f64,
    pub many_per_sec: f64,
}

/// A subscriber, whichever the stack.
enum Subscriber {
    Ours(CounterClient),
    Jsonrpsee(std::sync::Arc<jsonrpsee::ws_client::WsClient>),
}

impl Subscriber {
    /// Reads the `count` items from `from`, checking their order.
    async fn read(&self, from: u64, count: u64) {
        let mut expected = from;
        match self {
            Subscriber::Ours(client) => {
                let mut items = client.subscribe_count(from, count).await.unwrap();
                while let Some(item) = items.next().await {
                    assert_eq!(item.unwrap(), expected);
                    expected += 1;
                }
            }
            Subscriber::Jsonrpsee(client) => {
                let mut items = client
                    .subscribe::<u64, _>(
                        "subscribe_count",
                        jsonrpsee::rpc_params![from, count],
                        "unsubscribe_count",
                    )
                    .await
                    .unwrap();
                // jsonrpsee says nothing when a subscription's stream ends: the
                // reader stops at the count.
                while expected < from + count {
                    let item = items.next().await.unwrap().unwrap();
                    assert_eq!(item, expected);
                    expected += 1;
                }
            }
        }
        assert_eq!(expected, from + count);
    }

    fn clone_handle(&self) -> Subscriber {
        match self {
            Subscriber::Ours(client) => Subscriber::Ours(client.clone()),
            Subscriber::Jsonrpsee(client) => Subscriber::Jsonrpsee(client.clone()),
        }
    }
}

async fn measure(subscriber: Subscriber, config: StreamsConfig) -> StreamRound {
    // Warm up the connection and the allocator.
    subscriber.read(0, 1_000).await;
    let started = Instant::now();
    subscriber.read(0, config.one).await;
    let one_per_sec = config.one as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for i in 0..config.many {
        let subscriber = subscriber.clone_handle();
        let from = i as u64 * config.each;
        let each = config.each;
        readers.spawn(async move { subscriber.read(from, each).await });
    }
    while let Some(done) = readers.join_next().await {
        done.unwrap();
    }
    let total = config.many as u64 * config.each;
    let many_per_sec = total as f64 / started.elapsed().as_secs_f64();
    StreamRound {
        one_per_sec,
        many_per_sec,
    }
}

async fn round(contender: StreamContender, config: StreamsConfig) -> StreamRound {
    match contender {
        StreamContender::OursTcp => {
            let listener =
                rpc::transport::tcp::Listener::bind("127.0.0.1:0", rpc::framing::Framing::Ndjson)
                    .await
                    .unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::sync::Arc::new(rpc::Server::new(CounterServer::new(Numbers)));
            let serving = {
                let server = server.clone();
                tokio::spawn(async move { server.serve_tcp(&listener).await })
            };
            let client = rpc::Client::connect_tcp(
                addr,
                rpc::framing::Framing::Ndjson,
                ConnectionConfig::default(),
            )
            .await
            .unwrap();
            let round = measure(Subscriber::Ours(CounterClient::new(client)), config).await;
            server.shutdown(Duration::from_secs(1)).await;
            serving.abort();
            round
        }
        StreamContender::OursWs => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::sync::Arc::new(rpc::Server::new(CounterServer::new(Numbers)));
            let serving = {
                let server = server.clone();
                tokio::spawn(async move {
                    server
                        .serve_http(listener, rpc::http::HttpConfig::default())
                        .await
                })
            };
            let client =
                rpc::Client::connect_ws(&format!("ws://{addr}/"), ConnectionConfig::default())
                    .await
                    .unwrap();
            let round = measure(Subscriber::Ours(CounterClient::new(client)), config).await;
            server.shutdown(Duration::from_secs(1)).await;
            serving.abort();
            round
        }
        StreamContender::JsonrpseeWs => {
            let server = jsonrpsee::server::Server::builder()
                .build("127.0.0.1:0")
                .await
                .unwrap();
            let addr = server.local_addr().unwrap();
            let handle = server.start(Numbers.into_rpc());
            // jsonrpsee's client closes a subscription whose buffer (1024 by default)
            // fills, with no wait: against a source as fast as this one it lags at
            // once. A buffer as long as the longest stream lets it finish.
            let client = jsonrpsee::ws_client::WsClientBuilder::default()
                .max_buffer_capacity_per_subscription(config.one as usize + 2_000)
                .build(format!("ws://{addr}"))
                .await
                .unwrap();
            let round = measure(Subscriber::Jsonrpsee(std::sync::Arc::new(client)), config).await;
            handle.stop().unwrap();
            handle.stopped().await;
            round
        }
    }
}

/// Runs every contender `config.rounds` times, the order rotating, each round on a
/// fresh two-worker runtime; `progress` sees each round.
pub fn run(
    config: StreamsConfig,
    mut progress: impl FnMut(StreamContender, usize, &StreamRound),
) -> Vec<(StreamContender, Vec<StreamRound>)> {
    let mut results: Vec<(StreamContender, Vec<StreamRound>)> = StreamContender::ALL
        .iter()
        .map(|c| (*c, Vec::new()))
        .collect();
    for r in 0..config.rounds {
        for k in 0..StreamContender::ALL.len() {
            let i = (r + k) % StreamContender::ALL.len();
            let contender = StreamContender::ALL[i];
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let figures = runtime.block_on(round(contender, config));
            progress(contender, r + 1, &figures);
            results[i].1.push(figures);
        }
    }
    results
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The target for streams: ours at least this many times jsonrpsee's
/// subscriptions in items per second.
pub const TARGET_RATIO: f64 = 3.0;

/// Ours over WebSocket against jsonrpsee's WebSocket in items per second (medians
/// over rounds), one stream or `many`; `None` when a contender did not run.
pub fn ratio(results: &[(StreamContender, Vec<StreamRound>)], many: bool) -> Option<f64> {
    let figure = |c: StreamContender| {
        let rounds = &results.iter().find(|(k, _)| *k == c)?.1;
        (!rounds.is_empty()).then(|| {
            median(
                rounds
                    .iter()
                    .map(|r| if many { r.many_per_sec } else { r.one_per_sec })
                    .collect(),
            )
        })
    };
    Some(figure(StreamContender::OursWs)? / figure(StreamContender::JsonrpseeWs)?)
}

/// The markdown table: items/s per contender (medians over rounds), ours over
/// jsonrpsee and the target.
pub fn table(results: &[(StreamContender, Vec<StreamRound>)], config: StreamsConfig) -> String {
    let figure = |c: StreamContender, many: bool| {
        let rounds = &results.iter().find(|(k, _)| *k == c).unwrap().1;
        median(
            rounds
                .iter()
                .map(|r| if many { r.many_per_sec } else { r.one_per_sec })
                .collect(),
        )
    };
    let mut out = String::from(
        "| streams | ours TCP | ours WebSocket | jsonrpsee WebSocket | ours WS / jsonrpsee | target | met |\n|---|---:|---:|---:|---:|---|---|\n",
    );
    for (label, many) in [
        (format!("one stream, {} items", config.one), false),
        (
            format!("{} streams x {} items", config.many, config.each),
            true,
        ),
    ] {
        let (tcp, ws, js) = (
            figure(StreamContender::OursTcp, many),
            figure(StreamContender::OursWs, many),
            figure(StreamContender::JsonrpseeWs, many),
        );
        out.push_str(&format!(
            "| {label} (items/s) | {} | {} | {} | {:.2}x | ≥ {TARGET_RATIO}x | {} |\n",
            crate::report::per_sec(tcp),
            crate::report::per_sec(ws),
            crate::report::per_sec(js),
            ws / js,
            crate::report::yes_no(ws / js >= TARGET_RATIO),
        ));
    }
    out
}
