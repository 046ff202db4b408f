//! JSON-RPC over WebSocket on the HTTP server's port and path: a stream peer's
//! semantics (calls in flight, server-to-client calls), and the WebSocket's rules
//! (pings, close frames with a reason: 1001 for a silent client, 1009 for a message
//! over the size limit).

use std::sync::Arc;
use std::time::Duration;

use rpc::http::HttpConfig;
use rpc::{rpc_service, CallContext, Client, ConnectionConfig, RpcError, Server};
use tokio::net::TcpListener;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Echo {
    async fn echo(&self, text: String) -> String;
    async fn nap(&self, ms: u64) -> u64;
    /// Asks the caller for a number, over the same WebSocket.
    async fn ask(&self, cx: &CallContext) -> Result<u64, RpcError>;
}

#[rpc_service]
pub trait Answerer {
    async fn number(&self) -> u64;
}

struct Impl;

impl Echo for Impl {
    async fn echo(&self, text: String) -> String {
        text
    }
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn ask(&self, cx: &CallContext) -> Result<u64, RpcError> {
        let peer = cx.peer().ok_or_else(|| RpcError::internal("no peer"))?;
        AnswererClient::new(peer)
            .number()
            .await
            .map_err(|e| RpcError::internal(e.to_string()))
    }
}

struct FortyTwo;

impl Answerer for FortyTwo {
    async fn number(&self) -> u64 {
        42
    }
}

async fn start(
    http: HttpConfig,
) -> (
    Arc<Server>,
    String,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(EchoServer::new(Impl)));
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_http(listener, http).await })
    };
    (server, format!("ws://{addr}/"), serving)
}

#[tokio::test]
async fn a_websocket_peer_pipelines_calls_and_is_called_back() {
    let (server, url, serving) = start(HttpConfig::default()).await;

    // This end serves `Answerer` and calls `Echo`, over one WebSocket.
    let pipe = Client::connect_ws_pipe(&url).await.unwrap();
    let ours = Server::new(AnswererServer::new(FortyTwo));
    let peer = ours.serve_connection(pipe);
    let echo = EchoClient::new(peer.clone());

    assert_eq!(
        timeout(LIMIT, echo.echo("hi".into()))
            .await
            .unwrap()
            .unwrap(),
        "hi"
    );
    assert_eq!(timeout(LIMIT, echo.ask()).await.unwrap().unwrap(), 42);

    // Many calls in flight at once; the short ones are not held behind the long one.
    let slow = {
        let echo = echo.clone();
        tokio::spawn(async move { echo.nap(300).await })
    };
    let quick: Vec<_> = (0..16)
        .map(|i| {
            let echo = echo.clone();
            tokio::spawn(async move { echo.echo(format!("m{i}")).await })
        })
        .collect();
    for (i, q) in quick.into_iter().enumerate() {
        assert_eq!(
            timeout(LIMIT, q).await.unwrap().unwrap().unwrap(),
            format!("m{i}")
        );
    }
    assert!(!slow.is_finished(), "a quick call waited for the slow one");
    assert_eq!(timeout(LIMIT, slow).await.unwrap().unwrap().unwrap(), 300);

    peer.close();
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_answers_calls_in_flight_then_closes_the_websocket() {
    let (server, url, serving) = start(HttpConfig::default()).await;
    let client = Client::connect_ws(&url, ConnectionConfig::default())
        .await
        .unwrap();
    let echo = EchoClient::new(client.clone());
    assert_eq!(echo.echo("warm".into()).await.unwrap(), "warm");
    let slow = {
        let echo = echo.clone();
        tokio::spawn(async move { echo.nap(200).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = timeout(LIMIT, server.shutdown(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(report.drained);
    // The call in flight got its answer before the close.
    assert_eq!(timeout(LIMIT, slow).await.unwrap().unwrap().unwrap(), 200);
    timeout(LIMIT, client.closed())
        .await
        .expect("the WebSocket closes after draining");
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_websocket_and_fails_its_calls() {
    let mut config = HttpConfig::default();
    config.websocket_max_message_bytes = 1024;
    let (server, url, serving) = start(config).await;
    let client = Client::connect_ws(&url, ConnectionConfig::default())
        .await
        .unwrap();
    let echo = EchoClient::new(client.clone());
    assert_eq!(echo.echo("small".into()).await.unwrap(), "small");
    let err = timeout(LIMIT, echo.echo("x".repeat(4096)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_connection_closed(), "{err}");
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_refused_handshake_names_the_url() {
    let (server, url, serving) = start(HttpConfig::default()).await;
    let wrong = format!("{url}elsewhere");
    let err = Client::connect_ws(&wrong, ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(err.to_string().contains(&wrong), "{err}");
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

/// Upgrades a plain socket to a WebSocket on `addr` by hand, so that a test can send
/// and read raw frames (and answer no ping).
fn raw_websocket(addr: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        socket,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            socket.read(&mut byte).unwrap(),
            1,
            "the server closed the upgrade"
        );
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "not upgraded");
    socket
}

/// Reads one unmasked frame from the server: its opcode and payload.
fn read_frame(socket: &mut std::net::TcpStream) -> (u8, Vec<u8>) {
    use std::io::Read;
    let mut head = [0u8; 2];
    socket.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut len = [0u8; 2];
            socket.read_exact(&mut len).unwrap();
            usize::from(u16::from_be_bytes(len))
        }
        len => usize::from(len),
    };
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

/// Reads frames until a close frame; returns the pings seen before it and the
/// close's code and reason.
fn until_close(socket: &mut std::net::TcpStream) -> (usize, u16, String) {
    let mut pings = 0;
    loop {
        match read_frame(socket) {
            (0x9, _) => pings += 1,
            (0x8, payload) => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (pings, code, String::from_utf8_lossy(&payload[2..]).into());
            }
            (opcode, _) => panic!("unexpected frame with opcode {opcode:#x}"),
        }
    }
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_closed_with_1001() {
    let mut config = HttpConfig::default();
    config.websocket_ping_interval = Some(Duration::from_millis(50));
    config.websocket_idle_timeout = Some(Duration::from_millis(400));
    let (server, url, serving) = start(config).await;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let (pings, code, reason) = tokio::task::spawn_blocking(move || {
        let mut socket = raw_websocket(&addr);
        until_close(&mut socket)
    })
    .await
    .unwrap();
    assert!(pings >= 3, "{pings} pings before the close");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("idle timeout"), "{reason}");
    assert_eq!(server.metrics().timed_out_connections, 1);
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_message_over_the_limit_is_answered_by_a_close_with_1009() {
    use std::io::Write;
    let mut config = HttpConfig::default();
    config.websocket_max_message_bytes = 1024;
    let (server, url, serving) = start(config).await;
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .to_owned();
    let (_, code, reason) = tokio::task::spawn_blocking(move || {
        let mut socket = raw_websocket(&addr);
        // A masked text frame announcing 2,000 bytes: refused from its header.
        let mut frame = vec![0x81, 0x80 | 126];
        frame.extend_from_slice(&2000u16.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend(std::iter::repeat_n(b'x' ^ 1, 2000));
        socket.write_all(&frame).unwrap();
        until_close(&mut socket)
    })
    .await
    .unwrap();
    assert_eq!(code, 1009, "{reason}");
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}
