//! The limits of the HTTP and WebSocket clients (`HttpClientConfig`) that
//! `tests/http_client.rs` does not reach: the connect timeout (a WebSocket upgrade
//! that is never answered), the pool's idle timeout and size, the largest answer
//! over a WebSocket, and the WebSocket client's keep-alive against a server that
//! goes silent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rpc::http::{HttpClientConfig, HttpConfig};
use rpc::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout, Instant};

const LIMIT: Duration = Duration::from_secs(10);

fn service() -> Router {
    Router::new()
        .method(MethodInfo::new("echo"), |call| async move {
            let (text,): (String,) = call.decode_params()?;
            call.respond(&text)
        })
        .method(MethodInfo::new("nap"), |call| async move {
            let (ms,): (u64,) = call.decode_params()?;
            sleep(Duration::from_millis(ms)).await;
            call.respond(&ms)
        })
}

async fn start() -> (Arc<Server>, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(service()));
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_http(listener, HttpConfig::default()).await });
    (server, addr)
}

/// Waits until the server counts `n` open connections.
async fn until_connections(server: &Server, n: i64) {
    let deadline = Instant::now() + LIMIT;
    while server.metrics().connections != n {
        assert!(
            Instant::now() < deadline,
            "the server counts {} connections, not {n}",
            server.metrics().connections
        );
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_websocket_upgrade_never_answered_fails_at_the_connect_timeout() {
    // A listener that accepts and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("ws://{addr}/");
    // 10 s by default.
    let http = HttpClientConfig::default().connect_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let err = timeout(
        LIMIT,
        Client::connect_ws_with(&url, ConnectionConfig::default(), &http),
    )
    .await
    .expect("the connect timeout ends the wait")
    .unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    silent.abort();
}

#[tokio::test]
async fn the_pool_closes_idle_connections_and_keeps_at_most_its_size() {
    let (server, addr) = start().await;
    let url = format!("http://{addr}/");
    // 90 s and 1024 by default.
    let mut http = HttpClientConfig::default();
    http.pool_idle_timeout = Some(Duration::from_millis(300));
    http.pool_max_idle_per_host = 1;
    let client = Client::connect_http_with(&url, ConnectionConfig::default(), http).unwrap();
    // Four calls at once over HTTP/1.1: four connections.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let client = client.clone();
        calls.spawn(async move { client.call::<_, u64>("nap", &[200]).await });
    }
    while let Some(done) = timeout(LIMIT, calls.join_next()).await.unwrap() {
        assert_eq!(done.unwrap().unwrap(), 200);
    }
    // One is kept; the others close as they come back to the pool.
    until_connections(&server, 1).await;
    // Then the kept one closes once idle for 300 ms (the server would keep it 30 s).
    until_connections(&server, 0).await;
    // And the next call opens one again.
    let answer: String = timeout(LIMIT, client.call("echo", &["again"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, "again");
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_websocket_answer_over_the_client_s_limit_closes_with_1009_and_fails_its_call() {
    let (server, addr) = start().await;
    let url = format!("ws://{addr}/");
    // 4 MiB by default.
    let http = HttpClientConfig::default().max_answer_bytes(1024);
    let client = Client::connect_ws_with(&url, ConnectionConfig::default(), &http)
        .await
        .unwrap();
    let small: String = timeout(LIMIT, client.call("echo", &["small"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(small, "small");
    let err = timeout(LIMIT, client.call::<_, String>("echo", &["x".repeat(4096)]))
        .await
        .expect("the call fails")
        .unwrap_err();
    assert!(err.is_connection_closed(), "{err}");
    // The client closed the WebSocket.
    until_connections(&server, 0).await;
    server.shutdown(Duration::from_secs(5)).await;
}

/// Forwards connections to `upstream`, but from the server only until the end of
/// the upgrade's answer: after it the client hears nothing (no pong, no answer).
async fn muting_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if server_read.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                client_write.write_all(&head).await.unwrap();
                // Then swallow what the server sends.
                let _ = tokio::io::copy(&mut server_read, &mut tokio::io::sink()).await;
                drop(client_write);
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_silent_websocket_server_is_pinged_then_closed_and_the_calls_fail() {
    let (server, addr) = start().await;
    let url = format!("ws://{}/", muting_proxy(addr).await);
    // Pings every 30 s and 90 s of silence by default.
    let http = HttpClientConfig::default().ws_keep_alive(
        Some(Duration::from_millis(50)),
        Some(Duration::from_millis(400)),
    );
    let client = Client::connect_ws_with(&url, ConnectionConfig::default(), &http)
        .await
        .unwrap();
    let started = Instant::now();
    // The server answers, but the answer never comes through: the client's
    // idle timeout ends the wait, not the call's own 30 s.
    let err = timeout(LIMIT, client.call::<_, u64>("nap", &[1]))
        .await
        .expect("the idle timeout fails the call")
        .unwrap_err();
    assert!(err.is_connection_closed(), "{err}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "failed after {took:?}");
    server.shutdown(Duration::from_secs(5)).await;
}
