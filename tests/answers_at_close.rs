//! Every accepted call gets its answer written before the connection is reported
//! closed: when the other end closes its sending side (stdio EOF, a child's stdin
//! closed, a TCP half-close), on `Peer::close`, and in `Server::shutdown`.

#[path = "support/tcp_server.rs"]
mod tcp_server;

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router};
use rpc::transport::{child, memory, Connection, FrameReader, FrameWriter};
use rpc::Server;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

#[path = "support/examples.rs"]
mod examples;

const LIMIT: Duration = Duration::from_secs(60);
const REQUESTS: u64 = 10_000;
const RUNS: usize = 5;

/// `REQUESTS` requests to the spec server's methods, with a notification after every
/// tenth (notifications get no answer, so they must not be counted).
fn spec_requests() -> Vec<Bytes> {
    let mut frames = Vec::new();
    for id in 0..REQUESTS {
        let frame = match id % 3 {
            0 => format!(r#"{{"jsonrpc":"2.0","method":"subtract","params":[{id},1],"id":{id}}}"#),
            1 => format!(r#"{{"jsonrpc":"2.0","method":"sum","params":[1,2,{id}],"id":{id}}}"#),
            _ => format!(r#"{{"jsonrpc":"2.0","method":"get_data","id":{id}}}"#),
        };
        frames.push(Bytes::from(frame));
        if id % 10 == 0 {
            frames.push(Bytes::from_static(
                br#"{"jsonrpc":"2.0","method":"update","params":[1,2,3]}"#,
            ));
        }
    }
    frames
}

/// Writes every frame, then closes the writing side; meanwhile reads answers until the
/// stream ends, and checks that each id was answered exactly once.
async fn send_all_then_close<R, W>(mut reader: FrameReader<R>, mut writer: FrameWriter<W>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let frames = spec_requests();
    let sending = tokio::spawn(async move {
        for chunk in frames.chunks(64) {
            writer.write_frames(&mut chunk.to_vec()).await.unwrap();
        }
        writer.flush().await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let mut seen = HashSet::new();
    let reading = async {
        while let Some(frame) = reader.next_frame().await {
            let answer: Value = serde_json::from_slice(&frame.unwrap()).unwrap();
            assert!(answer.get("result").is_some(), "{answer}");
            let id = answer["id"].as_u64().unwrap();
            assert!(seen.insert(id), "id {id} answered twice");
        }
    };
    timeout(LIMIT, reading)
        .await
        .unwrap_or_else(|_| panic!("answers stopped after {}", seen.len()));
    timeout(LIMIT, sending)
        .await
        .expect("the server read every request")
        .unwrap();
    assert_eq!(seen.len() as u64, REQUESTS, "answers delivered");
}

async fn spec_server_over_stdio(framing: Framing) {
    let mut command = tokio::process::Command::new(examples::example("spec_server"));
    let name = match framing {
        Framing::Ndjson => "ndjson",
        Framing::ContentLength => "content-length",
    };
    command
        .args(["--framing", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut process = command.spawn().unwrap();
    let stdin = process.stdin.take().unwrap();
    let stdout = process.stdout.take().unwrap();
    send_all_then_close(
        FrameReader::new(stdout, framing),
        FrameWriter::new(stdin, framing),
    )
    .await;
    let status = timeout(LIMIT, process.wait()).await.unwrap().unwrap();
    assert!(status.success(), "spec_server exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_server_writes_every_answer_before_it_exits_at_eof() {
    for _ in 0..RUNS {
        spec_server_over_stdio(Framing::Ndjson).await;
        spec_server_over_stdio(Framing::ContentLength).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_server_answers_everything_sent_before_its_stdin_closed() {
    for _ in 0..RUNS {
        let mut command = tokio::process::Command::new(examples::example("spec_server"));
        let (connection, mut process) = child::spawn(&mut command, Framing::Ndjson).unwrap();
        let Connection { reader, writer } = connection;
        send_all_then_close(reader, writer).await;
        let status = timeout(LIMIT, process.wait()).await.unwrap().unwrap();
        assert!(status.success());
    }
}

/// A method that takes a little while for some calls, so that many are still running
/// when the client's end closes.
fn slow_echo() -> Router {
    Router::new().method(MethodInfo::new("echo"), |call| async move {
        let (n,): (u64,) = call.decode_params()?;
        if n % 7 == 0 {
            tokio::time::sleep(Duration::from_millis(n % 5)).await;
        }
        call.respond(&n)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_half_close_still_gets_every_answer() {
    let server = Arc::new(Server::new(slow_echo()));
    let addr = tcp_server::serve_on_loopback(&server, Framing::Ndjson).await;
    for _ in 0..RUNS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        let sending = tokio::spawn(async move {
            let mut text = Vec::new();
            for id in 0..REQUESTS {
                text.extend_from_slice(
                    format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[{id}],"id":{id}}}"#)
                        .as_bytes(),
                );
                text.push(b'\n');
            }
            write.write_all(&text).await.unwrap();
            // FIN: nothing more to send, but still reading.
            write.shutdown().await.unwrap();
            write
        });
        let mut reader = FrameReader::new(read, Framing::Ndjson);
        let mut seen = HashSet::new();
        timeout(LIMIT, async {
            while let Some(frame) = reader.next_frame().await {
                let answer: Value = serde_json::from_slice(&frame.unwrap()).unwrap();
                let id = answer["id"].as_u64().unwrap();
                assert_eq!(answer["result"], id, "{answer}");
                assert!(seen.insert(id), "id {id} answered twice");
            }
        })
        .await
        .expect("the server closes after its answers");
        assert_eq!(seen.len() as u64, REQUESTS);
        drop(timeout(LIMIT, sending).await.unwrap().unwrap());
    }
    let metrics = server.metrics();
    assert_eq!(metrics.answers_written, REQUESTS * RUNS as u64);
    assert_eq!(metrics.answers_lost, 0);
}

async fn wait_for_in_flight(server: &Server, calls: i64) {
    let started = tokio::time::Instant::now();
    while server.metrics().in_flight < calls {
        assert!(started.elapsed() < LIMIT, "{:?}", server.metrics());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn read_answers<R: AsyncRead + Unpin>(reader: &mut FrameReader<R>) -> Vec<Value> {
    let mut answers = Vec::new();
    while let Ok(Some(frame)) = timeout(Duration::from_millis(200), reader.next_frame()).await {
        answers.push(serde_json::from_slice(&frame.unwrap()).unwrap());
    }
    answers
}

/// A service whose `nap` calls wait until the gate opens (`[0]`) or for ever (`[1]`),
/// so a test can hold any number of calls in flight however slow the machine is.
fn gated() -> (Router, tokio::sync::watch::Sender<bool>) {
    let (open, gate) = tokio::sync::watch::channel(false);
    let router = Router::new().method(MethodInfo::new("nap"), move |call| {
        let mut gate = gate.clone();
        async move {
            let (forever,): (u8,) = call.decode_params()?;
            if forever == 1 {
                std::future::pending::<()>().await;
            }
            let _ = gate.wait_for(|open| *open).await;
            call.respond(&"rested")
        }
    });
    (router, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reports_closed_only_after_the_running_calls_are_answered() {
    let (router, open) = gated();
    let server = Server::new(router);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1024 * 1024);
    let peer = server.serve_connection(theirs);
    let Connection {
        mut reader,
        mut writer,
    } = ours;
    for id in 0..100 {
        let frame = format!(r#"{{"jsonrpc":"2.0","method":"nap","params":[0],"id":{id}}}"#);
        writer.send(Bytes::from(frame)).await.unwrap();
    }
    wait_for_in_flight(&server, 100).await;
    peer.close();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        open.send(true).unwrap();
    });
    timeout(LIMIT, peer.closed()).await.unwrap();
    // Reported closed: every answer is in the pipe already.
    let answers = read_answers(&mut reader).await;
    assert_eq!(answers.len(), 100);
    assert!(answers.iter().all(|a| a["result"] == "rested"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_report_counts_the_answers_really_written() {
    let (router, open) = gated();
    let server = Server::new(router);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (ours, theirs) = memory::pair(Framing::Ndjson, 1024 * 1024);
        server.serve_connection(theirs);
        let Connection { reader, mut writer } = ours;
        for id in 0..25 {
            // Three quarters finish within the grace period, the rest never would.
            let forever = u8::from(id % 4 == 0);
            let frame =
                format!(r#"{{"jsonrpc":"2.0","method":"nap","params":[{forever}],"id":{id}}}"#);
            writer.send(Bytes::from(frame)).await.unwrap();
        }
        clients.push((reader, writer));
    }
    wait_for_in_flight(&server, 100).await;
    // The gate opens once the shutdown has begun, so every answer is written during it.
    let opening = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        open.send(true).unwrap();
    };
    let (report, ()) = tokio::join!(
        timeout(LIMIT, server.shutdown(Duration::from_millis(500))),
        opening
    );
    let report = report.unwrap();
    assert!(!report.drained);
    assert_eq!(report.interrupted, 28);
    assert_eq!(report.answers_written, 100);
    assert_eq!(report.answers_lost, 0);
    let mut received = 0;
    for (mut reader, _writer) in clients {
        let answers = read_answers(&mut reader).await;
        received += answers.len();
        let shutting_down = answers
            .iter()
            .filter(|a| a["error"]["code"] == -32002)
            .count();
        assert_eq!(shutting_down, 7);
    }
    assert_eq!(received, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_still_running_past_the_half_close_grace_are_answered_cancelled() {
    let (router, open) = gated();
    let config = rpc::ServerConfig {
        connection: rpc::ConnectionConfig {
            half_close_grace: Some(Duration::from_millis(200)),
            ..rpc::ConnectionConfig::default()
        },
        ..rpc::ServerConfig::default()
    };
    let server = Arc::new(Server::with_config(router, config));
    let addr = tcp_server::serve_on_loopback(&server, Framing::Ndjson).await;
    open.send(true).unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"nap\",\"params\":[0],\"id\":1}\n\
              {\"jsonrpc\":\"2.0\",\"method\":\"nap\",\"params\":[1],\"id\":2}\n",
        )
        .await
        .unwrap();
    write.shutdown().await.unwrap();
    let mut reader = FrameReader::new(read, Framing::Ndjson);
    let mut answers = std::collections::HashMap::new();
    timeout(LIMIT, async {
        while let Some(frame) = reader.next_frame().await {
            let answer: Value = serde_json::from_slice(&frame.unwrap()).unwrap();
            answers.insert(answer["id"].as_u64().unwrap(), answer);
        }
    })
    .await
    .expect("the connection closes once the grace has passed");
    assert_eq!(answers[&1]["result"], "rested");
    assert_eq!(answers[&2]["error"]["code"], -32800);
    drop(write);
}
