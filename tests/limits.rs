//! Limits against hostile peers, one test each, over loopback TCP where the limit is
//! about connections: frame size, batch length, nesting depth, connections per server,
//! idle connections, peers that trickle a frame, and calls in flight across the server. (Calls in flight per connection and
//! clients that never read are covered in tests/pipeline.rs.)

use std::sync::Arc;
use std::time::Duration;

use rpc::framing::{Framing, NdjsonCodec};
use rpc::message::{ParseLimits, MAX_DEPTH};
use rpc::service::{MethodInfo, Router};
use rpc::transport::tcp;
use rpc::{ConnectionConfig, ErrorCode, Server, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// No step of these tests should take longer.
const LIMIT: Duration = Duration::from_secs(20);

fn router() -> Router {
    Router::new()
        .method(MethodInfo::new("echo"), |call| async move {
            call.respond(&call.params().unwrap_or("null").len())
        })
        .method(MethodInfo::new("sleep"), |call| async move {
            let (ms,): (u64,) = call.decode_params()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            call.respond(&ms)
        })
}

/// Starts `server` on a loopback port; the accept loop ends with the test's runtime.
async fn listen(server: Arc<Server>, framing: impl Into<rpc::framing::FrameCodec>) -> String {
    let listener = tcp::Listener::bind("127.0.0.1:0", framing).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { server.serve_tcp(&listener).await });
    addr
}

/// A newline-delimited JSON-RPC peer that we drive byte by byte.
struct Line {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Line {
    async fn connect(addr: &str) -> Line {
        let (reader, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Line {
            reader: BufReader::new(reader),
            writer,
        }
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    /// The next message, or `None` when the server closed the connection.
    async fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        let read = timeout(LIMIT, self.reader.read_line(&mut line))
            .await
            .expect("the server answers or closes in time");
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&line).unwrap()),
        }
    }

    /// Waits for the server to close the connection, reading anything before that.
    async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut sink = Vec::new();
        matches!(
            timeout(wait, self.reader.read_to_end(&mut sink)).await,
            Ok(Ok(_) | Err(_))
        )
    }
}

#[tokio::test]
async fn oversized_frame_gets_an_error_and_the_next_frame_is_served() {
    let server = Arc::new(Server::new(router()));
    let addr = listen(server, NdjsonCodec::with_max_frame_len(1024)).await;
    let mut peer = Line::connect(&addr).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#,
        "x".repeat(4096)
    );
    peer.send(&big).await;
    let err = peer.recv().await.unwrap();
    assert_eq!(err["error"]["code"], ErrorCode::INVALID_REQUEST.0);
    assert!(err["error"]["message"].as_str().unwrap().contains("1024"));
    peer.send(r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":2}"#)
        .await;
    assert_eq!(peer.recv().await.unwrap()["result"], 3);
}

#[tokio::test]
async fn batch_over_the_limit_is_refused_whole() {
    let config = ServerConfig {
        connection: ConnectionConfig {
            parse_limits: ParseLimits {
                max_batch_len: 4,
                ..ParseLimits::default()
            },
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router(), config));
    let addr = listen(server.clone(), Framing::Ndjson).await;
    let mut peer = Line::connect(&addr).await;
    let call = r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}"#;
    peer.send(&format!("[{}]", [call; 5].join(","))).await;
    let err = peer.recv().await.unwrap();
    assert_eq!(err["error"]["code"], ErrorCode::INVALID_REQUEST.0);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit of 4"));
    // Nothing of the refused batch ran; a batch within the limit does.
    assert_eq!(server.metrics().method("echo").unwrap().calls, 0);
    peer.send(&format!("[{}]", [call; 4].join(","))).await;
    assert_eq!(peer.recv().await.unwrap().as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn nesting_deeper_than_the_limit_is_an_invalid_request() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let frame = |depth: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"echo","params":[{}],"id":1}}"#,
            nested(depth)
        )
    };
    // The default: serde_json's own limit, reported as a limit and not as bad JSON.
    let server = Arc::new(Server::new(router()));
    let addr = listen(server, Framing::Ndjson).await;
    let mut peer = Line::connect(&addr).await;
    peer.send(&frame(MAX_DEPTH + 10)).await;
    let err = peer.recv().await.unwrap();
    assert_eq!(err["error"]["code"], ErrorCode::INVALID_REQUEST.0);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("limit of {MAX_DEPTH} levels")));
    // A lower configured limit; brackets inside strings do not count.
    let config = ServerConfig {
        connection: ConnectionConfig {
            parse_limits: ParseLimits {
                max_depth: Some(8),
                ..ParseLimits::default()
            },
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router(), config));
    let addr = listen(server, Framing::Ndjson).await;
    let mut peer = Line::connect(&addr).await;
    // Message object + params array + 6 = 8 levels: accepted.
    peer.send(&frame(6)).await;
    assert!(peer.recv().await.unwrap().get("result").is_some());
    peer.send(&frame(7)).await;
    let err = peer.recv().await.unwrap();
    assert_eq!(err["error"]["code"], ErrorCode::INVALID_REQUEST.0);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit of 8 levels"));
    let in_string = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":["{}\"[[[["],"id":2}}"#,
        "[{".repeat(50)
    );
    peer.send(&in_string).await;
    assert!(peer.recv().await.unwrap().get("result").is_some());
}

#[tokio::test]
async fn connections_over_the_limit_are_answered_and_closed() {
    let config = ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router(), config));
    let addr = listen(server.clone(), Framing::Ndjson).await;
    let ping = r#"{"jsonrpc":"2.0","method":"echo","params":[],"id":1}"#;
    let mut first = Line::connect(&addr).await;
    let mut second = Line::connect(&addr).await;
    for peer in [&mut first, &mut second] {
        peer.send(ping).await;
        assert_eq!(peer.recv().await.unwrap()["result"], 2);
    }
    // The third gets one error with id null, then the end of the stream.
    let mut third = Line::connect(&addr).await;
    let err = third.recv().await.expect("an error before the close");
    assert_eq!(err["id"], Value::Null);
    assert_eq!(err["error"]["code"], ErrorCode::SERVER_OVERLOADED.0);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 2"));
    assert!(third.recv().await.is_none());
    assert_eq!(server.metrics().refused_connections, 1);
    // Once one leaves, a new connection is served.
    drop(first);
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut again = Line::connect(&addr).await;
        again.send(ping).await;
        match again.recv().await {
            Some(answer) if answer.get("result").is_some() => break,
            _ => {
                assert!(Instant::now() < deadline, "a freed slot was never reused");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    second.send(ping).await;
    assert_eq!(second.recv().await.unwrap()["result"], 2);
}

#[tokio::test]
async fn idle_connections_are_closed_but_busy_ones_are_not() {
    let config = ServerConfig {
        accepted_idle_timeout: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router(), config));
    let addr = listen(server.clone(), Framing::Ndjson).await;

    // Quiet from the start: closed once the idle time has passed.
    let started = Instant::now();
    let mut quiet = Line::connect(&addr).await;
    assert!(quiet.closed_within(LIMIT).await);
    assert!(started.elapsed() >= Duration::from_millis(200));

    // A call that runs four times the idle time keeps its connection, and is answered.
    let mut busy = Line::connect(&addr).await;
    busy.send(r#"{"jsonrpc":"2.0","method":"sleep","params":[800],"id":7}"#)
        .await;
    let answer = busy.recv().await.expect("answered before any idle close");
    assert_eq!(answer["result"], 800);
    // Then, quiet again, it is closed too.
    assert!(busy.closed_within(LIMIT).await);
    assert_eq!(server.metrics().timed_out_connections, 2);
}

#[tokio::test]
async fn a_frame_trickled_byte_by_byte_is_cut_off() {
    let config = ServerConfig {
        connection: ConnectionConfig {
            frame_timeout: Some(Duration::from_millis(300)),
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router(), config));
    let addr = listen(server.clone(), Framing::ContentLength).await;

    // A whole frame sent slowly but within the limit is served.
    let (mut reader, mut writer) = TcpStream::connect(&addr).await.unwrap().into_split();
    let body = r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}"#;
    let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
    let (head, tail) = frame.split_at(10);
    writer.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    writer.write_all(tail.as_bytes()).await.unwrap();
    let mut got = vec![0u8; 64];
    let n = timeout(LIMIT, reader.read(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&got[..n]).contains(r#""result":3"#));

    // One byte every 100 ms: the frame never completes in time and the server hangs up.
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for byte in frame.bytes() {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut rest = Vec::new();
    let closed = timeout(LIMIT, reader.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the trickling connection");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(rest.is_empty(), "nothing was answered: {rest:?}");
    assert_eq!(server.metrics().timed_out_connections, 1);
    trickle.abort();
}

#[tokio::test]
async fn the_server_s_in_flight_limit_holds_back_stream_connections_without_refusing() {
    let config = ServerConfig {
        max_in_flight: 1,
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router(), config));
    let addr = listen(server, Framing::Ndjson).await;
    let mut first = Line::connect(&addr).await;
    let mut second = Line::connect(&addr).await;
    first
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"sleep","params":[300]}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    second
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"sleep","params":[0]}"#)
        .await;
    // The second connection's call waits for the first's place, then is answered.
    let answer = second.recv().await.expect("an answer");
    assert_eq!(answer["result"], 0, "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(first.recv().await.expect("an answer")["result"], 300);
}
