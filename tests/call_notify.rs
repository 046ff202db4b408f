//! `CallContext::notify`: a handler's notifications to its caller (progress) reach
//! it before the call's answer and in order, over a connection and over an HTTP
//! event stream; where nothing can carry them, the handler is told why.

use std::sync::Arc;
use std::time::Duration;

use rpc::framing::Framing;
use rpc::http::HttpConfig;
use rpc::{rpc_service, CallContext, NotifyError, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::time::timeout;

#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "support/tcp_server.rs"]
mod tcp_server;
use raw_http::{exchange, request, LIMIT};

#[rpc_service]
pub trait Reporter {
    /// Sends `count` notifications `step` (`{"done": n}`), pausing `pause_ms` after
    /// the first, then answers what the last `notify` said ("ok" or its error).
    async fn report(&self, cx: &CallContext, count: u32, pause_ms: u64) -> String;
    /// Answers at once, keeping its context; the next `late` call notifies with it.
    async fn keep(&self, cx: &CallContext) -> bool;
    /// Notifies with the context `keep` kept, its call long over.
    async fn late(&self) -> String;
}

#[derive(Default)]
struct Impl {
    kept: Mutex<Option<CallContext>>,
}

fn outcome(sent: Result<(), NotifyError>) -> String {
    match sent {
        Ok(()) => "ok".into(),
        Err(NotifyError::Unreachable) => "unreachable".into(),
        Err(NotifyError::CallOver) => "call over".into(),
        Err(NotifyError::Closed) => "closed".into(),
        Err(other) => other.to_string(),
    }
}

impl Reporter for Impl {
    async fn report(&self, cx: &CallContext, count: u32, pause_ms: u64) -> String {
        let mut last = Ok(());
        for done in 1..=count {
            last = cx.notify("step", &json!({ "done": done })).await;
            if last.is_err() {
                break;
            }
            if done == 1 && pause_ms > 0 {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
        }
        outcome(last)
    }

    async fn keep(&self, cx: &CallContext) -> bool {
        *self.kept.lock().await = Some(cx.clone());
        true
    }

    async fn late(&self) -> String {
        let kept = self.kept.lock().await.take();
        match kept {
            Some(cx) => outcome(cx.notify("step", &json!({ "done": 0 })).await),
            None => "nothing kept".into(),
        }
    }
}

fn server() -> Arc<Server> {
    Arc::new(Server::new(ReporterServer::new(Impl::default())))
}

/// The `done` of a `step` notification, or `None` for another message.
fn step_of(message: &Value) -> Option<u64> {
    (message["method"] == "step").then(|| message["params"]["done"].as_u64().unwrap())
}

#[tokio::test]
async fn over_a_connection_every_notification_comes_before_the_answer_in_order() {
    let server = server();
    let addr = tcp_server::serve_on_loopback(&server, Framing::Ndjson).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    const COUNT: u64 = 2_000;
    let call = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"report","params":[{COUNT},0]}}"#);
    write
        .write_all(format!("{call}\n").as_bytes())
        .await
        .unwrap();
    let mut next = 1;
    let answer = loop {
        let line = timeout(LIMIT, lines.next_line())
            .await
            .expect("the server writes")
            .unwrap()
            .expect("the connection stays open");
        let message: Value = serde_json::from_str(&line).unwrap();
        match step_of(&message) {
            Some(done) => {
                assert_eq!(done, next, "notifications in the order they were sent");
                next += 1;
            }
            None => break message,
        }
    };
    assert_eq!(next, COUNT + 1, "every notification before the answer");
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 7, "result": "ok"}));

    // A context kept past its call's answer notifies nobody.
    for (id, method) in [(8, "keep"), (9, "late")] {
        let call = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#);
        write
            .write_all(format!("{call}\n").as_bytes())
            .await
            .unwrap();
        let line = timeout(LIMIT, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let message: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(message["id"], id, "{message}");
        if method == "late" {
            assert_eq!(message["result"], "call over", "{message}");
        }
    }
}

#[tokio::test]
async fn a_call_handed_in_process_is_told_its_notifications_cannot_be_carried() {
    let server = server();
    let answer = server
        .handle_frame(br#"{"jsonrpc":"2.0","id":1,"method":"report","params":[1,0]}"#.to_vec())
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["result"], "unreachable", "{answer}");
}

async fn serve_http() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = server();
    let config = HttpConfig::default().sse_keep_alive(Some(Duration::from_millis(100)));
    tokio::spawn(async move { server.serve_http(listener, config).await });
    addr
}

/// The `data` of each `message` event of an event stream's body, as JSON.
fn events_of(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|event| event.starts_with("event: message"))
        .map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .collect();
            serde_json::from_str(&data.join("\n")).unwrap()
        })
        .collect()
}

const BOTH: &str = "Accept: application/json, text/event-stream";

fn report(count: u32, pause_ms: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"report","params":[{count},{pause_ms}]}}"#)
}

#[tokio::test]
async fn over_http_notifications_come_as_events_before_the_answer() {
    let addr = serve_http().await;
    // Quick (the answer is ready before the keep-alive interval, the notifications
    // with it) and slow (the first notification comes alone, long before the answer).
    for pause_ms in [0, 300] {
        let answer = exchange(addr, &request("POST", "/", &[BOTH], &report(200, pause_ms))).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.header("content-type"), Some("text/event-stream"));
        let events = events_of(&answer.body);
        assert_eq!(events.len(), 201, "{answer:?}");
        for (n, event) in events[..200].iter().enumerate() {
            assert_eq!(step_of(event), Some(n as u64 + 1), "{event}");
        }
        assert_eq!(
            events[200],
            json!({"jsonrpc": "2.0", "id": 1, "result": "ok"})
        );
    }
    // A client that reads only event streams gets one, notifications first.
    let answer = exchange(
        addr,
        &request("POST", "/", &["Accept: text/event-stream"], &report(3, 0)),
    )
    .await;
    let events = events_of(&answer.body);
    assert_eq!(events.len(), 4, "{answer:?}");
    assert_eq!(events[3]["result"], "ok");
}

#[tokio::test]
async fn over_http_a_call_that_notifies_nothing_is_answered_with_json() {
    let addr = serve_http().await;
    let answer = exchange(addr, &request("POST", "/", &[BOTH], &report(0, 0))).await;
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let answer: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(answer["result"], "ok");
}

#[tokio::test]
async fn over_http_without_an_event_stream_the_handler_is_told_why() {
    let addr = serve_http().await;
    // Accepting only JSON.
    let answer = exchange(
        addr,
        &request("POST", "/", &["Accept: application/json"], &report(2, 0)),
    )
    .await;
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let message: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(message["result"], "unreachable", "{message}");
    // In a batch: its answer is one array, with nothing before it.
    let batch = format!("[{}]", report(2, 0));
    let answer = exchange(addr, &request("POST", "/", &[BOTH], &batch)).await;
    let message: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(message[0]["result"], "unreachable", "{message}");
}
