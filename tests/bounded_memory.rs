//! Memory per connection is bounded: a client that never reads cannot make the server
//! hold more than its in-flight and byte limits, however much it sends, and one that
//! reads a few bytes now and then is cut off like one that never reads. Memory is
//! measured with a counting allocator over the whole process.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[path = "support/tcp_server.rs"]
mod tcp_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rpc::framing::Framing;
use rpc::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

const LIMIT: Duration = Duration::from_secs(30);
const MIB: isize = 1 << 20;

fn echo() -> Router {
    Router::new().method(MethodInfo::new("echo"), |call| async move {
        let (text,): (String,) = call.decode_params()?;
        call.respond(&text)
    })
}

async fn start(config: ServerConfig) -> (Arc<Server>, SocketAddr) {
    let server = Arc::new(Server::with_config(echo(), config));
    let addr = tcp_server::serve_on_loopback(&server, Framing::Ndjson).await;
    (server, addr)
}

/// Sends `count` echo calls of `size`-byte strings on `stream`, in chunks written
/// from one reused buffer; stops at the first failed write (the server cut it off).
async fn flood(mut stream: TcpStream, count: usize, size: usize) -> usize {
    let text = "y".repeat(size);
    let per_chunk = (64 * 1024 / (size + 64)).max(1);
    let mut chunk = Vec::new();
    let mut sent = 0;
    while sent < count {
        chunk.clear();
        for id in sent..(sent + per_chunk).min(count) {
            chunk.extend_from_slice(
                format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{text}"],"id":{id}}}"#)
                    .as_bytes(),
            );
            chunk.push(b'\n');
        }
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        sent = (sent + per_chunk).min(count);
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_cannot_pin_server_memory() {
    const BUDGET: usize = 4 << 20;
    let config = ServerConfig {
        connection: ConnectionConfig {
            max_buffered_bytes: BUDGET,
            write_stall_timeout: Some(Duration::from_secs(5)),
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let (server, addr) = start(config).await;
    // Someone else uses the server meanwhile.
    let other = Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap();
    let _: String = other.call("echo", &["warm"]).await.unwrap();
    let baseline = counting_alloc::live_bytes();

    // Two clients that never read: 200,000 small calls on one, 1 MiB calls on the
    // other. Before the limits, these pinned +141 MiB and +1.55 GiB.
    let small = tokio::spawn(flood(TcpStream::connect(addr).await.unwrap(), 200_000, 8));
    let large = tokio::spawn(flood(
        TcpStream::connect(addr).await.unwrap(),
        1_000,
        1 << 20,
    ));

    let mut peak = 0;
    let mut peak_buffered = 0;
    let mut slowest = Duration::ZERO;
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(4) {
        peak = peak.max(counting_alloc::live_bytes() - baseline);
        peak_buffered = peak_buffered.max(server.metrics().buffered_bytes);
        let asked = Instant::now();
        let answer: String = timeout(LIMIT, other.call("echo", &["still there"]))
            .await
            .expect("another client is served while the floods are held")
            .unwrap();
        assert_eq!(answer, "still there");
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = server.metrics();
    println!(
        "peak live heap +{} KiB, peak buffered {} KiB, in flight {}, slowest other call {slowest:?}",
        peak / 1024,
        peak_buffered / 1024,
        metrics.in_flight
    );
    // Each connection holds at most its budget and the one frame being read (1 MiB
    // here); the rest is the read buffers and pooled buffers of those frames.
    assert!(
        peak_buffered <= 2 * (BUDGET as i64 + MIB as i64),
        "{peak_buffered} bytes buffered"
    );
    assert!(peak < 48 * MIB, "the floods pinned {} MiB", peak / MIB);
    assert!(metrics.in_flight <= 2 * 1024);

    // Neither reads, so both are cut once the write-stall time passes without progress;
    // what they held is given back.
    let cut = Instant::now();
    while server.metrics().connections > 1 {
        assert!(cut.elapsed() < LIMIT, "{:?}", server.metrics());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let small_sent = timeout(LIMIT, small).await.unwrap().unwrap();
    let large_sent = timeout(LIMIT, large).await.unwrap().unwrap();
    assert!(
        small_sent < 200_000 && large_sent < 1_000,
        "the floods were pushed back"
    );
    let metrics = server.metrics();
    assert_eq!(metrics.buffered_bytes, 0);
    assert!(metrics.answers_lost > 0);
    let _: String = other.call("echo", &["after"]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_takes_a_few_bytes_now_and_then_is_cut_off() {
    let stall = Duration::from_secs(1);
    let config = ServerConfig {
        connection: ConnectionConfig {
            write_stall_timeout: Some(stall),
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let (server, addr) = start(config).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small window, so the kernel's buffers fill soon.
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut read, write) = stream.into_split();
    let sending = tokio::spawn(async move {
        let mut write = write;
        let mut chunk = Vec::new();
        for id in 0..100_000u64 {
            chunk.extend_from_slice(
                format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["x"],"id":{id}}}"#)
                    .as_bytes(),
            );
            chunk.push(b'\n');
            if chunk.len() > 16 * 1024 {
                if write.write_all(&chunk).await.is_err() {
                    return;
                }
                chunk.clear();
            }
        }
        let _ = write.write_all(&chunk).await;
        // Keep the sending side open: only the server may end this.
        std::future::pending::<()>().await;
    });
    // 1 KiB every 50 ms: about 20 KiB a second, well under 64 KiB per stall period,
    // yet every small write the server makes finishes soon.
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let mut total = 0;
    let ended = loop {
        assert!(
            started.elapsed() < LIMIT,
            "still served after {total} bytes read"
        );
        match timeout(LIMIT, read.read(&mut buf)).await.unwrap() {
            Ok(0) | Err(_) => break started.elapsed(),
            Ok(n) => total += n,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("cut off after {ended:?}, {total} bytes read");
    sending.abort();
    let waiting = Instant::now();
    while server.metrics().connections > 0 {
        assert!(waiting.elapsed() < LIMIT);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.metrics().buffered_bytes, 0);
}
