//! What the hostile-peer tests (`tests/hostile_http.rs`, `tests/hostile_websocket.rs`)
//! share: a server on a loopback port with a small service, a well-behaved client
//! that must be served while an attack runs, and the server's memory read before,
//! during (the peak, sampled from a thread of its own) and after the attack by the
//! counting allocator. Include it after `counting_alloc` and `raw_http`:
//! `#[path = "support/hostile.rs"] mod hostile;`.

#![allow(dead_code)] // not every including binary uses every helper

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::http::HttpConfig;
use rpc::prelude::*;
use rpc::stream::StreamSpec;
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

use super::counting_alloc;
use super::raw_http;

/// The most any one attack test may take, its own waits included.
pub const TEST_LIMIT: Duration = Duration::from_secs(30);
pub const KIB: isize = 1024;
pub const MIB: isize = 1 << 20;

/// The tests of one binary run one at a time: the allocator counts the whole
/// process, so two attacks at once would read each other's bytes.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `test` alone in the binary, on a runtime of two workers (the machine's
/// size), within [`TEST_LIMIT`].
pub fn run<F: Future<Output = ()>>(test: F) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        timeout(TEST_LIMIT, test)
            .await
            .expect("the attack test finishes in time");
    });
}

/// The service every attack is run against: `echo(text)`, `nap(ms)` and
/// `subscribe_count(from, count)` (a stream of numbers; `count == 0` never ends).
pub fn service() -> Router {
    Router::new()
        .method(MethodInfo::new("echo"), |call| async move {
            let (text,): (String,) = call.decode_params()?;
            call.respond(&text)
        })
        .method(MethodInfo::new("nap"), |call| async move {
            let (ms,): (u64,) = call.decode_params()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            call.respond(&ms)
        })
        .method(
            MethodInfo::new("subscribe_count")
                .streaming(StreamSpec::new("count", "unsubscribe_count")),
            |call| async move {
                let (from, count): (u64, u64) = call.decode_params()?;
                let end = if count == 0 { u64::MAX } else { from + count };
                call.stream(futures_util::stream::iter(from..end))
            },
        )
        .method(MethodInfo::new("unsubscribe_count"), |call| async move {
            call.unsubscribe()
        })
}

/// A server of [`service`] on 127.0.0.1, port 0.
pub struct Running {
    pub server: Arc<Server>,
    pub addr: SocketAddr,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Serves HTTP (and WebSocket) with `http` and `config`.
    pub async fn http(config: ServerConfig, http: HttpConfig) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(Server::with_config(service(), config));
        let serving = {
            let server = server.clone();
            tokio::spawn(async move { server.serve_http(listener, http).await })
        };
        Running {
            server,
            addr,
            serving,
        }
    }

    /// Serves HTTPS with `tls`.
    pub async fn https(http: HttpConfig, tls: Arc<tokio_rustls::rustls::ServerConfig>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(Server::new(service()));
        let serving = {
            let server = server.clone();
            tokio::spawn(async move { server.serve_https(listener, http, tls).await })
        };
        Running {
            server,
            addr,
            serving,
        }
    }

    /// Waits until the server counts `n` open connections (HTTP and WebSocket).
    pub async fn until_connections(&self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.server.metrics().connections != n {
            assert!(
                Instant::now() < deadline,
                "the server counts {} connections, not {n}",
                self.server.metrics().connections
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Shuts the server down and waits for its accept loop.
    pub async fn stop(self) {
        self.server.shutdown(Duration::from_secs(5)).await;
        self.serving.await.unwrap().unwrap();
    }
}

/// A well-behaved client's call, on a connection of its own: `echo` answered 200
/// with its result, within 10 s.
pub async fn served(addr: SocketAddr) {
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"echo","params":["still served"]}"#;
    let request = raw_http::request("POST", "/", &[], body);
    let answer = timeout(Duration::from_secs(10), raw_http::exchange(addr, &request))
        .await
        .expect("a well-behaved client is answered during the attack");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        r#"{"jsonrpc":"2.0","id":7,"result":"still served"}"#
    );
}

/// Live bytes once they stop moving (tasks settle, connections finish closing).
pub async fn settled_live_bytes() -> isize {
    let mut last = counting_alloc::live_bytes();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = counting_alloc::live_bytes();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// The process's live heap through an attack: settled before it, its peak while
/// it runs (sampled every millisecond by a thread that allocates nothing), and
/// settled after it.
pub struct Memory {
    attack: &'static str,
    before: isize,
    peak: Arc<AtomicIsize>,
    stop: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl Memory {
    /// Reads the settled heap, and starts watching its peak.
    pub async fn before(attack: &'static str) -> Memory {
        let before = settled_live_bytes().await;
        let peak = Arc::new(AtomicIsize::new(before));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(counting_alloc::live_bytes(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        Memory {
            attack,
            before,
            peak,
            stop,
            sampler: Some(sampler),
        }
    }

    /// The settled heap before the attack.
    pub fn before_bytes(&self) -> isize {
        self.before
    }

    /// How far the heap has grown over `before` at its peak so far.
    pub fn peak_growth(&self) -> isize {
        self.peak.load(Ordering::Relaxed) - self.before
    }

    /// Stops watching, reads the settled heap after the attack, prints the three
    /// figures and asserts that the peak grew by at most `during_budget` and that
    /// the heap came back to within `after_slack` of where it started.
    pub async fn after(mut self, during_budget: isize, after_slack: isize) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            sampler.join().unwrap();
        }
        let after = settled_live_bytes().await;
        let peak = self.peak.load(Ordering::Relaxed);
        println!(
            "MEMORY | {} | before {} | during {} (+{}) | after {} ({:+})",
            self.attack,
            self.before,
            peak,
            peak - self.before,
            after,
            after - self.before
        );
        assert!(
            peak - self.before <= during_budget,
            "{}: the heap grew by {} bytes during the attack, over the budget of {during_budget}",
            self.attack,
            peak - self.before
        );
        assert!(
            after - self.before <= after_slack,
            "{}: the heap is {} bytes over its start after the attack (slack {after_slack})",
            self.attack,
            after - self.before
        );
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
