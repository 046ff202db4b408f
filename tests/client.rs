//! The client's correlation manager: connection loss, bad and unknown responses,
//! batches, the connection pool, fault injection and 100,000 calls in flight.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::message::{encode_result, parse, Incoming, Message};
use rpc::service::{MethodInfo, Router};
use rpc::transport::{memory, tcp, Connection};
use rpc::{
    Client, ClientPool, ConnectionConfig, Error, ErrorCode, Server, ServerConfig, WorkerPoolConfig,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

fn echo_router() -> Router {
    Router::new()
        .method(MethodInfo::new("echo"), |call| async move {
            let (n,): (u64,) = call.decode_params()?;
            call.respond(&n)
        })
        .method(MethodInfo::new("sleep"), |call| async move {
            let (ms,): (u64,) = call.decode_params()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            call.respond(&ms)
        })
}

/// A hand-driven server end: reads requests and answers however the test likes.
async fn scripted_server<F>(conn: rpc::transport::memory::MemoryConnection, mut answer: F)
where
    F: FnMut(&str, &str) -> Option<String> + Send + 'static,
{
    let Connection {
        mut reader,
        mut writer,
    } = conn;
    while let Some(Ok(frame)) = reader.next_frame().await {
        let Ok(Incoming::Single(Message::Request(req))) = parse(&frame) else {
            continue;
        };
        if let Some(reply) = answer(req.id.as_json(), &req.method) {
            writer.send(Bytes::from(reply)).await.unwrap();
        }
    }
}

#[tokio::test]
async fn connection_loss_fails_every_pending_call_at_once() {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    let client = Client::new(ours, ConnectionConfig::default());
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("never", &[1]).await })
        })
        .collect();
    while client.pending_calls() < 50 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(theirs);
    for call in calls {
        let err = timeout(LIMIT, call).await.unwrap().unwrap().unwrap_err();
        assert!(err.is_connection_closed(), "{err}");
        assert!(err.to_string().contains("closed"), "{err}");
    }
    assert_eq!(client.pending_calls(), 0);
    // Later calls fail at once, and say that nothing was sent.
    let err = client.call::<_, u64>("x", &[1]).await.unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    assert!(err.to_string().contains("not sent"), "{err}");
}

#[tokio::test]
async fn bad_response_fails_only_its_own_call() {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    tokio::spawn(scripted_server(theirs, |id, method| {
        Some(match method {
            "bad" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"not a number"}}"#),
            _ => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":7}}"#),
        })
    }));
    let client = Client::new(ours, ConnectionConfig::default());
    let (bad, good) = tokio::join!(
        client.call::<_, u64>("bad", &[1]),
        client.call::<_, u64>("good", &[1])
    );
    let err = bad.unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert!(err.to_string().contains("`bad`"), "{err}");
    assert_eq!(good.unwrap(), 7);
    assert_eq!(client.call::<_, u64>("good", &[1]).await.unwrap(), 7);
}

#[tokio::test]
async fn garbage_and_unknown_ids_are_counted_and_dropped() {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    tokio::spawn(scripted_server(theirs, |id, _| {
        Some(format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":999999,\"result\":1}}\n\
             {{\"jsonrpc\":\"2.0\",\"id\":\"str\",\"result\":1}}\n\
             {{\"jsonrpc\":\"2.0\",\"result\":1}}\n\
             not json at all\n\
             {{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":5}}"
        ))
    }));
    let client = Client::new(ours, ConnectionConfig::default());
    assert_eq!(client.call::<_, u64>("m", &[1]).await.unwrap(), 5);
    let metrics = client.peer().expect("one connection").metrics();
    assert_eq!(metrics.unknown_responses, 2);
    assert_eq!(metrics.undecodable_responses, 1);
    assert_eq!(metrics.invalid_messages, 2);
    assert_eq!(client.pending_calls(), 0);
}

#[tokio::test]
async fn error_response_reaches_the_caller_with_its_code() {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    tokio::spawn(scripted_server(theirs, |id, _| {
        Some(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32099,"message":"custom","data":[1]}}}}"#
        ))
    }));
    let client = Client::new(ours, ConnectionConfig::default());
    let err = client.call::<_, u64>("m", &[1]).await.unwrap_err();
    let rpc = err.rpc_error().unwrap();
    assert_eq!(rpc.code, ErrorCode(-32099));
    assert_eq!(rpc.message, "custom");
    assert_eq!(rpc.data.as_ref().unwrap().get(), "[1]");
}

#[tokio::test]
async fn call_timeout_removes_the_pending_entry() {
    let (ours, _theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    let config = ConnectionConfig {
        request_timeout: Some(Duration::from_millis(30)),
        ..ConnectionConfig::default()
    };
    let client = Client::new(ours, config);
    let err = client.call::<_, u64>("silent", &[1]).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("`silent`"));
    assert_eq!(client.pending_calls(), 0);
}

/// Every frame a silent end reads, as text, in order.
fn recording(conn: rpc::transport::memory::MemoryConnection) -> Arc<std::sync::Mutex<Vec<String>>> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let Connection { mut reader, writer } = conn;
    let record = seen.clone();
    tokio::spawn(async move {
        let _writer = writer;
        while let Some(Ok(frame)) = reader.next_frame().await {
            let text = String::from_utf8_lossy(&frame).into_owned();
            record.lock().unwrap().push(text);
        }
    });
    seen
}

/// A client whose other end reads every frame and answers none.
fn client_of_a_silent_end(
    config: ConnectionConfig,
) -> (Client, Arc<std::sync::Mutex<Vec<String>>>) {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    let seen = recording(theirs);
    (Client::new(ours, config), seen)
}

#[tokio::test]
async fn a_short_timeout_after_long_ones_times_out_on_time_and_the_long_ones_wait_on() {
    // The connection's one timer is set for the first call's deadline, 60 s away; a
    // call with 50 ms must bring it forward.
    let (client, _seen) = client_of_a_silent_end(ConnectionConfig::default());
    let peer = client.peer().expect("one connection");
    let long = tokio::spawn({
        let peer = peer.clone();
        async move {
            peer.call_within::<_, u64>("long", &[1], Duration::from_secs(60))
                .await
        }
    });
    while client.pending_calls() == 0 {
        tokio::task::yield_now().await;
    }
    let started = tokio::time::Instant::now();
    let short: Result<u64, _> = timeout(
        LIMIT,
        peer.call_within("short", &[2], Duration::from_millis(50)),
    )
    .await
    .unwrap();
    match short.unwrap_err() {
        Error::Timeout { method, after } => {
            assert_eq!(method, "short");
            assert_eq!(after, Duration::from_millis(50));
        }
        other => panic!("expected a local timeout, got {other}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "timed out early: {waited:?}"
    );
    assert_eq!(client.pending_calls(), 1, "the long call waits on");
    assert!(!long.is_finished());
    long.abort();
}

#[tokio::test]
async fn calls_with_many_deadlines_each_time_out_at_their_own() {
    let (client, _seen) = client_of_a_silent_end(ConnectionConfig::default());
    let peer = client.peer().expect("one connection");
    let started = tokio::time::Instant::now();
    let calls = (0..20u64).rev().map(|n| {
        let peer = peer.clone();
        async move {
            let after = Duration::from_millis(20 + 10 * n);
            let err = peer
                .call_within::<_, u64>("silent", &[n], after)
                .await
                .unwrap_err();
            assert!(err.is_timeout(), "{err}");
            assert!(started.elapsed() >= after, "call {n} timed out early");
            started.elapsed()
        }
    });
    let waited = timeout(LIMIT, futures_util::future::join_all(calls))
        .await
        .unwrap();
    assert_eq!(waited.len(), 20);
    assert_eq!(client.pending_calls(), 0);
}

#[tokio::test]
async fn a_timed_out_call_tells_the_other_end_to_cancel_it() {
    let (client, seen) = client_of_a_silent_end(ConnectionConfig {
        request_timeout: Some(Duration::from_millis(30)),
        ..ConnectionConfig::default()
    });
    let err = client.call::<_, u64>("silent", &[1]).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let cancelled = async {
        loop {
            let frames = seen.lock().unwrap().clone();
            if let Some(cancel) = frames.iter().find(|f| f.contains("$/cancelRequest")) {
                let request = &frames[0];
                let id = request
                    .split("\"id\":")
                    .nth(1)
                    .unwrap()
                    .split(',')
                    .next()
                    .unwrap();
                assert!(
                    cancel.contains(&format!("\"id\":{id}")),
                    "{cancel} for {request}"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(LIMIT, cancelled).await.expect("no $/cancelRequest");
}

#[tokio::test]
async fn batch_calls_come_back_in_order() {
    let server = Server::new(echo_router());
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    let results = client
        .peer()
        .expect("one connection")
        .batch()
        .call("echo", &[1])
        .notify("echo", &[2])
        .call("missing", &[3])
        .call("echo", &[4])
        .send()
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0].as_ref().unwrap().decode::<u64>("echo").unwrap(),
        1
    );
    let err = results[1]
        .as_ref()
        .unwrap()
        .decode::<u64>("missing")
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::METHOD_NOT_FOUND));
    assert_eq!(
        results[2].as_ref().unwrap().decode::<u64>("echo").unwrap(),
        4
    );
    assert_eq!(client.pending_calls(), 0);
}

#[tokio::test]
async fn connection_pool_spreads_calls_by_least_pending_and_replaces_closed_ones() {
    let server = Arc::new(Server::new(echo_router()));
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_tcp(&listener).await })
    };
    let pool = ClientPool::connect(addr, Framing::Ndjson, ConnectionConfig::default(), 3)
        .await
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..6 {
        let client = pool.get().await.unwrap();
        calls.push(tokio::spawn(async move {
            client.call::<_, u64>("sleep", &[300]).await
        }));
        // Let the call register before picking the next connection.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pool.pending_calls(), vec![2, 2, 2]);
    for call in calls {
        assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap().unwrap(), 300);
    }
    // A closed connection is replaced on next use.
    pool.get().await.unwrap().close();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..6 {
        let client = pool.get().await.unwrap();
        assert_eq!(client.call::<_, u64>("echo", &[i]).await.unwrap(), i);
    }
    server.shutdown(Duration::from_secs(1)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_calls_in_flight_all_complete() {
    const CALLS: usize = 100_000;
    let gate = Arc::new(Notify::new());
    let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (g, o) = (gate.clone(), opened.clone());
    let router = Router::new().method(MethodInfo::new("wait"), move |call| {
        let (gate, opened) = (g.clone(), o.clone());
        async move {
            let notified = gate.notified();
            if !opened.load(Ordering::SeqCst) {
                notified.await;
            }
            call.respond(&1u8)
        }
    });
    let config = ServerConfig {
        default_pool: WorkerPoolConfig {
            workers: CALLS,
            queue: 0,
            ..WorkerPoolConfig::default()
        },
        connection: ConnectionConfig {
            max_in_flight: CALLS,
            ..ConnectionConfig::default()
        },
        max_in_flight: CALLS,
        ..ServerConfig::default()
    };
    let server = Server::with_config(router, config);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 20);
    server.serve_connection(theirs);
    let client = Client::new(
        ours,
        ConnectionConfig {
            request_timeout: None,
            ..ConnectionConfig::default()
        },
    );
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let client = client.clone();
        calls.spawn(async move { client.call::<_, u8>("wait", &()).await });
    }
    let started = tokio::time::Instant::now();
    while client.pending_calls() < CALLS || server.metrics().in_flight < CALLS as i64 {
        assert!(
            started.elapsed() < LIMIT,
            "only {} pending",
            client.pending_calls()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.pending_calls(), CALLS);
    opened.store(true, Ordering::SeqCst);
    gate.notify_waiters();
    let mut done = 0;
    while let Some(result) = timeout(LIMIT, calls.join_next()).await.unwrap() {
        assert_eq!(result.unwrap().unwrap(), 1);
        done += 1;
    }
    assert_eq!(done, CALLS);
    assert_eq!(client.pending_calls(), 0);
}

/// A stream that delays and cuts at random points.
struct Faulty<S> {
    inner: S,
    rng: u64,
    budget: usize,
    delay: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Faulty<S> {
    fn new(inner: S, seed: u64, budget: usize) -> Self {
        Faulty {
            inner,
            rng: seed | 1,
            budget,
            delay: None,
        }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Faulty<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.budget == 0 {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Faulty<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(delay) = self.delay.as_mut() {
            std::task::ready!(delay.as_mut().poll(cx));
            self.delay = None;
        } else if self.next().is_multiple_of(8) {
            let micros = self.next() % 2000;
            self.delay = Some(Box::pin(tokio::time::sleep(Duration::from_micros(micros))));
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.budget == 0 {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        // Cut somewhere inside this write once the budget runs out.
        let n = data
            .len()
            .min(self.budget)
            .min(1 + (self.next() % 4096) as usize);
        self.budget -= n;
        Pin::new(&mut self.inner).poll_write(cx, &data[..n])
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

use std::future::Future as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_never_lose_or_duplicate_a_call() {
    let server = Arc::new(Server::new(echo_router()));
    let answered = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut total = 0;
    for round in 0..20u64 {
        let (client_in, server_out) = tokio::io::duplex(1 << 14);
        let (server_in, client_out) = tokio::io::duplex(1 << 14);
        let budget = 2_000 + (round as usize * 7919) % 40_000;
        let server_conn = Connection::new(
            Faulty::new(server_in, round * 31 + 7, usize::MAX),
            Faulty::new(server_out, round * 17 + 3, budget),
            Framing::Ndjson,
        );
        server.serve_connection(server_conn);
        let client_conn = Connection::new(
            client_in,
            Faulty::new(client_out, round * 13 + 5, budget * 2),
            Framing::Ndjson,
        );
        let client = Client::new(
            client_conn,
            ConnectionConfig {
                request_timeout: Some(Duration::from_secs(5)),
                ..ConnectionConfig::default()
            },
        );
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..200u64 {
            let client = client.clone();
            let (answered, failed) = (answered.clone(), failed.clone());
            calls.spawn(async move {
                let result = if i % 10 == 0 {
                    // Some callers give up early: their futures are dropped.
                    match timeout(
                        Duration::from_micros(200),
                        client.call::<_, u64>("echo", &[i]),
                    )
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                } else {
                    client.call::<_, u64>("echo", &[i]).await
                };
                match result {
                    Ok(n) => {
                        assert_eq!(n, i, "a response reached the wrong caller");
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(err) => {
                        // Not sent: the call came after the faulty writer had
                        // stopped (a caller the runtime ran late, on a loaded
                        // machine), and was told so without anything going out.
                        assert!(
                            err.is_connection_closed() || err.is_timeout() || err.is_not_sent(),
                            "{err}"
                        );
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
            total += 1;
        }
        while let Some(result) = timeout(LIMIT, calls.join_next()).await.unwrap() {
            result.unwrap();
        }
        assert_eq!(
            client.pending_calls(),
            0,
            "round {round} left entries behind"
        );
    }
    assert_eq!(
        answered.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst),
        total,
        "every call resolved exactly once"
    );
    assert!(answered.load(Ordering::SeqCst) > 0);
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "the faults did cut some calls"
    );
}

#[test]
fn encode_result_is_the_servers_success_shape() {
    let mut buf = bytes::BytesMut::new();
    encode_result(&mut buf, rpc::message::Id::from_json("1").unwrap(), &7).unwrap();
    assert_eq!(&buf[..], br#"{"jsonrpc":"2.0","id":1,"result":7}"#);
}

#[tokio::test]
async fn clients_connect_by_name_and_a_refused_connection_names_its_address() {
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Arc::new(Server::new(echo_router()));
    let serving = server.clone();
    let accept = tokio::spawn(async move { serving.serve_tcp(&listener).await });

    // A name, resolved (localhost may resolve to ::1 first; each address is tried).
    async fn call_by_name(port: u16) -> Result<u64, rpc::Error> {
        let client = Client::connect_tcp(
            format!("localhost:{port}"),
            Framing::Ndjson,
            ConnectionConfig::default(),
        )
        .await?;
        client.call("echo", &[7]).await
    }
    assert_eq!(
        timeout(LIMIT, call_by_name(port)).await.unwrap().unwrap(),
        7
    );
    server.shutdown(Duration::from_secs(1)).await;
    accept.await.unwrap().unwrap();

    // Nothing listens there any more: the error names the address and converts into
    // `rpc::Error` with `?`.
    let addr = format!("127.0.0.1:{port}");
    let refused = timeout(LIMIT, call_by_name(port))
        .await
        .unwrap()
        .unwrap_err();
    assert!(refused.is_connect(), "{refused}");
    let err = Client::connect_tcp(addr.as_str(), Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("could not connect to {addr}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn an_error_s_data_reaches_the_caller_typed() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Quota {
        limit: u32,
        retry_after_s: u32,
    }
    let router = Router::new().method(MethodInfo::new("spend"), |_call| async move {
        Err(
            rpc::RpcError::new(ErrorCode(-32010), "quota exceeded").with_data(&Quota {
                limit: 100,
                retry_after_s: 30,
            }),
        )
    });
    let server = Server::new(router);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    let err = timeout(LIMIT, client.call::<_, ()>("spend", &()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode(-32010)));
    let quota: Quota = err.data().expect("the error has data").unwrap();
    assert_eq!(
        quota,
        Quota {
            limit: 100,
            retry_after_s: 30
        }
    );
    assert!(err.data::<String>().unwrap().is_err());
}
