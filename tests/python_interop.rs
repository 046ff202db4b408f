//! The examples against Python JSON-RPC clients that we did not write: the official
//! MCP SDK client against `mcp_server`; python-lsp-jsonrpc over stdio with
//! Content-Length framing (as LSP clients speak) and jsonrpcclient over
//! newline-delimited TCP against `spec_server`.
//!
//! Needs `python3` with `mcp`, `python-lsp-jsonrpc` and `jsonrpcclient` (`.ci/run`
//! installs them). Outside CI a test is skipped, with a note, when its package is missing; in CI
//! (`CI` set) a missing package fails it.

use std::path::PathBuf;
use std::process::Command;

#[path = "support/examples.rs"]
mod examples;

/// Runs `tests/interop/<script>` with the path of the example `server`; the script
/// prints "ok".
fn run_client(module: &str, package: &str, script: &str, server: &str) {
    let installed = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {package} (pip install {package})"
        );
        eprintln!("skipped: python3 with `{package}` is not installed");
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
fn official_mcp_client_initializes_lists_and_calls_tools() {
    run_client("mcp", "mcp", "mcp_client.py", "mcp_server");
}
