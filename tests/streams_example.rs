//! The `streams` example's command lines: `--tcp` and `--http` print
//! `listening on HOST:PORT` first, and the client mode (`--connect`) prints every
//! item in order, then `ended`, over TCP and over WebSocket.

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
