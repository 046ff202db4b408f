//! `ServerConfig::run_ready_calls_inline`: a call whose handler finishes at its first
//! poll is answered by its connection's task, with no task of its own; a call that
//! waits moves to a task of its own and is still answered, cancelled and timed out
//! as before.

#[path = "support/tcp_server.rs"]
mod tcp_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::framing::Framing;
use rpc::transport::tcp;
use rpc::{rpc_service, Client, ConnectionConfig, Error, ErrorCode, Server, ServerConfig};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Tasks {
    /// Notes the task it ran in, without waiting for anything.
    async fn at_once(&self) -> u32;
    /// Notes the task it ran in, then yields once (its first poll is pending).
    async fn after_a_yield(&self) -> u32;
    /// Waits `ms` before answering.
    async fn sleep(&self, ms: u64) -> u64;
}

#[derive(Clone, Default)]
struct Impl(Arc<Mutex<Vec<Option<tokio::task::Id>>>>);

impl Impl {
    fn note(&self) -> u32 {
        let mut seen = self.0.lock().unwrap();
        seen.push(tokio::task::try_id());
        seen.len() as u32
    }

    fn tasks(&self) -> Vec<Option<tokio::task::Id>> {
        self.0.lock().unwrap().clone()
    }
}

impl Tasks for Impl {
    async fn at_once(&self) -> u32 {
        self.note()
    }

    async fn after_a_yield(&self) -> u32 {
        let n = self.note();
        tokio::task::yield_now().await;
        n
    }

    async fn sleep(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

async fn client_of(config: ServerConfig, service: Impl) -> (TasksClient, Arc<Server>) {
    let server = Arc::new(Server::with_config(TasksServer::new(service), config));
    let addr = tcp_server::serve_on_loopback(&server, Framing::Ndjson).await;
    let connection = tcp::connect(addr, Framing::Ndjson).await.unwrap();
    let client = Client::new(connection, ConnectionConfig::default());
    (TasksClient::new(client), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_finish_at_once_run_in_their_connections_task() {
    let service = Impl::default();
    let (client, _server) = client_of(ServerConfig::default(), service.clone()).await;
    for expected in 1..=3 {
        let n = timeout(LIMIT, client.at_once()).await.unwrap().unwrap();
        assert_eq!(n, expected);
    }
    let tasks = service.tasks();
    assert!(tasks.iter().all(Option::is_some), "{tasks:?}");
    assert!(
        tasks.windows(2).all(|pair| pair[0] == pair[1]),
        "every call that finished at once should have run in the connection's one task: {tasks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_every_call_gets_a_task_of_its_own() {
    let service = Impl::default();
    let config = ServerConfig {
        run_ready_calls_inline: false,
        ..ServerConfig::default()
    };
    let (client, _server) = client_of(config, service.clone()).await;
    for _ in 0..3 {
        timeout(LIMIT, client.at_once()).await.unwrap().unwrap();
    }
    let tasks = service.tasks();
    assert!(
        tasks[0] != tasks[1] && tasks[1] != tasks[2] && tasks[0] != tasks[2],
        "each call should have had its own task: {tasks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_waits_moves_to_its_own_task_and_is_answered() {
    let service = Impl::default();
    let (client, _server) = client_of(ServerConfig::default(), service.clone()).await;
    timeout(LIMIT, client.at_once()).await.unwrap().unwrap();
    // Its first poll (in the connection's task, with no waker) is pending: the task
    // it moves to must poll it again, or the call never ends.
    for expected in 2..=4 {
        let n = timeout(LIMIT, client.after_a_yield())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, expected);
    }
    let slept = timeout(LIMIT, client.sleep(20)).await.unwrap().unwrap();
    assert_eq!(slept, 20);
    // The first poll of each waiting call still ran in the connection's task.
    let tasks = service.tasks();
    assert!(tasks.windows(2).all(|pair| pair[0] == pair[1]), "{tasks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_waits_keeps_its_deadline() {
    let config = ServerConfig {
        handler_timeout: Some(Duration::from_millis(50)),
        ..ServerConfig::default()
    };
    let (client, _server) = client_of(config, Impl::default()).await;
    let err = timeout(LIMIT, client.sleep(5_000))
        .await
        .unwrap()
        .unwrap_err();
    match err {
        Error::Rpc(err) => assert_eq!(err.code, ErrorCode::TIMEOUT, "{err:?}"),
        other => panic!("expected a -32001 timeout, got {other:?}"),
    }
    // Calls after it are served as before.
    assert_eq!(timeout(LIMIT, client.at_once()).await.unwrap().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_waits_is_stopped_by_its_clients_cancel() {
    // No server deadline: only the client's cancel ($/cancelRequest, sent when the
    // call's future is dropped) can stop a call that sleeps 60 s.
    let config = ServerConfig {
        handler_timeout: None,
        ..ServerConfig::default()
    };
    let (client, server) = client_of(config, Impl::default()).await;
    let gave_up = timeout(Duration::from_millis(50), client.sleep(60_000)).await;
    assert!(gave_up.is_err(), "a 60 s call answered in 50 ms");
    let stopped = async {
        while server.metrics().in_flight != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(LIMIT, stopped)
        .await
        .expect("the cancelled call still runs: it moved to its own task without its abort handle");
    assert_eq!(timeout(LIMIT, client.at_once()).await.unwrap().unwrap(), 1);
}
