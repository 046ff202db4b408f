//! Params decoding in the caller's terms: `strict` services and methods refuse keys
//! they do not take, every mode names a misspelt key next to the parameter it
//! missed, and a `&str` given escapes is told so without serde's internals.

use std::time::Duration;

use rpc::{rpc_service, Server};
use serde_json::Value;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service(strict)]
pub trait Store {
    async fn put(&self, key: String, value: u64) -> bool;
    async fn count(&self) -> u64;
    async fn find(&self, #[rpc(rename = "keyName")] key: String, limit: Option<u32>) -> u32;
}

#[rpc_service]
pub trait Cache {
    async fn get(&self, key: String) -> u64;
    #[rpc(strict)]
    async fn set(&self, key: String, value: u64) -> bool;
    async fn echo(&self, text: &str) -> String;
}

struct Impl;

impl Store for Impl {
    async fn put(&self, _key: String, _value: u64) -> bool {
        true
    }
    async fn count(&self) -> u64 {
        0
    }
    async fn find(&self, _key: String, limit: Option<u32>) -> u32 {
        limit.unwrap_or(10)
    }
}

impl Cache for Impl {
    async fn get(&self, _key: String) -> u64 {
        7
    }
    async fn set(&self, _key: String, _value: u64) -> bool {
        true
    }
    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }
}

async fn answer(server: &Server, method: &str, params: &str) -> Value {
    let frame = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    let answer = timeout(LIMIT, server.handle_frame(frame))
        .await
        .unwrap()
        .expect("a request gets an answer");
    serde_json::from_slice(&answer).unwrap()
}

/// The -32602 message, or a panic naming the answer.
fn invalid(answer: &Value) -> &str {
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    answer["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn a_strict_service_refuses_keys_it_does_not_take() {
    let server = Server::new(StoreServer::new(Impl));
    let a = answer(&server, "put", r#"{"key":"k","value":1,"ttl":60}"#).await;
    assert_eq!(
        invalid(&a),
        "invalid params: unknown parameter `ttl`; this method takes `key`, `value`"
    );
    let a = answer(&server, "count", r#"{"verbose":true}"#).await;
    assert_eq!(
        invalid(&a),
        "invalid params: unknown parameter `verbose`; this method takes no parameters"
    );
    // A renamed parameter is known by its wire name only.
    let a = answer(&server, "find", r#"{"key":"k"}"#).await;
    assert_eq!(
        invalid(&a),
        "invalid params: unknown parameter `key`; this method takes `keyName`, `limit`"
    );
    // What it takes is still accepted, optional params left out included.
    let a = answer(&server, "put", r#"{"key":"k","value":1}"#).await;
    assert_eq!(a["result"], true, "{a}");
    let a = answer(&server, "find", r#"{"keyName":"k"}"#).await;
    assert_eq!(a["result"], 10, "{a}");
    let a = answer(&server, "count", "{}").await;
    assert_eq!(a["result"], 0, "{a}");
}

#[tokio::test]
async fn a_lenient_method_ignores_extra_keys_and_a_strict_one_beside_it_does_not() {
    let server = Server::new(CacheServer::new(Impl));
    let a = answer(&server, "get", r#"{"key":"k","ttl":60}"#).await;
    assert_eq!(a["result"], 7, "{a}");
    let a = answer(&server, "set", r#"{"key":"k","value":1,"ttl":60}"#).await;
    assert_eq!(
        invalid(&a),
        "invalid params: unknown parameter `ttl`; this method takes `key`, `value`"
    );
}

#[tokio::test]
async fn a_misspelt_key_is_named_next_to_the_parameter_it_missed() {
    let lenient = Server::new(CacheServer::new(Impl));
    let a = answer(&lenient, "get", r#"{"kye":"k"}"#).await;
    assert_eq!(
        invalid(&a),
        "invalid params: missing parameter `key` (got unknown `kye`)"
    );
    // Strict says it at the unknown key, before anything is missed.
    let strict = Server::new(StoreServer::new(Impl));
    let a = answer(&strict, "put", r#"{"kye":"k","value":1}"#).await;
    assert_eq!(
        invalid(&a),
        "invalid params: unknown parameter `kye`; this method takes `key`, `value`"
    );
}

#[tokio::test]
async fn surplus_positional_params_are_refused_in_every_mode() {
    for server in [
        Server::new(StoreServer::new(Impl)),
        Server::new(CacheServer::new(Impl)),
    ] {
        let method = if server.metrics().methods.iter().any(|m| m.name == "put") {
            "put"
        } else {
            "set"
        };
        let a = answer(&server, method, r#"["k",1,60]"#).await;
        assert_eq!(
            invalid(&a),
            "invalid params: too many parameters: more than 2 given; this method takes `key`, `value`"
        );
    }
}

#[tokio::test]
async fn a_str_given_escapes_is_told_in_the_caller_s_terms() {
    let server = Server::new(CacheServer::new(Impl));
    let a = answer(&server, "echo", r#"["a\nb"]"#).await;
    let message = invalid(&a);
    assert!(!message.contains("borrowed"), "{message}");
    assert_eq!(
        message,
        r#"invalid params: parameter `text`: invalid type: string "a\nb", expected a string without escape sequences (`\n`, `\"`, `\u..`): this method reads it in place"#
    );
    let a = answer(&server, "echo", r#"["plain"]"#).await;
    assert_eq!(a["result"], "plain", "{a}");
}
