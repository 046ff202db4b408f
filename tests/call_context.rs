//! A handler's `CallContext`: the calling peer for typed callbacks (both ends of a
//! two-way connection typed), the connection's id and address, and a cancellation
//! token that fires when the call is over, even for a blocking handler.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc::framing::Framing;
use rpc::service::ConnectionInfo;
use rpc::transport::{memory, tcp};
use rpc::{rpc_service, CallContext, Client, ConnectionConfig, RpcError, Server};
use tokio::sync::oneshot;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

/// Served by the server.
#[rpc_service(namespace = "jobs")]
pub trait Jobs {
    /// Calls the caller back `steps` times, then answers how many it was told.
    async fn run(&self, steps: u32, cx: &CallContext) -> Result<u32, RpcError>;
    /// The connection the call came in on.
    async fn whoami(&self, cx: CallContext) -> (u64, Option<String>);
    /// Spins on the blocking pool until its context says the call is over.
    #[rpc(blocking, timeout = "200ms")]
    fn spin(&self, cx: &CallContext) -> u32;
    /// Waits until cancelled, reporting what it saw.
    async fn wait(&self, cx: &CallContext) -> u32;
}

/// Served by the client, called back by the server.
#[rpc_service(namespace = "progress")]
pub trait Progress {
    /// Tells the client one step is done; it answers the total so far.
    async fn step(&self, done: u32) -> u32;
}

#[derive(Default)]
struct Worker {
    /// What `spin` saw: whether its deadline was set, and that it was cancelled.
    spun: Mutex<Option<oneshot::Sender<(bool, Duration)>>>,
    /// Set when `wait` saw its cancellation.
    waited: Arc<AtomicBool>,
    started: Mutex<Option<oneshot::Sender<()>>>,
}

impl Jobs for Worker {
    async fn run(&self, steps: u32, cx: &CallContext) -> Result<u32, RpcError> {
        let peer = cx
            .peer()
            .ok_or_else(|| RpcError::internal("no peer to call back"))?;
        let progress = ProgressClient::new(peer);
        let mut total = 0;
        for done in 1..=steps {
            total = progress
                .step(done)
                .await
                .map_err(|e| RpcError::internal(e.to_string()))?;
        }
        Ok(total)
    }

    async fn whoami(&self, cx: CallContext) -> (u64, Option<String>) {
        let ConnectionInfo {
            id, remote_addr, ..
        } = cx.connection();
        (id, remote_addr.map(|a| a.ip().to_string()))
    }

    fn spin(&self, cx: &CallContext) -> u32 {
        let started = Instant::now();
        let had_deadline = cx
            .deadline()
            .is_some_and(|d| d <= Instant::now() + Duration::from_millis(200));
        let mut spins = 0;
        // Bounded: the test fails rather than spin for ever.
        while !cx.is_cancelled() && started.elapsed() < LIMIT {
            std::thread::sleep(Duration::from_millis(5));
            spins += 1;
        }
        if let Some(tx) = self.spun.lock().unwrap().take() {
            let _ = tx.send((had_deadline && cx.is_cancelled(), started.elapsed()));
        }
        spins
    }

    async fn wait(&self, cx: &CallContext) -> u32 {
        if let Some(tx) = self.started.lock().unwrap().take() {
            let _ = tx.send(());
        }
        let waited = self.waited.clone();
        let token = cx.cancellation_token();
        // Work the handler spawned outlives an aborted handler: the token tells it.
        tokio::spawn(async move {
            token.cancelled().await;
            waited.store(true, Ordering::SeqCst);
        });
        std::future::pending().await
    }
}

#[derive(Default)]
struct Tally(AtomicU32);

impl Progress for Tally {
    async fn step(&self, done: u32) -> u32 {
        self.0.fetch_add(done, Ordering::SeqCst) + done
    }
}

#[tokio::test]
async fn a_handler_calls_its_caller_back_typed_over_the_same_connection() {
    let (client_end, server_end) = memory::pair(Framing::Ndjson, 1 << 16);
    let server = Server::new(JobsServer::new(Worker::default()));
    server.serve_connection(server_end);

    // The client end serves `Progress` and calls `Jobs`: both typed, one connection.
    let tally = Arc::new(Tally::default());
    let client_side = Server::new(ProgressServer::from_arc(tally.clone()));
    let peer = client_side.serve_connection(client_end);
    let jobs = JobsClient::new(peer.clone());

    let total = timeout(LIMIT, jobs.run(4)).await.unwrap().unwrap();
    assert_eq!(total, 1 + 2 + 3 + 4);
    assert_eq!(tally.0.load(Ordering::SeqCst), 10);
    // A client made from a peer does not own it: dropping it leaves the connection.
    drop(jobs);
    assert!(!peer.is_closed());
    peer.close();
}

#[tokio::test]
async fn a_call_without_a_connection_has_no_peer() {
    let server = Server::new(JobsServer::new(Worker::default()));
    let answer = server
        .handle_frame(r#"{"jsonrpc":"2.0","id":1,"method":"jobs.run","params":[1]}"#)
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["error"]["message"], "no peer to call back");
}

#[tokio::test]
async fn the_context_names_the_connection_and_its_address() {
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(JobsServer::new(Worker::default())));
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_tcp(&listener).await })
    };
    let config = ConnectionConfig::default();
    let first = JobsClient::new(
        Client::connect_tcp(addr, Framing::Ndjson, config.clone())
            .await
            .unwrap(),
    );
    let second = JobsClient::new(
        Client::connect_tcp(addr, Framing::Ndjson, config)
            .await
            .unwrap(),
    );
    let (id1, ip1) = timeout(LIMIT, first.whoami()).await.unwrap().unwrap();
    let (again, _) = timeout(LIMIT, first.whoami()).await.unwrap().unwrap();
    let (id2, ip2) = timeout(LIMIT, second.whoami()).await.unwrap().unwrap();
    assert_eq!(id1, again, "one connection, one id");
    assert_ne!(id1, id2, "two connections, two ids");
    assert_eq!(ip1.as_deref(), Some("127.0.0.1"));
    assert_eq!(ip2.as_deref(), Some("127.0.0.1"));

    // In process there is no address.
    let (_, ip) = {
        let answer = server
            .handle_frame(r#"{"jsonrpc":"2.0","id":1,"method":"jobs.whoami"}"#)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        (v["result"][0].clone(), v["result"][1].clone())
    };
    assert!(ip.is_null());
    server.shutdown(Duration::from_secs(1)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_blocking_handler_learns_that_its_deadline_passed() {
    let (tx, rx) = oneshot::channel();
    let worker = Worker {
        spun: Mutex::new(Some(tx)),
        ..Worker::default()
    };
    let (client_end, server_end) = memory::pair(Framing::Ndjson, 1 << 16);
    let server = Server::new(JobsServer::new(worker));
    server.serve_connection(server_end);
    let jobs = JobsClient::new(Client::new(client_end, ConnectionConfig::default()));

    let err = timeout(LIMIT, jobs.spin()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(rpc::ErrorCode::TIMEOUT), "{err}");
    // The thread is told too, though a deadline cannot stop it.
    let (cancelled_with_deadline, ran) = timeout(LIMIT, rx).await.unwrap().unwrap();
    assert!(cancelled_with_deadline);
    assert!(ran < LIMIT, "the handler spun until the test's limit");
}

#[tokio::test]
async fn a_cancelled_call_cancels_its_context() {
    let (started_tx, started) = oneshot::channel();
    let worker = Worker {
        started: Mutex::new(Some(started_tx)),
        ..Worker::default()
    };
    let waited = worker.waited.clone();
    let (client_end, server_end) = memory::pair(Framing::Ndjson, 1 << 16);
    let server = Server::new(JobsServer::new(worker));
    server.serve_connection(server_end);
    // `cancel_on_drop` (the default) sends `$/cancelRequest` for a dropped call.
    let jobs = JobsClient::new(Client::new(client_end, ConnectionConfig::default()));

    // A clone stays here, so that the connection stays open: the cancel, not a
    // closing connection, is what stops the call.
    let held = jobs.clone();
    let call = tokio::spawn(async move { jobs.wait().await });
    timeout(LIMIT, started).await.unwrap().unwrap();
    call.abort();
    let _ = call.await;
    let deadline = Instant::now() + LIMIT;
    while !waited.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the context was never cancelled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!held.inner().is_closed());
}
