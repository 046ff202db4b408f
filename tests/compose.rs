//! Several services on one server (`Services`): each call reaches the method it
//! named, in the service that has it; clashing wire names are refused up front.

use std::time::Duration;

use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router, Service, Services};
use rpc::transport::memory;
use rpc::{rpc_service, Client, ConnectionConfig, Error, Server};
use serde_json::Value;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service(namespace = "echo")]
pub trait Echo {
    async fn say(&self, text: String) -> String;
    async fn twice(&self, text: String) -> String;
}

#[rpc_service(namespace = "calc")]
pub trait Calc {
    #[rpc(aliases = ["plus"])]
    async fn add(&self, a: i64, b: i64) -> i64;
    #[rpc(timeout = "50ms")]
    async fn nap(&self, ms: u64) -> u64;
}

struct EchoImpl;

impl Echo for EchoImpl {
    async fn say(&self, text: String) -> String {
        text
    }
    async fn twice(&self, text: String) -> String {
        format!("{text}{text}")
    }
}

struct CalcImpl;

impl Calc for CalcImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

fn composed() -> Services {
    let ping = Router::new().method(MethodInfo::new("ping"), |call| async move {
        call.respond("pong")
    });
    Services::new()
        .with(CalcServer::new(CalcImpl))
        .and_then(|s| s.with(EchoServer::new(EchoImpl)))
        .and_then(|s| s.with(ping))
        .expect("no wire name is answered twice")
}

async fn call(server: &Server, frame: &str) -> Value {
    let answer = timeout(LIMIT, server.handle_frame(frame.to_owned()))
        .await
        .unwrap()
        .expect("a request gets an answer");
    serde_json::from_slice(&answer).unwrap()
}

#[tokio::test]
async fn every_call_runs_the_method_it_named_in_the_service_that_has_it() {
    let services = composed();
    let names: Vec<&str> = services.methods().iter().map(|m| m.name.as_ref()).collect();
    assert_eq!(
        names,
        ["calc.add", "calc.nap", "echo.say", "echo.twice", "ping"]
    );
    let server = Server::new(services);
    let say = call(
        &server,
        r#"{"jsonrpc":"2.0","method":"echo.say","params":["hi"],"id":1}"#,
    )
    .await;
    assert_eq!(say["result"], "hi");
    let twice = call(
        &server,
        r#"{"jsonrpc":"2.0","method":"echo.twice","params":["hi"],"id":2}"#,
    )
    .await;
    assert_eq!(twice["result"], "hihi");
    let add = call(
        &server,
        r#"{"jsonrpc":"2.0","method":"calc.add","params":[2,3],"id":3}"#,
    )
    .await;
    assert_eq!(add["result"], 5);
    // An alias routes to its method in its own service.
    let plus = call(
        &server,
        r#"{"jsonrpc":"2.0","method":"plus","params":[4,4],"id":4}"#,
    )
    .await;
    assert_eq!(plus["result"], 8);
    let ping = call(&server, r#"{"jsonrpc":"2.0","method":"ping","id":5}"#).await;
    assert_eq!(ping["result"], "pong");
    let unknown = call(
        &server,
        r#"{"jsonrpc":"2.0","method":"echo.thrice","id":6}"#,
    )
    .await;
    assert_eq!(unknown["error"]["code"], -32601);
    // A method's own deadline comes with it into the composed table.
    let late = call(
        &server,
        r#"{"jsonrpc":"2.0","method":"calc.nap","params":[5000],"id":7}"#,
    )
    .await;
    assert_eq!(late["error"]["code"], -32001);

    // Over a connection, with the generated clients of both traits, and per-method
    // metrics under the composed table's names.
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = Client::new(ours, ConnectionConfig::default());
    let echo = EchoClient::new(client.clone());
    let calc = CalcClient::new(client);
    assert_eq!(
        timeout(LIMIT, echo.twice("ab".into()))
            .await
            .unwrap()
            .unwrap(),
        "abab"
    );
    assert_eq!(timeout(LIMIT, calc.add(20, 22)).await.unwrap().unwrap(), 42);
    assert_eq!(
        timeout(LIMIT, echo.say("x".into())).await.unwrap().unwrap(),
        "x"
    );
    let metrics = server.metrics();
    assert_eq!(metrics.method("echo.twice").unwrap().calls, 2);
    assert_eq!(metrics.method("echo.say").unwrap().calls, 2);
    assert_eq!(metrics.method("calc.add").unwrap().calls, 3);
    match timeout(LIMIT, calc.nap(5000)).await.unwrap() {
        Err(Error::Rpc(err)) => assert_eq!(err.code.0, -32001),
        other => panic!("expected the method's deadline, got {other:?}"),
    }
}

#[test]
fn a_wire_name_answered_twice_is_refused_with_its_name() {
    let clash = Services::new()
        .with(EchoServer::new(EchoImpl))
        .unwrap()
        .with(
            Router::new().method(MethodInfo::new("echo.twice"), |call| async move {
                call.respond(&0)
            }),
        );
    let err = clash.unwrap_err();
    assert_eq!(err.name(), "echo.twice");
    assert!(err.to_string().contains("`echo.twice`"), "{err}");

    // A name that is another service's alias clashes too, whichever comes first.
    let alias_first = Services::new()
        .with(CalcServer::new(CalcImpl))
        .unwrap()
        .with(Router::new().method(
            MethodInfo::new("plus"),
            |call| async move { call.respond(&0) },
        ));
    assert_eq!(alias_first.unwrap_err().name(), "plus");
    let name_first = Services::new()
        .with(Router::new().method(
            MethodInfo::new("plus"),
            |call| async move { call.respond(&0) },
        ))
        .unwrap()
        .with(CalcServer::new(CalcImpl));
    assert_eq!(name_first.unwrap_err().name(), "plus");
}

/// A hand-written forwarder: `echo`'s methods, then `calc`'s, in one table.
struct Forwarder {
    echo: EchoServer<EchoImpl>,
    calc: CalcServer<CalcImpl>,
    table: Vec<MethodInfo>,
    /// Whether it renumbers calls for the service it hands them to.
    reroutes: bool,
}

impl Forwarder {
    fn new(reroutes: bool) -> Self {
        let echo = EchoServer::new(EchoImpl);
        let calc = CalcServer::new(CalcImpl);
        let table = echo
            .methods()
            .iter()
            .chain(calc.methods())
            .cloned()
            .collect();
        Forwarder {
            echo,
            calc,
            table,
            reroutes,
        }
    }
}

impl Service for Forwarder {
    fn methods(&self) -> &[MethodInfo] {
        &self.table
    }

    fn route(&self, method: &str) -> Option<usize> {
        let echo = self.echo.methods().len();
        self.echo
            .route(method)
            .or_else(|| self.calc.route(method).map(|i| i + echo))
    }

    fn call(
        &self,
        call: rpc::service::IncomingCall,
    ) -> rpc::service::BoxFuture<'static, rpc::service::Reply> {
        if !self.reroutes {
            // The natural mistake: the index is the forwarder's, not the inner's.
            return if call.method() < self.echo.methods().len() {
                self.echo.call(call)
            } else {
                self.calc.call(call)
            };
        }
        match call.reroute(&self.echo) {
            Ok(call) => self.echo.call(call),
            Err(call) => match call.reroute(&self.calc) {
                Ok(call) => self.calc.call(call),
                Err(_) => unreachable!("the forwarder routed it"),
            },
        }
    }
}

#[tokio::test]
async fn a_forwarder_that_passes_calls_on_unchanged_is_refused_not_misrouted() {
    let server = Server::new(Forwarder::new(false));
    for (frame, method) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"echo.twice","params":["a"]}"#,
            "echo.twice",
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"calc.add","params":[1,2]}"#,
            "calc.add",
        ),
    ] {
        let answer = call(&server, frame).await;
        assert_eq!(answer["error"]["code"], -32603, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("`{method}` was handed")),
            "{message}"
        );
        assert!(message.contains("IncomingCall::reroute"), "{message}");
    }
}

#[tokio::test]
async fn a_forwarder_that_reroutes_runs_each_method_it_was_asked_for() {
    let server = Server::new(Forwarder::new(true));
    let answer = call(
        &server,
        r#"{"jsonrpc":"2.0","id":1,"method":"echo.twice","params":["a"]}"#,
    )
    .await;
    assert_eq!(answer["result"], "aa", "{answer}");
    let answer = call(
        &server,
        r#"{"jsonrpc":"2.0","id":2,"method":"echo.say","params":["a"]}"#,
    )
    .await;
    assert_eq!(answer["result"], "a", "{answer}");
    // An alias reaches the method it stands for.
    let answer = call(
        &server,
        r#"{"jsonrpc":"2.0","id":3,"method":"plus","params":[1,2]}"#,
    )
    .await;
    assert_eq!(answer["result"], 3, "{answer}");
}
