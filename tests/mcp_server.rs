//! The `mcp_server` example run as a separate process over stdio, the way an MCP
//! client runs it.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::transport::{child, Connection};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::timeout;

#[path = "support/examples.rs"]
mod examples;
#[path = "support/raw_http.rs"]
mod raw_http;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn tools_call_accepts_a_tool_name_written_with_escapes() {
    let mut command = Command::new(examples::example("mcp_server"));
    command.stderr(Stdio::inherit());
    let (connection, mut process) = child::spawn(&mut command, Framing::Ndjson).unwrap();
    let Connection {
        mut reader,
        mut writer,
    } = connection;

    // `"ech\u006f"` is the JSON string "echo", spelt with an escape; and once plainly.
    let calls = [
        (
            1,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ech\u006f","arguments":{"text":"hi"}}}"#,
        ),
        (
            2,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
        ),
        (
            3,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":["\u0061dd",{"a":2,"b":3}]}"#,
        ),
    ];
    for (id, call) in calls {
        timeout(LIMIT, writer.send(Bytes::from_static(call.as_bytes())))
            .await
            .expect("the call is written in time")
            .unwrap();
        let frame = timeout(LIMIT, reader.next_frame())
            .await
            .expect("an answer in time")
            .expect("the server is still there")
            .unwrap();
        let reply: Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(reply["id"], id, "{reply}");
        let text = if id == 3 { "5" } else { "hi" };
        assert_eq!(
            reply["result"],
            json!({ "content": [ { "type": "text", "text": text } ], "isError": false }),
            "{reply}"
        );
    }

    // Closing stdin ends the server cleanly.
    drop(writer);
    drop(reader);
    let status = timeout(LIMIT, process.wait())
        .await
        .expect("the server exits in time")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// `mcp_server --http 127.0.0.1:0`: its first line names the address, and a
/// stateless (2026-07-28) request is answered on `/mcp` — whatever Python has.
#[tokio::test]
async fn over_http_it_prints_its_address_and_answers_stateless_requests() {
    use tokio::io::AsyncBufReadExt;

    let mut process = Command::new(examples::example("mcp_server"))
        .args(["--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let mut first = String::new();
    timeout(
        LIMIT,
        tokio::io::BufReader::new(stdout).read_line(&mut first),
    )
    .await
    .expect("the address comes first")
    .unwrap();
    let addr: std::net::SocketAddr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .parse()
        .unwrap();

    let post = |method: &str, params: &str| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{{params}"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        );
        raw_http::request(
            "POST",
            "/mcp",
            &[
                "Accept: application/json, text/event-stream",
                "MCP-Protocol-Version: 2026-07-28",
                &format!("Mcp-Method: {method}"),
                "Mcp-Name: add",
            ],
            &body,
        )
    };
    let answer = raw_http::exchange(
        addr,
        &post("tools/call", r#""name":"add","arguments":{"a":2,"b":3},"#),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let reply: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(reply["result"]["content"][0]["text"], "5", "{reply}");
    assert_eq!(reply["result"]["resultType"], "complete", "{reply}");

    let unknown = raw_http::exchange(addr, &post("no/such", "")).await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.body.contains("-32601"), "{unknown:?}");
    process.kill().await.unwrap();
}
