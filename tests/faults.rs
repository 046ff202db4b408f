//! Faults outside the protocol: a child-process server killed in the middle of calls,
//! and a client that reads its answers slowly.

use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router};
use rpc::transport::{child, memory, Connection};
use rpc::{Client, ConnectionConfig, Server, ServerConfig};
use tokio::time::{timeout, Instant};

#[path = "support/examples.rs"]
mod examples;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn killing_a_child_server_mid_call_fails_every_pending_call_at_once() {
    let mut command = tokio::process::Command::new(examples::example("child_process"));
    command.arg("--serve");
    let (connection, mut process) = child::spawn(&mut command, Framing::Ndjson).unwrap();
    let client = Client::new(connection, ConnectionConfig::default());
    let pid: u32 = timeout(LIMIT, client.call("pid", &()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(pid), process.id());

    // Twenty calls that would take a minute each, then a quick one: once the quick one
    // is answered, the child has read all twenty (it reads frames in order).
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("sleep", &[60_000]).await })
        })
        .collect();
    tokio::task::yield_now().await;
    while client.pending_calls() < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _: u32 = timeout(LIMIT, client.call("pid", &()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.pending_calls(), 20);

    let killed = Instant::now();
    process.start_kill().unwrap();
    for call in calls {
        let err = timeout(LIMIT, call).await.unwrap().unwrap().unwrap_err();
        assert!(err.is_connection_closed(), "{err}");
    }
    // Failed together, as soon as the pipe closed, not at the call timeout.
    assert!(killed.elapsed() < Duration::from_secs(5));
    assert_eq!(client.pending_calls(), 0);
    timeout(LIMIT, client.closed()).await.unwrap();
    // Later calls fail at once, and say that nothing was sent.
    let err = timeout(LIMIT, client.call::<_, u32>("pid", &()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    let status = timeout(LIMIT, process.wait()).await.unwrap().unwrap();
    assert!(!status.success());
}

#[tokio::test]
async fn a_slow_reader_gets_every_answer_and_the_server_stays_bounded() {
    // A small pipe and write queue: the server can hold only a few answers at a time,
    // so it must wait for the reader, neither dropping answers nor buffering them all.
    let config = ServerConfig {
        connection: ConnectionConfig {
            write_queue: 4,
            max_in_flight: 16,
            write_stall_timeout: Some(Duration::from_secs(5)),
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let router = Router::new().method(MethodInfo::new("block"), |call| async move {
        let (n,): (u64,) = call.decode_params()?;
        call.respond(&(n, "x".repeat(4096)))
    });
    let server = Server::with_config(router, config);
    let (ours, theirs) = memory::pair(Framing::Ndjson, 16 * 1024);
    server.serve_connection(theirs);
    let Connection {
        mut reader,
        mut writer,
    } = ours;
    const CALLS: u64 = 300;
    let sending = tokio::spawn(async move {
        for id in 0..CALLS {
            let frame =
                format!(r#"{{"jsonrpc":"2.0","method":"block","params":[{id}],"id":{id}}}"#);
            writer.send(Bytes::from(frame)).await.unwrap();
        }
        writer
    });
    let mut seen = vec![false; CALLS as usize];
    for received in 0..CALLS {
        // A reader far slower than the server, but never stalled for long.
        if received % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let frame = timeout(LIMIT, reader.next_frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&frame).unwrap();
        let id = answer["id"].as_u64().unwrap() as usize;
        assert_eq!(answer["result"][0], id as u64);
        assert!(!seen[id], "id {id} answered twice");
        seen[id] = true;
        // The server stopped reading instead of piling up calls whose answers wait.
        let metrics = server.metrics();
        assert!(metrics.in_flight <= 16, "{metrics:?}");
    }
    assert!(seen.iter().all(|&s| s));
    let _writer = sending.await.unwrap();
    assert_eq!(
        server.metrics().connections,
        1,
        "the slow reader was not cut off"
    );
}

#[tokio::test]
async fn calls_of_a_client_that_disconnects_are_dropped_not_run_to_their_deadline() {
    let router = Router::new().method(MethodInfo::new("hold"), |call| async move {
        tokio::time::sleep(Duration::from_secs(600)).await;
        call.respond(&0)
    });
    // A client that closes its end cannot be told from one that half-closes it and
    // still reads; this server says closing means leaving.
    let config = ServerConfig {
        connection: ConnectionConfig {
            abandon_calls_on_disconnect: true,
            ..ConnectionConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = std::sync::Arc::new(Server::with_config(router, config));
    let listener = rpc::transport::tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_tcp(&listener).await });
    let client = Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call::<_, u64>("hold", &()).await })
        })
        .collect();
    while server.metrics().in_flight < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The client goes away: its calls fail on its side, and the server stops working
    // for it at once instead of holding ten workers for ten minutes.
    client.close();
    for call in calls {
        assert!(call.await.unwrap().unwrap_err().is_connection_closed());
    }
    let deadline = Instant::now() + LIMIT;
    while server.metrics().in_flight > 0 || server.metrics().connections > 0 {
        assert!(Instant::now() < deadline, "{:?}", server.metrics());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
