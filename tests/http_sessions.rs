//! HTTP sessions named by a header (`HttpConfig::sessions`): started by a method's
//! result, named by later requests over any connection, ended by `DELETE` or idle
//! time, bounded in number; and requests that may go without one.

use std::sync::Arc;
use std::time::Duration;

use rpc::http::{HttpConfig, HttpSessions};
use rpc::{rpc_service, CallContext, RpcError, Server};
use tokio::net::TcpListener;
use tokio::time::timeout;

#[path = "support/raw_http.rs"]
mod raw_http;
use raw_http::{exchange, request, Answer, LIMIT};

#[rpc_service]
pub trait Stateful {
    /// Starts a session, unless told to fail.
    async fn hello(&self, fail: bool) -> Result<String, RpcError>;
    /// Which serving session the call ran in.
    async fn which(&self, cx: &CallContext) -> u64;
    async fn nap(&self, ms: u64) -> u64;
}

struct Impl;

impl Stateful for Impl {
    async fn hello(&self, fail: bool) -> Result<String, RpcError> {
        if fail {
            return Err(RpcError::invalid_params("told to fail"));
        }
        Ok("hello".to_owned())
    }
    async fn which(&self, cx: &CallContext) -> u64 {
        cx.connection().id
    }
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

fn sessions() -> HttpSessions {
    HttpSessions::new("X-Session").started_by(["hello"])
}

async fn start(sessions: HttpSessions) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(StatefulServer::new(Impl)));
    let config = HttpConfig::default().sessions(sessions);
    tokio::spawn(async move { server.serve_http(listener, config).await });
    addr
}

fn call(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)
}

async fn post(addr: std::net::SocketAddr, session: Option<&str>, body: &str) -> Answer {
    let header = session.map(|id| format!("X-Session: {id}"));
    let headers: Vec<&str> = header.iter().map(String::as_str).collect();
    exchange(addr, &request("POST", "/", &headers, body)).await
}

async fn open(addr: std::net::SocketAddr) -> String {
    let answer = post(addr, None, &call("hello", "[false]")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, r#"{"jsonrpc":"2.0","id":1,"result":"hello"}"#);
    let id = answer.header("x-session").expect("a session id").to_owned();
    assert_eq!(id.len(), 32, "{id}");
    id
}

#[tokio::test]
async fn a_session_started_by_a_result_is_named_by_later_requests() {
    let addr = start(sessions()).await;
    let id = open(addr).await;
    // Each request on a connection of its own, all in the one serving session.
    let first = post(addr, Some(&id), &call("which", "[]")).await;
    let second = post(addr, Some(&id), &call("which", "[]")).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body, second.body);
    let other = open(addr).await;
    assert_ne!(other, id);
    let third = post(addr, Some(&other), &call("which", "[]")).await;
    assert_ne!(third.body, first.body);

    // An error does not start one.
    let failed = post(addr, None, &call("hello", "[true]")).await;
    assert_eq!(failed.status, 200);
    assert!(failed.body.contains("-32602"), "{failed:?}");
    assert_eq!(failed.header("x-session"), None);
}

#[tokio::test]
async fn requests_without_a_session_or_with_an_unknown_one_are_refused() {
    let addr = start(sessions()).await;
    let missing = post(addr, None, &call("which", "[]")).await;
    assert_eq!(missing.status, 400, "{missing:?}");
    assert!(
        missing.body.contains("-32600") && missing.body.contains("x-session"),
        "{missing:?}"
    );
    let unknown = post(
        addr,
        Some("00112233445566778899aabbccddeeff"),
        &call("which", "[]"),
    )
    .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.body.contains("-32600"), "{unknown:?}");
    let get = exchange(addr, &request("GET", "/", &[], "")).await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("post, delete"));
}

#[tokio::test]
async fn requests_may_go_without_a_session_where_the_rule_says_so() {
    let addr =
        start(sessions().required_when(|head| head.headers.contains_key("x-stateful"))).await;
    let stateless = post(addr, None, &call("nap", "[0]")).await;
    assert_eq!(stateless.status, 200, "{stateless:?}");
    assert_eq!(stateless.body, r#"{"jsonrpc":"2.0","id":1,"result":0}"#);
    let refused = exchange(
        addr,
        &request("POST", "/", &["X-Stateful: yes"], &call("nap", "[0]")),
    )
    .await;
    assert_eq!(refused.status, 400, "{refused:?}");
}

#[tokio::test]
async fn delete_ends_a_session_and_stops_its_calls() {
    let addr = start(sessions()).await;
    let id = open(addr).await;
    let slow = {
        let id = id.clone();
        tokio::spawn(async move { post(addr, Some(&id), &call("nap", "[60000]")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let delete = |id: Option<String>| async move {
        let header = id.map(|id| format!("X-Session: {id}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        exchange(addr, &request("DELETE", "/", &headers, "")).await
    };
    let ended = delete(Some(id.clone())).await;
    assert_eq!(ended.status, 204, "{ended:?}");
    let stopped = timeout(LIMIT, slow)
        .await
        .expect("the call is stopped")
        .unwrap();
    assert_eq!(stopped.status, 200);
    assert!(stopped.body.contains("-32800"), "{stopped:?}");
    assert_eq!(
        post(addr, Some(&id), &call("which", "[]")).await.status,
        404
    );
    assert_eq!(delete(Some(id)).await.status, 404);
    assert_eq!(delete(None).await.status, 400);
}

#[tokio::test]
async fn sessions_are_bounded_in_number_and_idle_time() {
    let addr = start(
        sessions()
            .max_sessions(1)
            .idle_timeout(Duration::from_millis(300)),
    )
    .await;
    let id = open(addr).await;
    let full = post(addr, None, &call("hello", "[false]")).await;
    assert_eq!(full.status, 503, "{full:?}");
    assert_eq!(full.header("retry-after"), Some("1"));
    assert!(full.body.contains("-32000"), "{full:?}");
    assert_eq!(
        post(addr, Some(&id), &call("which", "[]")).await.status,
        200
    );

    // Idle past the timeout, the session is gone, and its place is free.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        post(addr, Some(&id), &call("which", "[]")).await.status,
        404
    );
    open(addr).await;
}
