//! The HTTP service nested in an axum application, behind tower-http's CORS layer:
//! the JSON-RPC endpoint is one route among the application's, and a browser's
//! preflight and cross-origin POST get their CORS headers.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use rpc::http::HttpConfig;
use rpc::{rpc_service, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tower_http::cors::CorsLayer;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Impl;

impl Calc for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(LIMIT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&raw).to_ascii_lowercase()
}

#[tokio::test]
async fn nested_in_axum_behind_cors() {
    let server = Server::new(CalcServer::new(Impl));
    // axum hands the nested service the path below `/rpc`.
    let app = Router::new()
        .route("/", get(|| async { "the application's own page" }))
        .nest_service("/rpc", server.http_service(HttpConfig::default()))
        .layer(CorsLayer::permissive());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let body = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}"#;
    let answer = exchange(
        addr,
        &format!(
            "POST /rpc HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("\r\naccess-control-allow-origin: *"),
        "{answer}"
    );
    assert!(
        answer.ends_with(r#"{"jsonrpc":"2.0","id":1,"result":5}"#),
        "{answer}"
    );

    // The browser's preflight is answered by the layer, before the service.
    let preflight = exchange(
        addr,
        "OPTIONS /rpc HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(preflight.starts_with("http/1.1 200"), "{preflight}");
    assert!(
        preflight.contains("access-control-allow-methods"),
        "{preflight}"
    );

    // The application's other routes are its own.
    let page = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(page.ends_with("the application's own page"), "{page}");

    serving.abort();
    server.shutdown(Duration::from_secs(5)).await;
}
