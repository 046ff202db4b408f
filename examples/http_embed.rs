//! JSON-RPC as one route of an axum application, behind tower-http's CORS layer.
//!
//! ```sh
//! cargo run -p rpc-examples --features embed --example http_embed -- 127.0.0.1:8080
//! curl -s localhost:8080/rpc -H 'content-type: application/json' \
//!   -d '{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}'
//! ```
//!
//! The server's HTTP service (`Server::http_service`) is a `tower::Service` over
//! `http::Request`, so axum nests it like any other (`Router::nest_service`), and
//! the application's layers (CORS here; compression, tracing or authentication the
//! same way) wrap it. Browsers at `https://app.example` may call it; the
//! application's own routes sit beside it. Prints `listening on HOST:PORT` first.
//!
//! It needs the `embed` feature of this package, so that the other examples build
//! without axum.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::{HeaderValue, Method};
use rpc::http::HttpConfig;
use rpc::{rpc_service, RpcError, Server};
use tower_http::cors::CorsLayer;

#[rpc_service]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
}

struct Calculator;

impl Calc for Calculator {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        if b == 0.0 {
            return Err(RpcError::invalid_params("division by zero"));
        }
        Ok(a / b)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server = Server::new(CalcServer::new(Calculator));
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_static("https://app.example"))
        .allow_methods([Method::POST])
        .allow_headers([http::header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    // axum hands the nested service the path below `/rpc`, which is the service's
    // own path (`/`) with the default config.
    let app = Router::new()
        .route(
            "/",
            get(|| async { "the application's own page; JSON-RPC is on /rpc\n" }),
        )
        .nest_service("/rpc", server.http_service(HttpConfig::default()))
        .layer(cors);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
