//! On one connection, notifications are handled one after another in arrival order,
//! and a call that arrives after a notification starts only after that notification
//! has been handled; requests still run concurrently. The same holds for
//! notifications a server pushes to its client.

#[path = "support/tcp_server.rs"]
mod tcp_server;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::framing::Framing;
use rpc::prelude::*;
use rpc::transport::memory;
use tokio::sync::Notify;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);
const RUNS: usize = 20;
const CHANGES: usize = 1_000;

/// A document store in the shape of an LSP server's text sync.
#[rpc_service]
pub trait Documents {
    #[rpc(notification)]
    async fn open(&self, uri: String, text: String);
    /// Appends one character; yields a few times on the way, so handlers run
    /// concurrently would interleave.
    #[rpc(notification)]
    async fn append(&self, uri: String, ch: char);
    async fn text(&self, uri: String) -> String;
    /// Sleeps, then sets a flag.
    #[rpc(notification)]
    async fn slow_flag(&self, ms: u64);
    async fn flag(&self) -> bool;
    /// Waits until `release` is called: only possible if it does not hold back the
    /// calls after it.
    #[rpc(notification, unordered)]
    async fn wait_for_release(&self);
    async fn release(&self) -> bool;
}

#[derive(Default)]
struct Store {
    documents: Mutex<HashMap<String, String>>,
    flag: AtomicBool,
    released: Notify,
    waiting_done: AtomicUsize,
}

impl Documents for Arc<Store> {
    async fn open(&self, uri: String, text: String) {
        self.documents.lock().unwrap().insert(uri, text);
    }

    async fn append(&self, uri: String, ch: char) {
        let yields = (ch as usize) % 3;
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
        if let Some(doc) = self.documents.lock().unwrap().get_mut(&uri) {
            doc.push(ch);
        }
    }

    async fn text(&self, uri: String) -> String {
        self.documents
            .lock()
            .unwrap()
            .get(&uri)
            .cloned()
            .unwrap_or_default()
    }

    async fn slow_flag(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.flag.store(true, Ordering::SeqCst);
    }

    async fn flag(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    async fn wait_for_release(&self) {
        self.released.notified().await;
        self.waiting_done.fetch_add(1, Ordering::SeqCst);
    }

    async fn release(&self) -> bool {
        self.released.notify_waiters();
        true
    }
}

fn expected_text() -> String {
    (0..CHANGES)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

async fn edits_arrive_in_order(client: &DocumentsClient) {
    let expected = expected_text();
    for run in 0..RUNS {
        let uri = format!("file:///run{run}.txt");
        client.open(uri.clone(), String::new()).await.unwrap();
        for ch in expected.chars() {
            client.append(uri.clone(), ch).await.unwrap();
        }
        let text = timeout(LIMIT, client.text(uri)).await.unwrap().unwrap();
        assert_eq!(text, expected, "run {run}: edits applied out of order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_handled_in_arrival_order_over_memory() {
    let server = Server::new(DocumentsServer::new(Arc::new(Store::default())));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 64 * 1024);
    server.serve_connection(theirs);
    let client = DocumentsClient::new(Client::new(ours, ConnectionConfig::default()));
    edits_arrive_in_order(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_handled_in_arrival_order_over_tcp() {
    let server = Arc::new(Server::new(DocumentsServer::new(
        Arc::new(Store::default()),
    )));
    let addr = tcp_server::serve_on_loopback(&server, Framing::ContentLength).await;
    let client = Client::connect_tcp(addr, Framing::ContentLength, ConnectionConfig::default())
        .await
        .unwrap();
    edits_arrive_in_order(&DocumentsClient::new(client)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_after_a_slow_notification_starts_once_it_is_handled() {
    let server = Server::new(DocumentsServer::new(Arc::new(Store::default())));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 64 * 1024);
    server.serve_connection(theirs);
    let client = DocumentsClient::new(Client::new(ours, ConnectionConfig::default()));
    client.slow_flag(200).await.unwrap();
    assert!(
        timeout(LIMIT, client.flag()).await.unwrap().unwrap(),
        "the call ran before the notification before it had been handled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unordered_notification_does_not_hold_back_the_calls_after_it() {
    let store = Arc::new(Store::default());
    let server = Server::new(DocumentsServer::new(store.clone()));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 64 * 1024);
    server.serve_connection(theirs);
    let client = DocumentsClient::new(Client::new(ours, ConnectionConfig::default()));
    client.wait_for_release().await.unwrap();
    // Ordered, the notification would wait for `release` and `release` for it.
    let started = tokio::time::Instant::now();
    while store.waiting_done.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < LIMIT,
            "the unordered notification held back a call"
        );
        let _ = timeout(LIMIT, client.release()).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_pushed_to_the_client_arrive_in_order() {
    const PUSHED: u64 = 2_000;
    // The server answers `push` by sending its caller PUSHED notifications.
    let router = Router::new().method(MethodInfo::new("push"), |call| async move {
        for i in 0..PUSHED {
            call.peer()
                .expect("the call came on a connection")
                .notify("item", Some(&[i]))
                .await
                .map_err(|e| RpcError::internal(e.to_string()))?;
        }
        call.respond(&PUSHED)
    });
    let server = Server::new(router);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 64 * 1024);
    server.serve_connection(theirs);
    // The client serves the notifications; its handler yields, so handlers run
    // concurrently would record them out of order.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let items = Router::new().method(MethodInfo::new("item"), move |call| {
        let record = record.clone();
        async move {
            let (i,): (u64,) = call.decode_params()?;
            for _ in 0..(i % 3) {
                tokio::task::yield_now().await;
            }
            record.lock().unwrap().push(i);
            call.respond(&())
        }
    });
    let client = Server::new(items).serve_connection(ours);
    let pushed: u64 = timeout(LIMIT, client.call("push", &()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pushed, PUSHED);
    let started = tokio::time::Instant::now();
    while seen.lock().unwrap().len() < PUSHED as usize {
        assert!(started.elapsed() < LIMIT);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().copied().eq(0..PUSHED),
        "notifications handled out of order"
    );
}
