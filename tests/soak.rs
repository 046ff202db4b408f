//! Soak: many calls over several loopback TCP connections with random cancellations,
//! timeouts, handler panics and connection cuts. Checks that every request the server
//! read is answered exactly once, that every client call resolves once with the outcome
//! its kind allows, that no pending entry or in-flight call is left, and that memory
//! returns near its starting point.
//!
//! `cargo test --test soak` runs a short variant (24,000 calls). The long one:
//! `SOAK_CALLS=1000000 cargo test --release --test soak -- --ignored --nocapture`
//! (SOAK_CALLS defaults to 1,000,000 there).

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router};
use rpc::transport::tcp;
use rpc::{Client, ConnectionConfig, Error, ErrorCode, Server, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Requests sent together before their answers are collected.
const ROUND: usize = 128;
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

fn service() -> Router {
    Router::new()
        .method(MethodInfo::new("echo"), |call| async move {
            let (n,): (u64,) = call.decode_params()?;
            call.respond(&n)
        })
        // Sleeps past its own 5 ms deadline about half the time.
        .method(
            MethodInfo::new("slow").timeout(Duration::from_millis(5)),
            |call| async move {
                let (ms,): (u64,) = call.decode_params()?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                call.respond(&ms)
            },
        )
        // Runs until cancelled, by `$/cancelRequest` or by the client giving up.
        .method(MethodInfo::new("hold"), |call| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            call.respond(&0)
        })
        .method(MethodInfo::new("panic"), |_call| async move {
            panic!("soak: handler panics on purpose")
        })
}

#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    ok: u64,
    server_timeouts: u64,
    client_timeouts: u64,
    cancelled: u64,
    dropped: u64,
    panics: u64,
    notifications: u64,
    cut: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.server_timeouts += other.server_timeouts;
        self.client_timeouts += other.client_timeouts;
        self.cancelled += other.cancelled;
        self.dropped += other.dropped;
        self.panics += other.panics;
        self.notifications += other.notifications;
        self.cut += other.cut;
    }
}

/// What a raw request expects back.
enum Expect {
    Echo(u64),
    Slow(u64),
    Panic,
    Cancelled,
}

/// Drives one connection frame by frame and checks that every request is answered
/// exactly once with an answer its kind allows; now and then cuts the connection
/// halfway through a round and opens a new one.
async fn raw_driver(addr: String, calls: u64, seed: u64) -> Tally {
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut next_id = 1u64;
    while tally.calls < calls {
        let (reader, mut writer) = TcpStream::connect(&addr).await.unwrap().into_split();
        let mut reader = BufReader::new(reader);
        let cut = rng.below(50) == 0;
        let mut frames = String::new();
        let mut expected = std::collections::HashMap::new();
        for _ in 0..ROUND {
            let id = next_id;
            next_id += 1;
            tally.calls += 1;
            let roll = rng.below(100);
            let (method, params, expect) = match roll {
                0..=69 => ("echo", id, Some(Expect::Echo(id))),
                70..=79 => {
                    let ms = rng.below(10);
                    ("slow", ms, Some(Expect::Slow(ms)))
                }
                80..=84 => ("panic", 0, Some(Expect::Panic)),
                85..=94 => ("hold", 0, Some(Expect::Cancelled)),
                _ => ("echo", id, None),
            };
            match expect {
                Some(expect) => {
                    frames.push_str(&format!(
                        r#"{{"jsonrpc":"2.0","method":"{method}","params":[{params}],"id":{id}}}"#
                    ));
                    frames.push('\n');
                    if matches!(expect, Expect::Cancelled) {
                        frames.push_str(&format!(
                            r#"{{"jsonrpc":"2.0","method":"$/cancelRequest","params":{{"id":{id}}}}}"#
                        ));
                        frames.push('\n');
                    }
                    expected.insert(id, expect);
                }
                None => {
                    tally.notifications += 1;
                    frames.push_str(&format!(
                        r#"{{"jsonrpc":"2.0","method":"{method}","params":[{params}]}}"#
                    ));
                    frames.push('\n');
                }
            }
        }
        if cut {
            // Half the round, then gone: the server must clean up after itself.
            let half = frames.len() / 2;
            let _ = writer.write_all(&frames.as_bytes()[..half]).await;
            tally.cut += ROUND as u64;
            continue;
        }
        writer.write_all(frames.as_bytes()).await.unwrap();
        let mut answered = HashSet::new();
        let mut line = String::new();
        while answered.len() < expected.len() {
            line.clear();
            let read = timeout(ROUND_LIMIT, reader.read_line(&mut line))
                .await
                .expect("the round is answered in time")
                .unwrap();
            assert!(
                read > 0,
                "connection closed with {} answers missing",
                expected.len() - answered.len()
            );
            let answer: Value = serde_json::from_str(&line).unwrap();
            let id = answer["id"].as_u64().expect("a numeric id");
            assert!(answered.insert(id), "id {id} answered twice");
            let expect = expected.get(&id).expect("an id we sent");
            let code = answer["error"]["code"].as_i64();
            match (expect, code) {
                (Expect::Echo(n), None) => {
                    assert_eq!(answer["result"], *n);
                    tally.ok += 1;
                }
                (Expect::Slow(ms), None) => {
                    assert_eq!(answer["result"], *ms);
                    tally.ok += 1;
                }
                (Expect::Slow(_), Some(c)) if c == ErrorCode::TIMEOUT.0 => {
                    tally.server_timeouts += 1;
                }
                (Expect::Panic, Some(c)) if c == ErrorCode::INTERNAL_ERROR.0 => {
                    tally.panics += 1;
                }
                (Expect::Cancelled, Some(c)) if c == ErrorCode::REQUEST_CANCELLED.0 => {
                    tally.cancelled += 1;
                }
                _ => panic!("unexpected answer {answer}"),
            }
        }
        // Nothing more may come: ask once more and the next line must be its answer.
        writer
            .write_all(
                b"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[0],\"id\":\"last\"}\n",
            )
            .await
            .unwrap();
        line.clear();
        timeout(ROUND_LIMIT, reader.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(answer["id"], "last", "a stray answer: {answer}");
    }
    tally
}

/// What a typed call did, checked against what its kind allows.
enum Outcome {
    Ok,
    ClientTimeout,
    Dropped,
    Panic,
    Notified,
}

/// Drives one `Client`: rounds of concurrent calls of every kind; now and then closes
/// the client in the middle of a round and connects again.
async fn client_driver(addr: String, calls: u64, seed: u64) -> Tally {
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let config = ConnectionConfig {
        request_timeout: Some(Duration::from_secs(20)),
        ..ConnectionConfig::default()
    };
    let mut client = Client::connect_tcp(addr, Framing::Ndjson, config.clone())
        .await
        .unwrap();
    let mut next = 0u64;
    while tally.calls < calls {
        let cut = rng.below(50) == 0;
        let mut round = JoinSet::new();
        for _ in 0..ROUND {
            next += 1;
            tally.calls += 1;
            let n = next;
            let roll = rng.below(100);
            let delay = rng.below(500);
            let client = client.clone();
            round.spawn(async move {
                let outcome = match roll {
                    0..=69 => match client.call::<_, u64>("echo", &[n]).await {
                        Ok(got) => {
                            assert_eq!(got, n, "an answer reached the wrong call");
                            Outcome::Ok
                        }
                        Err(err) => return Err(err),
                    },
                    70..=79 => {
                        let short = Some(Duration::from_millis(1));
                        match client.call_raw("hold", Some(&[0]), short).await {
                            Err(err) if err.is_timeout() => Outcome::ClientTimeout,
                            other => return other.map(|_| Outcome::Ok),
                        }
                    }
                    80..=89 => {
                        // Dropped before its answer: the client sends $/cancelRequest.
                        let pause = tokio::time::sleep(Duration::from_micros(delay));
                        tokio::select! {
                            result = client.call_raw("hold", Some(&[0]), None) => {
                                return result.map(|_| Outcome::Ok)
                            }
                            () = pause => Outcome::Dropped,
                        }
                    }
                    90..=94 => match client.call::<_, u64>("panic", &[0]).await {
                        Err(Error::Rpc(err)) if err.code == ErrorCode::INTERNAL_ERROR => {
                            Outcome::Panic
                        }
                        other => return other.map(|_| Outcome::Ok),
                    },
                    _ => {
                        client.notify("echo", Some(&[n])).await?;
                        Outcome::Notified
                    }
                };
                Ok(outcome)
            });
        }
        if cut {
            tokio::time::sleep(Duration::from_micros(rng.below(2000))).await;
            client.close();
        }
        while let Some(joined) = timeout(ROUND_LIMIT, round.join_next())
            .await
            .expect("every call of the round resolves in time")
        {
            match joined.unwrap() {
                Ok(Outcome::Ok) => tally.ok += 1,
                Ok(Outcome::ClientTimeout) => tally.client_timeouts += 1,
                Ok(Outcome::Dropped) => tally.dropped += 1,
                Ok(Outcome::Panic) => tally.panics += 1,
                Ok(Outcome::Notified) => tally.notifications += 1,
                Err(err) if cut && (err.is_connection_closed() || err.is_not_sent()) => {
                    tally.cut += 1
                }
                Err(err) => panic!("a call failed: {err}"),
            }
        }
        assert_eq!(client.pending_calls(), 0, "a pending entry leaked");
        if cut {
            client = Client::connect_tcp(addr, Framing::Ndjson, config.clone())
                .await
                .unwrap();
        }
    }
    tally
}

/// Runs `calls` calls, half over raw connections and half over clients, and checks
/// the server's state and the process's memory afterwards.
fn soak(calls: u64, connections: u64) -> Tally {
    let memory_before = counting_alloc::live_bytes();
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tally = runtime.block_on(async move {
        let server = Arc::new(Server::with_config(service(), ServerConfig::default()));
        let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let serving = {
            let server = server.clone();
            tokio::spawn(async move { server.serve_tcp(&listener).await })
        };
        // SOAK_VERBOSE=1: the server's gauges every second, to see where work piles up.
        if std::env::var_os("SOAK_VERBOSE").is_some() {
            let server = server.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let m = server.metrics();
                    eprintln!(
                        "connections {} queued {} in_flight {} cancelled {} timeouts {}",
                        m.connections, m.queued, m.in_flight, m.cancelled, m.timeouts
                    );
                }
            });
        }
        let mut drivers = JoinSet::new();
        let share = calls / connections;
        for c in 0..connections {
            let seed = 0x9E37_79B9_7F4A_7C15 ^ (c + 1);
            if c % 2 == 0 {
                drivers.spawn(raw_driver(addr.clone(), share, seed));
            } else {
                drivers.spawn(client_driver(addr.clone(), share, seed));
            }
        }
        let mut tally = Tally::default();
        while let Some(done) = drivers.join_next().await {
            tally.add(&done.unwrap());
        }
        // Every connection is gone; the server must have nothing left in flight.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = server.metrics();
            if m.connections == 0 && m.in_flight == 0 && m.queued == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "server still holds work: {m:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert!(report.drained);
        serving.await.unwrap().unwrap();
        tally
    });
    drop(runtime);
    let memory_after = counting_alloc::live_bytes();
    eprintln!(
        "soak: {} calls over {connections} connections in {:.1?}; {tally:?}; live heap before {} B, after {} B",
        tally.calls,
        started.elapsed(),
        memory_before,
        memory_after
    );
    // The runtime, server and connections are gone: what is left is the test harness's.
    assert!(
        memory_after - memory_before < 256 * 1024,
        "memory grew by {} bytes",
        memory_after - memory_before
    );
    assert!(tally.calls >= calls - connections * ROUND as u64);
    assert!(tally.ok > 0 && tally.cancelled > 0 && tally.panics > 0);
    assert!(tally.client_timeouts > 0 && tally.dropped > 0);
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
fn soak_short() {
    quiet_planned_panics();
    soak(24_000, 4);
}

#[test]
#[ignore = "long: SOAK_CALLS=1000000 cargo test --release --test soak -- --ignored --nocapture"]
fn soak_long() {
    quiet_planned_panics();
    let calls = std::env::var("SOAK_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    soak(calls, 8);
}
