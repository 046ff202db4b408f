//! Prometheus metrics of a JSON-RPC server, on the same HTTP port: `POST /` is
//! JSON-RPC, `GET /metrics` the Prometheus text of every call, error, latency,
//! connection and byte the server recorded (through the `metrics` facade, with
//! metrics-exporter-prometheus's recorder).
//!
//! `cargo run -p rpc-examples --features prometheus --example metrics_prometheus`
//! serves on an ephemeral port, makes a few calls, scrapes itself and prints the
//! `rpc_` lines; `-- --listen 127.0.0.1:9898` serves until stopped, for a real
//! Prometheus (`scrape_configs: [{job_name: rpc, static_configs: [{targets:
//! ["127.0.0.1:9898"]}]}]`).

mod scrape;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use rpc::http::HttpConfig;
use rpc::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[rpc_service(namespace = "shop")]
pub trait Shop {
    /// The price of `count` items at `cents` each.
    async fn total(&self, cents: u64, count: u64) -> Result<u64, RpcError>;
    /// Waits `millis` ms (a slow call, for the latency histogram).
    async fn wait(&self, millis: u64) -> u64;
}

struct Till;

impl Shop for Till {
    async fn total(&self, cents: u64, count: u64) -> Result<u64, RpcError> {
        cents
            .checked_mul(count)
            .ok_or_else(|| RpcError::invalid_params("the total does not fit in a u64"))
    }

    async fn wait(&self, millis: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        millis
    }
}

/// Latency buckets, in seconds: 50 µs to about 6.5 s, doubling (rendered as a
/// Prometheus histogram rather than the exporter's default summary).
fn buckets() -> Vec<f64> {
    (0..18).map(|i| 50e-6 * f64::from(1u32 << i)).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [] => None,
        [flag, addr] if flag == "--listen" => Some(addr.clone()),
        _ => {
            eprintln!("usage: metrics_prometheus [--listen HOST:PORT]");
            std::process::exit(2);
        }
    };
    // The recorder first: the server registers its handles on first use.
    let handle = PrometheusBuilder::new()
        .set_buckets(&buckets())?
        .install_recorder()?;
    let server = Arc::new(Server::new(ShopServer::new(Till)));
    let listener =
        tokio::net::TcpListener::bind(listen.as_deref().unwrap_or("127.0.0.1:0")).await?;
    let addr = listener.local_addr()?;
    let layer = {
        let server = server.clone();
        scrape::MetricsLayer::new(handle, move || server.publish_metrics())
    };
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .serve_http_with_layer(listener, HttpConfig::default(), layer)
                .await
        })
    };
    println!(
        "JSON-RPC on http://{addr}/, metrics on http://{addr}{}",
        scrape::PATH
    );
    if listen.is_some() {
        // Until the process is stopped.
        return Ok(serving.await??);
    }

    let shop = ShopClient::new(Client::connect_http(
        &format!("http://{addr}/"),
        ConnectionConfig::default(),
    )?);
    for count in 1..=3 {
        shop.total(250, count).await?;
    }
    let err = shop.total(u64::MAX, 2).await.unwrap_err();
    println!("an error, to be counted: {err}");
    shop.wait(20).await?;

    for line in get(addr, scrape::PATH).await?.lines() {
        if line.starts_with("rpc_server_calls_total")
            || line.starts_with("rpc_server_errors_total")
            || line.starts_with("rpc_server_call_duration_seconds_count")
            || line.starts_with("rpc_server_call_duration_seconds_sum")
            || line.starts_with("rpc_server_received_bytes_total")
        {
            println!("{line}");
        }
    }
    println!("the server's own snapshot:\n{}", server.metrics());
    server.shutdown(Duration::from_secs(5)).await;
    Ok(serving.await??)
}

/// The body of `GET path` on `addr` (HTTP/1.1, one request, the connection closed
/// after it).
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_owned()))
}
