//! Streaming methods at the runtime level (`MethodInfo::streaming`,
//! `IncomingCall::stream`, `Peer::subscribe`): order and completeness, unsubscribe
//! and drop, each overflow policy against a reader that does not read, the client's
//! own buffer, the limit on open streams, batches, connection loss and shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router};
use rpc::stream::{CloseReason, Overflow, StreamSpec, Subscription};
use rpc::transport::memory;
use rpc::{Client, ConnectionConfig, Error, ErrorCode, Server, ServerConfig};
use tokio::time::{timeout, Instant};

const LIMIT: Duration = Duration::from_secs(20);

/// Counts the server's streams dropped (ended, stopped or cut off).
#[derive(Default)]
struct Dropped(AtomicUsize);

struct Guard(Arc<Dropped>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0 .0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `from, from + 1, ...`: `count` of them, or without end for `count == 0`.
fn numbers(from: u64, count: u64, dropped: Arc<Dropped>) -> impl futures_util::Stream<Item = u64> {
    let guard = Guard(dropped);
    let end = if count == 0 { u64::MAX } else { from + count };
    futures_util::stream::iter(from..end).map(move |n| {
        let _ = &guard;
        n
    })
}

/// A stream that sends nothing until it is stopped: open, and never behind.
fn idle(dropped: Arc<Dropped>) -> impl futures_util::Stream<Item = u64> {
    let guard = Guard(dropped);
    futures_util::stream::pending().map(move |n: u64| {
        let _ = &guard;
        n
    })
}

fn router(spec: StreamSpec, dropped: Arc<Dropped>) -> Router {
    let idle_dropped = dropped.clone();
    Router::new()
        .method(
            MethodInfo::new("subscribe_count").streaming(spec),
            move |call| {
                let dropped = dropped.clone();
                async move {
                    let (from, count): (u64, u64) = call.decode_params()?;
                    call.stream(numbers(from, count, dropped))
                }
            },
        )
        .method(
            MethodInfo::new("subscribe_idle")
                .streaming(StreamSpec::new("idle", "unsubscribe_idle")),
            move |call| {
                let dropped = idle_dropped.clone();
                async move { call.stream(idle(dropped)) }
            },
        )
        .method(MethodInfo::new("unsubscribe_idle"), |call| async move {
            call.unsubscribe()
        })
        .method(MethodInfo::new("unsubscribe_count"), |call| async move {
            call.unsubscribe()
        })
        .method(MethodInfo::new("add"), |call| async move {
            let (a, b): (i64, i64) = call.decode_params()?;
            call.respond(&(a + b))
        })
        .method(
            MethodInfo::new("subscribe_failing")
                .streaming(StreamSpec::new("failing", "unsubscribe_failing")),
            |call| async move {
                let items = futures_util::stream::iter([
                    Ok(1u8),
                    Ok(2),
                    Err(rpc::RpcError::new(ErrorCode(-32050), "the source broke")),
                ]);
                call.try_stream(items)
            },
        )
        .method(
            MethodInfo::new("subscribe_maybe")
                .streaming(StreamSpec::new("maybe", "unsubscribe_maybe")),
            |call| async move {
                call.stream(futures_util::stream::iter([Some(1u8), None, Some(3)]))
            },
        )
}

fn default_spec() -> StreamSpec {
    StreamSpec::new("count", "unsubscribe_count")
}

struct Running {
    server: Arc<Server>,
    client: Client,
    dropped: Arc<Dropped>,
}

fn start(spec: StreamSpec, config: ServerConfig, client_config: ConnectionConfig) -> Running {
    let dropped = Arc::new(Dropped::default());
    let server = Arc::new(Server::with_config(router(spec, dropped.clone()), config));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 64 << 10);
    server.serve_connection(theirs);
    Running {
        server,
        client: Client::new(ours, client_config),
        dropped,
    }
}

async fn subscribe(client: &Client, from: u64, count: u64) -> Subscription<u64> {
    timeout(
        LIMIT,
        client.subscribe(
            "subscribe_count",
            &(from, count),
            "count",
            "unsubscribe_count",
        ),
    )
    .await
    .unwrap()
    .unwrap()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < LIMIT, "waited too long for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn streams_open(server: &Server) -> i64 {
    streams_open_of(server, "subscribe_count")
}

fn streams_open_of(server: &Server, method: &str) -> i64 {
    server.metrics().method(method).unwrap().streams_open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_items_arrive_in_order_then_the_stream_ends() {
    let run = start(
        default_spec(),
        ServerConfig::default(),
        ConnectionConfig::default(),
    );
    let mut sub = subscribe(&run.client, 7, 100_000).await;
    assert_eq!(sub.id(), "0x1");
    let mut expected = 7;
    while let Some(item) = timeout(LIMIT, sub.next()).await.unwrap() {
        assert_eq!(item.unwrap(), expected);
        expected += 1;
    }
    assert_eq!(expected, 7 + 100_000);
    assert_eq!(sub.close_reason(), Some(CloseReason::Ended));
    let dropped = run.dropped.clone();
    until("the server's stream to go", || {
        dropped.0.load(Ordering::SeqCst) == 1
    })
    .await;
    until("the stream to close", || streams_open(&run.server) == 0).await;
    let metrics = run.server.metrics();
    assert_eq!(
        metrics.method("subscribe_count").unwrap().stream_items,
        100_000
    );
}

#[tokio::test]
async fn unsubscribe_answers_true_once_and_drop_stops_the_server_s_stream() {
    let run = start(
        default_spec(),
        ServerConfig::default(),
        ConnectionConfig::default(),
    );
    let mut sub = subscribe(&run.client, 0, 0).await;
    for n in 0..10 {
        assert_eq!(
            timeout(LIMIT, sub.next()).await.unwrap().unwrap().unwrap(),
            n
        );
    }
    let id = sub.id().to_owned();
    assert!(timeout(LIMIT, sub.unsubscribe()).await.unwrap().unwrap());
    let dropped = run.dropped.clone();
    until("the unsubscribed stream to go", || {
        dropped.0.load(Ordering::SeqCst) == 1
    })
    .await;
    // The id is closed now: unsubscribing again answers false.
    let again: bool = run.client.call("unsubscribe_count", &[&id]).await.unwrap();
    assert!(!again);
    // Another method's unsubscribe cannot stop it either.
    let sub = subscribe(&run.client, 0, 0).await;
    let other: bool = run
        .client
        .call("unsubscribe_failing", &[sub.id()])
        .await
        .unwrap_or(false);
    assert!(!other);
    drop(sub);
    until("the dropped stream to go", || {
        dropped.0.load(Ordering::SeqCst) == 2
    })
    .await;
    until("the streams to close", || streams_open(&run.server) == 0).await;
}

#[tokio::test]
async fn a_null_item_is_an_item() {
    let run = start(
        default_spec(),
        ServerConfig::default(),
        ConnectionConfig::default(),
    );
    let sub: Subscription<Option<u8>> = run
        .client
        .subscribe("subscribe_maybe", &(), "maybe", "unsubscribe_maybe")
        .await
        .unwrap();
    let items: Vec<Option<u8>> = timeout(LIMIT, sub.map(Result::unwrap).collect())
        .await
        .unwrap();
    assert_eq!(items, [Some(1), None, Some(3)]);
}

#[tokio::test]
async fn a_failing_stream_ends_with_its_error() {
    let run = start(
        default_spec(),
        ServerConfig::default(),
        ConnectionConfig::default(),
    );
    let mut sub: Subscription<u8> = run
        .client
        .subscribe("subscribe_failing", &(), "failing", "unsubscribe_failing")
        .await
        .unwrap();
    assert_eq!(sub.next().await.unwrap().unwrap(), 1);
    assert_eq!(sub.next().await.unwrap().unwrap(), 2);
    let err = sub.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode(-32050)), "{err}");
    assert!(sub.next().await.is_none());
    assert!(
        matches!(sub.close_reason(), Some(CloseReason::Failed(e)) if e.message == "the source broke")
    );
}

#[tokio::test]
async fn a_client_that_does_not_read_its_subscription_lags_and_other_calls_go_on() {
    let client_config = ConnectionConfig {
        subscription_buffer: 16,
        ..ConnectionConfig::default()
    };
    let run = start(default_spec(), ServerConfig::default(), client_config);
    let mut sub = subscribe(&run.client, 0, 0).await;
    // Not read: its buffer overflows, and the connection's other calls are answered.
    for n in 0..20 {
        let sum: i64 = timeout(LIMIT, run.client.call("add", &(n, 1)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sum, n + 1);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut read = 0;
    let err = loop {
        match timeout(LIMIT, sub.next()).await.unwrap().unwrap() {
            Ok(n) => {
                assert_eq!(n, read);
                read += 1;
            }
            Err(err) => break err,
        }
    };
    assert!(matches!(err, Error::Lagged { .. }), "{err}");
    assert!(read <= 16, "{read} items, more than the buffer");
    assert_eq!(sub.close_reason(), Some(CloseReason::Lagged));
    // The client unsubscribed for it: the server's stream stops.
    let dropped = run.dropped.clone();
    until("the lagging stream to go", || {
        dropped.0.load(Ordering::SeqCst) == 1
    })
    .await;
}

/// A subscription the client's reader closed as lagged is unsubscribed by the
/// reader itself: dropped unread, it must not leave the server's stream running (no
/// `poll_next` ever sees its lag to tell the server). Here the lag is certain: a
/// buffer of 4 and no wait for room.
#[tokio::test]
async fn a_subscription_lagged_out_and_dropped_unread_stops_the_server_s_stream() {
    const BOUND: Duration = Duration::from_secs(5);
    let client_config = ConnectionConfig {
        subscription_buffer: 4,
        subscription_wait: Duration::ZERO,
        ..ConnectionConfig::default()
    };
    let run = start(default_spec(), ServerConfig::default(), client_config);
    let sub = subscribe(&run.client, 0, 0).await;
    let peer = run.client.peer().unwrap().clone();
    let dropped = run.dropped.clone();
    // Lagged out: its items no longer match a subscription and reach the client's
    // engine as notifications of an unknown method (or, once the reader has
    // unsubscribed for it, the stream is gone already).
    timeout(BOUND, async {
        while peer.metrics().unknown_methods == 0 && dropped.0.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the subscription did not lag");
    drop(sub);
    timeout(BOUND, async {
        while dropped.0.load(Ordering::SeqCst) != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the lagged subscription's stream still runs on the server");
    timeout(BOUND, async {
        while streams_open(&run.server) != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stream is still counted open");
}

/// A raw connection to a server on a small pipe, with a reader that reads only when
/// told: what a client that stops reading looks like to the server.
async fn raw(
    spec: StreamSpec,
) -> (
    Arc<Server>,
    rpc::transport::memory::MemoryConnection,
    Arc<Dropped>,
) {
    let dropped = Arc::new(Dropped::default());
    let server = Arc::new(Server::new(router(spec, dropped.clone())));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 4 << 10);
    server.serve_connection(theirs);
    (server, ours, dropped)
}

async fn read_frame(
    connection: &mut rpc::transport::memory::MemoryConnection,
) -> serde_json::Value {
    let frame = timeout(LIMIT, connection.reader.next_frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    serde_json::from_slice(&frame).unwrap()
}

#[tokio::test]
async fn drop_oldest_keeps_the_newest_items_for_a_reader_that_stalls() {
    let spec = default_spec().buffer(8).overflow(Overflow::DropOldest);
    let (server, mut connection, _dropped) = raw(spec).await;
    connection
        .writer
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}"#.into())
        .await
        .unwrap();
    assert_eq!(read_frame(&mut connection).await["result"], "0x1");
    // Not read for a while: the pipe and the buffer fill, and the oldest go.
    let started = Instant::now();
    loop {
        let m = server.metrics();
        if m.method("subscribe_count").unwrap().stream_dropped > 1_000 {
            break;
        }
        assert!(started.elapsed() < LIMIT, "nothing dropped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Reading again: the items still rise, with a gap where the dropped ones were.
    let mut last = None;
    let mut gap = false;
    for _ in 0..2_000 {
        let item = read_frame(&mut connection).await;
        assert_eq!(item["method"], "count");
        let n = item["params"]["result"].as_u64().unwrap();
        if let Some(last) = last {
            assert!(n > last, "{n} after {last}");
            gap |= n > last + 1;
        }
        last = Some(n);
    }
    assert!(gap);
    // The connection's calls are answered among the items.
    connection
        .writer
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"add","params":[2,3]}"#.into())
        .await
        .unwrap();
    loop {
        let frame = read_frame(&mut connection).await;
        if frame["id"] == 2 {
            assert_eq!(frame["result"], 5);
            break;
        }
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn close_ends_a_stream_as_lagged_when_its_buffer_is_full() {
    let spec = default_spec().buffer(4).overflow(Overflow::Close);
    let (server, mut connection, dropped) = raw(spec).await;
    connection
        .writer
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}"#.into())
        .await
        .unwrap();
    assert_eq!(read_frame(&mut connection).await["result"], "0x1");
    until("the stream to lag", || {
        dropped.0.load(Ordering::SeqCst) == 1
    })
    .await;
    // What was queued comes in order, then the close.
    let mut expected = 0;
    let last = loop {
        let frame = read_frame(&mut connection).await;
        match frame["params"]["result"].as_u64() {
            Some(n) => {
                assert_eq!(n, expected);
                expected += 1;
            }
            None => break frame,
        }
    };
    assert_eq!(
        last,
        serde_json::json!({"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","closed":"lagged"}})
    );
    assert_eq!(
        server
            .metrics()
            .method("subscribe_count")
            .unwrap()
            .streams_lagged,
        1
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wait_holds_the_stream_at_its_buffer_while_the_reader_stalls() {
    let spec = default_spec().buffer(8);
    let (server, mut connection, _dropped) = raw(spec).await;
    connection
        .writer
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}"#.into())
        .await
        .unwrap();
    assert_eq!(read_frame(&mut connection).await["result"], "0x1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = server
        .metrics()
        .method("subscribe_count")
        .unwrap()
        .stream_items;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Nothing read: nothing more is made.
    let later = server
        .metrics()
        .method("subscribe_count")
        .unwrap()
        .stream_items;
    assert_eq!(sent, later, "the stream went on while nobody read");
    // Every item arrives, none skipped.
    for n in 0..5_000 {
        let frame = read_frame(&mut connection).await;
        assert_eq!(frame["params"]["result"].as_u64(), Some(n));
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_limit_on_open_streams_refuses_one_more() {
    let config = ServerConfig {
        connection: ConnectionConfig {
            max_streams: 2,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let run = start(default_spec(), config, ConnectionConfig::default());
    // Idle streams: endless ones that nobody reads would lag, and the client would
    // unsubscribe them, making room on its own.
    let subscribe_idle = || async {
        timeout(
            LIMIT,
            run.client
                .subscribe::<_, u64>("subscribe_idle", &(), "idle", "unsubscribe_idle"),
        )
        .await
        .unwrap()
    };
    let _a = subscribe_idle().await.unwrap();
    let b = subscribe_idle().await.unwrap();
    let err = subscribe_idle().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::SERVER_OVERLOADED), "{err}");
    assert!(err.to_string().contains("too many streams"), "{err}");
    // Room again once one closes.
    assert!(b.unsubscribe().await.unwrap());
    // The refused call's stream was dropped unstarted, and the unsubscribed one.
    let dropped = run.dropped.clone();
    until("the streams to go", || {
        dropped.0.load(Ordering::SeqCst) == 2
    })
    .await;
    until("its place to free", || {
        streams_open_of(&run.server, "subscribe_idle") == 1
    })
    .await;
    let _c = subscribe_idle().await.unwrap();
}

#[tokio::test]
async fn in_a_batch_the_items_come_after_the_batch_s_answer() {
    let (server, mut connection, _dropped) = raw(default_spec()).await;
    connection
        .writer
        .send(
            r#"[{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,3]},{"jsonrpc":"2.0","id":2,"method":"add","params":[1,1]}]"#.into(),
        )
        .await
        .unwrap();
    let batch = read_frame(&mut connection).await;
    assert!(batch.is_array(), "{batch}");
    for n in 0..3 {
        assert_eq!(read_frame(&mut connection).await["params"]["result"], n);
    }
    assert_eq!(
        read_frame(&mut connection).await["params"]["closed"],
        "ended"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_closed_connection_drops_the_server_s_streams() {
    let run = start(
        default_spec(),
        ServerConfig::default(),
        ConnectionConfig::default(),
    );
    let mut sub = subscribe(&run.client, 0, 0).await;
    let _ = sub.next().await;
    let peer = run.client.peer().cloned().expect("one connection");
    drop(run.client);
    let dropped = run.dropped.clone();
    until("the stream to go", || dropped.0.load(Ordering::SeqCst) == 1).await;
    until("the stream to close", || streams_open(&run.server) == 0).await;
    drop(peer);
    // The subscription sees its connection gone.
    let mut last = None;
    while let Some(item) = timeout(LIMIT, sub.next()).await.unwrap() {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(Error::ConnectionClosed { .. }))),
        "{last:?}"
    );
    assert!(matches!(
        sub.close_reason(),
        Some(CloseReason::ConnectionLost(_))
    ));
}

#[tokio::test]
async fn shutdown_ends_streams_with_a_close_the_client_sees() {
    let run = start(
        default_spec(),
        ServerConfig::default(),
        ConnectionConfig::default(),
    );
    let mut sub = subscribe(&run.client, 0, 0).await;
    let _ = sub.next().await;
    timeout(LIMIT, run.server.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = timeout(LIMIT, sub.next()).await.unwrap() {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(Error::ConnectionClosed { .. }))),
        "{last:?}"
    );
    assert_eq!(sub.close_reason(), Some(CloseReason::ShuttingDown));
    assert_eq!(run.dropped.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn over_websocket_items_stream_and_over_http_post_the_call_is_refused() {
    let dropped = Arc::new(Dropped::default());
    let server = Arc::new(Server::new(router(default_spec(), dropped.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .serve_http(listener, rpc::http::HttpConfig::default())
                .await
        })
    };
    let ws = timeout(
        LIMIT,
        Client::connect_ws(&format!("ws://{addr}/"), ConnectionConfig::default()),
    )
    .await
    .unwrap()
    .unwrap();
    let sub = subscribe(&ws, 10, 1_000).await;
    let items: Vec<u64> = timeout(LIMIT, sub.map(Result::unwrap).collect())
        .await
        .unwrap();
    assert_eq!(items, (10..1_010).collect::<Vec<_>>());

    // A POST has no way to carry the items: a clear error, not a dangling id.
    let http =
        Client::connect_http(&format!("http://{addr}/"), ConnectionConfig::default()).unwrap();
    let err = timeout(
        LIMIT,
        http.subscribe::<_, u64>("subscribe_count", &(0, 3), "count", "unsubscribe_count"),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::METHOD_NOT_FOUND), "{err}");
    assert!(err.to_string().contains("WebSocket"), "{err}");
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn after_unsubscribe_answers_true_no_item_follows() {
    let (server, mut connection, _dropped) = raw(default_spec()).await;
    for round in 0..20u64 {
        let call = 10 * round;
        connection
            .writer
            .send(
                format!(
                    r#"{{"jsonrpc":"2.0","id":{call},"method":"subscribe_count","params":[0,0]}}"#
                )
                .into(),
            )
            .await
            .unwrap();
        let id = read_frame(&mut connection).await["result"].clone();
        for _ in 0..3 {
            assert_eq!(
                read_frame(&mut connection).await["params"]["subscription"],
                id
            );
        }
        connection
            .writer
            .send(
                format!(
                    r#"{{"jsonrpc":"2.0","id":{},"method":"unsubscribe_count","params":[{id}]}}"#,
                    call + 1
                )
                .into(),
            )
            .await
            .unwrap();
        // Items already on their way come first, then the answer, then nothing of it.
        loop {
            let frame = read_frame(&mut connection).await;
            if frame.get("id").is_some() {
                assert_eq!(frame["result"], true, "{frame}");
                break;
            }
        }
        connection
            .writer
            .send(
                format!(
                    r#"{{"jsonrpc":"2.0","id":{},"method":"add","params":[1,2]}}"#,
                    call + 2
                )
                .into(),
            )
            .await
            .unwrap();
        let next = read_frame(&mut connection).await;
        assert_eq!(
            next["id"],
            call + 2,
            "an item after the unsubscribe: {next}"
        );
    }
    server.shutdown(Duration::from_secs(1)).await;
}

/// A server on HTTP for the event-stream tests.
async fn http_server() -> (Arc<Server>, std::net::SocketAddr, Arc<Dropped>) {
    let dropped = Arc::new(Dropped::default());
    let server = Arc::new(Server::new(router(default_spec(), dropped.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move {
        serving
            .serve_http(listener, rpc::http::HttpConfig::default())
            .await
    });
    (server, addr, dropped)
}

fn sse_post(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: t\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The JSON of each `message` event in `text`.
fn events(text: &str) -> Vec<serde_json::Value> {
    text.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

#[tokio::test]
async fn over_http_a_streaming_call_is_answered_by_an_event_stream_of_its_items() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, addr, dropped) = http_server().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[5,3]}"#;
    stream.write_all(sse_post(body).as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(LIMIT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{text}"
    );
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let events = events(body);
    assert_eq!(events[0]["id"], 1);
    let id = events[0]["result"].clone();
    let items: Vec<u64> = events[1..4]
        .iter()
        .map(|e| {
            assert_eq!(e["params"]["subscription"], id);
            e["params"]["result"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(items, [5, 6, 7]);
    assert_eq!(events[4]["params"]["closed"], "ended");
    assert_eq!(events.len(), 5);
    until("the stream to go", || dropped.0.load(Ordering::SeqCst) == 1).await;

    // An endless one: closing the event stream stops it.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"jsonrpc":"2.0","id":2,"method":"subscribe_count","params":[0,0]}"#;
    stream.write_all(sse_post(body).as_bytes()).await.unwrap();
    let mut some = vec![0u8; 4096];
    let n = timeout(LIMIT, stream.read(&mut some))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0);
    drop(stream);
    until("the endless stream to go", || {
        dropped.0.load(Ordering::SeqCst) == 2
    })
    .await;
    until("the streams to close", || streams_open(&server) == 0).await;
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_ends_an_http_event_stream_with_its_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, addr, _dropped) = http_server().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}"#;
    stream.write_all(sse_post(body).as_bytes()).await.unwrap();
    let reading = tokio::spawn(async move {
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        String::from_utf8_lossy(&raw).into_owned()
    });
    until("the stream to open", || streams_open(&server) == 1).await;
    timeout(LIMIT, server.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    let text = timeout(LIMIT, reading).await.unwrap().unwrap();
    // The last event (the body is chunked: chunk sizes sit between the events).
    let last = text
        .rfind("data: ")
        .map(|at| text[at..].lines().next().unwrap_or(""))
        .unwrap_or("");
    assert_eq!(
        last,
        r#"data: {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","closed":"shutdown"}}"#
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_unix_socket_items_arrive_in_order_and_a_closed_connection_drops_the_stream() {
    use rpc::transport::unix;
    let path = std::env::temp_dir().join(format!("rpc-streams-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let dropped = Arc::new(Dropped::default());
    let server = Arc::new(Server::new(router(default_spec(), dropped.clone())));
    let listener = unix::Listener::bind(&path, Framing::Ndjson).unwrap();
    let (connection, accepted) =
        tokio::join!(unix::connect(&path, Framing::Ndjson), listener.accept());
    let _ = std::fs::remove_file(&path);
    server.serve_connection(accepted.unwrap());
    let client = Client::new(connection.unwrap(), ConnectionConfig::default());
    let mut sub = subscribe(&client, 0, 20_000).await;
    for expected in 0..20_000 {
        let item = timeout(LIMIT, sub.next()).await.unwrap().unwrap();
        assert_eq!(item.unwrap(), expected);
    }
    assert!(timeout(LIMIT, sub.next()).await.unwrap().is_none());
    assert_eq!(sub.close_reason(), Some(CloseReason::Ended));
    // An endless stream, cut off with its connection.
    let _endless = subscribe(&client, 0, 0).await;
    until("the endless stream to open", || streams_open(&server) == 1).await;
    drop(client);
    until("both server streams to go", || {
        dropped.0.load(Ordering::SeqCst) == 2
    })
    .await;
    until("no stream open", || streams_open(&server) == 0).await;
}
