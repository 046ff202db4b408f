//! `#[rpc_service]` end to end: a generated client calls a generated server over an
//! in-memory pipe, and raw frames check what goes over the wire.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpc::framing::Framing;
use rpc::service::{Execution, Service};
use rpc::transport::memory;
use rpc::{rpc_service, Client, ConnectionConfig, ErrorCode, RpcError, Server};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::Notify;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

/// Arithmetic and friends.
#[rpc_service(namespace = "calc")]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;

    /// Divides, refusing zero.
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;

    #[rpc(name = "text/echo", aliases = ["echo", "calc.say"])]
    #[allow(clippy::needless_lifetimes)]
    async fn echo<'a>(&self, text: &'a str) -> String;

    /// Where the borrowed parameter's bytes live, to prove they were not copied.
    async fn len_of(&self, text: Cow<'_, str>) -> (usize, bool);

    #[rpc(positional)]
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> i64;

    async fn greet(
        &self,
        #[rpc(rename = "firstName")] first_name: String,
        title: Option<String>,
    ) -> String;

    #[rpc(notification)]
    async fn log(&self, line: &str);

    #[rpc(raw_params)]
    async fn sum(&self, numbers: Vec<f64>) -> f64;

    #[rpc(raw_params, name = "raw")]
    async fn raw_text(&self, params: &RawValue) -> String;

    #[rpc(blocking)]
    fn checksum(&self, data: Vec<u8>) -> u32;

    #[rpc(pool = "io", timeout = "50ms", concurrency = 2)]
    async fn nap(&self, ms: u64) -> u64;

    async fn mirror(&self, p: Point) -> Point;

    async fn ping(&self) -> String;
}

#[derive(Default)]
struct Calc {
    logged: std::sync::Mutex<Vec<String>>,
    notified: Notify,
    pings: AtomicU64,
}

impl Calculator for Calc {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        if b == 0.0 {
            return Err(RpcError::new(ErrorCode(-32010), "division by zero"));
        }
        Ok(a / b)
    }
    #[allow(clippy::needless_lifetimes)]
    async fn echo<'a>(&self, text: &'a str) -> String {
        text.to_owned()
    }
    async fn len_of(&self, text: Cow<'_, str>) -> (usize, bool) {
        (text.len(), matches!(text, Cow::Borrowed(_)))
    }
    async fn subtract(&self, minuend: i64, subtrahend: i64) -> i64 {
        minuend - subtrahend
    }
    async fn greet(&self, first_name: String, title: Option<String>) -> String {
        match title {
            Some(t) => format!("hello {t} {first_name}"),
            None => format!("hello {first_name}"),
        }
    }
    async fn log(&self, line: &str) {
        self.logged.lock().unwrap().push(line.to_owned());
        self.notified.notify_one();
    }
    async fn sum(&self, numbers: Vec<f64>) -> f64 {
        numbers.iter().sum()
    }
    async fn raw_text(&self, params: &RawValue) -> String {
        params.get().to_owned()
    }
    fn checksum(&self, data: Vec<u8>) -> u32 {
        data.iter().map(|&b| u32::from(b)).sum()
    }
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn mirror(&self, p: Point) -> Point {
        p
    }
    async fn ping(&self) -> String {
        self.pings.fetch_add(1, Ordering::Relaxed);
        "pong".to_owned()
    }
}

fn start() -> (CalculatorClient, Arc<Calc>, Server) {
    let calc = Arc::new(Calc::default());
    let server = Server::new(CalculatorServer::from_arc(calc.clone()));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = CalculatorClient::new(Client::new(ours, ConnectionConfig::default()));
    (client, calc, server)
}

async fn raw(client: &CalculatorClient, method: &str, params: &str) -> Result<String, RpcError> {
    let params: Box<RawValue> = RawValue::from_string(params.to_owned()).unwrap();
    let response = client
        .inner()
        .call_raw(method, Some(&params), Some(Duration::from_secs(10)))
        .await
        .unwrap();
    response.result().map(str::to_owned).map_err(Clone::clone)
}

#[tokio::test]
async fn typed_client_calls_typed_server() {
    let (client, _calc, _server) = start();
    assert_eq!(client.add(2, 3).await.unwrap(), 5);
    assert_eq!(client.divide(1.0, 4.0).await.unwrap(), 0.25);
    assert_eq!(client.echo("hi there").await.unwrap(), "hi there");
    assert_eq!(client.subtract(42, 23).await.unwrap(), 19);
    assert_eq!(client.greet("Ada".into(), None).await.unwrap(), "hello Ada");
    assert_eq!(
        client.greet("Ada".into(), Some("Dr".into())).await.unwrap(),
        "hello Dr Ada"
    );
    assert_eq!(client.sum(vec![1.0, 2.5, 3.5]).await.unwrap(), 7.0);
    assert_eq!(client.checksum(vec![1, 2, 3]).await.unwrap(), 6);
    assert_eq!(
        client.mirror(Point { x: 1, y: -2 }).await.unwrap(),
        Point { x: 1, y: -2 }
    );
    assert_eq!(client.ping().await.unwrap(), "pong");
}

#[tokio::test]
async fn server_accepts_positional_and_named_params() {
    let (client, _calc, _server) = start();
    assert_eq!(raw(&client, "calc.add", "[1,2]").await.unwrap(), "3");
    assert_eq!(
        raw(&client, "calc.add", r#"{"b":2,"a":1}"#).await.unwrap(),
        "3"
    );
    assert_eq!(
        raw(
            &client,
            "calc.subtract",
            r#"{"minuend":42,"subtrahend":23}"#
        )
        .await
        .unwrap(),
        "19"
    );
    assert_eq!(
        raw(&client, "calc.subtract", "[23,42]").await.unwrap(),
        "-19"
    );
    // Unknown keys in an object are ignored.
    assert_eq!(
        raw(&client, "calc.add", r#"{"a":1,"b":2,"_meta":{}}"#)
            .await
            .unwrap(),
        "3"
    );
}

#[tokio::test]
async fn renamed_and_optional_params_use_their_wire_names() {
    let (client, _calc, _server) = start();
    assert_eq!(
        raw(&client, "calc.greet", r#"{"firstName":"Bo"}"#)
            .await
            .unwrap(),
        r#""hello Bo""#
    );
    assert_eq!(
        raw(&client, "calc.greet", r#"["Bo","Sir"]"#).await.unwrap(),
        r#""hello Sir Bo""#
    );
    assert_eq!(
        raw(&client, "calc.greet", r#"["Bo"]"#).await.unwrap(),
        r#""hello Bo""#
    );
    let err = raw(&client, "calc.greet", r#"{"first_name":"Bo"}"#)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(
        err.message,
        "invalid params: missing parameter `firstName` (got unknown `first_name`)"
    );
}

#[tokio::test]
async fn names_aliases_and_namespace_route_to_the_method() {
    let (client, _calc, _server) = start();
    for name in ["text/echo", "echo", "calc.say"] {
        assert_eq!(
            raw(&client, name, r#"["x"]"#).await.unwrap(),
            r#""x""#,
            "{name}"
        );
    }
    let err = raw(&client, "add", "[1,2]").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::METHOD_NOT_FOUND);
    let err = raw(&client, "calc.echo", r#"["x"]"#).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::METHOD_NOT_FOUND);
}

#[tokio::test]
async fn missing_or_wrong_params_are_invalid_params_naming_the_parameter() {
    let (client, _calc, _server) = start();
    let cases = [
        ("[1]", "invalid params: missing parameter `b`"),
        (r#"{"a":1}"#, "invalid params: missing parameter `b`"),
        (
            "[1,2,3]",
            "invalid params: too many parameters: got 3; this method takes `a`, `b`",
        ),
        (
            r#"{"a":1,"a":2,"b":3}"#,
            "invalid params: duplicate parameter `a`",
        ),
        (
            r#"[1,"two"]"#,
            "invalid params: parameter `b`: invalid type: string \"two\", expected i64",
        ),
        (
            r#"{"a":"one","b":2}"#,
            "invalid params: parameter `a`: invalid type: string \"one\", expected i64",
        ),
    ];
    for (params, message) in cases {
        let err = raw(&client, "calc.add", params).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_PARAMS, "{params}");
        assert_eq!(err.message, message, "{params}");
    }
    // No params at all is an empty array.
    let err = client
        .inner()
        .call::<_, i64>("calc.add", &())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMS));
    assert_eq!(
        err.rpc_error().unwrap().message,
        "invalid params: missing parameter `a`"
    );
}

#[tokio::test]
async fn result_errors_reach_the_client_as_rpc_errors() {
    let (client, _calc, _server) = start();
    let err = client.divide(1.0, 0.0).await.unwrap_err();
    assert!(err.is_rpc());
    assert_eq!(err.code(), Some(ErrorCode(-32010)));
    assert_eq!(err.rpc_error().unwrap().message, "division by zero");
}

#[tokio::test]
async fn notifications_are_delivered_without_a_response() {
    let (client, calc, _server) = start();
    client.log("first").await.unwrap();
    client.log("second").await.unwrap();
    let wait = async {
        while calc.logged.lock().unwrap().len() < 2 {
            calc.notified.notified().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap();
    assert_eq!(*calc.logged.lock().unwrap(), ["first", "second"]);
    // The connection is still in step: the next call gets its own response.
    assert_eq!(client.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
async fn raw_params_receive_the_whole_value() {
    let (client, _calc, _server) = start();
    assert_eq!(raw(&client, "calc.sum", "[1,2,3,4]").await.unwrap(), "10.0");
    assert_eq!(raw(&client, "calc.sum", "[0.5]").await.unwrap(), "0.5");
    assert_eq!(
        raw(&client, "raw", r#"{"any": [1, 2]}"#).await.unwrap(),
        r#""{\"any\": [1, 2]}""#
    );
    let err = raw(&client, "calc.sum", r#"{"a":1}"#).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
}

#[tokio::test]
async fn borrowed_params_borrow_unless_escaped() {
    let (client, _calc, _server) = start();
    assert_eq!(client.len_of("plain".into()).await.unwrap(), (5, true));
    assert_eq!(client.len_of("esc\"aped".into()).await.unwrap(), (8, false));
    // A `&str` cannot hold an escaped string: that is a decode error, not a panic.
    assert_eq!(
        raw(&client, "echo", r#"["a\nb"]"#).await.unwrap_err().code,
        ErrorCode::INVALID_PARAMS
    );
}

#[tokio::test]
async fn method_table_declares_execution() {
    let server = CalculatorServer::new(Calc::default());
    let methods = server.methods();
    let names: Vec<&str> = methods.iter().map(|m| &*m.name).collect();
    assert_eq!(
        names,
        [
            "calc.add",
            "calc.divide",
            "text/echo",
            "calc.len_of",
            "calc.subtract",
            "calc.greet",
            "calc.log",
            "calc.sum",
            "raw",
            "calc.checksum",
            "calc.nap",
            "calc.mirror",
            "calc.ping"
        ]
    );
    let checksum = &methods[server.route("calc.checksum").unwrap()];
    assert_eq!(checksum.execution, Execution::Blocking);
    let nap = &methods[server.route("calc.nap").unwrap()];
    assert_eq!(nap.execution, Execution::Pool("io".into()));
    assert_eq!(nap.timeout, Some(Duration::from_millis(50)));
    assert_eq!(nap.concurrency, Some(2));
    assert_eq!(server.route("echo"), server.route("text/echo"));
    assert_eq!(server.route("nope"), None);
}

#[tokio::test]
async fn declared_timeout_is_applied_by_the_pipeline() {
    let (client, _calc, _server) = start();
    assert_eq!(client.nap(1).await.unwrap(), 1);
    let err = client.nap(5_000).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TIMEOUT));
}

/// Records the params text of every call it gets.
struct Recorder(Arc<std::sync::Mutex<Vec<String>>>);

impl rpc::service::Service for Recorder {
    fn methods(&self) -> &[rpc::service::MethodInfo] {
        static METHODS: [rpc::service::MethodInfo; 1] = [rpc::service::MethodInfo::new("any")];
        &METHODS
    }
    fn route(&self, _: &str) -> Option<usize> {
        Some(0)
    }
    fn call(
        &self,
        call: rpc::service::IncomingCall,
    ) -> rpc::service::BoxFuture<'static, rpc::service::Reply> {
        self.0
            .lock()
            .unwrap()
            .push(call.params().unwrap_or("<none>").to_owned());
        Box::pin(async move { call.respond(&0) })
    }
}

#[rpc_service]
pub trait Shapes {
    async fn named(&self, a: i64, #[rpc(rename = "bee")] b: &str, c: Option<u8>) -> i64;
    #[rpc(positional)]
    async fn positional(&self, a: i64, b: Option<u8>) -> i64;
    async fn nothing(&self) -> i64;
    #[rpc(raw_params)]
    async fn raw(&self, all: Vec<u8>) -> i64;
}

#[tokio::test]
async fn client_sends_the_declared_shape() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = Server::new(Recorder(seen.clone()));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = ShapesClient::new(Client::new(ours, ConnectionConfig::default()));
    client.named(1, "x", None).await.unwrap();
    client.named(1, "x", Some(3)).await.unwrap();
    client.positional(1, None).await.unwrap();
    client.nothing().await.unwrap();
    client.raw(vec![1, 2]).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            r#"{"a":1,"bee":"x"}"#,
            r#"{"a":1,"bee":"x","c":3}"#,
            "[1,null]",
            "<none>",
            "[1,2]"
        ]
    );
}
