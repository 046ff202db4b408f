//! The call engine without a socket (`Server::session`, `Server::handle_frame`), and
//! tower's layers wrapping the calls of a generated service.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::transport::memory;
use rpc::{rpc_service, Client, ConnectionConfig, Error, ErrorCode, Server};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Probe {
    /// Sleeps `ms`, counting how many calls sleep at once.
    async fn slow(&self, ms: u64) -> u64;
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Appends to the log.
    #[rpc(notification)]
    async fn record(&self, entry: String);
    /// The log so far.
    async fn log(&self) -> Vec<String>;
}

#[derive(Default)]
struct State {
    running: AtomicUsize,
    most: AtomicUsize,
    started: Notify,
    log: Mutex<Vec<String>>,
}

#[derive(Clone, Default)]
struct Impl(Arc<State>);

impl Probe for Impl {
    async fn slow(&self, ms: u64) -> u64 {
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.most.fetch_max(now, Ordering::SeqCst);
        self.0.started.notify_waiters();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        ms
    }

    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn record(&self, entry: String) {
        // Yield so that a later call would overtake this one if order were not kept.
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.log.lock().unwrap().push(entry);
    }

    async fn log(&self) -> Vec<String> {
        self.0.log.lock().unwrap().clone()
    }
}

fn json(answer: &Bytes) -> Value {
    serde_json::from_slice(answer).unwrap()
}

async fn answer(server: &Server, frame: &str) -> Option<Value> {
    let reply = timeout(LIMIT, server.handle_frame(frame.to_owned()))
        .await
        .expect("answered in time");
    reply.map(|bytes| json(&bytes))
}

#[tokio::test]
async fn frames_handed_in_process_are_answered_as_on_a_connection() {
    let server = Server::new(ProbeServer::new(Impl::default()));
    let single = answer(
        &server,
        r#"{"jsonrpc":"2.0","method":"add","params":[2,3],"id":"a"}"#,
    )
    .await
    .unwrap();
    assert_eq!(single["result"], 5);
    assert_eq!(single["id"], "a");

    // A notification gets nothing, not even for an unknown method.
    let none = answer(
        &server,
        r#"{"jsonrpc":"2.0","method":"record","params":["x"]}"#,
    )
    .await;
    assert!(none.is_none());
    let none = answer(&server, r#"{"jsonrpc":"2.0","method":"nope"}"#).await;
    assert!(none.is_none());

    // A batch gets one array holding every call's answer, and none for notifications.
    let batch = answer(
        &server,
        r#"[{"jsonrpc":"2.0","method":"add","params":[1,1],"id":1},
            {"jsonrpc":"2.0","method":"record","params":["y"]},
            {"jsonrpc":"2.0","method":"nope","id":2},
            {"jsonrpc":"2.0","method":"add","params":{"a":2,"b":2},"id":3},
            5]"#,
    )
    .await
    .unwrap();
    let elements = batch.as_array().unwrap();
    assert_eq!(elements.len(), 4);
    let by_id = |id: Value| elements.iter().find(|e| e["id"] == id).unwrap().clone();
    assert_eq!(by_id(1.into())["result"], 2);
    assert_eq!(by_id(2.into())["error"]["code"], -32601);
    assert_eq!(by_id(3.into())["result"], 4);
    assert_eq!(by_id(Value::Null)["error"]["code"], -32600);

    let only_notifications = answer(
        &server,
        r#"[{"jsonrpc":"2.0","method":"record","params":["z"]}]"#,
    )
    .await;
    assert!(only_notifications.is_none());
    assert_eq!(
        answer(&server, "[]").await.unwrap()["error"]["code"],
        -32600
    );
    let unparsable = answer(&server, "{not json").await.unwrap();
    assert_eq!(unparsable["error"]["code"], -32700);
    assert_eq!(unparsable["id"], Value::Null);
    let bad_params = answer(
        &server,
        r#"{"jsonrpc":"2.0","method":"add","params":["x"],"id":9}"#,
    )
    .await
    .unwrap();
    assert_eq!(bad_params["error"]["code"], -32602);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_keeps_notification_order_and_cancels_across_its_frames() {
    let probe = Impl::default();
    let server = Server::new(ProbeServer::new(probe.clone()));
    let session = server.session();
    for i in 0..20 {
        let frame = format!(r#"{{"jsonrpc":"2.0","method":"record","params":["{i}"]}}"#);
        assert!(session.handle_frame(frame.into()).await.is_none());
    }
    // The request starts only once every notification before it has been handled.
    let log = session
        .handle_frame(r#"{"jsonrpc":"2.0","method":"log","id":1}"#.into())
        .await
        .unwrap();
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(json(&log)["result"], serde_json::json!(expected));

    // A slow call in flight is cancelled by a later frame of the same session.
    let slow = tokio::spawn({
        let session = session.clone();
        async move {
            session
                .handle_frame(
                    r#"{"jsonrpc":"2.0","method":"slow","params":[60000],"id":"s"}"#.into(),
                )
                .await
        }
    });
    // Once its handler runs, the call is registered (tasks of the calls before it
    // may still be winding down, so the session's count of calls says nothing).
    let started = Instant::now();
    while probe.0.running.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < LIMIT, "the slow call never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cancel = r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"s"}}"#;
    assert!(session.handle_frame(cancel.into()).await.is_none());
    let cancelled = timeout(LIMIT, slow).await.unwrap().unwrap().unwrap();
    let cancelled = json(&cancelled);
    assert_eq!(cancelled["id"], "s");
    assert_eq!(cancelled["error"]["code"], -32800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_in_process_calls_and_refuses_frames_after() {
    let probe = Impl::default();
    let server = Arc::new(Server::new(ProbeServer::new(probe.clone())));
    let running = tokio::spawn({
        let server = server.clone();
        async move {
            server
                .handle_frame(r#"{"jsonrpc":"2.0","method":"slow","params":[200],"id":1}"#)
                .await
        }
    });
    let started = Instant::now();
    while probe.0.running.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < LIMIT, "the slow call never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let report = timeout(LIMIT, server.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(report.drained);
    assert_eq!(report.interrupted, 0);
    let finished = running.await.unwrap().unwrap();
    assert_eq!(json(&finished)["result"], 200);

    let refused = answer(
        &server,
        r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":7}"#,
    )
    .await
    .unwrap();
    assert_eq!(refused["error"]["code"], -32002);
    assert_eq!(refused["id"], 7);
    assert!(answer(
        &server,
        r#"{"jsonrpc":"2.0","method":"record","params":["late"]}"#
    )
    .await
    .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_layers_limit_concurrency_and_time_calls_out() {
    let probe = Impl::default();
    let server = Server::new(ProbeServer::new(probe.clone()))
        .layer(tower::limit::ConcurrencyLimitLayer::new(2))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
            500,
        )));
    let session = server.session();
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let session = session.clone();
            tokio::spawn(async move {
                let frame =
                    format!(r#"{{"jsonrpc":"2.0","method":"slow","params":[200],"id":{i}}}"#);
                session.handle_frame(frame.into()).await
            })
        })
        .collect();
    for call in calls {
        let answer = timeout(LIMIT, call).await.unwrap().unwrap().unwrap();
        assert_eq!(json(&answer)["result"], 200);
    }
    // Six calls of 200 ms started together ran two at a time, never more.
    assert_eq!(probe.0.most.load(Ordering::SeqCst), 2);

    // The timeout layer's deadline is answered with the timeout code, for its id.
    let late = session
        .handle_frame(r#"{"jsonrpc":"2.0","method":"slow","params":[30000],"id":"late"}"#.into())
        .await
        .unwrap();
    let late = json(&late);
    assert_eq!(late["id"], "late");
    assert_eq!(late["error"]["code"], ErrorCode::TIMEOUT.0);
    assert!(late["error"]["message"]
        .as_str()
        .unwrap()
        .contains("timeout layer"));

    // Over a connection, the client sees the same error.
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = ProbeClient::new(Client::new(ours, ConnectionConfig::default()));
    match timeout(LIMIT, client.slow(30000)).await.unwrap() {
        Err(Error::Rpc(err)) => assert_eq!(err.code, ErrorCode::TIMEOUT),
        other => panic!("expected the layer's timeout, got {other:?}"),
    }
    assert_eq!(
        timeout(LIMIT, client.add(20, 22)).await.unwrap().unwrap(),
        42
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_shedding_layer_answers_overloaded_when_its_inner_layer_is_busy() {
    let probe = Impl::default();
    let server = Server::new(ProbeServer::new(probe.clone()))
        .layer(tower::limit::ConcurrencyLimitLayer::new(1))
        .layer(tower::load_shed::LoadShedLayer::new());
    let session = server.session();
    let started = probe.0.started.notified();
    let busy = tokio::spawn({
        let session = session.clone();
        async move {
            session
                .handle_frame(r#"{"jsonrpc":"2.0","method":"slow","params":[300],"id":1}"#.into())
                .await
        }
    });
    timeout(LIMIT, started).await.unwrap();
    let shed = session
        .handle_frame(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#.into())
        .await
        .unwrap();
    let shed = json(&shed);
    assert_eq!(shed["id"], 2);
    assert_eq!(shed["error"]["code"], ErrorCode::SERVER_OVERLOADED.0);
    let first = timeout(LIMIT, busy).await.unwrap().unwrap().unwrap();
    assert_eq!(json(&first)["result"], 300);
    // Once the busy call is done, calls get through again.
    let again = session
        .handle_frame(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":3}"#.into())
        .await
        .unwrap();
    assert_eq!(json(&again)["result"], 3);
}

#[tokio::test]
async fn a_session_is_a_tower_service_of_frames() {
    use tower::Service as _;
    let server = Server::new(ProbeServer::new(Impl::default()));
    let mut session = server.session();
    std::future::poll_fn(|cx| session.poll_ready(cx))
        .await
        .unwrap();
    let frame = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"add","params":[4,5],"id":1}"#);
    let answer = session.call(frame).await.unwrap().unwrap();
    assert_eq!(json(&answer)["result"], 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_elements_run_concurrently_within_the_batch_bound_and_all_answer() {
    use rpc::ServerConfig;
    let probe = Impl::default();
    let config = ServerConfig {
        connection: ConnectionConfig {
            max_batch_concurrency: 3,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::with_config(ProbeServer::new(probe.clone()), config);
    let elements: Vec<String> = (0..12)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","method":"slow","params":[200],"id":{i}}}"#))
        .collect();
    let frame = format!("[{}]", elements.join(","));
    let answer = timeout(LIMIT, server.handle_frame(frame))
        .await
        .unwrap()
        .unwrap();
    let answers = json(&answer);
    let mut ids: Vec<i64> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["result"], 200);
            a["id"].as_i64().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..12).collect::<Vec<_>>());
    // Elements overlapped, but never more than the bound.
    assert_eq!(probe.0.most.load(Ordering::SeqCst), 3);
}
