//! `Host` and `Origin` allowlists (`HttpConfig::allowed_hosts`, `allowed_origins`):
//! DNS rebinding and cross-site requests refused, WebSocket upgrades included; and
//! a tower layer around the server's own HTTP service.

use std::sync::Arc;

use rpc::http::{Allowlist, HttpConfig};
use rpc::{rpc_service, Server};
use tokio::net::TcpListener;

#[path = "support/raw_http.rs"]
mod raw_http;
use raw_http::{exchange, Answer};

#[rpc_service]
pub trait Echo {
    async fn echo(&self, text: String) -> String;
}

struct Impl;

impl Echo for Impl {
    async fn echo(&self, text: String) -> String {
        text
    }
}

async fn start(config: HttpConfig) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(EchoServer::new(Impl)));
    tokio::spawn(async move { server.serve_http(listener, config).await });
    addr
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["hi"]}"#;

async fn post(addr: std::net::SocketAddr, host: &str, origin: Option<&str>) -> Answer {
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {host}\r\n{origin}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{CALL}",
        CALL.len()
    );
    exchange(addr, &request).await
}

#[tokio::test]
async fn loopback_lists_refuse_other_hosts_and_origins() {
    let config = HttpConfig::default()
        .allowed_hosts(Allowlist::Loopback)
        .allowed_origins(Allowlist::Loopback);
    let addr = start(config).await;
    let port = addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "[::1]".to_owned(),
    ] {
        let answer = post(addr, &host, None).await;
        assert_eq!(answer.status, 200, "{host}: {answer:?}");
    }
    let rebound = post(addr, &format!("attacker.example:{port}"), None).await;
    assert_eq!(rebound.status, 421, "{rebound:?}");
    assert!(rebound.body.contains("-32600") && rebound.body.contains("attacker.example"));

    let local = post(addr, "localhost", Some("http://localhost:5173")).await;
    assert_eq!(local.status, 200, "{local:?}");
    let cross = post(addr, "localhost", Some("https://evil.example")).await;
    assert_eq!(cross.status, 403, "{cross:?}");
    assert!(cross.body.contains("-32600") && cross.body.contains("evil.example"));
    assert_eq!(post(addr, "localhost", Some("null")).await.status, 403);

    // The health path answers a load balancer whatever its Host.
    let health = exchange(addr, "GET /health HTTP/1.0\r\nHost: lb.internal\r\n\r\n").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn listed_origins_only_and_websocket_upgrades_are_checked_too() {
    let config = HttpConfig::default().allowed_origins(Allowlist::only(["https://app.example"]));
    let addr = start(config).await;
    assert_eq!(
        post(addr, "x", Some("https://app.example")).await.status,
        200
    );
    assert_eq!(
        post(addr, "x", Some("https://app.example:8443"))
            .await
            .status,
        200
    );
    assert_eq!(
        post(addr, "x", Some("http://app.example")).await.status,
        403
    );
    assert_eq!(post(addr, "x", None).await.status, 200);

    let upgrade = |origin: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    // The upgrade's response head, from one read.
    let head = |request: String| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(
            raw_http::LIMIT,
            tokio::io::AsyncReadExt::read(&mut stream, &mut buf),
        )
        .await
        .unwrap()
        .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // A page on another site may not open a WebSocket to the server in the user's
    // browser (cross-site WebSocket hijacking).
    let refused = head(upgrade("https://evil.example")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let accepted = head(upgrade("https://app.example")).await;
    assert!(accepted.starts_with("HTTP/1.1 101"), "{accepted}");
}

#[tokio::test]
async fn a_tower_layer_wraps_the_server_s_own_http_service() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(EchoServer::new(Impl)));
    let layer =
        tower::util::MapResponseLayer::new(|mut response: http::Response<rpc::http::HttpBody>| {
            response
                .headers_mut()
                .insert("x-layer", http::HeaderValue::from_static("seen"));
            response
        });
    tokio::spawn(async move {
        server
            .serve_http_with_layer(listener, HttpConfig::default(), layer)
            .await
    });
    let answer = post(addr, "x", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-layer"), Some("seen"));
    assert_eq!(answer.body, r#"{"jsonrpc":"2.0","id":1,"result":"hi"}"#);
}
