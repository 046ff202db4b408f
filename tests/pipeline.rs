//! Server pipeline behaviour through the public API: overload policies, deadlines,
//! panics, cancellation, shutdown, batches, and a callback from server to client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::message::{parse, Incoming, Message};
use rpc::service::{MethodInfo, Router};
use rpc::transport::{memory, Connection, FrameReader, FrameWriter};
use rpc::{
    Client, ConnectionConfig, ErrorCode, OverloadPolicy, Server, ServerConfig, WorkerPoolConfig,
};
use serde_json::Value;
use tokio::io::DuplexStream;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

fn router() -> Router {
    Router::new()
        .method(MethodInfo::new("add"), |call| async move {
            let (a, b): (i64, i64) = call.decode_params()?;
            call.respond(&(a + b))
        })
        .method(MethodInfo::new("sleep"), |call| async move {
            let (ms,): (u64,) = call.decode_params()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            call.respond(&ms)
        })
        .method(
            MethodInfo::new("slow_with_deadline").timeout(Duration::from_millis(50)),
            |call| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                call.respond("late")
            },
        )
        .method(MethodInfo::new("panic"), |call| async move {
            if call.params().is_some() {
                panic!("handler exploded");
            }
            call.respond(&0)
        })
        .method(
            MethodInfo::new("blocking_panic").blocking(),
            |_call| async move { panic!("blocking handler exploded") },
        )
        .method(MethodInfo::new("checksum").blocking(), |call| async move {
            let (data,): (Vec<u8>,) = call.decode_params()?;
            call.respond(&data.iter().map(|&b| u32::from(b)).sum::<u32>())
        })
}

/// A raw connection to talk to a server frame by frame.
struct Raw {
    reader: FrameReader<DuplexStream>,
    writer: FrameWriter<DuplexStream>,
}

impl Raw {
    async fn send(&mut self, text: &str) {
        // One frame per line: pretty-printed test input is folded onto one line.
        let text = text.replace('\n', " ");
        self.writer
            .send(Bytes::copy_from_slice(text.as_bytes()))
            .await
            .unwrap();
    }

    async fn recv(&mut self) -> Value {
        let frame = timeout(LIMIT, self.reader.next_frame())
            .await
            .expect("a response in time")
            .expect("the connection is open")
            .unwrap();
        serde_json::from_slice(&frame).unwrap()
    }

    async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        match timeout(wait, self.reader.next_frame()).await {
            Ok(Some(Ok(frame))) => Some(serde_json::from_slice(&frame).unwrap()),
            _ => None,
        }
    }
}

fn serve(server: &Server) -> Raw {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let Connection { reader, writer } = ours;
    Raw { reader, writer }
}

fn client_of(server: &Server) -> Client {
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    Client::new(ours, ConnectionConfig::default())
}

#[tokio::test]
async fn calls_notifications_and_batches_follow_the_spec() {
    let server = Server::new(router());
    let mut raw = serve(&server);
    raw.send(r#"{"jsonrpc":"2.0","method":"add","params":[2,3],"id":9007199254740993}"#)
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["result"], 5);
    // The id comes back exactly, not through f64.
    raw.send(r#"{"jsonrpc":"2.0","method":"add","params":[2,3],"id":9007199254740993}"#)
        .await;
    let frame = raw.reader.next_frame().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&frame)
        .unwrap()
        .contains("9007199254740993"));

    // A notification gets nothing, even for an unknown method.
    raw.send(r#"{"jsonrpc":"2.0","method":"nope","params":[1]}"#)
        .await;
    raw.send(r#"{"jsonrpc":"2.0","method":"add","params":[1,1]}"#)
        .await;
    assert!(raw.recv_within(Duration::from_millis(100)).await.is_none());

    raw.send(r#"{"jsonrpc":"2.0","method":"nope","id":"x"}"#)
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["error"]["code"], -32601);
    assert_eq!(reply["id"], "x");

    raw.send(r#"{"jsonrpc":"2.0","method":"add","params":["a"],"id":1}"#)
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["error"]["code"], -32602);

    raw.send(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1"#)
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["error"]["code"], -32700);
    assert_eq!(reply["id"], Value::Null);

    raw.send("[]").await;
    let reply = raw.recv().await;
    assert!(reply.is_object());
    assert_eq!(reply["error"]["code"], -32600);

    raw.send("[1,2,3]").await;
    let reply = raw.recv().await;
    let elements = reply.as_array().unwrap();
    assert_eq!(elements.len(), 3);
    assert!(elements
        .iter()
        .all(|e| e["error"]["code"] == -32600 && e["id"].is_null()));

    raw.send(
        r#"[{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"1"},
            {"jsonrpc":"2.0","method":"add","params":[7,7]},
            {"jsonrpc":"2.0","method":"sleep","params":[30],"id":"2"},
            {"foo":"boo"},
            {"jsonrpc":"2.0","method":"nope","id":"5"},
            {"jsonrpc":"2.0","method":"add","params":[5,5],"id":"9"}]"#,
    )
    .await;
    let reply = raw.recv().await;
    let mut elements = reply.as_array().unwrap().clone();
    assert_eq!(elements.len(), 5);
    elements.sort_by_key(|e| e["id"].as_str().unwrap_or("").to_owned());
    assert_eq!(elements[0]["error"]["code"], -32600);
    assert_eq!(elements[1]["result"], 3);
    assert_eq!(elements[2]["result"], 30);
    assert_eq!(elements[3]["error"]["code"], -32601);
    assert_eq!(elements[4]["result"], 10);

    raw.send(
        r#"[{"jsonrpc":"2.0","method":"add","params":[1,2]},{"jsonrpc":"2.0","method":"add","params":[3,4]}]"#,
    )
    .await;
    assert!(
        raw.recv_within(Duration::from_millis(100)).await.is_none(),
        "a batch of notifications gets nothing"
    );
}

#[tokio::test]
async fn reject_policy_answers_overload_at_once_and_loses_nothing() {
    let config = ServerConfig {
        default_pool: WorkerPoolConfig {
            workers: 2,
            queue: 2,
            overload: OverloadPolicy::Reject,
        },
        ..ServerConfig::default()
    };
    let server = Server::with_config(router(), config);
    let client = client_of(&server);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("sleep", &[200]).await })
        })
        .collect();
    let (mut ok, mut rejected) = (0, 0);
    for call in calls {
        match timeout(LIMIT, call).await.unwrap().unwrap() {
            Ok(200) => ok += 1,
            Err(err) => {
                assert_eq!(err.code(), Some(ErrorCode::SERVER_OVERLOADED), "{err}");
                assert!(err.to_string().contains("overloaded"), "{err}");
                rejected += 1;
            }
            Ok(other) => panic!("unexpected result {other}"),
        }
    }
    assert_eq!(ok + rejected, 20, "every call is answered exactly once");
    assert_eq!(ok, 4, "workers + queue calls were admitted");
    assert_eq!(server.metrics().rejected, 16);
}

#[tokio::test]
async fn wait_policy_pushes_back_and_runs_everything() {
    let config = ServerConfig {
        default_pool: WorkerPoolConfig {
            workers: 2,
            queue: 1,
            overload: OverloadPolicy::Wait,
        },
        ..ServerConfig::default()
    };
    let server = Server::with_config(router(), config);
    let client = client_of(&server);
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("sleep", &[10]).await })
        })
        .collect();
    for call in calls {
        assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap().unwrap(), 10);
    }
    let metrics = server.metrics();
    assert_eq!(metrics.rejected, 0);
    assert_eq!(metrics.method("sleep").unwrap().calls, 30);
    assert_eq!(metrics.in_flight, 0);
    assert_eq!(metrics.queued, 0);
}

#[tokio::test]
async fn deadline_answers_with_timeout_error_and_drops_the_handler() {
    let server = Server::new(router());
    let client = client_of(&server);
    let err = client
        .call::<_, String>("slow_with_deadline", &())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TIMEOUT), "{err}");
    assert!(err.to_string().contains("50ms"), "{err}");
    assert_eq!(server.metrics().timeouts, 1);
    assert_eq!(server.metrics().in_flight, 0);
}

#[tokio::test]
async fn server_wide_deadline_applies_to_methods_without_one() {
    let config = ServerConfig {
        handler_timeout: Some(Duration::from_millis(30)),
        ..ServerConfig::default()
    };
    let server = Server::with_config(router(), config);
    let client = client_of(&server);
    let err = client.call::<_, u64>("sleep", &[5_000]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TIMEOUT));
}

#[tokio::test]
async fn panicking_handler_answers_internal_error_and_the_connection_lives_on() {
    let server = Server::new(router());
    let client = client_of(&server);
    let err = client.call::<_, u64>("panic", &[1]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INTERNAL_ERROR));
    assert!(err.to_string().contains("panicked"), "{err}");
    let err = client
        .call::<_, u64>("blocking_panic", &())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INTERNAL_ERROR));
    assert_eq!(client.call::<_, i64>("add", &[40, 2]).await.unwrap(), 42);
    assert_eq!(
        client
            .call::<_, u32>("checksum", &[[1u8, 2, 3]])
            .await
            .unwrap(),
        6
    );
    assert_eq!(server.metrics().panics, 2);
}

#[tokio::test]
async fn cancel_request_drops_the_handler_and_answers_request_cancelled() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let seen = dropped.clone();
    let router = Router::new().method(MethodInfo::new("hang"), move |call| {
        let flag = Flag(seen.clone());
        async move {
            let _flag = flag;
            tokio::time::sleep(Duration::from_secs(60)).await;
            call.respond(&0)
        }
    });
    let server = Server::new(router);
    let mut raw = serve(&server);
    raw.send(r#"{"jsonrpc":"2.0","method":"hang","id":"c1"}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Unknown and malformed cancels are ignored.
    raw.send(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"zz"}}"#)
        .await;
    raw.send(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":[]}"#)
        .await;
    raw.send(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"c1"}}"#)
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["id"], "c1");
    assert_eq!(reply["error"]["code"], -32800);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the handler's future was dropped"
    );
    // Exactly one answer: nothing else arrives for c1.
    raw.send(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"c1"}}"#)
        .await;
    assert!(raw.recv_within(Duration::from_millis(100)).await.is_none());
    assert_eq!(server.metrics().cancelled, 1);
}

#[tokio::test]
async fn dropped_client_call_sends_cancel_to_the_server() {
    let server = Server::new(router());
    let client = client_of(&server);
    let call = client.call::<_, u64>("sleep", &[60_000]);
    assert!(timeout(Duration::from_millis(100), call).await.is_err());
    assert_eq!(
        client.pending_calls(),
        0,
        "the dropped call's entry is gone"
    );
    let started = tokio::time::Instant::now();
    while server.metrics().cancelled == 0 {
        assert!(started.elapsed() < LIMIT);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.metrics().in_flight, 0);
}

#[tokio::test]
async fn shutdown_drains_accepted_calls_within_the_deadline() {
    let server = Arc::new(Server::new(router()));
    let client = client_of(&server);
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.call::<_, u64>("sleep", &[200]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = timeout(LIMIT, server.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(report.drained);
    assert_eq!(
        call.await.unwrap().unwrap(),
        200,
        "the accepted call finished"
    );
    // The connection is closed afterwards: the call either finds it closed (not
    // sent) or goes out just before the client learns of the close.
    let err = client.call::<_, i64>("add", &[1, 2]).await.unwrap_err();
    assert!(err.is_connection_closed() || err.is_not_sent(), "{err}");
}

#[tokio::test]
async fn shutdown_answers_calls_still_running_at_the_deadline() {
    let server = Arc::new(Server::new(router()));
    let client = client_of(&server);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("sleep", &[30_000]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = timeout(LIMIT, server.shutdown(Duration::from_millis(100)))
        .await
        .unwrap();
    assert!(!report.drained);
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::SHUTTING_DOWN), "{err}");
    }
}

#[tokio::test]
async fn server_calls_its_client_back_on_the_same_connection() {
    let server_router = Router::new().method(MethodInfo::new("ask_client"), |call| async move {
        let (question,): (String,) = call.decode_params()?;
        let answer: String = call
            .peer()
            .expect("the call came on a connection")
            .call("client/answer", &[question])
            .await
            .map_err(|e| rpc::RpcError::internal(e.to_string()))?;
        call.respond(&format!("client said: {answer}"))
    });
    let client_router = Router::new().method(MethodInfo::new("client/answer"), |call| async move {
        let (q,): (String,) = call.decode_params()?;
        call.respond(&format!("{q}!"))
    });
    let server = Server::new(server_router);
    let (ours, theirs) = memory::pair(Framing::ContentLength, 1 << 16);
    server.serve_connection(theirs);
    let client = Server::new(client_router).serve_connection(ours);
    let reply: String = timeout(LIMIT, client.call("ask_client", &["hello"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, "client said: hello!");
}

#[tokio::test]
async fn per_method_concurrency_limit_is_respected() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let router = Router::new().method(MethodInfo::new("work").concurrency(2), move |call| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            call.respond(&now)
        }
    });
    let server = Server::new(router);
    let client = client_of(&server);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, usize>("work", &()).await })
        })
        .collect();
    for call in calls {
        timeout(LIMIT, call).await.unwrap().unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn named_pool_is_a_bulkhead() {
    let router = Router::new()
        .method(MethodInfo::new("slow").pool("slow"), |call| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            call.respond(&1)
        })
        .method(
            MethodInfo::new("fast"),
            |call| async move { call.respond(&2) },
        );
    let config = ServerConfig {
        pools: vec![(
            "slow".into(),
            WorkerPoolConfig {
                workers: 1,
                queue: 0,
                overload: OverloadPolicy::Reject,
            },
        )],
        ..ServerConfig::default()
    };
    let server = Server::with_config(router, config);
    let client = client_of(&server);
    let slow = {
        let client = client.clone();
        tokio::spawn(async move { client.call::<_, u8>("slow", &()).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    // The slow pool is full: another slow call is refused...
    let err = client.call::<_, u8>("slow", &()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::SERVER_OVERLOADED));
    assert!(err.to_string().contains("`slow` pool"), "{err}");
    // ...while the default pool answers at once.
    assert_eq!(client.call::<_, u8>("fast", &()).await.unwrap(), 2);
    assert_eq!(slow.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn oversized_frame_is_answered_and_the_connection_goes_on() {
    let server = Server::new(router());
    let (ours, theirs) = memory::pair(Framing::Ndjson.codec(1024), 1 << 16);
    server.serve_connection(theirs);
    let Connection { reader, writer } = ours;
    let mut raw = Raw { reader, writer };
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"add","params":["{}"],"id":1}}"#,
        "x".repeat(4096)
    );
    raw.send(&big).await;
    let reply = raw.recv().await;
    assert_eq!(reply["error"]["code"], -32600);
    assert!(reply["error"]["message"].as_str().unwrap().contains("1024"));
    raw.send(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#)
        .await;
    assert_eq!(raw.recv().await["result"], 3);
}

#[tokio::test]
async fn metrics_count_calls_errors_and_latency() {
    let server = Server::new(router());
    let client = client_of(&server);
    for i in 0..5 {
        client.call::<_, i64>("add", &[i, i]).await.unwrap();
    }
    let _ = client.call::<_, i64>("add", &["x"]).await;
    let _ = client.call::<_, i64>("missing", &()).await;
    let metrics = server.metrics();
    let add = metrics.method("add").unwrap();
    assert_eq!(add.calls, 6);
    assert_eq!(add.errors, 1);
    assert_eq!(add.latency.count(), 6);
    assert!(add.latency.quantile_upper_bound(0.5).is_some());
    assert_eq!(metrics.unknown_methods, 1);
    assert!(metrics.buffer_pool.hits + metrics.buffer_pool.misses > 0);
}

#[test]
fn parse_is_used_for_raw_frames() {
    // The helpers above speak raw JSON; make sure a plain frame parses as expected.
    let Ok(Incoming::Single(Message::Request(req))) =
        parse(br#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#)
    else {
        panic!()
    };
    assert_eq!(req.method, "add");
}

#[tokio::test]
async fn connection_in_flight_limit_stops_reading_until_calls_finish() {
    let config = ServerConfig {
        connection: ConnectionConfig {
            max_in_flight: 2,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::with_config(router(), config);
    let client = client_of(&server);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("sleep", &[100]).await })
        })
        .collect();
    let mut peak = 0;
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        peak = peak.max(server.metrics().in_flight);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        peak, 2,
        "never more than the limit in flight on one connection"
    );
    for call in calls {
        assert_eq!(timeout(LIMIT, call).await.unwrap().unwrap().unwrap(), 100);
    }
}

#[tokio::test]
async fn client_that_never_reads_is_disconnected_and_frees_its_workers() {
    let config = ServerConfig {
        connection: ConnectionConfig {
            write_stall_timeout: Some(Duration::from_millis(200)),
            write_queue: 4,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let router = Router::new().method(MethodInfo::new("big"), |call| async move {
        call.respond(&"x".repeat(16 * 1024))
    });
    let server = Server::with_config(router, config);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 8 * 1024);
    server.serve_connection(theirs);
    let Connection { reader, mut writer } = ours;
    // Ask for far more than the pipe holds, and never read.
    let sending = tokio::spawn(async move {
        for id in 0..200 {
            let frame = format!(r#"{{"jsonrpc":"2.0","method":"big","id":{id}}}"#);
            if writer.send(Bytes::from(frame)).await.is_err() {
                break;
            }
        }
        writer
    });
    let started = tokio::time::Instant::now();
    loop {
        let metrics = server.metrics();
        if metrics.connections == 0 && metrics.in_flight == 0 {
            break;
        }
        assert!(started.elapsed() < LIMIT, "calls still held: {metrics:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.metrics().method("big").unwrap().calls > 0);
    // The server gave up on the connection: the stream ends after what was buffered.
    let mut reader = reader;
    let ended = timeout(LIMIT, async {
        while let Some(Ok(_)) = reader.next_frame().await {}
    })
    .await;
    assert!(ended.is_ok(), "the server closed the connection");
    drop(sending);
}

#[tokio::test]
async fn cancels_are_read_while_the_pool_is_full() {
    // Two workers, no queue, wait policy: two calls that run until cancelled take both
    // workers and the next calls must wait. Their cancels, sent after those calls, must
    // still be read, or nothing would ever finish.
    let config = ServerConfig {
        default_pool: WorkerPoolConfig {
            workers: 2,
            queue: 0,
            overload: OverloadPolicy::Wait,
        },
        handler_timeout: None,
        ..ServerConfig::default()
    };
    let server = Server::with_config(router(), config);
    let mut raw = serve(&server);
    raw.send(r#"{"jsonrpc":"2.0","method":"sleep","params":[600000],"id":1}"#)
        .await;
    raw.send(r#"{"jsonrpc":"2.0","method":"sleep","params":[600000],"id":2}"#)
        .await;
    for id in 3..13 {
        raw.send(&format!(
            r#"{{"jsonrpc":"2.0","method":"add","params":[{id},1],"id":{id}}}"#
        ))
        .await;
    }
    for id in [1, 2] {
        raw.send(&format!(
            r#"{{"jsonrpc":"2.0","method":"$/cancelRequest","params":{{"id":{id}}}}}"#
        ))
        .await;
    }
    let mut answered = std::collections::HashMap::new();
    for _ in 0..12 {
        let answer = raw.recv().await;
        answered.insert(answer["id"].as_u64().unwrap(), answer);
    }
    for id in [1, 2] {
        assert_eq!(
            answered[&id]["error"]["code"],
            ErrorCode::REQUEST_CANCELLED.0
        );
    }
    for id in 3..13 {
        assert_eq!(answered[&id]["result"], id + 1);
    }
}
