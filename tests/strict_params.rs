//! How `#[rpc_service]` decoders treat params a method does not take, and what their
//! -32602 messages say: `strict` on the trait and on a method (and `lenient` to opt a
//! method out), unknown keys named beside a missing parameter in every mode, surplus
//! positional params, and `&str` parameters given strings with escapes.
//!
//! Frames are served in process (`Server::handle_frame`), so each test asserts the
//! exact answer a caller reads.

use std::borrow::Cow;

use rpc::{rpc_service, ErrorCode, Server};
use serde_json::Value;

/// A store whose methods refuse names they do not take.
#[rpc_service(strict)]
pub trait Store {
    async fn set(&self, key: String, value: String) -> bool;
    async fn get(&self, key: &str, default: Option<&str>) -> String;
    async fn clear(&self) -> u32;
    async fn rename(
        &self,
        #[rpc(rename = "oldKey")] old: String,
        #[rpc(rename = "newKey")] new: String,
    ) -> String;
    /// Opted out: extra names are ignored, as by default.
    #[rpc(lenient)]
    async fn touch(&self, key: String) -> bool;
    /// The whole params value: the trait's `strict` does not concern it.
    #[rpc(raw_params)]
    async fn count(&self, entries: Vec<Value>) -> usize;
}

/// A cache that ignores names it does not take, but for one method.
#[rpc_service]
pub trait Cache {
    async fn put(&self, key: String, value: String, ttl: Option<u64>) -> Option<u64>;
    #[rpc(strict)]
    async fn put_strict(&self, key: String, value: String) -> bool;
    async fn ping(&self) -> String;
    async fn echo(&self, text: &str) -> String;
    async fn echo_opt(&self, text: Option<&str>) -> String;
    async fn echo_cow(&self, text: Cow<'_, str>) -> String;
    async fn lookup(&self, #[rpc(rename = "userId")] user_id: u64) -> u64;
    async fn tag(&self, tags: Vec<&str>) -> usize;
    #[rpc(raw_params)]
    async fn total(&self, numbers: Vec<i64>) -> i64;
}

struct Imp;

impl Store for Imp {
    async fn set(&self, _key: String, _value: String) -> bool {
        true
    }
    async fn get(&self, key: &str, default: Option<&str>) -> String {
        format!("{key}:{}", default.unwrap_or("-"))
    }
    async fn clear(&self) -> u32 {
        0
    }
    async fn rename(&self, old: String, new: String) -> String {
        format!("{old}->{new}")
    }
    async fn touch(&self, _key: String) -> bool {
        true
    }
    async fn count(&self, entries: Vec<Value>) -> usize {
        entries.len()
    }
}

impl Cache for Imp {
    async fn put(&self, _key: String, _value: String, ttl: Option<u64>) -> Option<u64> {
        ttl
    }
    async fn put_strict(&self, _key: String, _value: String) -> bool {
        true
    }
    async fn ping(&self) -> String {
        "pong".into()
    }
    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }
    async fn echo_opt(&self, text: Option<&str>) -> String {
        text.unwrap_or("none").to_owned()
    }
    async fn echo_cow(&self, text: Cow<'_, str>) -> String {
        text.into_owned()
    }
    async fn lookup(&self, user_id: u64) -> u64 {
        user_id
    }
    async fn tag(&self, tags: Vec<&str>) -> usize {
        tags.len()
    }
    async fn total(&self, numbers: Vec<i64>) -> i64 {
        numbers.iter().sum()
    }
}

/// The answer to `method` with `params` (JSON text): `Ok(result)` or
/// `Err(message)` of a -32602 error (any other error fails the test).
async fn call(server: &Server, method: &str, params: &str) -> Result<Value, String> {
    let frame = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params},"id":1}}"#);
    let answer = server
        .handle_frame(frame.into_bytes())
        .await
        .expect("a request gets an answer");
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    if let Some(result) = answer.get("result") {
        return Ok(result.clone());
    }
    let error = &answer["error"];
    assert_eq!(
        error["code"],
        ErrorCode::INVALID_PARAMS.0,
        "{method} {params}: {answer}"
    );
    Err(error["message"].as_str().unwrap().to_owned())
}

fn store() -> Server {
    Server::new(StoreServer::new(Imp))
}

fn cache() -> Server {
    Server::new(CacheServer::new(Imp))
}

fn invalid(message: &str) -> Result<Value, String> {
    Err(format!("invalid params: {message}"))
}

#[tokio::test]
async fn a_strict_trait_refuses_a_name_its_method_does_not_take() {
    let s = store();
    assert_eq!(
        call(&s, "set", r#"{"key":"k","value":"v","ttl":60}"#).await,
        invalid("unknown parameter `ttl`; this method takes `key`, `value`")
    );
    // Refused where it is met, before any missing parameter.
    assert_eq!(
        call(&s, "set", r#"{"ttl":60}"#).await,
        invalid("unknown parameter `ttl`; this method takes `key`, `value`")
    );
    // What it takes, in any order, by name or by position.
    assert_eq!(
        call(&s, "set", r#"{"value":"v","key":"k"}"#).await,
        Ok(true.into())
    );
    assert_eq!(call(&s, "set", r#"["k","v"]"#).await, Ok(true.into()));
}

#[tokio::test]
async fn a_strict_method_with_no_parameters_takes_no_names() {
    let s = store();
    assert_eq!(
        call(&s, "clear", r#"{"all":true}"#).await,
        invalid("unknown parameter `all`; this method takes no parameters")
    );
    assert_eq!(
        call(&s, "clear", "[true]").await,
        invalid("too many parameters: got 1; this method takes no parameters")
    );
    assert_eq!(call(&s, "clear", "{}").await, Ok(0.into()));
    assert_eq!(call(&s, "clear", "[]").await, Ok(0.into()));
}

#[tokio::test]
async fn a_strict_method_names_optional_and_renamed_parameters_by_their_wire_names() {
    let s = store();
    // An optional parameter may be left out or null; it is still a name it takes.
    assert_eq!(call(&s, "get", r#"{"key":"k"}"#).await, Ok("k:-".into()));
    assert_eq!(
        call(&s, "get", r#"{"key":"k","default":null}"#).await,
        Ok("k:-".into())
    );
    assert_eq!(
        call(&s, "get", r#"{"key":"k","default":"d"}"#).await,
        Ok("k:d".into())
    );
    assert_eq!(
        call(&s, "get", r#"{"key":"k","fallback":"d"}"#).await,
        invalid("unknown parameter `fallback`; this method takes `key`, `default`")
    );
    // The Rust names are not wire names.
    assert_eq!(
        call(&s, "rename", r#"{"old":"a","new":"b"}"#).await,
        invalid("unknown parameter `old`; this method takes `oldKey`, `newKey`")
    );
    assert_eq!(
        call(&s, "rename", r#"{"oldKey":"a","newKey":"b"}"#).await,
        Ok("a->b".into())
    );
}

#[tokio::test]
async fn lenient_opts_a_method_out_of_a_strict_trait() {
    let s = store();
    assert_eq!(
        call(&s, "touch", r#"{"key":"k","ttl":60}"#).await,
        Ok(true.into())
    );
    assert_eq!(
        call(&s, "touch", r#"{"kye":"k"}"#).await,
        invalid("missing parameter `key` (got unknown `kye`)")
    );
    // `raw_params` methods of a strict trait take the whole value, as before.
    assert_eq!(call(&s, "count", "[1,2,3]").await, Ok(3.into()));
}

#[tokio::test]
async fn by_default_a_name_the_method_does_not_take_is_ignored() {
    let c = cache();
    assert_eq!(
        call(&c, "put", r#"{"key":"k","value":"v","_meta":{"a":[1]}}"#).await,
        Ok(Value::Null)
    );
    assert_eq!(
        call(&c, "put", r#"{"key":"k","value":"v","ttl":5,"extra":1}"#).await,
        Ok(5.into())
    );
    assert_eq!(call(&c, "ping", r#"{"x":1}"#).await, Ok("pong".into()));
}

#[tokio::test]
async fn a_strict_method_in_a_lenient_trait_refuses_unknown_names() {
    let c = cache();
    assert_eq!(
        call(&c, "put_strict", r#"{"key":"k","value":"v","ttl":60}"#).await,
        invalid("unknown parameter `ttl`; this method takes `key`, `value`")
    );
    assert_eq!(
        call(&c, "put_strict", r#"{"key":"k","value":"v"}"#).await,
        Ok(true.into())
    );
}

#[tokio::test]
async fn a_missing_parameter_names_the_unknown_key_that_was_sent_instead() {
    let c = cache();
    assert_eq!(
        call(&c, "put", r#"{"kye":"k","value":"v"}"#).await,
        invalid("missing parameter `key` (got unknown `kye`)")
    );
    // Wherever it came, and the first of several.
    assert_eq!(
        call(&c, "put", r#"{"value":"v","kye":"k","vlaue":"v"}"#).await,
        invalid("missing parameter `key` (got unknown `kye`)")
    );
    // A key with escapes is named as decoded.
    assert_eq!(
        call(&c, "put", r#"{"k\u0079e":"k","value":"v"}"#).await,
        invalid("missing parameter `key` (got unknown `kye`)")
    );
    // A renamed parameter is missing under its wire name.
    assert_eq!(
        call(&c, "lookup", r#"{"user_id":7}"#).await,
        invalid("missing parameter `userId` (got unknown `user_id`)")
    );
    assert_eq!(call(&c, "lookup", r#"{"userId":7}"#).await, Ok(7.into()));
    // Without unknown keys, or by position, there is nothing more to say.
    assert_eq!(
        call(&c, "put", r#"{"value":"v"}"#).await,
        invalid("missing parameter `key`")
    );
    assert_eq!(
        call(&c, "put", r#"["k"]"#).await,
        invalid("missing parameter `value`")
    );
    // A known name given with escapes is still that name.
    assert_eq!(
        call(&c, "put", r#"{"k\u0065y":"k","value":"v"}"#).await,
        Ok(Value::Null)
    );
    // In a strict method the misspelt key is refused where it is met.
    assert_eq!(
        call(&store(), "set", r#"{"kye":"k","value":"v"}"#).await,
        invalid("unknown parameter `kye`; this method takes `key`, `value`")
    );
}

#[tokio::test]
async fn surplus_positional_params_say_how_many_came_and_what_the_method_takes() {
    let c = cache();
    assert_eq!(
        call(&c, "put", r#"["k","v",1,{"x":[2]},3]"#).await,
        invalid("too many parameters: got 5; this method takes `key`, `value`, `ttl`")
    );
    assert_eq!(
        call(&c, "lookup", "[1,2]").await,
        invalid("too many parameters: got 2; this method takes `userId`")
    );
    assert_eq!(
        call(&store(), "set", r#"["k","v","x"]"#).await,
        invalid("too many parameters: got 3; this method takes `key`, `value`")
    );
    assert_eq!(
        call(&c, "ping", "[null]").await,
        invalid("too many parameters: got 1; this method takes no parameters")
    );
}

const ESCAPES: &str =
    "this method cannot take a string with escape sequences (like `\\n`, `\\\"` or `\\u00e9`)";

#[tokio::test]
async fn a_borrowed_str_parameter_explains_strings_with_escapes() {
    let c = cache();
    for params in [
        r#"["a\nb"]"#,
        r#"{"text":"say \"hi\""}"#,
        r#"["caf\u00e9"]"#,
    ] {
        assert_eq!(
            call(&c, "echo", params).await,
            Err(format!("invalid params: parameter `text`: {ESCAPES}")),
            "{params}"
        );
    }
    assert_eq!(call(&c, "echo", r#"["café"]"#).await, Ok("café".into()));
    assert_eq!(
        call(&c, "echo", "[1]").await,
        invalid("parameter `text`: invalid type: integer `1`, expected a string")
    );
    // The same inside `Option`, which still takes null or nothing.
    assert_eq!(
        call(&c, "echo_opt", r#"["a\tb"]"#).await,
        Err(format!("invalid params: parameter `text`: {ESCAPES}"))
    );
    assert_eq!(call(&c, "echo_opt", "[null]").await, Ok("none".into()));
    assert_eq!(call(&c, "echo_opt", "[]").await, Ok("none".into()));
    assert_eq!(call(&c, "echo_opt", r#"["x"]"#).await, Ok("x".into()));
    assert_eq!(
        call(&c, "echo_opt", "[false]").await,
        invalid("parameter `text`: invalid type: boolean `false`, expected a string")
    );
    // `Cow<str>` takes any string.
    assert_eq!(call(&c, "echo_cow", r#"["a\nb"]"#).await, Ok("a\nb".into()));
    // A strict method's `&str` too.
    assert_eq!(
        call(&store(), "get", r#"{"key":"k","default":"\"d\""}"#).await,
        Err(format!("invalid params: parameter `default`: {ESCAPES}"))
    );
}

#[tokio::test]
async fn messages_name_json_types_not_serde_ones() {
    let c = cache();
    // serde's `&str` inside a parameter's type, and its words for arrays and objects.
    assert_eq!(
        call(&c, "tag", r#"[["a","b\"c"]]"#).await,
        Err(format!("invalid params: parameter `tags`: {ESCAPES}"))
    );
    assert_eq!(
        call(&c, "tag", "[[1]]").await,
        invalid("parameter `tags`: invalid type: integer `1`, expected a string")
    );
    assert_eq!(
        call(&c, "tag", r#"{"tags":{"a":1}}"#).await,
        invalid("parameter `tags`: invalid type: object, expected an array")
    );
    assert_eq!(call(&c, "tag", r#"[["a","b"]]"#).await, Ok(2.into()));
    assert_eq!(
        call(&c, "total", r#"{"a":1}"#).await,
        invalid("invalid type: object, expected an array")
    );
    assert_eq!(call(&c, "total", "[1,2]").await, Ok(3.into()));
}
