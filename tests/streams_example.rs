//! The `streams` example's command lines: `--tcp` and `--http` print
//! `listening on HOST:PORT` first, and the client mode (`--connect`) prints every
//! item in order, then `ended`, over TCP and over WebSocket; `--stdio` serves a
//! parent that spawns it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

#[path = "support/examples.rs"]
mod examples;

/// Kills the server it holds when dropped (by its own id).
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(flag: &str) -> (Serving, String) {
    let mut child = Command::new(examples::example("streams"))
        .args([flag, "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_owned();
    (Serving(child), addr)
}

fn subscribe(url: &str, from: u64, count: u64) -> String {
    let output = Command::new("timeout")
        .arg("30")
        .arg(examples::example("streams"))
        .args([
            "--connect",
            url,
            "--from",
            &from.to_string(),
            "--count",
            &count.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn expected(from: u64, count: u64) -> String {
    let mut out: String = (from..from + count).map(|n| format!("{n}\n")).collect();
    out.push_str("ended\n");
    out
}

#[test]
fn over_tcp_every_item_in_order_then_the_end() {
    let (_server, addr) = serve("--tcp");
    assert_eq!(
        subscribe(&format!("tcp://{addr}"), 3, 20_000),
        expected(3, 20_000)
    );
}

#[test]
fn over_websocket_every_item_in_order_then_the_end() {
    let (_server, addr) = serve("--http");
    assert_eq!(
        subscribe(&format!("ws://{addr}/"), 0, 20_000),
        expected(0, 20_000)
    );
    // An empty stream ends at once.
    assert_eq!(subscribe(&format!("ws://{addr}/"), 5, 0), "ended\n");
}

/// `streams --stdio`, spawned as a child process: the items come over its stdout.
#[test]
fn over_a_child_process_s_stdio_every_item_in_order_then_the_end() {
    use futures_util::StreamExt;
    use rpc::framing::Framing;
    use rpc::stream::CloseReason;
    use rpc::transport::child;
    use rpc::{Client, ConnectionConfig};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut command = tokio::process::Command::new(examples::example("streams"));
        command.arg("--stdio");
        let (connection, mut process) = child::spawn(&mut command, Framing::Ndjson).unwrap();
        let client = Client::new(connection, ConnectionConfig::default());
        let limit = std::time::Duration::from_secs(30);
        let mut items = tokio::time::timeout(
            limit,
            client.subscribe::<_, u64>(
                "subscribe_count",
                &(5u64, 20_000u64),
                "count",
                "unsubscribe_count",
            ),
        )
        .await
        .unwrap()
        .unwrap();
        let mut expected = 5;
        while let Some(item) = tokio::time::timeout(limit, items.next()).await.unwrap() {
            assert_eq!(item.unwrap(), expected);
            expected += 1;
        }
        assert_eq!(expected, 5 + 20_000);
        assert_eq!(items.close_reason(), Some(CloseReason::Ended));
        // Closing its stdin ends the child.
        drop(items);
        drop(client);
        let status = tokio::time::timeout(limit, process.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status}");
    });
}
