//! Heap allocations per request of the HTTP server in steady state: keep-alive POSTs
//! of one call each, one at a time, from a client written by hand on raw bytes that
//! allocates nothing per request, so the count is the server's alone (hyper's
//! connection, our service, the call). Everything runs on a current-thread runtime,
//! so one thread's count holds it all.
//!
//! The budget is the figure reached (printed with `--nocapture`); lower it when the
//! path gets leaner. What is left per request: hyper's (its body channel, the
//! response's header map, its header-read timer), the service's boxed future (a
//! `tower::Service` future must be nameable), the exchange (its slot, the token that
//! tells its caller went away, its oneshot), and the allocation a call is tried in
//! (`ServerConfig::run_ready_calls_inline`).

use std::sync::Arc;

use rpc::http::HttpConfig;
use rpc::{rpc_service, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

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

const WARM_UP: u64 = 200;
const COUNTED: u64 = 1_000;
const BUDGET: f64 = 12.1;

/// Sends one keep-alive POST and reads its whole response into `input` (reused);
/// returns the response's body.
async fn post<'a>(stream: &mut TcpStream, request: &[u8], input: &'a mut Vec<u8>) -> &'a [u8] {
    stream.write_all(request).await.unwrap();
    input.clear();
    loop {
        if let Some(end) = complete(input) {
            return &input[end.0..end.1];
        }
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed a keep-alive connection");
        input.extend_from_slice(&chunk[..n]);
    }
}

/// Where the body of a complete response in `raw` starts and ends.
fn complete(raw: &[u8]) -> Option<(usize, usize)> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..head_end]).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a whole answer has a Content-Length");
    (raw.len() >= head_end + length).then_some((head_end, head_end + length))
}

#[test]
fn a_keep_alive_post_of_one_call() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per_request = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(Server::new(CalcServer::new(Impl)));
        let serving = server.clone();
        tokio::spawn(async move { serving.serve_http(listener, HttpConfig::default()).await });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"add","params":[1,2]}"#;
        let request = [
            format!(
                "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
            body,
        ]
        .concat();
        let mut input = Vec::with_capacity(4096);
        for _ in 0..WARM_UP {
            let answer = post(&mut stream, &request, &mut input).await;
            assert_eq!(answer, br#"{"jsonrpc":"2.0","id":7,"result":3}"#);
        }
        let before = counting_alloc::allocations();
        for _ in 0..COUNTED {
            post(&mut stream, &request, &mut input).await;
        }
        (counting_alloc::allocations() - before) as f64 / COUNTED as f64
    });
    println!("HTTP server, keep-alive POST of one call: {per_request:.2} allocations per request (budget {BUDGET})");
    assert!(
        per_request <= BUDGET,
        "{per_request} allocations per request, over the budget of {BUDGET}"
    );
}
