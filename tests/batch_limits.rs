//! Batch elements count one by one against a connection's in-flight limit, calls and
//! notifications alike, so one connection's batches cannot take the server from the
//! others.

#[path = "support/tcp_server.rs"]
mod tcp_server;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::prelude::*;
use rpc::transport::{FrameReader, FrameWriter};
use serde_json::Value;
use tokio::time::{timeout, Instant};

const LIMIT: Duration = Duration::from_secs(30);
const IN_FLIGHT: usize = 32;

/// Handlers that record how many of them run at once.
#[derive(Default)]
struct Gauge {
    running: AtomicI64,
    peak: AtomicI64,
    notes: AtomicU64,
}

impl Gauge {
    fn enter(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

fn service(gauge: Arc<Gauge>) -> Router {
    let work = gauge.clone();
    Router::new()
        .method(MethodInfo::new("work"), move |call| {
            let gauge = work.clone();
            async move {
                gauge.enter();
                tokio::time::sleep(Duration::from_millis(2)).await;
                gauge.leave();
                let (n,): (u64,) = call.decode_params()?;
                call.respond(&n)
            }
        })
        // Unordered, so that notifications in flight can be counted running at once.
        .method(MethodInfo::new("note").unordered(), move |call| {
            let gauge = gauge.clone();
            async move {
                gauge.enter();
                tokio::task::yield_now().await;
                gauge.notes.fetch_add(1, Ordering::SeqCst);
                gauge.leave();
                call.respond(&())
            }
        })
        .method(MethodInfo::new("ping"), |call| async move {
            call.respond("pong")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_elements_count_one_by_one_against_the_in_flight_limit() {
    const BATCHES: u64 = 40;
    const ELEMENTS: u64 = 256;
    let gauge = Arc::new(Gauge::default());
    let config = ServerConfig {
        connection: ConnectionConfig {
            max_in_flight: IN_FLIGHT,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(service(gauge.clone()), config));
    let addr = tcp_server::serve_on_loopback(&server, Framing::Ndjson).await;

    // One connection floods batches of calls, then batches of notifications.
    let (read, write) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    let sending = tokio::spawn(async move {
        let mut writer = FrameWriter::new(write, Framing::Ndjson);
        for batch in 0..BATCHES {
            let elements: Vec<String> = (0..ELEMENTS)
                .map(|i| {
                    let id = batch * ELEMENTS + i;
                    format!(r#"{{"jsonrpc":"2.0","method":"work","params":[{id}],"id":{id}}}"#)
                })
                .collect();
            let frame = format!("[{}]", elements.join(","));
            writer.send(Bytes::from(frame)).await.unwrap();
        }
        for _ in 0..BATCHES {
            let elements =
                vec![r#"{"jsonrpc":"2.0","method":"note"}"#; ELEMENTS as usize].join(",");
            writer
                .send(Bytes::from(format!("[{elements}]")))
                .await
                .unwrap();
        }
        writer
    });

    // Another connection's calls are answered meanwhile.
    let other = Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap();
    let mut reader = FrameReader::new(read, Framing::Ndjson);
    let mut answered = std::collections::HashSet::new();
    let mut slowest = Duration::ZERO;
    let reading = async {
        for _ in 0..BATCHES {
            let asked = Instant::now();
            let pong: String = other.call("ping", &()).await.unwrap();
            assert_eq!(pong, "pong");
            slowest = slowest.max(asked.elapsed());
            let frame = reader.next_frame().await.unwrap().unwrap();
            let batch: Vec<Value> = serde_json::from_slice(&frame).unwrap();
            assert_eq!(
                batch.len() as u64,
                ELEMENTS,
                "one answer per call in the array"
            );
            for answer in batch {
                let id = answer["id"].as_u64().unwrap();
                assert_eq!(answer["result"], id);
                assert!(answered.insert(id));
            }
        }
    };
    timeout(LIMIT, reading).await.expect("every batch answered");
    let _writer = timeout(LIMIT, sending).await.unwrap().unwrap();
    let started = Instant::now();
    while gauge.notes.load(Ordering::SeqCst) < BATCHES * ELEMENTS {
        assert!(started.elapsed() < LIMIT, "notifications lost");
        let _: String = other.call("ping", &()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let peak = gauge.peak.load(Ordering::SeqCst);
    println!("peak running {peak}, slowest ping of the other connection {slowest:?}");
    // The other connection's pings run too, one at a time.
    assert!(
        peak <= IN_FLIGHT as i64 + 1,
        "{peak} handlers ran at once with a limit of {IN_FLIGHT}"
    );
    assert!(
        slowest < Duration::from_secs(5),
        "the other connection waited {slowest:?}"
    );
    assert!(server.metrics().in_flight <= 1);
}
