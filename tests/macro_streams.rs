//! Streaming methods declared on a `#[rpc_service]` trait: a method returning
//! `impl Stream`, one whose subscription can be refused, names and policies from
//! the attribute, and the generated client's typed subscriptions.

use std::time::Duration;

use futures_util::StreamExt;
use rpc::framing::Framing;
use rpc::stream::{CloseReason, Stream};
use rpc::transport::memory;
use rpc::{rpc_service, Client, ConnectionConfig, ErrorCode, RpcError, Server};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Counter {
    /// `count` numbers from `from`.
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send;
    /// Numbers without end, newest first when the reader is slow.
    #[rpc(
        item = "tick",
        unsubscribe = "stop_ticks",
        buffer = 4,
        overflow = "drop_oldest"
    )]
    fn ticks(&self) -> impl Stream<Item = u64> + Send;
    /// The lines of `key`: refused for an unknown key; a line may fail.
    async fn watch(
        &self,
        key: String,
    ) -> Result<impl Stream<Item = Result<String, RpcError>> + Send, RpcError>;
    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Impl;

impl Counter for Impl {
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send + 'static {
        futures_util::stream::iter(from..from + count)
    }

    fn ticks(&self) -> impl Stream<Item = u64> + Send + 'static {
        futures_util::stream::iter(0..)
    }

    async fn watch(
        &self,
        key: String,
    ) -> Result<impl Stream<Item = Result<String, RpcError>> + Send + 'static, RpcError> {
        if key != "log" {
            return Err(RpcError::invalid_params(format!("no such key: {key}")));
        }
        Ok(futures_util::stream::iter([
            Ok("first".to_owned()),
            Ok("second".to_owned()),
            Err(RpcError::new(ErrorCode(-32070), "the log was truncated")),
        ]))
    }

    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn connect() -> (Server, CounterClient) {
    let server = Server::new(CounterServer::new(Impl));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 64 << 10);
    server.serve_connection(theirs);
    (
        server,
        CounterClient::new(Client::new(ours, ConnectionConfig::default())),
    )
}

#[tokio::test]
async fn a_generated_stream_arrives_whole_and_in_order() {
    let (_server, counter) = connect();
    let sub = timeout(LIMIT, counter.subscribe_count(5, 1_000))
        .await
        .unwrap()
        .unwrap();
    let items: Vec<u64> = timeout(LIMIT, sub.map(Result::unwrap).collect())
        .await
        .unwrap();
    assert_eq!(items, (5..1_005).collect::<Vec<_>>());
    // The connection's other methods go on.
    assert_eq!(counter.add(2, 3).await.unwrap(), 5);
}

#[tokio::test]
async fn names_and_policy_come_from_the_attribute_and_drop_unsubscribes() {
    let (server, counter) = connect();
    let mut ticks = timeout(LIMIT, counter.ticks()).await.unwrap().unwrap();
    // `drop_oldest` with a buffer of 4: the items rise, with gaps where the
    // connection could not keep up with a source that is always ready.
    let mut last = ticks.next().await.unwrap().unwrap();
    for _ in 0..10 {
        let n = ticks.next().await.unwrap().unwrap();
        assert!(n > last, "{n} after {last}");
        last = n;
    }
    let id = ticks.id().to_owned();
    drop(ticks);
    // The unsubscribe method the attribute named is served, and the stream is gone.
    let started = tokio::time::Instant::now();
    while server.metrics().method("ticks").unwrap().streams_open != 0 {
        assert!(started.elapsed() < LIMIT, "the stream stayed open");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let again: bool = counter.inner().call("stop_ticks", &[&id]).await.unwrap();
    assert!(!again);
    let table = server.metrics();
    assert!(table.method("stop_ticks").is_some());
}

#[tokio::test]
async fn a_refused_subscription_is_the_call_s_error_and_an_item_error_ends_the_stream() {
    let (_server, counter) = connect();
    let err = counter.watch("nope".to_owned()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMS), "{err}");
    let mut lines = counter.watch("log".to_owned()).await.unwrap();
    assert_eq!(lines.next().await.unwrap().unwrap(), "first");
    assert_eq!(lines.next().await.unwrap().unwrap(), "second");
    let err = lines.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode(-32070)), "{err}");
    assert!(lines.next().await.is_none());
    assert!(matches!(lines.close_reason(), Some(CloseReason::Failed(_))));
}
