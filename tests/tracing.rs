//! What a user sees with the fmt subscriber of `tracing-subscriber` at DEBUG: a
//! `rpc.call` span per call with its method, id, connection and transport, a `call
//! finished` event with its outcome, code and duration, and the connection's opening
//! and closing with the reason.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::prelude::*;
use rpc::transport::memory;
use tokio::time::timeout;
use tracing_subscriber::fmt::MakeWriter;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service(namespace = "shop")]
pub trait Shop {
    async fn total(&self, cents: u64, count: u64) -> Result<u64, RpcError>;
    #[rpc(timeout = "20ms")]
    async fn stall(&self);
    async fn hang(&self);
    async fn crash(&self);
    #[rpc(notification)]
    async fn note(&self, text: String);
}

struct Till;

impl Shop for Till {
    async fn total(&self, cents: u64, count: u64) -> Result<u64, RpcError> {
        cents
            .checked_mul(count)
            .ok_or_else(|| RpcError::invalid_params("the total does not fit in a u64"))
    }

    async fn stall(&self) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }

    async fn hang(&self) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }

    async fn crash(&self) {
        panic!("the till is empty");
    }

    async fn note(&self, _text: String) {}
}

/// Where the subscriber writes: a buffer the test reads.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The lines of `text` that contain every one of `parts`.
fn lines_with<'a>(text: &'a str, parts: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .collect()
}

// One thread: every task runs where the subscriber is the default.
#[tokio::test(flavor = "current_thread")]
async fn each_call_has_a_span_with_its_outcome_and_each_connection_says_why_it_closed() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let server = Server::new(ShopServer::new(Till));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    let served = server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    let shop = ShopClient::new(client.clone());
    assert_eq!(shop.total(100, 3).await.unwrap(), 300);
    assert!(shop.total(u64::MAX, 2).await.is_err());
    assert!(shop.stall().await.unwrap_err().is_rpc());
    assert!(shop.crash().await.unwrap_err().is_rpc());
    shop.note("hello".into()).await.unwrap();
    // A call its caller gives up on: the dropped call sends `$/cancelRequest`.
    assert!(timeout(Duration::from_millis(50), shop.hang())
        .await
        .is_err());
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !captured.text().contains("outcome=cancelled") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            captured.text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    client.close();
    timeout(LIMIT, served.closed()).await.unwrap();

    let text = captured.text();
    let finished = |method: &str, outcome: &str| {
        let lines = lines_with(
            &text,
            &[
                "rpc.call{",
                &format!("method={method} "),
                "transport=stream",
                "call finished",
                &format!("outcome={outcome}"),
                "duration_us=",
            ],
        );
        assert_eq!(
            lines.len(),
            1,
            "one `{method}` call ending {outcome}, in:\n{text}"
        );
        lines[0].to_owned()
    };
    let ok = finished("shop.total", "ok");
    assert!(ok.contains("id=1 "), "{ok}");
    assert!(ok.contains(" DEBUG "), "{ok}");
    let error = finished("shop.total", "error");
    assert!(error.contains("code=-32602"), "{error}");
    let timed_out = finished("shop.stall", "timeout");
    assert!(timed_out.contains(" WARN "), "{timed_out}");
    assert!(timed_out.contains("code=-32001"), "{timed_out}");
    assert!(finished("shop.crash", "panic").contains("code=-32603"));
    let note = finished("shop.note", "ok");
    assert!(!note.contains("id="), "a notification has no id: {note}");
    assert!(finished("shop.hang", "cancelled").contains("code=-32800"));
    // The panic's own event, at ERROR, names the method and the message.
    assert_eq!(
        lines_with(
            &text,
            &[
                " ERROR ",
                "handler panicked",
                "the till is empty",
                "shop.crash"
            ]
        )
        .len(),
        1,
        "{text}"
    );
    // Both ends of the memory pair are connections: the server's and the client's.
    assert!(
        lines_with(&text, &["connection opened", "transport=stream"]).len() >= 2,
        "{text}"
    );
    assert!(
        !lines_with(&text, &["connection closed", "reason="]).is_empty(),
        "{text}"
    );
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A server that reads trace contexts, whose `parent` method answers the one it got.
fn tracing_server() -> Server {
    use rpc::service::{MethodInfo, Router};
    let router = Router::new().method(
        MethodInfo::new("parent").takes_context(),
        |call| async move {
            let parent = call.context().trace_context().map(|tc| tc.to_string());
            call.respond(&parent)
        },
    );
    Server::with_config(
        router,
        ServerConfig {
            trace_context: true,
            ..ServerConfig::default()
        },
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_traceparent_in_meta_or_an_http_header_joins_the_callers_trace_when_opted_in() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    // In `_meta`, over a stream connection.
    let server = tracing_server();
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    let _served = server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    let params = serde_json::json!({"_meta": {"traceparent": TRACEPARENT}});
    let got: Option<String> = client.call("parent", &params).await.unwrap();
    assert_eq!(got.as_deref(), Some(TRACEPARENT));
    // An invalid one is ignored; none is none.
    let bad = serde_json::json!({"_meta": {"traceparent": "00-nonsense"}});
    assert_eq!(
        client
            .call::<_, Option<String>>("parent", &bad)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        client
            .call::<_, Option<String>>("parent", &())
            .await
            .unwrap(),
        None
    );
    let text = captured.text();
    let traced = lines_with(
        &text,
        &[
            "call finished",
            "trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"",
            "parent_id=\"00f067aa0ba902b7\"",
        ],
    );
    assert_eq!(traced.len(), 1, "{text}");

    // In the HTTP request's header.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::sync::Arc::new(tracing_server());
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .serve_http(listener, rpc::http::HttpConfig::default())
                .await
        })
    };
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"parent"}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\ntraceparent: {TRACEPARENT}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    timeout(
        LIMIT,
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        response.ends_with(&format!(r#""result":"{TRACEPARENT}"}}"#)),
        "{response}"
    );
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();

    // Off by default: the same params join nothing.
    let router = rpc::service::Router::new().method(
        rpc::service::MethodInfo::new("parent").takes_context(),
        |call| async move {
            let parent = call.context().trace_context().map(|tc| tc.to_string());
            call.respond(&parent)
        },
    );
    let server = Server::new(router);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    let _served = server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    assert_eq!(
        client
            .call::<_, Option<String>>("parent", &params)
            .await
            .unwrap(),
        None
    );
}
