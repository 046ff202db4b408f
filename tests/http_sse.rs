//! Answers as server-sent events (`HttpConfig::sse_keep_alive`): JSON when the
//! answer is quick, an event stream with keep-alive comments when it is not, and a
//! call stopped when its client goes away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpc::http::HttpConfig;
use rpc::{rpc_service, CallContext, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

#[path = "support/raw_http.rs"]
mod raw_http;
use raw_http::{exchange, request, LIMIT};

#[rpc_service]
pub trait Slow {
    async fn nap(&self, ms: u64) -> u64;
    /// Runs until its call is stopped, and counts that.
    async fn forever(&self, cx: &CallContext);
}

#[derive(Default)]
struct Impl {
    cancelled: Arc<AtomicUsize>,
}

impl Slow for Impl {
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn forever(&self, cx: &CallContext) {
        // A stopped call's future is dropped (the guard counts it); one that runs on
        // a thread of its own sees its token cancelled (this counts it then).
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let _counted = Counted(self.cancelled.clone());
        cx.cancelled().await;
    }
}

async fn start(config: HttpConfig) -> (Arc<Server>, std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Impl::default();
    let cancelled = service.cancelled.clone();
    let server = Arc::new(Server::new(SlowServer::new(service)));
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_http(listener, config).await });
    (server, addr, cancelled)
}

fn keep_alive_every(ms: u64) -> HttpConfig {
    HttpConfig::default().sse_keep_alive(Some(Duration::from_millis(ms)))
}

const BOTH: &str = "Accept: application/json, text/event-stream";

fn nap(ms: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"nap","params":[{ms}]}}"#)
}

#[tokio::test]
async fn a_slow_answer_comes_as_an_event_stream_with_keep_alives() {
    let (_server, addr, _) = start(keep_alive_every(100)).await;
    let answer = exchange(addr, &request("POST", "/", &[BOTH], &nap(550))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(answer.header("cache-control"), Some("no-cache"));
    let keep_alives = answer.body.matches(": keep-alive\n\n").count();
    assert!(keep_alives >= 2, "{answer:?}");
    assert!(
        answer
            .body
            .ends_with("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":550}\n\n"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_quick_answer_is_json_even_when_event_streams_are_accepted() {
    let (_server, addr, _) = start(keep_alive_every(2_000)).await;
    let answer = exchange(addr, &request("POST", "/", &[BOTH], &nap(0))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body, r#"{"jsonrpc":"2.0","id":1,"result":0}"#);

    // A batch of notifications still answers 202, whatever the client accepts.
    let batch = r#"[{"jsonrpc":"2.0","method":"nap","params":[0]}]"#;
    let answer = exchange(addr, &request("POST", "/", &[BOTH], batch)).await;
    assert_eq!((answer.status, answer.body.as_str()), (202, ""));
}

#[tokio::test]
async fn a_client_that_accepts_only_event_streams_gets_one_at_once() {
    let (_server, addr, _) = start(keep_alive_every(2_000)).await;
    let only = "Accept: text/event-stream";
    let answer = exchange(addr, &request("POST", "/", &[only], &nap(0))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert!(
        answer
            .body
            .ends_with("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":0}\n\n"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_accept_header_naming_neither_json_nor_events_answers_406() {
    let (_server, addr, _) = start(HttpConfig::default()).await;
    let answer = exchange(addr, &request("POST", "/", &["Accept: text/html"], &nap(0))).await;
    assert_eq!(answer.status, 406, "{answer:?}");

    // Without event streams, a client that accepts only them is refused too.
    let (_server, addr, _) = start(HttpConfig::default().sse_keep_alive(None)).await;
    let only = "Accept: text/event-stream";
    let answer = exchange(addr, &request("POST", "/", &[only], &nap(0))).await;
    assert_eq!(answer.status, 406, "{answer:?}");
    let answer = exchange(addr, &request("POST", "/", &[BOTH], &nap(0))).await;
    assert_eq!(answer.header("content-type"), Some("application/json"));
}

/// Waits (bounded) until `count` reaches `expected`.
async fn until(count: &AtomicUsize, expected: usize) {
    timeout(LIMIT, async {
        while count.load(Ordering::SeqCst) < expected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the count stayed at {}", count.load(Ordering::SeqCst)));
}

#[tokio::test]
async fn closing_the_event_stream_stops_the_call() {
    let (server, addr, cancelled) = start(keep_alive_every(50)).await;
    let forever = r#"{"jsonrpc":"2.0","id":1,"method":"forever"}"#;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request("POST", "/", &[BOTH], forever).as_bytes())
        .await
        .unwrap();
    // Read until the stream has started (its first keep-alive), then go away.
    let mut seen = Vec::new();
    timeout(LIMIT, async {
        let mut buf = [0u8; 512];
        while !String::from_utf8_lossy(&seen).contains(": keep-alive") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended early");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&seen).contains("text/event-stream"));
    drop(stream);
    until(&cancelled, 1).await;
    timeout(LIMIT, async {
        while server.session().calls_in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the call's task ended");
}

#[tokio::test]
async fn a_client_that_closes_before_a_json_answer_stops_the_call() {
    let (_server, addr, cancelled) = start(HttpConfig::default()).await;
    let forever = r#"{"jsonrpc":"2.0","id":1,"method":"forever"}"#;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request("POST", "/", &[], forever).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(stream);
    until(&cancelled, 1).await;
}
