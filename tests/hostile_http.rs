//! Hostile HTTP peers against `Server::serve_http` (and `serve_https`), one attack a
//! test: each binds 127.0.0.1, is bounded in time and count, checks the server's
//! answer on the wire, that a well-behaved client is served while it runs, and the
//! server's heap before, during (its peak) and after it, with a counting allocator
//! over the whole process (the tests of this binary run one at a time for that).
//!
//! `cargo test --test hostile_http -- --nocapture` prints a `MEMORY |` line per
//! attack. Where a default would make a test slow, it uses a small value and says
//! which default it stands for.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/raw_http.rs"]
mod raw_http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hostile::{run, served, Memory, Running, KIB, MIB};
use rpc::http::HttpConfig;
use rpc::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

const LIMIT: Duration = Duration::from_secs(10);

/// What a client that trickled `bytes` saw: how many it sent before the server
/// closed, and what the server wrote.
struct Trickled {
    sent: usize,
    answer: raw_http::Answer,
}

/// Sends `bytes` one at a time, `every` apart, until they are all sent, the server
/// closes the connection, or 10 s have passed; then reads what the server wrote
/// until it closes.
async fn trickle(addr: SocketAddr, bytes: Vec<u8>, every: Duration) -> Trickled {
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let reading = tokio::spawn(async move {
        let mut raw = Vec::new();
        let _ = read.read_to_end(&mut raw).await;
        raw
    });
    let started = Instant::now();
    let mut sent = 0;
    for byte in &bytes {
        if reading.is_finished() || started.elapsed() > LIMIT {
            break;
        }
        if write.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        sleep(every).await;
    }
    let raw = timeout(LIMIT, reading)
        .await
        .expect("the server closes the trickling connection")
        .unwrap();
    Trickled {
        sent,
        answer: raw_http::parse(&raw),
    }
}

/// Writes `bytes` on a fresh connection (ignoring a write that fails because the
/// server closed first) and reads what the server answers until it closes.
async fn blast(addr: SocketAddr, bytes: Arc<Vec<u8>>) -> raw_http::Answer {
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let writing = tokio::spawn(async move {
        let _ = write.write_all(&bytes).await;
        // Keep the write side open until the server closes: a close of ours
        // could race the server's answer.
        sleep(LIMIT).await;
    });
    let mut raw = Vec::new();
    let _ = timeout(LIMIT, read.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes");
    writing.abort();
    raw_http::parse(&raw)
}

/// A JSON-RPC error body's code.
fn error_code(body: &str) -> i64 {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| {
        panic!("not a JSON-RPC error body ({e}): {body:?}");
    });
    value["error"]["code"].as_i64().unwrap()
}

fn echo_head(extra: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n")
}

#[test]
fn slow_headers_are_cut_off_at_the_header_read_timeout() {
    run(async {
        // `header_read_timeout` is 30 s by default; 1 s keeps the test short. The
        // attackers send a byte every 300 ms ("a byte every few seconds", scaled
        // the same way).
        let mut http = HttpConfig::default();
        http.header_read_timeout = Some(Duration::from_secs(1));
        let running = Running::http(ServerConfig::default(), http).await;
        let addr = running.addr;
        served(addr).await;
        let memory = Memory::before("slow headers: 50 connections, a byte every 300 ms").await;
        let head = echo_head("Content-Length: 2\r\n").into_bytes();
        let started = Instant::now();
        let attackers: Vec<_> = (0..50)
            .map(|_| tokio::spawn(trickle(addr, head.clone(), Duration::from_millis(300))))
            .collect();
        for _ in 0..5 {
            served(addr).await;
            sleep(Duration::from_millis(100)).await;
        }
        for attacker in attackers {
            let trickled = attacker.await.unwrap();
            assert!(trickled.sent < head.len(), "the whole head got in");
            // hyper closes a connection whose head did not come in time, without a
            // word (there is no request to answer).
            assert_eq!(trickled.answer.status, 0, "{:?}", trickled.answer);
            assert!(trickled.answer.head.is_empty(), "{:?}", trickled.answer);
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        running.until_connections(0).await;
        // Both ends of the 50 connections are in this process: 64 KiB each is the
        // budget of the pair (the attacker's tokio socket and task included).
        memory.after(50 * 64 * KIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn stalled_http2_prefaces_and_heads_are_closed_at_the_idle_timeout() {
    run(async {
        // hyper's `header_read_timeout` is HTTP/1.1's: a connection whose first
        // byte could still begin either protocol, or an HTTP/2 one stalled inside
        // its preface or its first HEADERS, is ended by `idle_timeout` (2 min by
        // default; 1 s here, and `header_read_timeout` 300 ms to show it is not
        // the one at work).
        let mut http = HttpConfig::default().idle_timeout(Some(Duration::from_secs(1)));
        http.header_read_timeout = Some(Duration::from_millis(300));
        let running = Running::http(ServerConfig::default(), http).await;
        let addr = running.addr;
        served(addr).await;
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let mut settings_then_half_a_head = preface.clone();
        // An empty SETTINGS frame, then a HEADERS frame announcing 16 bytes and
        // sending one.
        settings_then_half_a_head.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        settings_then_half_a_head.extend_from_slice(&[0, 0, 16, 1, 4, 0, 0, 0, 1, 0x82]);
        let stalls = [
            b"P".to_vec(),
            preface[..10].to_vec(),
            settings_then_half_a_head,
        ];
        let memory =
            Memory::before("stalled HTTP/2 prefaces and heads, 3 kinds x 10 connections").await;
        let started = Instant::now();
        let attackers: Vec<_> = stalls
            .iter()
            .flat_map(|stall| std::iter::repeat_n(stall, 10))
            .map(|stall| tokio::spawn(blast(addr, Arc::new(stall.clone()))))
            .collect();
        served(addr).await;
        for attacker in attackers {
            // No HTTP/1.1 answer: at most the server's own SETTINGS and a GOAWAY.
            let answer = attacker.await.unwrap();
            assert_eq!(answer.status, 0, "{answer:?}");
        }
        let took = started.elapsed();
        assert!(
            (Duration::from_secs(1)..Duration::from_secs(5)).contains(&took),
            "closed after {took:?}"
        );
        served(addr).await;
        running.until_connections(0).await;
        memory.after(30 * 64 * KIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn slow_bodies_are_cut_off_at_the_body_read_timeout() {
    run(async {
        // `body_read_timeout` is 60 s by default; 1 s keeps the test short.
        let mut http = HttpConfig::default();
        http.body_read_timeout = Some(Duration::from_secs(1));
        let running = Running::http(ServerConfig::default(), http).await;
        let addr = running.addr;
        served(addr).await;
        let memory = Memory::before("slow bodies: 50 connections, a byte every 300 ms").await;
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["slow"]}"#;
        let attackers: Vec<_> = (0..50)
            .map(|_| {
                let head = echo_head(&format!("Content-Length: {}\r\n", body.len()));
                let started = Instant::now();
                let fast_head = head.clone();
                tokio::spawn(async move {
                    // The head at once, then the body a byte at a time.
                    let (mut read, mut write) =
                        TcpStream::connect(addr).await.unwrap().into_split();
                    write.write_all(fast_head.as_bytes()).await.unwrap();
                    let reading = tokio::spawn(async move {
                        let mut raw = Vec::new();
                        let _ = read.read_to_end(&mut raw).await;
                        raw
                    });
                    let mut sent = 0;
                    for byte in body.as_bytes() {
                        if reading.is_finished() || started.elapsed() > LIMIT {
                            break;
                        }
                        if write.write_all(&[*byte]).await.is_err() {
                            break;
                        }
                        sent += 1;
                        sleep(Duration::from_millis(300)).await;
                    }
                    let raw = timeout(LIMIT, reading).await.unwrap().unwrap();
                    (sent, raw_http::parse(&raw), started.elapsed())
                })
            })
            .collect();
        for _ in 0..5 {
            served(addr).await;
            sleep(Duration::from_millis(100)).await;
        }
        for attacker in attackers {
            let (sent, answer, took) = attacker.await.unwrap();
            assert!(sent < body.len(), "the whole body got in");
            assert_eq!(answer.status, 408, "{answer:?}");
            assert_eq!(error_code(&answer.body), -32600, "{answer:?}");
            assert_eq!(answer.header("connection"), Some("close"));
            assert!(took < Duration::from_secs(5), "cut off after {took:?}");
        }
        running.until_connections(0).await;
        // As above: 64 KiB per connection, both ends.
        memory.after(50 * 64 * KIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn a_header_block_of_one_mib_is_refused_with_431() {
    run(async {
        // The default `max_header_bytes` (16 KiB).
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        served(addr).await;
        // The attackers' bytes are made first: the heap counts the server's.
        let mut request = echo_head("").into_bytes();
        request.truncate(request.len() - 2);
        request.extend_from_slice(b"X-Big: ");
        request.extend(std::iter::repeat_n(b'a', MIB as usize));
        request.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\n{}");
        let request = Arc::new(request);
        let memory = Memory::before("a 1 MiB header block, 8 connections").await;
        let attackers: Vec<_> = (0..8)
            .map(|_| tokio::spawn(blast(addr, request.clone())))
            .collect();
        served(addr).await;
        for attacker in attackers {
            let answer = attacker.await.unwrap();
            assert_eq!(answer.status, 431, "{answer:?}");
        }
        served(addr).await;
        running.until_connections(0).await;
        // Each attacker's 1 MiB is the client's own; the server holds at most its
        // read buffer (16 KiB) per connection.
        memory.after(MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn a_hundred_thousand_headers_are_refused_with_431() {
    run(async {
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        served(addr).await;
        let mut request = echo_head("").into_bytes();
        request.truncate(request.len() - 2);
        for n in 0..100_000 {
            request.extend_from_slice(format!("X-{n}: 1\r\n").as_bytes());
        }
        request.extend_from_slice(b"Content-Length: 2\r\n\r\n{}");
        let request = Arc::new(request);
        let memory = Memory::before("100,000 headers, 8 connections").await;
        let attackers: Vec<_> = (0..8)
            .map(|_| tokio::spawn(blast(addr, request.clone())))
            .collect();
        served(addr).await;
        for attacker in attackers {
            let answer = attacker.await.unwrap();
            assert_eq!(answer.status, 431, "{answer:?}");
        }
        served(addr).await;
        running.until_connections(0).await;
        memory.after(MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn a_hundred_and_one_small_headers_are_refused_with_431() {
    run(async {
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        served(addr).await;
        // hyper's limit on the number of headers (100), well within 16 KiB.
        let with_headers = |total: usize| {
            let body = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["ok"]}"#;
            // Host, Content-Type, Content-Length, Connection, and the rest.
            let mut extra = format!("Content-Length: {}\r\nConnection: close\r\n", body.len());
            for n in 0..total - 4 {
                extra.push_str(&format!("X-{n}: 1\r\n"));
            }
            Arc::new(format!("{}{body}", echo_head(&extra)).into_bytes())
        };
        let answer = blast(addr, with_headers(100)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let over = with_headers(101);
        let memory = Memory::before("101 small headers, 8 connections").await;
        let attackers: Vec<_> = (0..8)
            .map(|_| tokio::spawn(blast(addr, over.clone())))
            .collect();
        for attacker in attackers {
            assert_eq!(attacker.await.unwrap().status, 431);
        }
        served(addr).await;
        running.until_connections(0).await;
        memory.after(MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn a_body_over_the_limit_is_refused_with_413_with_and_without_content_length() {
    run(async {
        // `max_body_bytes` is 1 MiB by default; 64 KiB keeps the bodies small.
        let limit = 64 * 1024;
        let running = Running::http(
            ServerConfig::default(),
            HttpConfig::default().max_body_bytes(limit),
        )
        .await;
        let addr = running.addr;
        served(addr).await;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":["{}"]}}"#,
            "x".repeat(MIB as usize)
        );
        // Announced: refused from the head, before a byte of the body is read.
        let mut declared = echo_head(&format!("Content-Length: {}\r\n", body.len())).into_bytes();
        declared.extend_from_slice(body.as_bytes());
        // Chunked (no length): refused once 64 KiB have streamed in.
        let mut chunked = echo_head("Transfer-Encoding: chunked\r\n").into_bytes();
        for piece in body.as_bytes().chunks(16 * 1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (declared, chunked) = (Arc::new(declared), Arc::new(chunked));
        drop(body);
        let memory = Memory::before(
            "bodies of 1 MiB over a 64 KiB limit, 8 with and 8 without Content-Length",
        )
        .await;
        let attackers: Vec<_> = (0..16)
            .map(|n| {
                let bytes = if n % 2 == 0 { &declared } else { &chunked };
                tokio::spawn(blast(addr, bytes.clone()))
            })
            .collect();
        served(addr).await;
        for attacker in attackers {
            let answer = attacker.await.unwrap();
            assert_eq!(answer.status, 413, "{answer:?}");
            assert_eq!(error_code(&answer.body), -32600);
            assert!(answer.body.contains("over the limit of 65536 bytes"));
            assert_eq!(answer.header("connection"), Some("close"));
        }
        served(addr).await;
        running.until_connections(0).await;
        // At most the limit per connection is buffered.
        memory.after(2 * MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn chunked_bodies_with_bad_chunk_sizes_are_refused_with_400() {
    run(async {
        // `body_read_timeout` is 60 s by default; 1 s keeps the test short.
        let mut http = HttpConfig::default();
        http.body_read_timeout = Some(Duration::from_secs(1));
        let running = Running::http(ServerConfig::default(), http).await;
        let addr = running.addr;
        served(addr).await;
        let bad_sizes = [
            // Not hexadecimal: 400, the body cannot be read.
            ("zz\r\n{}\r\n0\r\n\r\n".to_owned(), 400),
            ("-2\r\n{}\r\n0\r\n\r\n".to_owned(), 400),
            // Over u64.
            ("1ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n".to_owned(), 400),
            // u64::MAX: a chunk that never ends, the rest taken as its data; the
            // body read timeout ends the wait (before it, the connection was held
            // for good).
            ("ffffffffffffffff\r\n{}\r\n0\r\n\r\n".to_owned(), 408),
            // Longer than its chunk: garbage where the chunk's end goes.
            ("1\r\n{}\r\n0\r\n\r\n".to_owned(), 400),
            // A size line that never ends.
            (format!("1{}", "0".repeat(64 * 1024)), 400),
        ];
        // (The attackers' bytes are made first: the heap counts the server's.)
        let memory =
            Memory::before("chunked bodies with bad chunk sizes, 6 kinds x 4 connections").await;
        // Each kind on 4 connections at once.
        let attackers: Vec<_> = bad_sizes
            .iter()
            .flat_map(|case| std::iter::repeat_n(case, 4))
            .map(|(chunks, status)| {
                let mut request = echo_head("Transfer-Encoding: chunked\r\n").into_bytes();
                request.extend_from_slice(chunks.as_bytes());
                let shown = chunks[..chunks.len().min(24)].to_owned();
                let attack = tokio::spawn(blast(addr, Arc::new(request)));
                (attack, *status, shown)
            })
            .collect();
        served(addr).await;
        for (attack, status, shown) in attackers {
            let answer = attack.await.unwrap();
            assert_eq!(answer.status, status, "{shown:?}: {answer:?}");
        }
        served(addr).await;
        running.until_connections(0).await;
        memory.after(MIB, 64 * KIB).await;
        running.stop().await;
    });
}

/// Sends one call on `socket` (HTTP/1.1, kept alive) and reads its answer whole.
fn call_kept_alive(socket: &mut std::net::TcpStream) {
    use std::io::{Read, Write};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":["hi"]}"#;
    write!(
        socket,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let expected = br#"{"jsonrpc":"2.0","id":1,"result":"hi"}"#;
    let mut raw = [0u8; 512];
    let mut len = 0;
    while !raw[..len].ends_with(expected) {
        let n = socket.read(&mut raw[len..]).unwrap();
        assert!(n > 0, "the server closed a kept-alive connection");
        len += n;
    }
    assert!(raw.starts_with(b"HTTP/1.1 200"));
}

/// What an idle HTTP/1.1 keep-alive connection may cost the server.
const IDLE_HTTP_BUDGET: isize = 40 * KIB;

#[test]
fn five_thousand_idle_keep_alive_connections_cost_little_and_close_at_the_timeout() {
    const CONNECTIONS: usize = 5000;
    run(async {
        // Each connection is two descriptors of this process (the client's and the
        // server's): 10,000, under the soft limit of the machines this runs on
        // (20,000 here; `ulimit -n`). The default `header_read_timeout` (30 s)
        // would end them after the test; 4 s ends them within it.
        let mut http = HttpConfig::default();
        http.header_read_timeout = Some(Duration::from_secs(4));
        let running = Running::http(ServerConfig::default(), http).await;
        let addr = running.addr;
        served(addr).await;
        let memory = Memory::before("5,000 idle keep-alive connections after one call each").await;
        // Plain `std` sockets on blocking threads: the clients allocate nothing.
        let opening: Vec<_> = (0..4)
            .map(|_| {
                tokio::task::spawn_blocking(move || {
                    (0..CONNECTIONS / 4)
                        .map(|_| {
                            let mut socket = std::net::TcpStream::connect(addr).unwrap();
                            socket.set_read_timeout(Some(LIMIT)).unwrap();
                            call_kept_alive(&mut socket);
                            socket
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut sockets = Vec::new();
        for opened in opening {
            sockets.extend(opened.await.unwrap());
        }
        running.until_connections(CONNECTIONS as i64).await;
        let held = hostile::settled_live_bytes().await - memory.before_bytes();
        let per_connection = held / CONNECTIONS as isize;
        println!(
            "{CONNECTIONS} idle keep-alive HTTP connections: {held} bytes held by the server, {per_connection} per connection"
        );
        served(addr).await;
        // Then the server closes them (header_read_timeout), without a word: an
        // idle connection has no request to answer.
        running.until_connections(0).await;
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            for mut socket in sockets {
                let mut rest = Vec::new();
                assert_eq!(socket.read_to_end(&mut rest).unwrap(), 0);
            }
        })
        .await
        .unwrap();
        // 33.4 KiB measured: hyper's read and write buffers (8 KiB each at least),
        // the connection's task and the session's state.
        assert!(
            per_connection <= IDLE_HTTP_BUDGET,
            "an idle keep-alive connection holds {per_connection} bytes"
        );
        memory
            .after(CONNECTIONS as isize * IDLE_HTTP_BUDGET, 64 * KIB)
            .await;
        running.stop().await;
    });
}

/// As many streams as the server allows at once: `max_concurrent_streams` is the
/// connection's `max_in_flight` (1024).
const STREAMS: usize = 1024;

/// Opens one HTTP/2 connection that grants a window of 0 to every stream and never
/// sends WINDOW_UPDATE, calls `echo` with `body` on [`STREAMS`] streams (and one
/// more, which the protocol holds back), and waits for the server to close it,
/// which it must within 10 s. Returns how long that took after the last answer's
/// head.
async fn never_granting_window(addr: SocketAddr, body: &bytes::Bytes) -> Duration {
    // The server can send each answer's head, and not a byte of its body.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut client, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, bytes::Bytes>(tcp)
        .await
        .unwrap();
    let driving = tokio::spawn(connection);
    // Until the server's SETTINGS arrive, h2 lets a client open any number of
    // streams: a loaded machine then sent the 1,025th before the limit of 1,024 was
    // known, and the server rightly refused it (REFUSED_STREAM) instead of the client
    // holding it back. Wait for the limit first.
    let deadline = Instant::now() + LIMIT;
    while client.current_max_send_streams() == usize::MAX {
        assert!(Instant::now() < deadline, "no SETTINGS from the server");
        sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(client.current_max_send_streams(), STREAMS);
    let post = || {
        http::Request::post(format!("http://{addr}/"))
            .header("content-type", "application/json")
            .body(())
            .unwrap()
    };
    let mut heads = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        client = timeout(LIMIT, client.ready()).await.unwrap().unwrap();
        let (head, mut send) = client.send_request(post(), false).unwrap();
        send.send_data(body.clone(), true).unwrap();
        heads.push(head);
    }
    // One more is held back by the client's protocol (it waits for a stream to
    // end), not refused and not answered.
    client = timeout(LIMIT, client.ready()).await.unwrap().unwrap();
    let (mut one_more, _send) = client.send_request(post(), true).unwrap();
    let mut bodies = Vec::with_capacity(STREAMS);
    for head in heads {
        let response = timeout(LIMIT, head).await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.into_body());
    }
    // Not a byte of any answer comes: the window is 0.
    let first = timeout(Duration::from_millis(300), bodies[0].data()).await;
    assert!(first.is_err(), "{first:?}");
    let held = timeout(Duration::from_millis(300), &mut one_more).await;
    assert!(
        held.is_err(),
        "a stream over max_concurrent_streams: {held:?}"
    );
    served(addr).await;
    // The client takes none of the answers: after the idle timeout the server
    // closes the connection, and the answers it held go with it.
    let started = Instant::now();
    let ended = timeout(LIMIT, driving).await;
    assert!(ended.is_ok(), "the server still holds the connection");
    started.elapsed()
}

#[test]
fn http2_streams_never_given_window_are_closed_at_the_idle_timeout() {
    run(async {
        // `idle_timeout` is 2 min by default; 3 s keeps the test short. With 1 s, a
        // loaded CI run spent it on reading the 1,024 heads and the two 300 ms waits
        // below: the server closed first, and the held-back stream met its GOAWAY.
        let running = Running::http(
            ServerConfig::default(),
            HttpConfig::default().idle_timeout(Some(Duration::from_secs(3))),
        )
        .await;
        let addr = running.addr;
        served(addr).await;
        let body = bytes::Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":["{}"]}}"#,
            "x".repeat(4096)
        ));
        let memory =
            Memory::before("HTTP/2: 1,024 streams of 4 KiB answers, no WINDOW_UPDATE ever").await;
        let took = never_granting_window(addr, &body).await;
        println!("closed {took:?} after the last answer's head");
        served(addr).await;
        // Again on a new connection: nothing of the first stayed behind.
        never_granting_window(addr, &body).await;
        running.until_connections(0).await;
        // At its peak: 1,024 requests and answers of 4 KiB and their streams, on
        // both ends (the client's streams are in this process too).
        memory.after(16 * MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn http2_streams_reset_as_soon_as_sent_stop_their_calls_then_get_a_goaway() {
    const STREAMS: usize = 10_000;
    run(async {
        let running = Running::http(ServerConfig::default(), HttpConfig::default()).await;
        let addr = running.addr;
        served(addr).await;
        let body = bytes::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"nap","params":[5000]}"#,
        );
        let memory =
            Memory::before("HTTP/2: 10,000 streams, each reset as soon as sent (a call of 5 s)")
                .await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        let driving = tokio::spawn(connection);
        let mut sent = 0;
        let mut refused = None;
        for _ in 0..STREAMS {
            let mut client = match timeout(LIMIT, client.clone().ready()).await.unwrap() {
                Ok(client) => client,
                Err(err) => {
                    refused = Some(err);
                    break;
                }
            };
            let request = http::Request::post(format!("http://{addr}/"))
                .header("content-type", "application/json")
                .body(())
                .unwrap();
            let Ok((_answer, mut send)) = client.send_request(request, false) else {
                break;
            };
            let _ = send.send_data(body.clone(), true);
            send.send_reset(h2::Reason::CANCEL);
            sent += 1;
        }
        served(addr).await;
        println!("{sent} streams sent and reset; the server: {refused:?}");
        // h2 ends a connection that resets streams faster than it can accept them
        // (the "rapid reset" attack) with GOAWAY ENHANCE_YOUR_CALM; until then each
        // reset stream's call is stopped. The server closes the connection after
        // its GOAWAY, so a client still writing may meet the closed socket (a
        // broken pipe, a reset) before it reads the GOAWAY: either way the server
        // ended it.
        if let Some(err) = &refused {
            assert!(
                err.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) || err.is_io(),
                "expected GOAWAY ENHANCE_YOUR_CALM or the connection closed, got {err}"
            );
        }
        // Every call a reset stream started is stopped: none runs its 5 s.
        let deadline = Instant::now() + LIMIT;
        while running.server.metrics().in_flight != 0 {
            assert!(Instant::now() < deadline, "{:?}", running.server.metrics());
            sleep(Duration::from_millis(10)).await;
        }
        served(addr).await;
        drop(client);
        let _ = timeout(LIMIT, driving).await;
        running.until_connections(0).await;
        memory.after(16 * MIB, 64 * KIB).await;
        running.stop().await;
    });
}

#[test]
fn an_event_stream_client_that_never_reads_is_closed_at_the_idle_timeout() {
    run(async {
        // `idle_timeout` is 2 min by default; 3 s keeps the test short.
        let running = Running::http(
            ServerConfig::default(),
            HttpConfig::default().idle_timeout(Some(Duration::from_secs(3))),
        )
        .await;
        let addr = running.addr;
        served(addr).await;
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}"#;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let memory =
            Memory::before("HTTP/1.1: 8 endless event streams (a subscription) never read").await;
        let mut sockets = Vec::new();
        for _ in 0..8 {
            // A small window, so that the kernel's buffers fill after a few events.
            // With the default ones, on a machine loaded with four busy loops, the
            // debug build's server was still filling them at the idle timer's
            // checks, and the streams closed 9 s after they started (2 runs of 3,
            // against the 8 s below); with this, 6 s, as on a quiet machine.
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let mut socket = socket.connect(addr).await.unwrap();
            socket.write_all(request.as_bytes()).await.unwrap();
            sockets.push(socket);
        }
        running.until_connections(8).await;
        let started = Instant::now();
        served(addr).await;
        // The server fills the socket's buffers, then the stream waits on a client
        // that takes nothing: idle, so closed; its stream is dropped.
        running.until_connections(0).await;
        let took = started.elapsed();
        println!("closed {took:?} after the streams started");
        assert!(took < Duration::from_secs(8), "closed after {took:?}");
        served(addr).await;
        // (Read below: what the client reads is its own heap, not the server's.)
        memory.after(8 * 256 * KIB, 64 * KIB).await;
        for mut socket in sockets {
            // What fitted in the buffers, then the end.
            let mut raw = Vec::new();
            timeout(LIMIT, socket.read_to_end(&mut raw))
                .await
                .expect("the server closed it")
                .ok();
            let text = String::from_utf8_lossy(&raw);
            assert!(
                text.starts_with("HTTP/1.1 200"),
                "{}",
                &text[..text.len().min(200)]
            );
            assert!(text.contains("text/event-stream"));
        }
        running.stop().await;
    });
}

/// A TLS server configuration on a certificate for `localhost` made now, and a
/// client configuration that trusts it alone (as `tests/https.rs` makes them).
fn tls_pair() -> (
    Arc<tokio_rustls::rustls::ServerConfig>,
    Arc<tokio_rustls::rustls::ClientConfig>,
) {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig as TlsConfig};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let server = TlsConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    (Arc::new(server), Arc::new(client))
}

/// A well-behaved HTTPS client's call: 200 with its result.
async fn served_over_tls(addr: SocketAddr, trust: Arc<tokio_rustls::rustls::ClientConfig>) {
    use tokio_rustls::rustls::pki_types::ServerName;
    let connector = tokio_rustls::TlsConnector::from(trust);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = timeout(
        LIMIT,
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("the handshake of a well-behaved client finishes during the attack")
    .unwrap();
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"echo","params":["over tls"]}"#;
    let request = raw_http::request("POST", "/", &[], body);
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = timeout(LIMIT, tls.read_to_end(&mut raw)).await.unwrap();
    let answer = raw_http::parse(&raw);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        r#"{"jsonrpc":"2.0","id":7,"result":"over tls"}"#
    );
}

#[test]
fn tls_garbage_before_a_handshake_is_closed_and_a_stalled_handshake_times_out() {
    run(async {
        let (tls, trust) = tls_pair();
        // The handshake has `header_read_timeout` to finish (30 s by default); 1 s
        // keeps the test short.
        let mut http = HttpConfig::default();
        http.header_read_timeout = Some(Duration::from_secs(1));
        let running = Running::https(http, tls).await;
        let addr = running.addr;
        served_over_tls(addr, trust.clone()).await;
        // Not a TLS record: a plain-text request, then bytes of every value.
        let mut garbage = raw_http::request("POST", "/", &[], "{}").into_bytes();
        garbage.extend((0..64 * 1024).map(|n: u32| (n.wrapping_mul(2_654_435_761) >> 24) as u8));
        let garbage = Arc::new(garbage);
        let memory =
            Memory::before("TLS: 20 connections of garbage, 20 that never start a handshake").await;
        let started = Instant::now();
        let garbled: Vec<_> = (0..20)
            .map(|_| tokio::spawn(blast(addr, garbage.clone())))
            .collect();
        let silent: Vec<_> = (0..20)
            .map(|_| tokio::spawn(blast(addr, Arc::new(Vec::new()))))
            .collect();
        served_over_tls(addr, trust.clone()).await;
        for attacker in garbled {
            // One fatal TLS alert, decode_error (50), then the close: no HTTP.
            let answer = attacker.await.unwrap();
            assert_eq!(
                answer.head.as_bytes(),
                [21, 3, 3, 0, 2, 2, 50],
                "{answer:?}"
            );
        }
        for attacker in silent {
            let answer = attacker.await.unwrap();
            assert!(answer.head.is_empty(), "{answer:?}");
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
        served_over_tls(addr, trust).await;
        running.until_connections(0).await;
        // Both ends of the 40 connections are in this process.
        memory.after(40 * 64 * KIB, 64 * KIB).await;
        running.stop().await;
    });
}
