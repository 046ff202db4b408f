//! The HTTP client's own settings (`HttpClientConfig`): HTTP/2 from the first byte,
//! headers on every request, the request timeout (which also stops the server's
//! call), the largest answer, and connections reused between calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rpc::http::{HttpClientConfig, HttpConfig};
use rpc::{rpc_service, CallContext, Client, ConnectionConfig, ErrorCode, Server};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Probe {
    /// The HTTP version the request came in, its `authorization` header, and the
    /// port it came from (a new port is a new connection).
    async fn seen(&self, cx: &CallContext) -> (String, Option<String>, u16);
    /// Waits until stopped, and counts the stop.
    async fn forever(&self, cx: &CallContext);
    /// `bytes` bytes of text.
    async fn blob(&self, bytes: usize) -> String;
}

#[derive(Default)]
struct Impl {
    cancelled: AtomicUsize,
    stopped: Notify,
}

impl Probe for Arc<Impl> {
    async fn seen(&self, cx: &CallContext) -> (String, Option<String>, u16) {
        let version = cx
            .http_request()
            .map(|r| format!("{:?}", r.version))
            .unwrap_or_default();
        let auth = cx
            .headers()
            .and_then(|h| h.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let port = cx.connection().remote_addr.map_or(0, |a| a.port());
        (version, auth, port)
    }
    async fn forever(&self, cx: &CallContext) {
        // A stopped call's future is dropped: the guard counts it.
        struct Counted(Arc<Impl>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.cancelled.fetch_add(1, Ordering::SeqCst);
                self.0.stopped.notify_one();
            }
        }
        let _counted = Counted(self.clone());
        cx.cancelled().await;
    }
    async fn blob(&self, bytes: usize) -> String {
        "x".repeat(bytes)
    }
}

async fn start() -> (
    Arc<Server>,
    Arc<Impl>,
    String,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let state = Arc::new(Impl::default());
    let server = Arc::new(Server::new(ProbeServer::new(state.clone())));
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_http(listener, HttpConfig::default()).await })
    };
    (server, state, url, serving)
}

#[tokio::test]
async fn http2_prior_knowledge_headers_and_one_reused_connection() {
    let (server, _state, url, serving) = start().await;
    let http = HttpClientConfig::default()
        .http2_prior_knowledge(true)
        .header(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer secret"),
        );
    let client = Client::connect_http_with(&url, ConnectionConfig::default(), http).unwrap();
    let probe = ProbeClient::new(client);
    let (version, auth, port) = timeout(LIMIT, probe.seen()).await.unwrap().unwrap();
    assert_eq!(version, "HTTP/2.0");
    assert_eq!(auth.as_deref(), Some("Bearer secret"));
    // Twenty calls at once still share the one HTTP/2 connection.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let probe = probe.clone();
        calls.spawn(async move { probe.seen().await });
    }
    while let Some(seen) = timeout(LIMIT, calls.join_next()).await.unwrap() {
        assert_eq!(seen.unwrap().unwrap().2, port);
    }

    // Without it: HTTP/1.1, and calls one after another reuse their connection.
    let client = Client::connect_http(&url, ConnectionConfig::default()).unwrap();
    let probe = ProbeClient::new(client);
    let (version, auth, first) = timeout(LIMIT, probe.seen()).await.unwrap().unwrap();
    assert_eq!((version.as_str(), auth), ("HTTP/1.1", None));
    for _ in 0..5 {
        assert_eq!(
            timeout(LIMIT, probe.seen()).await.unwrap().unwrap().2,
            first
        );
    }
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

/// A call dropped by its caller (or timed out by the client's own deadline) drops
/// its POST, which stops the server's call and frees the client's in-flight slot.
/// Before (found by `tests/soak_web.rs`), the client POSTed a `$/cancelRequest` that
/// could not reach the call's own exchange: the POST ran on, and a client with
/// `max_in_flight` such calls out could make no other call.
#[tokio::test]
async fn a_dropped_call_drops_its_post_and_stops_the_server_s_call() {
    let (server, state, url, serving) = start().await;
    let config = ConnectionConfig {
        max_in_flight: 4,
        ..ConnectionConfig::default()
    };
    let client = Client::connect_http(&url, config).unwrap();
    let probe = ProbeClient::new(client.clone());
    for _ in 0..8 {
        let dropped = timeout(Duration::from_millis(100), probe.forever()).await;
        assert!(dropped.is_err(), "the call ran until dropped");
        timeout(LIMIT, state.stopped.notified())
            .await
            .expect("the server's call is stopped");
    }
    let timed_out = client
        .call_raw("forever", None::<&()>, Some(Duration::from_millis(100)))
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout(), "{timed_out}");
    timeout(LIMIT, state.stopped.notified())
        .await
        .expect("the server's call is stopped");
    assert_eq!(state.cancelled.load(Ordering::SeqCst), 9);
    // Every slot is free again.
    timeout(LIMIT, probe.seen()).await.unwrap().unwrap();
    assert_eq!(client.pending_calls(), 0);
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_request_timeout_fails_the_call_and_stops_the_server_s_call() {
    let (server, state, url, serving) = start().await;
    let http = HttpClientConfig::default().request_timeout(Some(Duration::from_millis(300)));
    let client = Client::connect_http_with(&url, ConnectionConfig::default(), http).unwrap();
    let probe = ProbeClient::new(client);
    let err = timeout(LIMIT, probe.forever())
        .await
        .expect("the request timeout fails the call")
        .unwrap_err();
    let rpc = err.rpc_error().expect("a JSON-RPC error");
    assert_eq!(rpc.code, ErrorCode::INTERNAL_ERROR);
    assert!(rpc.message.contains("request timeout"), "{}", rpc.message);
    assert!(rpc.message.contains(&url), "{}", rpc.message);
    // The dropped request stopped the handler.
    timeout(LIMIT, state.stopped.notified())
        .await
        .expect("the server's call is cancelled");
    assert_eq!(state.cancelled.load(Ordering::SeqCst), 1);
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_answer_over_the_client_s_limit_fails_the_call_with_the_limit() {
    let (server, _state, url, serving) = start().await;
    let http = HttpClientConfig::default().max_answer_bytes(64 << 10);
    let client = Client::connect_http_with(&url, ConnectionConfig::default(), http).unwrap();
    let probe = ProbeClient::new(client);
    assert_eq!(
        timeout(LIMIT, probe.blob(1000))
            .await
            .unwrap()
            .unwrap()
            .len(),
        1000
    );
    let err = timeout(LIMIT, probe.blob(100 << 10))
        .await
        .unwrap()
        .unwrap_err();
    let rpc = err.rpc_error().expect("a JSON-RPC error");
    assert_eq!(rpc.code, ErrorCode::INTERNAL_ERROR);
    assert!(rpc.message.contains("65536 bytes"), "{}", rpc.message);
    // The client goes on.
    assert_eq!(
        timeout(LIMIT, probe.blob(10)).await.unwrap().unwrap().len(),
        10
    );
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn urls_the_client_cannot_use_are_refused_with_why() {
    for (url, why) in [
        ("ftp://127.0.0.1:1/", "http://"),
        ("127.0.0.1:1", "http://"),
        ("http://", "URL"),
    ] {
        let err = Client::connect_http(url, ConnectionConfig::default()).unwrap_err();
        assert!(err.to_string().contains(why), "{url}: {err}");
    }
}
