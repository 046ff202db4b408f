//! The generated client beyond one call at a time: typed batches, per-call and
//! per-method timeouts; and methods under `#[cfg]`, on both ends.

use std::time::Duration;

use rpc::framing::Framing;
use rpc::transport::memory;
use rpc::{rpc_service, Client, ConnectionConfig, Error, ErrorCode, RpcError, Server};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service(namespace = "calc")]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
    async fn echo(&self, text: &str) -> String;
    #[rpc(notification)]
    async fn log(&self, line: String);
    async fn nap(&self, ms: u64) -> u64;
    /// Never answers in time: the server abandons it at 100 ms.
    #[rpc(timeout = "100ms")]
    async fn stuck(&self) -> u64;
}

struct CalcImpl;

impl Calc for CalcImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        if b == 0.0 {
            return Err(RpcError::invalid_params("division by zero"));
        }
        Ok(a / b)
    }
    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }
    async fn log(&self, _line: String) {}
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn stuck(&self) -> u64 {
        std::future::pending().await
    }
}

fn served() -> CalcClient {
    let (client_end, server_end) = memory::pair(Framing::Ndjson, 1 << 16);
    let server = Server::new(CalcServer::new(CalcImpl));
    server.serve_connection(server_end);
    CalcClient::new(Client::new(client_end, ConnectionConfig::default()))
}

#[tokio::test]
async fn a_typed_batch_gives_each_call_its_own_typed_result() {
    let calc = served();
    let mut batch = calc.batch();
    let sum = batch.add(2, 3);
    let hi = batch.echo("hi");
    batch.log("between".into());
    let bad = batch.divide(1.0, 0.0);
    let half = batch.divide(1.0, 2.0);
    let mut answers = timeout(LIMIT, batch).await.unwrap().unwrap();
    // Taken in any order, each decoded as its own type.
    assert_eq!(answers.take(half).unwrap(), 0.5);
    assert_eq!(answers.take(sum).unwrap(), 5);
    assert_eq!(answers.take(hi).unwrap(), "hi");
    let err = answers.take(bad).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMS), "{err}");
    assert_eq!(err.rpc_error().unwrap().message, "division by zero");
}

#[tokio::test]
async fn a_batch_of_notifications_only_is_sent_and_answers_nothing() {
    let calc = served();
    let mut batch = calc.batch();
    batch.log("a".into());
    batch.log("b".into());
    timeout(LIMIT, batch).await.unwrap().unwrap();
    // The connection still works after it.
    assert_eq!(calc.add(1, 1).await.unwrap(), 2);
}

#[tokio::test]
#[should_panic(expected = "redeemed in another batch")]
async fn a_handle_is_refused_by_another_batch_s_responses() {
    let calc = served();
    let mut one = calc.batch();
    let sum = one.add(1, 2);
    let mut two = calc.batch();
    let _other = two.add(3, 4);
    let _ = timeout(LIMIT, one).await.unwrap().unwrap();
    let mut answers = timeout(LIMIT, two).await.unwrap().unwrap();
    let _ = answers.take(sum);
}

#[tokio::test]
async fn with_timeout_bounds_each_call_of_that_client() {
    let calc = served();
    let quick = calc.with_timeout(Duration::from_millis(50));
    let err = timeout(LIMIT, quick.nap(5_000)).await.unwrap().unwrap_err();
    match err {
        Error::Timeout { method, after } => {
            assert_eq!(method, "calc.nap");
            assert_eq!(after, Duration::from_millis(50));
        }
        other => panic!("expected a local timeout, got {other}"),
    }
    // The original client keeps the default deadline.
    assert_eq!(timeout(LIMIT, calc.nap(1)).await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn the_server_s_timeout_answer_comes_before_the_client_gives_up() {
    let calc = served();
    let err = timeout(LIMIT, calc.stuck()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TIMEOUT), "{err}");
}

#[tokio::test]
async fn the_client_applies_a_method_s_timeout_when_the_server_is_silent() {
    // Nobody answers on the other end of this pipe.
    let (client_end, _silent) = memory::pair(Framing::Ndjson, 1 << 16);
    let calc = CalcClient::new(Client::new(client_end, ConnectionConfig::default()));
    let err = timeout(LIMIT, calc.stuck()).await.unwrap().unwrap_err();
    match err {
        // 100 ms, and a margin of 100 ms for the server's own answer.
        Error::Timeout { after, .. } => assert_eq!(after, Duration::from_millis(200)),
        other => panic!("expected a local timeout, got {other}"),
    }
}

// `cfg(all())` is always on and `cfg(any())` always off, whatever the build.
#[allow(clippy::non_minimal_cfg)]
#[rpc_service]
pub trait Build {
    async fn first(&self) -> u32;
    #[cfg(any())]
    async fn never(&self) -> u32;
    #[cfg(all())]
    async fn always(&self) -> u32;
    /// Two alternatives of one method, one per build.
    #[cfg(debug_assertions)]
    async fn mode(&self) -> String;
    #[cfg(not(debug_assertions))]
    async fn mode(&self) -> u32;
    async fn last(&self, x: u32) -> u32;
}

struct BuildImpl;

impl Build for BuildImpl {
    async fn first(&self) -> u32 {
        1
    }
    #[cfg(any())]
    async fn never(&self) -> u32 {
        0
    }
    async fn always(&self) -> u32 {
        2
    }
    #[cfg(debug_assertions)]
    async fn mode(&self) -> String {
        "debug".into()
    }
    #[cfg(not(debug_assertions))]
    async fn mode(&self) -> u32 {
        0
    }
    async fn last(&self, x: u32) -> u32 {
        x + 3
    }
}

#[tokio::test]
async fn methods_follow_their_cfg_on_both_ends() {
    use rpc::service::Service;

    let service = BuildServer::new(BuildImpl);
    let names: Vec<&str> = service.methods().iter().map(|m| m.name.as_ref()).collect();
    assert_eq!(names, ["first", "always", "mode", "last"]);
    assert_eq!(service.route("never"), None);
    assert_eq!(service.route("last"), Some(3));

    let (client_end, server_end) = memory::pair(Framing::Ndjson, 1 << 16);
    let server = Server::new(service);
    server.serve_connection(server_end);
    let client = Client::new(client_end, ConnectionConfig::default());
    let build = BuildClient::new(client.clone());
    // Each call runs its own method: the indexes after a left-out method shift.
    assert_eq!(build.first().await.unwrap(), 1);
    assert_eq!(build.always().await.unwrap(), 2);
    #[cfg(debug_assertions)]
    assert_eq!(build.mode().await.unwrap(), "debug");
    #[cfg(not(debug_assertions))]
    assert_eq!(build.mode().await.unwrap(), 0);
    assert_eq!(build.last(4).await.unwrap(), 7);
    let err = client
        .call::<_, u32>("never", &())
        .await
        .expect_err("a method left out by its cfg is not served");
    assert_eq!(err.code(), Some(ErrorCode::METHOD_NOT_FOUND));
}
