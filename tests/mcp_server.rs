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
