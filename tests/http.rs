//! JSON-RPC over HTTP POST: the status codes and limits on the wire (requests
//! written by hand, so nothing of ours sits on the client side), and the typed
//! client over `Client::connect_http`.

use std::sync::Arc;
use std::time::Duration;

use rpc::http::HttpConfig;
use rpc::{
    rpc_service, CallContext, Client, ConnectionConfig, ErrorCode, RpcError, Server, ServerConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
    #[rpc(notification)]
    async fn log(&self, line: String);
    async fn nap(&self, ms: u64) -> u64;
    async fn whoami(&self, cx: &CallContext) -> Option<String>;
    /// The request's `x-client` header, and the user a layer put in its extensions.
    async fn whois(&self, cx: &CallContext) -> (Option<String>, Option<String>);
}

/// What an authentication layer would put in a request's extensions.
#[derive(Clone)]
struct User(&'static str);

struct Impl;

impl Calc for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        if b == 0.0 {
            return Err(RpcError::invalid_params("division by zero"));
        }
        Ok(a / b)
    }
    async fn log(&self, _line: String) {}
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn whoami(&self, cx: &CallContext) -> Option<String> {
        cx.connection().remote_addr.map(|a| a.ip().to_string())
    }
    async fn whois(&self, cx: &CallContext) -> (Option<String>, Option<String>) {
        let header = cx
            .headers()
            .and_then(|h| h.get("x-client"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let user = cx
            .extensions()
            .and_then(|e| e.get::<User>())
            .map(|u| u.0.to_owned());
        (header, user)
    }
}

struct Running {
    server: Arc<Server>,
    addr: std::net::SocketAddr,
    serving: JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig, http: HttpConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::with_config(CalcServer::new(Impl), config));
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_http(listener, http).await })
    };
    Running {
        server,
        addr,
        serving,
    }
}

/// One HTTP/1.1 exchange on a fresh connection: the status, the head, the body.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    timeout(LIMIT, stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes")
        .unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn post(body: &str, content_type: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn the_status_codes_follow_the_rules() {
    let running = start(
        ServerConfig::default(),
        HttpConfig::default().max_body_bytes(256),
    )
    .await;
    let addr = running.addr;

    let (status, _, body) = exchange(
        addr,
        &post(
            r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}"#,
            "application/json",
        ),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"jsonrpc":"2.0","id":1,"result":5}"#)
    );

    // An error answer is still 200.
    let (status, _, body) = exchange(
        addr,
        &post(
            r#"{"jsonrpc":"2.0","id":2,"method":"nope"}"#,
            "application/json; charset=utf-8",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("-32601"), "{body}");

    // A notification, and a batch of notifications: empty 202.
    let (status, _, body) = exchange(
        addr,
        &post(
            r#"{"jsonrpc":"2.0","method":"log","params":["x"]}"#,
            "application/json",
        ),
    )
    .await;
    assert_eq!((status, body.as_str()), (202, ""));
    let (status, _, body) = exchange(addr, &post(r#"[{"jsonrpc":"2.0","method":"log","params":["x"]},{"jsonrpc":"2.0","method":"log","params":["y"]}]"#, "application/json")).await;
    assert_eq!((status, body.as_str()), (202, ""));

    // A batch answers one array.
    let (status, _, body) = exchange(addr, &post(r#"[{"jsonrpc":"2.0","id":1,"method":"add","params":[1,1]},{"jsonrpc":"2.0","method":"log","params":["x"]},{"jsonrpc":"2.0","id":2,"method":"add","params":[2,2]}]"#, "application/json")).await;
    assert_eq!(status, 200);
    let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.len(), 2, "{body}");

    // Another method: 405 with Allow.
    let (status, head, _) = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);
    assert!(head.contains("\r\nallow: post"), "{head}");

    // Another content type: 415.
    let (status, _, _) = exchange(
        addr,
        &post(
            r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}"#,
            "text/plain",
        ),
    )
    .await;
    assert_eq!(status, 415);

    // Over the body limit, by its declared length: 413 with a JSON-RPC error body.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"log","params":["{}"]}}"#,
        "x".repeat(400)
    );
    let (status, _, body) = exchange(addr, &post(&big, "application/json")).await;
    assert_eq!(status, 413);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], -32600, "{body}");
    assert_eq!(
        error["error"]["message"],
        "the request body is over the limit of 256 bytes"
    );
    // Asked to keep the connection: the 413 says it closes (the body was not read),
    // so that a pooling client does not send its next request on it.
    let keep_alive = post(&big, "application/json").replace("Connection: close\r\n", "");
    let (status, head, _) = exchange(addr, &keep_alive).await;
    assert_eq!(status, 413);
    assert!(head.contains("connection: close"), "{head}");

    // Over the limit with no declared length (chunked): refused while it streams in.
    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let (status, _, _) = exchange(addr, &chunked).await;
    assert_eq!(status, 413);

    // The health path, and a path that is neither.
    let (status, _, body) = exchange(
        addr,
        "GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, _) = exchange(
        addr,
        "POST /elsewhere HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);

    running.server.shutdown(Duration::from_secs(5)).await;
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_typed_client_works_unchanged_over_http() {
    let running = start(ServerConfig::default(), HttpConfig::default()).await;
    let url = format!("http://{}/", running.addr);
    let calc = CalcClient::new(Client::connect_http(&url, ConnectionConfig::default()).unwrap());

    assert_eq!(timeout(LIMIT, calc.add(2, 3)).await.unwrap().unwrap(), 5);
    let err = calc.divide(1.0, 0.0).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMS), "{err}");
    calc.log("over http".into()).await.unwrap();
    // Handlers see the HTTP client's address.
    assert_eq!(calc.whoami().await.unwrap().as_deref(), Some("127.0.0.1"));

    // Calls in flight at once, over the pooled connections.
    let calls: Vec<_> = (0..32)
        .map(|i| {
            let calc = calc.clone();
            tokio::spawn(async move { calc.add(i, 1).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let sum = timeout(LIMIT, call).await.unwrap().unwrap().unwrap();
        assert_eq!(sum, i as i64 + 1);
    }

    // A typed batch is one POST, answered with one array.
    let mut batch = calc.batch();
    let a = batch.add(1, 2);
    batch.log("in a batch".into());
    let b = batch.divide(1.0, 4.0);
    let mut answers = timeout(LIMIT, batch).await.unwrap().unwrap();
    assert_eq!(answers.take(a).unwrap(), 3);
    assert_eq!(answers.take(b).unwrap(), 0.25);

    running.server.shutdown(Duration::from_secs(5)).await;
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn http_errors_and_a_dead_server_fail_calls_at_once_with_what_happened() {
    let running = start(
        ServerConfig::default(),
        HttpConfig::default().max_body_bytes(64),
    )
    .await;
    let url = format!("http://{}/", running.addr);
    let calc = CalcClient::new(Client::connect_http(&url, ConnectionConfig::default()).unwrap());
    let long = "x".repeat(100);
    let big = CalcClient::new(Client::connect_http(&url, ConnectionConfig::default()).unwrap());
    let err = timeout(LIMIT, big.log(long.clone())).await.unwrap();
    assert!(
        err.is_ok(),
        "a notification over the limit is sent; the 413 has nobody to tell"
    );
    let raw = Client::connect_http(&url, ConnectionConfig::default()).unwrap();
    // 413 with its JSON-RPC body becomes that error, for the call that was too big.
    let err = timeout(LIMIT, raw.call::<_, ()>("log", &[long]))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_REQUEST), "{err}");
    assert_eq!(
        err.rpc_error().unwrap().message,
        "HTTP 413: the request body is over the limit of 64 bytes"
    );
    running.server.shutdown(Duration::from_secs(5)).await;
    running.serving.await.unwrap().unwrap();

    // Nobody listens any more: the call fails now, not at its deadline.
    let err = timeout(LIMIT, calc.add(1, 1)).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INTERNAL_ERROR), "{err}");
    assert!(
        err.rpc_error()
            .unwrap()
            .message
            .starts_with(&format!("HTTP request to {url} failed")),
        "{err}"
    );

    assert!(
        Client::connect_http("localhost:80", ConnectionConfig::default())
            .unwrap_err()
            .is_connect()
    );
}

#[tokio::test]
async fn over_the_connection_limit_the_answer_is_503_with_retry_after() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let running = start(config, HttpConfig::default()).await;
    // One keep-alive connection holds the only place.
    let mut held = TcpStream::connect(running.addr).await.unwrap();
    let keep = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,1]}"#;
    held.write_all(
        format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{keep}", keep.len()).as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 512];
    let n = timeout(LIMIT, held.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let (status, head, body) = exchange(running.addr, &post(keep, "application/json")).await;
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("\r\nretry-after: 1"), "{head}");
    assert!(
        body.contains("-32000") && body.contains("too many connections"),
        "{body}"
    );
    drop(held);
    running.server.shutdown(Duration::from_secs(5)).await;
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let running = start(ServerConfig::default(), HttpConfig::default()).await;
    let addr = running.addr;
    let slow = tokio::spawn(async move {
        exchange(
            addr,
            &post(
                r#"{"jsonrpc":"2.0","id":7,"method":"nap","params":[300]}"#,
                "application/json",
            ),
        )
        .await
    });
    // Let the request reach its handler.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = running.server.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained);
    let (status, _, body) = timeout(LIMIT, slow).await.unwrap().unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"jsonrpc":"2.0","id":7,"result":300}"#)
    );
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn handlers_see_the_request_s_headers_and_extensions() {
    use http_body_util::BodyExt;
    use tower::Service as _;

    let server = Server::new(CalcServer::new(Impl));
    // Nested in another application, the service is called with its requests.
    let mut service = server.http_service(HttpConfig::default());
    let frame = r#"{"jsonrpc":"2.0","id":1,"method":"whois"}"#;
    let mut request = http::Request::post("/")
        .header("content-type", "application/json")
        .header("x-client", "tester")
        .body(rpc::http::HttpBody::whole(bytes::Bytes::from_static(
            frame.as_bytes(),
        )))
        .unwrap();
    request.extensions_mut().insert(User("ada"));
    let response = timeout(LIMIT, service.call(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        br#"{"jsonrpc":"2.0","id":1,"result":["tester","ada"]}"#
    );

    // Over a socket too, and nothing for a call that did not come over HTTP.
    let running = start(ServerConfig::default(), HttpConfig::default()).await;
    let (_, _, body) = exchange(
        running.addr,
        &format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nX-Client: curl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{frame}",
            frame.len()
        ),
    )
    .await;
    assert_eq!(body, r#"{"jsonrpc":"2.0","id":1,"result":["curl",null]}"#);
    let answer = running.server.handle_frame(frame).await.unwrap();
    assert_eq!(
        &answer[..],
        br#"{"jsonrpc":"2.0","id":1,"result":[null,null]}"#
    );
    running.server.shutdown(Duration::from_secs(5)).await;
    running.serving.await.unwrap().unwrap();
}

#[allow(dead_code)] // the Python half is for other tests
#[path = "support/external.rs"]
mod external;

/// `curl -s -o /dev/null -w %{http_code} ARGS..`: the status curl saw.
fn curl_status(args: &[&str]) -> Option<String> {
    let output = match std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            external::missing("curl is not installed", "apt-get install curl");
            return None;
        }
    };
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn curl_sees_the_status_codes() {
    let running = start(
        ServerConfig::default(),
        HttpConfig::default().max_body_bytes(64),
    )
    .await;
    let url = format!("http://{}/", running.addr);
    let health = format!("http://{}/health", running.addr);
    let statuses = tokio::task::spawn_blocking(move || {
        let json = "content-type: application/json";
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]}"#;
        let note = r#"{"jsonrpc":"2.0","method":"log","params":["x"]}"#;
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"log","params":["{}"]}}"#,
            "x".repeat(100)
        );
        [
            curl_status(&["-H", json, "--data", call, &url]),
            curl_status(&["-H", json, "--data", note, &url]),
            curl_status(&[&url]),
            curl_status(&["-H", "content-type: text/plain", "--data", call, &url]),
            curl_status(&["-H", json, "--data", &big, &url]),
            curl_status(&[&health]),
            // HTTP/2 without TLS (prior knowledge), on the same port.
            curl_status(&["--http2-prior-knowledge", "-H", json, "--data", call, &url]),
        ]
    })
    .await
    .unwrap();
    if statuses.iter().any(Option::is_none) {
        return;
    }
    let statuses: Vec<String> = statuses.into_iter().flatten().collect();
    assert_eq!(statuses, ["200", "202", "405", "415", "413", "200", "200"]);
    running.server.shutdown(Duration::from_secs(5)).await;
    running.serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn over_the_server_s_in_flight_limit_a_request_is_answered_503_with_retry_after() {
    let config = ServerConfig {
        max_in_flight: 1,
        ..ServerConfig::default()
    };
    let running = start(config, HttpConfig::default()).await;
    let addr = running.addr;
    let nap = r#"{"jsonrpc":"2.0","id":1,"method":"nap","params":[600]}"#;
    let slow = tokio::spawn(async move { exchange(addr, &post(nap, "application/json")).await });
    tokio::time::sleep(Duration::from_millis(150)).await;

    let add = r#"{"jsonrpc":"2.0","id":2,"method":"add","params":[1,2]}"#;
    let (status, head, body) = exchange(addr, &post(add, "application/json")).await;
    assert_eq!(status, 503, "{head}{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(
        body.starts_with(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32000"#)
            && body.contains("retry later"),
        "{body}"
    );
    // A notification refused is not a silent 202.
    let log = r#"{"jsonrpc":"2.0","method":"log","params":["x"]}"#;
    let (status, _, body) = exchange(addr, &post(log, "application/json")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("-32000"), "{body}");

    // The slow call was answered, and its place is free again.
    let (status, _, body) = timeout(LIMIT, slow).await.unwrap().unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"jsonrpc":"2.0","id":1,"result":600}"#)
    );
    let (status, _, _) = exchange(addr, &post(add, "application/json")).await;
    assert_eq!(status, 200);
    running.server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_pool_that_rejects_when_full_answers_503_over_http() {
    let config = ServerConfig {
        default_pool: rpc::WorkerPoolConfig {
            workers: 1,
            queue: 0,
            overload: rpc::OverloadPolicy::Reject,
        },
        ..ServerConfig::default()
    };
    let running = start(config, HttpConfig::default()).await;
    let addr = running.addr;
    let nap = r#"{"jsonrpc":"2.0","id":1,"method":"nap","params":[600]}"#;
    let slow = tokio::spawn(async move { exchange(addr, &post(nap, "application/json")).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let add = r#"{"jsonrpc":"2.0","id":2,"method":"add","params":[1,2]}"#;
    let (status, head, body) = exchange(addr, &post(add, "application/json")).await;
    assert_eq!(status, 503, "{head}{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(
        body.contains(r#""id":2"#) && body.contains("-32000"),
        "{body}"
    );
    assert_eq!(timeout(LIMIT, slow).await.unwrap().unwrap().0, 200);
    running.server.shutdown(Duration::from_secs(5)).await;
}
