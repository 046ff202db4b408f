//! The server's metrics through the `metrics` facade, scraped as Prometheus text from
//! `GET /metrics` on the HTTP server, as the `metrics_prometheus` example serves them
//! (its route module is this test's too): names, labels, and exact counts.

#[path = "../examples/metrics_prometheus/scrape.rs"]
mod scrape;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use rpc::http::HttpConfig;
use rpc::prelude::*;
use rpc::transport::tcp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service(namespace = "shop")]
pub trait Shop {
    async fn total(&self, cents: u64, count: u64) -> Result<u64, RpcError>;
    #[rpc(timeout = "20ms")]
    async fn stall(&self);
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
}

/// The body of `GET path` (HTTP/1.1, the connection closed after it) and its head.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(LIMIT, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The samples of a scrape, by `name{labels}` as rendered.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').unwrap();
            (key.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_calls_errors_latency_connections_and_bytes_by_method_and_transport() {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.01, 0.1, 1.0])
        .unwrap()
        .install_recorder()
        .unwrap();
    let server = Arc::new(Server::new(ShopServer::new(Till)));
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let tcp_listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let tcp_addr = tcp_listener.local_addr().unwrap();
    let layer = {
        let server = server.clone();
        scrape::MetricsLayer::new(handle, move || server.publish_metrics())
    };
    let serving_http = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .serve_http_with_layer(http, HttpConfig::default(), layer)
                .await
        })
    };
    let serving_tcp = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_tcp(&tcp_listener).await })
    };

    let over_http = ShopClient::new(
        Client::connect_http(&format!("http://{http_addr}/"), ConnectionConfig::default()).unwrap(),
    );
    for count in 1..=3 {
        assert_eq!(over_http.total(100, count).await.unwrap(), 100 * count);
    }
    assert!(over_http.total(u64::MAX, 2).await.unwrap_err().is_rpc());
    let tcp_client = Client::connect_tcp(tcp_addr, Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap();
    let over_tcp = ShopClient::new(tcp_client.clone());
    assert_eq!(over_tcp.total(7, 6).await.unwrap(), 42);
    let err = over_tcp.stall().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TIMEOUT), "{err}");
    let err = tcp_client
        .call::<_, u64>("shop.nothing", &())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::METHOD_NOT_FOUND), "{err}");

    let (head, body) = get(http_addr, scrape::PATH).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let s = samples(&body);
    let at = |key: &str| {
        *s.get(key)
            .unwrap_or_else(|| panic!("no sample {key} in the scrape:\n{body}"))
    };
    assert_eq!(
        at(r#"rpc_server_calls_total{method="shop.total",transport="http"}"#),
        4.0
    );
    assert_eq!(
        at(r#"rpc_server_calls_total{method="shop.total",transport="tcp"}"#),
        1.0
    );
    assert_eq!(
        at(r#"rpc_server_calls_total{method="shop.stall",transport="tcp"}"#),
        1.0
    );
    assert_eq!(
        at(r#"rpc_server_errors_total{method="shop.total",transport="http",code="-32602"}"#),
        1.0
    );
    assert_eq!(
        at(r#"rpc_server_errors_total{method="shop.stall",transport="tcp",code="-32001"}"#),
        1.0
    );
    assert_eq!(
        at(r#"rpc_server_call_duration_seconds_count{method="shop.total",transport="http"}"#),
        4.0
    );
    // The stalled call took its 20 ms deadline: in the 0.1 s bucket, not the 0.01 s.
    let stall = r#"method="shop.stall",transport="tcp""#;
    assert_eq!(
        at(&format!(
            r#"rpc_server_call_duration_seconds_bucket{{{stall},le="0.01"}}"#
        )),
        0.0
    );
    assert_eq!(
        at(&format!(
            r#"rpc_server_call_duration_seconds_bucket{{{stall},le="0.1"}}"#
        )),
        1.0
    );
    assert!(at(&format!("rpc_server_call_duration_seconds_sum{{{stall}}}")) >= 0.02);
    assert_eq!(at("rpc_server_timeouts_total"), 1.0);
    assert_eq!(at("rpc_server_unknown_methods_total"), 1.0);
    assert_eq!(at("rpc_server_calls_in_flight"), 0.0);
    // The TCP client is still connected; the HTTP connections are the scrape's own
    // and the HTTP client's keep-alive one.
    assert_eq!(at(r#"rpc_server_connections{transport="tcp"}"#), 1.0);
    assert!(at(r#"rpc_server_connections{transport="http"}"#) >= 1.0);
    assert!(at(r#"rpc_server_received_bytes_total{transport="tcp"}"#) > 0.0);
    assert!(at(r#"rpc_server_sent_bytes_total{transport="http"}"#) > 0.0);
    assert!(at("rpc_buffer_pool_hits_total") + at("rpc_buffer_pool_misses_total") > 0.0);
    assert!(
        body.contains("# TYPE rpc_server_call_duration_seconds histogram"),
        "{body}"
    );
    assert!(body.contains("# HELP rpc_server_calls_total "), "{body}");

    // The same figures in the server's own snapshot.
    let snapshot = server.metrics();
    assert_eq!(snapshot.method("shop.total").unwrap().calls, 5);
    assert_eq!(snapshot.method("shop.total").unwrap().errors, 1);

    // Other paths are JSON-RPC's.
    let (_, body) = get(http_addr, "/").await;
    assert!(!body.contains("rpc_server"), "{body}");

    tcp_client.close();
    server.shutdown(Duration::from_secs(5)).await;
    serving_http.await.unwrap().unwrap();
    serving_tcp.await.unwrap().unwrap();
}
