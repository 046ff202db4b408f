//! The examples against Python JSON-RPC clients that we did not write: the official
//! MCP SDK client against `mcp_server`, over stdio and over Streamable HTTP (both
//! revisions, with httpx for the status codes); python-lsp-jsonrpc over stdio with
//! Content-Length framing (as LSP clients speak) and jsonrpcclient over
//! newline-delimited TCP against `spec_server`; httpx and websockets against
//! `spec_server --http` (HTTP POST and WebSocket on one port); websockets against
//! `streams --http` (subscriptions by hand-written frames, and as an HTTP event
//! stream).
//!
//! Needs `python3` with `mcp`, `python-lsp-jsonrpc`, `jsonrpcclient`, `httpx` and
//! `websockets` (`.ci/run`
//! installs them). A test whose package (or `python3`) is missing is skipped with a
//! `SKIPPED` line on stderr that says what to install; under CI (`CI` set) it fails
//! instead (`tests/support/external.rs`).

use std::path::PathBuf;
use std::process::Command;

#[path = "support/examples.rs"]
mod examples;
#[path = "support/external.rs"]
mod external;

/// Runs `tests/interop/<script>` with the path of the example `server`; the script
/// prints "ok".
fn run_client(module: &str, package: &str, script: &str, server: &str) {
    if !external::python_module(module, package) {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let output = Command::new("timeout")
        .arg("60")
        .arg("python3")
        .arg(script)
        .arg(examples::example(server))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "the {package} client failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn python_lsp_jsonrpc_over_content_length_stdio() {
    run_client(
        "pylsp_jsonrpc",
        "python-lsp-jsonrpc",
        "lsp_jsonrpc_client.py",
        "spec_server",
    );
}

#[test]
fn jsonrpcclient_over_newline_delimited_tcp() {
    run_client(
        "jsonrpcclient",
        "jsonrpcclient",
        "ndjson_tcp_client.py",
        "spec_server",
    );
}

#[test]
fn httpx_and_websockets_over_http_post_and_websocket_on_one_port() {
    if !external::python_module("websockets", "websockets") {
        return;
    }
    run_client("httpx", "httpx", "http_ws_client.py", "spec_server");
}

#[test]
fn official_mcp_client_initializes_lists_and_calls_tools() {
    run_client("mcp", "mcp", "mcp_client.py", "mcp_server");
}

#[test]
fn official_mcp_client_over_streamable_http_with_sessions_and_stateless() {
    if !external::python_module("httpx", "httpx") {
        return;
    }
    run_client("mcp", "mcp", "mcp_http_client.py", "mcp_server");
}

#[test]
fn websockets_and_httpx_subscribe_to_the_streams_example_by_hand_written_frames() {
    if !external::python_module("httpx", "httpx") {
        return;
    }
    run_client(
        "websockets",
        "websockets",
        "streams_ws_client.py",
        "streams",
    );
}
