//! The HTTP server's idle timeout (`HttpConfig::idle_timeout`): an HTTP/2 or
//! HTTP/1.1 connection with nothing on it is closed, and one that is busy (a slow
//! call, an event stream waiting for its answer) is not, however long it takes.

use std::sync::Arc;
use std::time::Duration;

use rpc::http::{HttpClientConfig, HttpConfig};
use rpc::{rpc_service, Client, ConnectionConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Slow {
    async fn nap(&self, ms: u64) -> u64;
}

struct Impl;

impl Slow for Impl {
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

async fn start(config: HttpConfig) -> (Arc<Server>, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(SlowServer::new(Impl)));
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_http(listener, config).await });
    (server, addr)
}

/// Waits until the server counts `expected` open connections.
async fn connections(server: &Server, expected: i64) {
    let started = Instant::now();
    while server.metrics().connections != expected {
        assert!(
            started.elapsed() < LIMIT,
            "{} connections open, expected {expected}",
            server.metrics().connections
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_and_a_busy_one_is_not() {
    let (server, addr) =
        start(HttpConfig::default().idle_timeout(Some(Duration::from_millis(300)))).await;
    let http = HttpClientConfig::default().http2_prior_knowledge(true);
    let client = Client::connect_http_with(
        &format!("http://{addr}/"),
        ConnectionConfig::default(),
        http,
    )
    .unwrap();
    let slow = SlowClient::new(client);
    // A call three times the idle timeout: the connection is busy, not idle.
    assert_eq!(timeout(LIMIT, slow.nap(900)).await.unwrap().unwrap(), 900);
    assert_eq!(server.metrics().connections, 1);
    // Then nothing: the server closes it.
    connections(&server, 0).await;
    // The client opens a new one for the next call.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(timeout(LIMIT, slow.nap(1)).await.unwrap().unwrap(), 1);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_an_event_stream_is_not() {
    let config = HttpConfig::default()
        .idle_timeout(Some(Duration::from_millis(300)))
        .sse_keep_alive(Some(Duration::from_millis(100)));
    let mut config = config;
    // Only the idle timeout ends a connection waiting for its next request.
    config.header_read_timeout = None;
    let (server, addr) = start(config).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"nap","params":[900]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The event stream outlives the idle timeout three times over and ends with the
    // answer; then the idle connection is closed (EOF) without another request.
    let started = Instant::now();
    let mut raw = Vec::new();
    timeout(LIMIT, stream.read_to_end(&mut raw))
        .await
        .expect("the server closes the idle connection")
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(
        text.contains(r#"data: {"jsonrpc":"2.0","id":1,"result":900}"#),
        "{text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900 + 300));
    connections(&server, 0).await;
    server.shutdown(Duration::from_secs(5)).await;
}
