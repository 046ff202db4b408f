//! Hostile WebSocket peers against `Server::serve_http`'s WebSocket upgrades, one
//! attack a test, as `tests/hostile_http.rs` runs HTTP's: bound to 127.0.0.1,
//! bounded in time and count, checking the close code on the wire, that another
//! WebSocket client is served meanwhile, and the server's heap before, during and
//! after (`cargo test --test hostile_websocket -- --nocapture` prints them).

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "support/raw_ws.rs"]
mod raw_ws;

use std::net::SocketAddr;
use std::time::Duration;

use hostile::{run, Memory, Running, KIB, MIB};
use raw_ws::{call, frame, until_close, upgrade, CONTINUATION, PING, TEXT};
use rpc::http::HttpConfig;
use rpc::{Client, ConnectionConfig, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep, timeout, Instant};

const LIMIT: Duration = Duration::from_secs(10);

/// A well-behaved WebSocket client, connected before the attack.
async fn good_client(addr: SocketAddr) -> Client {
    let client = Client::connect_ws(&format!("ws://{addr}/"), ConnectionConfig::default())
        .await
        .unwrap();
    served(&client).await;
    client
}

/// The well-behaved client's call is answered.
async fn served(client: &Client) {
    let answer: String = timeout(LIMIT, client.call("echo", &["still served"]))
        .await
        .expect("a well-behaved WebSocket client is answered during the attack")
        .unwrap();
    assert_eq!(answer, "still served");
}

#[test]
fn a_client_that_never_reads_while_calling_and_subscribing_is_cut_off() {
    run(async {
        // `write_stall_timeout` is 30 s by default and `max_buffered_bytes` 16 MiB;
        // 1 s and 1 MiB keep the test short and the bound tight.
        let config = ServerConfig {
            connection: ConnectionConfig {
                write_stall_timeout: Some(Duration::from_secs(1)),
                max_buffered_bytes: 1 << 20,
                ..ConnectionConfig::default()
            },
            ..ServerConfig::default()
        };
        let running = Running::http(config, HttpConfig::default()).await;
        let addr = running.addr;
        let good = good_client(addr).await;
        let params = format!(r#"["{}"]"#, "y".repeat(1024));
        let mut calls = Vec::new();
        for id in 0..4000 {
            calls.extend(call(id, "echo", &params));
        }
        // The attackers' bytes are made first, and shared: the heap counts the
        // server's.
        let calls = std::sync::Arc::new(calls);
        let memory = Memory::before(
            "WebSocket: 4,000 calls of 1 KiB and an endless subscription, never read, 4 connections",
        )
        .await;
        let attackers: Vec<_> = (0..4)
            .map(|_| {
                let calls = calls.clone();
                tokio::spawn(async move {
                    let mut socket = upgrade(addr).await;
                    socket
                        .write_all(&call(1_000_000, "subscribe_count", "[0, 0]"))
                        .await
                        .unwrap();
                    // The writes block once the server stops reading: bounded by
                    // time, and the server's cut-off.
                    let _ = timeout(LIMIT, socket.write_all(&calls)).await;
                    socket
                })
            })
            .collect();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            served(&good).await;
            sleep(Duration::from_millis(100)).await;
        }
        // The server cuts each off (its writes stalled), so only the good client's
        // connection is left.
        running.until_connections(1).await;
        for attacker in attackers {
            let mut socket = attacker.await.unwrap();
            // What was in flight to it, then the end of the stream: the close frame
            // could not be written to a client that does not read.
            let heard = until_close(&mut socket, LIMIT).await;
            assert!(!heard.texts.is_empty());
            assert!(heard.close.is_none(), "{:?}", heard.close);
        }
        // What it did not read is counted lost.
        assert!(running.server.metrics().answers_lost > 0);
        served(&good).await;
        drop(good);
        running.until_connections(0).await;
        // 1 MiB buffered per connection at most (`max_buffered_bytes`), the frame
        // being read, and the WebSocket's read and write buffers.
        memory.after(4 * 2 * MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn fragments_of_a_message_over_the_limit_close_with_1009() {
    run(async {
        // `websocket_max_message_bytes` is 1 MiB by default; 1 KiB keeps the
        // fragments small.
        let mut http = HttpConfig::default();
        http.websocket_max_message_bytes = 1024;
        let running = Running::http(ServerConfig::default(), http).await;
        let addr = running.addr;
        let good = good_client(addr).await;
        let memory =
            Memory::before("WebSocket: 20 messages in 600-byte fragments over a 1 KiB limit").await;
        let attackers: Vec<_> = (0..20)
            .map(|_| {
                tokio::spawn(async move {
                    let mut socket = upgrade(addr).await;
                    // Fragments within the limit make one message, answered.
                    let text = br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["in three"]}"#;
                    socket
                        .write_all(&frame(false, TEXT, &text[..20]))
                        .await
                        .unwrap();
                    socket
                        .write_all(&frame(false, CONTINUATION, &text[20..40]))
                        .await
                        .unwrap();
                    socket
                        .write_all(&frame(true, CONTINUATION, &text[40..]))
                        .await
                        .unwrap();
                    // Then a message of fragments, each within the limit, the
                    // whole over it: ten of 600 bytes, never finished.
                    let piece = vec![b'x'; 600];
                    let _ = socket.write_all(&frame(false, TEXT, &piece)).await;
                    for _ in 0..9 {
                        let _ = socket.write_all(&frame(false, CONTINUATION, &piece)).await;
                    }
                    until_close(&mut socket, LIMIT).await
                })
            })
            .collect();
        served(&good).await;
        for attacker in attackers {
            let heard = attacker.await.unwrap();
            assert_eq!(
                heard.texts,
                [r#"{"jsonrpc":"2.0","id":1,"result":"in three"}"#]
            );
            let (code, reason) = heard.close.expect("a close frame");
            assert_eq!(code, 1009, "{reason}");
            assert!(reason.contains("size limit"), "{reason}");
        }
        served(&good).await;
        running.until_connections(1).await;
        memory.after(20 * 64 * KIB, 64 * KIB).await;
        drop(good);
        running.stop().await;
    });
}

#[test]
fn a_ping_flood_is_answered_with_bounded_pongs_and_calls_go_on() {
    run(async {
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        let good = good_client(addr).await;
        // 20,000 pings of 125 bytes (the most a ping carries), then a call, written
        // before anything is read.
        let mut flood = Vec::new();
        for _ in 0..20_000 {
            flood.extend(frame(true, PING, &[b'p'; 125]));
        }
        flood.extend(call(1, "echo", r#"["after the flood"]"#));
        let flood = std::sync::Arc::new(flood);
        let memory = Memory::before(
            "WebSocket: 20,000 pings of 125 bytes unread, then a call, 4 connections",
        )
        .await;
        let attackers: Vec<_> = (0..4)
            .map(|_| {
                let flood = flood.clone();
                tokio::spawn(async move {
                    let mut socket = upgrade(addr).await;
                    timeout(LIMIT, socket.write_all(&flood))
                        .await
                        .expect("the server reads a flood of pings")
                        .unwrap();
                    // Then read: the pongs (at most one waits while the client does
                    // not read, each new ping's replacing it), then the answer.
                    let mut heard = raw_ws::Heard::default();
                    let started = Instant::now();
                    while heard.texts.is_empty() && started.elapsed() < LIMIT {
                        match timeout(LIMIT, raw_ws::read_frame(&mut socket)).await {
                            Ok(Some((raw_ws::PONG, _))) => heard.pongs += 1,
                            Ok(Some((TEXT, text))) => {
                                heard.texts.push(String::from_utf8(text).unwrap());
                            }
                            other => panic!("{other:?}"),
                        }
                    }
                    heard
                })
            })
            .collect();
        served(&good).await;
        for attacker in attackers {
            let heard = attacker.await.unwrap();
            assert_eq!(
                heard.texts,
                [r#"{"jsonrpc":"2.0","id":1,"result":"after the flood"}"#]
            );
            assert!((1..=20_000).contains(&heard.pongs), "{} pongs", heard.pongs);
            println!("{} pongs for 20,000 pings", heard.pongs);
        }
        served(&good).await;
        running.until_connections(1).await;
        memory.after(4 * 256 * KIB, 64 * KIB).await;
        drop(good);
        running.stop().await;
    });
}

#[test]
fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    run(async {
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        let good = good_client(addr).await;
        let memory = Memory::before(
            "WebSocket: invalid UTF-8 in text frames, whole and fragmented, 20 connections",
        )
        .await;
        let attackers: Vec<_> = (0..20)
            .map(|n| {
                tokio::spawn(async move {
                    let mut socket = upgrade(addr).await;
                    // 0xff and 0xfe are never UTF-8.
                    let mut bad =
                        br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[""#.to_vec();
                    bad.extend_from_slice(&[0xff, 0xfe]);
                    bad.extend_from_slice(br#""]}"#);
                    if n % 2 == 0 {
                        socket.write_all(&frame(true, TEXT, &bad)).await.unwrap();
                    } else {
                        // Split inside a code point's place: only the whole is
                        // checked.
                        socket
                            .write_all(&frame(false, TEXT, &bad[..50]))
                            .await
                            .unwrap();
                        socket
                            .write_all(&frame(true, CONTINUATION, &bad[50..]))
                            .await
                            .unwrap();
                    }
                    until_close(&mut socket, LIMIT).await
                })
            })
            .collect();
        served(&good).await;
        for attacker in attackers {
            let heard = attacker.await.unwrap();
            assert!(heard.texts.is_empty(), "{heard:?}");
            let (code, reason) = heard.close.expect("a close frame");
            // RFC 6455, 7.4.1: 1007, data inconsistent with the message's type.
            assert_eq!(code, 1007, "{reason}");
        }
        served(&good).await;
        running.until_connections(1).await;
        memory.after(20 * 64 * KIB, 64 * KIB).await;
        drop(good);
        running.stop().await;
    });
}

#[test]
fn a_close_without_a_close_frame_still_gets_its_answers_and_frees_the_connection() {
    run(async {
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        let good = good_client(addr).await;
        let memory = Memory::before(
            "WebSocket: 50 closes without a close frame (25 half-closes, 25 drops) mid-call",
        )
        .await;
        let attackers: Vec<_> = (0..50)
            .map(|n| {
                tokio::spawn(async move {
                    let mut socket = upgrade(addr).await;
                    socket.write_all(&call(1, "nap", "[300]")).await.unwrap();
                    if n % 2 == 1 {
                        // Gone: nothing to hear.
                        drop(socket);
                        return None;
                    }
                    // The TCP sending side closed, no close frame: the call was
                    // accepted, so its answer comes, then the server's close.
                    socket.shutdown().await.unwrap();
                    Some(until_close(&mut socket, LIMIT).await)
                })
            })
            .collect();
        served(&good).await;
        for attacker in attackers {
            let Some(heard) = attacker.await.unwrap() else {
                continue;
            };
            assert_eq!(
                heard.texts,
                [r#"{"jsonrpc":"2.0","id":1,"result":300}"#],
                "{heard:?}"
            );
            let (code, reason) = heard.close.expect("a close frame after the answer");
            assert_eq!(code, 1000, "{reason}");
        }
        served(&good).await;
        running.until_connections(1).await;
        memory.after(50 * 64 * KIB, 64 * KIB).await;
        drop(good);
        running.stop().await;
    });
}
