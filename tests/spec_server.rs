//! The `spec_server` example answers every example of the JSON-RPC 2.0 specification,
//! over stdio and TCP, in both framings. The example is run as a separate process,
//! the way other programs use it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use rpc::framing::Framing;
use rpc::transport::{child, tcp, Connection, FrameReader, FrameWriter};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

#[path = "support/examples.rs"]
mod examples;

const LIMIT: Duration = Duration::from_secs(20);

fn spec_server() -> PathBuf {
    examples::example("spec_server")
}

struct Driver<R, W> {
    reader: FrameReader<R>,
    writer: FrameWriter<W>,
    sentinel: u64,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Driver<R, W> {
    async fn send(&mut self, text: &str) {
        let line = text.replace('\n', " ");
        self.writer.send(Bytes::from(line)).await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let frame = timeout(LIMIT, self.reader.next_frame())
            .await
            .expect("an answer in time")
            .expect("the server is still there")
            .unwrap();
        serde_json::from_slice(&frame).unwrap()
    }

    /// Sends `text` followed by a sentinel request, and returns the answer to `text`
    /// (`None` when it got none). Calls run concurrently, so the two answers may come
    /// in either order; the sentinel's answer marks that `text` was fully handled, and
    /// a notification's answer (which must not exist) would show up here or in the
    /// next exchange, whose checks would then fail.
    async fn exchange(&mut self, text: &str, answered: bool) -> Option<Value> {
        self.send(text).await;
        self.sentinel += 1;
        let sentinel_id = format!("sentinel-{}", self.sentinel);
        let sentinel = format!(r#"{{"jsonrpc":"2.0","method":"get_data","id":"{sentinel_id}"}}"#);
        self.send(&sentinel).await;
        let mut answer = None;
        let mut seen_sentinel = false;
        while !seen_sentinel || (answered && answer.is_none()) {
            let frame = self.recv().await;
            if frame["id"] == sentinel_id.as_str() {
                seen_sentinel = true;
            } else {
                assert!(answer.is_none(), "two answers to one message: {frame}");
                answer = Some(frame);
            }
        }
        if !answered {
            assert!(answer.is_none(), "a notification was answered: {answer:?}");
        }
        answer
    }
}

fn by_id(value: &Value) -> Vec<Value> {
    let mut elements = value.as_array().expect("a batch answer").clone();
    elements.sort_by_key(|e| e["id"].to_string());
    elements
}

async fn every_spec_example<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    driver: &mut Driver<R, W>,
) {
    let d = driver;
    let answer = d
        .exchange(
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
            true,
        )
        .await;
    assert_eq!(
        answer,
        Some(json!({"jsonrpc": "2.0", "result": 19, "id": 1}))
    );
    let answer = d
        .exchange(
            r#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#,
            true,
        )
        .await;
    assert_eq!(
        answer,
        Some(json!({"jsonrpc": "2.0", "result": -19, "id": 2}))
    );
    let answer = d
        .exchange(r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#, true)
        .await;
    assert_eq!(
        answer,
        Some(json!({"jsonrpc": "2.0", "result": 19, "id": 3}))
    );
    let answer = d
        .exchange(r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#, true)
        .await;
    assert_eq!(
        answer,
        Some(json!({"jsonrpc": "2.0", "result": 19, "id": 4}))
    );

    assert_eq!(
        d.exchange(
            r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
            false
        )
        .await,
        None
    );
    assert_eq!(
        d.exchange(r#"{"jsonrpc": "2.0", "method": "foobar"}"#, false)
            .await,
        None
    );

    let answer = d
        .exchange(r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#, true)
        .await
        .unwrap();
    assert_eq!(answer["error"]["code"], -32601);
    assert_eq!(answer["id"], "1");

    let answer = d
        .exchange(
            r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
            true,
        )
        .await
        .unwrap();
    assert_eq!(answer["error"]["code"], -32700);
    assert_eq!(answer["id"], Value::Null);

    let answer = d
        .exchange(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#, true)
        .await
        .unwrap();
    assert_eq!(answer["error"]["code"], -32600);
    assert_eq!(answer["id"], Value::Null);

    let answer = d
        .exchange(
            r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
            true,
        )
        .await
        .unwrap();
    assert_eq!(answer["error"]["code"], -32700);
    assert_eq!(answer["id"], Value::Null);

    let answer = d.exchange("[]", true).await.unwrap();
    assert!(
        answer.is_object(),
        "an empty batch gets one error object: {answer}"
    );
    assert_eq!(answer["error"]["code"], -32600);

    let answer = d.exchange("[1]", true).await.unwrap();
    assert_eq!(answer.as_array().unwrap().len(), 1);
    assert_eq!(answer[0]["error"]["code"], -32600);
    assert_eq!(answer[0]["id"], Value::Null);

    let answer = d.exchange("[1,2,3]", true).await.unwrap();
    assert_eq!(answer.as_array().unwrap().len(), 3);
    for element in answer.as_array().unwrap() {
        assert_eq!(element["error"]["code"], -32600);
        assert_eq!(element["id"], Value::Null);
    }

    let answer = d
        .exchange(
            r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#,
            true,
        )
        .await
        .unwrap();
    let elements = by_id(&answer);
    assert_eq!(elements.len(), 5, "{answer}");
    assert_eq!(elements[0]["result"], 7);
    assert_eq!(elements[0]["id"], "1");
    assert_eq!(elements[1]["result"], 19);
    assert_eq!(elements[2]["error"]["code"], -32601);
    assert_eq!(elements[2]["id"], "5");
    assert_eq!(elements[3]["result"], json!(["hello", 5]));
    assert_eq!(elements[4]["error"]["code"], -32600);
    assert_eq!(elements[4]["id"], Value::Null);

    let answer = d
        .exchange(
            r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#,
            false,
        )
        .await;
    assert_eq!(answer, None, "a batch of notifications gets nothing");
}

async fn over_stdio(framing: Framing) {
    let mut command = Command::new(spec_server());
    command.args(["--framing", &framing.to_string()]);
    command.stderr(Stdio::inherit());
    let (connection, mut process) = child::spawn(&mut command, framing).unwrap();
    let Connection { reader, writer } = connection;
    let mut driver = Driver {
        reader,
        writer,
        sentinel: 0,
    };
    every_spec_example(&mut driver).await;
    // Closing stdin ends the server cleanly.
    drop(driver);
    let status = timeout(LIMIT, process.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

async fn over_tcp(framing: Framing) {
    let mut process = Command::new(spec_server())
        .args(["--tcp", "127.0.0.1:0", "--framing", &framing.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let first = timeout(LIMIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let Connection { reader, writer } = tcp::connect(addr, framing).await.unwrap();
    let mut driver = Driver {
        reader,
        writer,
        sentinel: 0,
    };
    every_spec_example(&mut driver).await;
    process.kill().await.unwrap();
}

#[tokio::test]
async fn spec_examples_over_stdio_ndjson() {
    over_stdio(Framing::Ndjson).await;
}

#[tokio::test]
async fn spec_examples_over_stdio_content_length() {
    over_stdio(Framing::ContentLength).await;
}

#[tokio::test]
async fn spec_examples_over_tcp_ndjson() {
    over_tcp(Framing::Ndjson).await;
}

#[tokio::test]
async fn spec_examples_over_tcp_content_length() {
    over_tcp(Framing::ContentLength).await;
}
