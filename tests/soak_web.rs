//! Soak over HTTP and WebSocket, as `tests/soak.rs` is over TCP: many calls through
//! `Client::connect_http` (POSTs on pooled keep-alive connections) and
//! `Client::connect_ws`, each driver behind its own cuttable proxy, with random
//! cancellations (call futures dropped: a `$/cancelRequest` over WebSocket, the
//! request dropped over HTTP), client and handler timeouts, handler panics,
//! connection cuts, and stream subscriptions that are dropped early or lag behind a
//! slow reader. Checks that every call resolves once with an outcome its kind
//! allows, that no pending entry is left in a client, that the server answered every
//! request it read exactly once (written or lost with its connection) and holds no
//! connection, call, stream, buffered byte or handler afterwards, and that memory
//! returns near its starting point.
//!
//! `cargo test --test soak_web` runs a short variant (20,000 calls). The long one:
//! `SOAK_CALLS=1000000 cargo test --release --test soak_web -- --ignored --nocapture`
//! (SOAK_CALLS defaults to 1,000,000 there).

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/cut_proxy.rs"]
mod cut_proxy;

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cut_proxy::CutProxy;
use futures_util::StreamExt;
use rpc::http::HttpConfig;
use rpc::service::{MethodInfo, Router};
use rpc::stream::StreamSpec;
use rpc::{Client, ConnectionConfig, Error, ErrorCode, Server, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Calls of one driver started together before their outcomes are collected.
const ROUND: usize = 64;
/// No round may take longer.
const ROUND_LIMIT: Duration = Duration::from_secs(30);

/// A small xorshift generator: reproducible runs without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the server's handlers and streams are doing: each is counted in when it
/// starts and out when it is dropped (finished, panicked or cancelled).
#[derive(Default)]
struct Live {
    handlers_in: AtomicU64,
    handlers_out: AtomicU64,
    streams_in: AtomicU64,
    streams_out: AtomicU64,
    notes: AtomicU64,
}

struct Out<'a>(&'a AtomicU64);

impl Drop for Out<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A handler's body, counted in and out.
async fn counted<T>(live: &Live, body: impl std::future::Future<Output = T>) -> T {
    live.handlers_in.fetch_add(1, Ordering::SeqCst);
    let _out = Out(&live.handlers_out);
    body.await
}

fn service(live: Arc<Live>) -> Router {
    let (l1, l2, l3, l4, l5, l6) = (
        live.clone(),
        live.clone(),
        live.clone(),
        live.clone(),
        live.clone(),
        live,
    );
    Router::new()
        .method(MethodInfo::new("echo"), move |call| {
            let live = l1.clone();
            async move {
                counted(&live, async {
                    let (n,): (u64,) = call.decode_params()?;
                    call.respond(&n)
                })
                .await
            }
        })
        // Sleeps past its own 5 ms deadline about half the time.
        .method(
            MethodInfo::new("slow").timeout(Duration::from_millis(5)),
            move |call| {
                let live = l2.clone();
                async move {
                    counted(&live, async {
                        let (ms,): (u64,) = call.decode_params()?;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        call.respond(&ms)
                    })
                    .await
                }
            },
        )
        // Runs until cancelled: by `$/cancelRequest`, the request dropped, or its
        // connection cut.
        .method(MethodInfo::new("hold"), move |call| {
            let live = l3.clone();
            async move {
                counted(&live, async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    call.respond(&0)
                })
                .await
            }
        })
        .method(MethodInfo::new("panic"), move |_call| {
            let live = l4.clone();
            async move {
                counted(&live, async {
                    panic!("soak: handler panics on purpose");
                })
                .await
            }
        })
        // Only ever notified.
        .method(MethodInfo::new("note"), move |call| {
            let live = l5.clone();
            async move {
                live.notes.fetch_add(1, Ordering::SeqCst);
                call.respond(&())
            }
        })
        // `count` items from `from` (without end for 0), counted in and out.
        .method(
            MethodInfo::new("subscribe_count")
                .streaming(StreamSpec::new("count", "unsubscribe_count")),
            move |call| {
                let live = l6.clone();
                async move {
                    let (from, count): (u64, u64) = call.decode_params()?;
                    live.streams_in.fetch_add(1, Ordering::SeqCst);
                    let out = StreamOut(live);
                    let end = if count == 0 { u64::MAX } else { from + count };
                    call.stream(futures_util::stream::iter(from..end).map(move |n| {
                        let _ = &out;
                        n
                    }))
                }
            },
        )
        .method(MethodInfo::new("unsubscribe_count"), |call| async move {
            call.unsubscribe()
        })
}

struct StreamOut(Arc<Live>);

impl Drop for StreamOut {
    fn drop(&mut self) {
        self.0.streams_out.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    ok: u64,
    server_timeouts: u64,
    client_timeouts: u64,
    dropped: u64,
    panics: u64,
    notifications: u64,
    streams_read: u64,
    streams_dropped_early: u64,
    lagged: u64,
    cut: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.server_timeouts += other.server_timeouts;
        self.client_timeouts += other.client_timeouts;
        self.dropped += other.dropped;
        self.panics += other.panics;
        self.notifications += other.notifications;
        self.streams_read += other.streams_read;
        self.streams_dropped_early += other.streams_dropped_early;
        self.lagged += other.lagged;
        self.cut += other.cut;
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::ServerTimeout => self.server_timeouts += 1,
            Outcome::ClientTimeout => self.client_timeouts += 1,
            Outcome::Dropped => self.dropped += 1,
            Outcome::Panic => self.panics += 1,
            Outcome::Notified => self.notifications += 1,
            Outcome::StreamRead => self.streams_read += 1,
            Outcome::StreamDropped => self.streams_dropped_early += 1,
            Outcome::Lagged => self.lagged += 1,
        }
    }
}

/// What a call did, checked against what its kind allows.
enum Outcome {
    Ok,
    ServerTimeout,
    ClientTimeout,
    Dropped,
    Panic,
    Notified,
    StreamRead,
    StreamDropped,
    Lagged,
}

/// The transport a driver's client speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Web {
    Http,
    WebSocket,
}

/// One call of a kind picked by `roll` (0..1000); `Err` when it failed in a way its
/// kind does not allow (allowed only in a round whose connection was cut).
async fn one_call(web: Web, client: Client, n: u64, roll: u64, r: u64) -> Result<Outcome, Error> {
    let outcome = match roll {
        0..=599 => {
            let got: u64 = client.call("echo", &[n]).await?;
            assert_eq!(got, n, "an answer reached the wrong call");
            Outcome::Ok
        }
        600..=679 => {
            let short = Some(Duration::from_millis(1));
            match client.call_raw("hold", Some(&[0]), short).await {
                Err(err) if err.is_timeout() => Outcome::ClientTimeout,
                other => return other.map(|_| Outcome::Ok),
            }
        }
        680..=759 => {
            // Dropped before its answer.
            let pause = tokio::time::sleep(Duration::from_micros(r % 2000));
            tokio::select! {
                result = client.call_raw("hold", Some(&[0]), None) => {
                    return result.map(|_| Outcome::Ok)
                }
                () = pause => Outcome::Dropped,
            }
        }
        760..=839 => {
            let ms = r % 10;
            match client.call::<_, u64>("slow", &[ms]).await {
                Ok(got) => {
                    assert_eq!(got, ms);
                    Outcome::Ok
                }
                Err(Error::Rpc(err)) if err.code == ErrorCode::TIMEOUT => Outcome::ServerTimeout,
                Err(err) => return Err(err),
            }
        }
        840..=879 => match client.call::<_, u64>("panic", &[0]).await {
            Err(Error::Rpc(err)) if err.code == ErrorCode::INTERNAL_ERROR => Outcome::Panic,
            other => return other.map(|_| Outcome::Ok),
        },
        // Streams over the WebSocket (over HTTP a stream is an event stream, which
        // this client does not read): more echoes there.
        940..=989 if web == Web::WebSocket => {
            let (from, count) = (n, 1 + r % 20);
            let mut sub = client
                .subscribe::<_, u64>(
                    "subscribe_count",
                    &(from, count),
                    "count",
                    "unsubscribe_count",
                )
                .await?;
            let keep = if r.is_multiple_of(3) {
                r % count
            } else {
                count
            };
            let mut next = from;
            while next < from + keep {
                match sub.next().await {
                    Some(Ok(item)) => {
                        assert_eq!(item, next, "stream items out of order");
                        next += 1;
                    }
                    // A reader this task's runtime did not run within
                    // `subscription_wait` (10 ms) of a full buffer lags, as it
                    // should: on a loaded machine that happens to these too.
                    Some(Err(Error::Lagged { .. })) => return Ok(Outcome::Lagged),
                    Some(Err(err)) => return Err(err),
                    None => panic!("the stream ended after {} of {count} items", next - from),
                }
            }
            if keep < count {
                // Dropped early: the client unsubscribes.
                Outcome::StreamDropped
            } else {
                match sub.next().await {
                    None => Outcome::StreamRead,
                    Some(Err(Error::Lagged { .. })) => Outcome::Lagged,
                    Some(Err(err)) => return Err(err),
                    Some(Ok(item)) => panic!("an item {item} past the end"),
                }
            }
        }
        990..=999 if web == Web::WebSocket => {
            // A reader that stalls past `subscription_wait` on an endless stream.
            let mut sub = client
                .subscribe::<_, u64>("subscribe_count", &(0, 0), "count", "unsubscribe_count")
                .await?;
            // It stalls for 25 ms (over `subscription_wait`) before every 8 items (its buffer), up to 50 times:
            // one stall with a full buffer is enough.
            let mut next = 0u64;
            loop {
                if next.is_multiple_of(8) {
                    assert!(next < 8 * 50, "a stalled reader did not lag");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                match sub.next().await {
                    Some(Ok(item)) => {
                        assert_eq!(item, next, "stream items out of order");
                        next += 1;
                    }
                    Some(Err(Error::Lagged { .. })) => break Outcome::Lagged,
                    Some(Err(err)) => return Err(err),
                    None => panic!("an endless stream ended"),
                }
            }
        }
        880..=939 => {
            client.notify("note", Some(&[n])).await?;
            Outcome::Notified
        }
        _ => {
            let got: u64 = client.call("echo", &[n]).await?;
            assert_eq!(got, n, "an answer reached the wrong call");
            Outcome::Ok
        }
    };
    Ok(outcome)
}

/// Whether `err` is how a call fails when its connection is cut.
fn cut_failure(web: Web, err: &Error) -> bool {
    err.is_connection_closed()
        || err.is_not_sent()
        // The HTTP client's report of a POST whose connection failed.
        || (web == Web::Http
            && matches!(err, Error::Rpc(e) if e.code == ErrorCode::INTERNAL_ERROR))
}

async fn connect(web: Web, addr: std::net::SocketAddr) -> Client {
    let config = ConnectionConfig {
        request_timeout: Some(Duration::from_secs(20)),
        subscription_buffer: 8,
        subscription_wait: Duration::from_millis(10),
        ..ConnectionConfig::default()
    };
    match web {
        Web::Http => Client::connect_http(&format!("http://{addr}/"), config).unwrap(),
        Web::WebSocket => Client::connect_ws(&format!("ws://{addr}/"), config)
            .await
            .unwrap(),
    }
}

/// Drives one client through its own proxy: rounds of concurrent calls of every
/// kind; now and then cuts the proxy in the middle of a round, then reconnects.
async fn driver(web: Web, upstream: std::net::SocketAddr, calls: u64, seed: u64) -> Tally {
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let proxy = CutProxy::open(upstream).await;
    let mut client = connect(web, proxy.addr()).await;
    let mut next = 0u64;
    while tally.calls < calls {
        let cut = rng.below(50) == 0;
        let mut round = JoinSet::new();
        for _ in 0..ROUND {
            next += 1;
            tally.calls += 1;
            let (roll, r) = (rng.below(1000), rng.below(1 << 20));
            round.spawn(one_call(web, client.clone(), next, roll, r));
        }
        if cut {
            tokio::time::sleep(Duration::from_micros(rng.below(3000))).await;
            proxy.cut();
        }
        while let Some(joined) = timeout(ROUND_LIMIT, round.join_next())
            .await
            .expect("every call of the round resolves in time")
        {
            match joined.expect("a call's task") {
                Ok(outcome) => tally.count(outcome),
                Err(err) if cut && cut_failure(web, &err) => tally.cut += 1,
                Err(err) => panic!("a {web:?} call failed: {err}"),
            }
        }
        // A dropped subscription unsubscribes in the background: its call may be
        // pending for a moment after the round.
        let deadline = Instant::now() + ROUND_LIMIT;
        while client.pending_calls() > 0 {
            assert!(Instant::now() < deadline, "a pending entry leaked");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if cut {
            client.close();
            proxy.reopen().await;
            client = connect(web, proxy.addr()).await;
        }
    }
    client.close();
    tally
}

/// Runs `calls` calls, over HTTP and WebSocket clients in turn, and checks the
/// server's state and the process's memory afterwards.
fn soak(calls: u64, drivers: u64) -> Tally {
    let memory_before = counting_alloc::live_bytes();
    let started = Instant::now();
    let peak = Arc::new(AtomicIsize::new(memory_before));
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (peak, stop) = (peak.clone(), stop_watching.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(counting_alloc::live_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let live = Arc::new(Live::default());
    let (tally, metrics) = runtime.block_on({
        let live = live.clone();
        async move {
            // Calls still running when a client stops sending (a cut, a close with
            // cancels still queued) get half a second to answer, not 5 s: the run
            // waits for them at its end.
            let mut config = ServerConfig::default();
            config.connection.half_close_grace = Some(Duration::from_millis(500));
            let server = Arc::new(Server::with_config(service(live.clone()), config));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serving = {
                let server = server.clone();
                tokio::spawn(
                    async move { server.serve_http(listener, HttpConfig::default()).await },
                )
            };
            // SOAK_VERBOSE=1: the server's gauges every second.
            if std::env::var_os("SOAK_VERBOSE").is_some() {
                let server = server.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let m = server.metrics();
                        eprintln!(
                            "connections {} in_flight {} cancelled {} timeouts {} written {}",
                            m.connections, m.in_flight, m.cancelled, m.timeouts, m.answers_written
                        );
                    }
                });
            }
            let mut running = JoinSet::new();
            let share = calls / drivers;
            for d in 0..drivers {
                let seed = 0x9E37_79B9_7F4A_7C15 ^ (d + 1);
                let web = if d % 2 == 0 {
                    Web::Http
                } else {
                    Web::WebSocket
                };
                running.spawn(driver(web, addr, share, seed));
            }
            let mut tally = Tally::default();
            while let Some(done) = running.join_next().await {
                tally.add(&done.unwrap());
            }
            // Every client is gone: the server must have nothing left.
            let deadline = Instant::now() + Duration::from_secs(20);
            let streams_open = |m: &rpc::metrics::MetricsSnapshot| {
                m.method("subscribe_count").map_or(0, |s| s.streams_open)
            };
            loop {
                let m = server.metrics();
                let settled = m.connections == 0
                    && m.in_flight == 0
                    && m.queued == 0
                    && m.buffered_bytes == 0
                    && streams_open(&m) == 0
                    && live.handlers_in.load(Ordering::SeqCst)
                        == live.handlers_out.load(Ordering::SeqCst)
                    && live.streams_in.load(Ordering::SeqCst)
                        == live.streams_out.load(Ordering::SeqCst);
                if settled {
                    break;
                }
                assert!(Instant::now() < deadline, "server still holds work: {m:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let metrics = server.metrics();
            let report = server.shutdown(Duration::from_secs(5)).await;
            assert!(report.drained);
            serving.await.unwrap().unwrap();
            (tally, metrics)
        }
    });
    drop(runtime);
    stop_watching.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let memory_after = counting_alloc::live_bytes();
    let memory_peak = peak.load(Ordering::Relaxed);

    // The server's side: every request it read was answered once, written or lost
    // with its connection. A method's `calls` counts calls finished (answered);
    // the notifications are `note`'s.
    let requests: u64 = metrics
        .methods
        .iter()
        .filter(|m| m.name != "note")
        .map(|m| m.calls)
        .sum();
    let notes = metrics.method("note").map_or(0, |m| m.calls);
    eprintln!(
        "soak_web: {} calls over {drivers} clients (HTTP and WebSocket) in {:.1?}; {tally:?}; \
         server: {requests} requests answered ({} written, {} lost), {notes} notifications run, \
         {} handlers, {} streams, {} panics, {} timeouts, {} cancelled; \
         live heap before {memory_before} B, peak {memory_peak} B, after {memory_after} B",
        tally.calls,
        started.elapsed(),
        metrics.answers_written,
        metrics.answers_lost,
        live.handlers_in.load(Ordering::SeqCst),
        live.streams_in.load(Ordering::SeqCst),
        metrics.panics,
        metrics.timeouts,
        metrics.cancelled,
    );
    assert_eq!(
        metrics.answers_written + metrics.answers_lost,
        requests,
        "answers written and lost against requests answered"
    );
    assert_eq!(notes, live.notes.load(Ordering::SeqCst));
    // The runtime, server and connections are gone: what is left is the harness's.
    assert!(
        memory_after - memory_before < 256 * 1024,
        "memory grew by {} bytes",
        memory_after - memory_before
    );
    assert!(tally.calls >= calls - drivers * ROUND as u64);
    assert!(tally.ok > 0 && tally.panics > 0 && tally.dropped > 0);
    assert!(tally.client_timeouts > 0 && tally.server_timeouts > 0);
    assert!(tally.streams_read > 0 && tally.streams_dropped_early > 0);
    tally
}

/// Keeps the handlers' planned panics out of the output; any other panic (a failed
/// check) is reported as usual.
fn quiet_planned_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planned = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|message| message.contains("on purpose"));
        if !planned {
            report(info);
        }
    }));
}

#[test]
fn soak_web_short() {
    quiet_planned_panics();
    let tally = soak(20_000, 4);
    assert!(tally.lagged > 0 || tally.calls < 100_000);
}

#[test]
#[ignore = "long: SOAK_CALLS=1000000 cargo test --release --test soak_web -- --ignored --nocapture"]
fn soak_web_long() {
    quiet_planned_panics();
    let calls = std::env::var("SOAK_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tally = soak(calls, 8);
    assert!(tally.lagged > 0 && tally.cut > 0);
}
