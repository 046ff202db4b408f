//! The `mcp_server` example against the official MCP Python SDK client.
//!
//! Needs `python3` with the `mcp` package (`pip install mcp`; `.ci/run` installs it).
//! Outside CI the test is skipped, with a note, when the package is missing; in CI
//! (`CI` set) a missing package fails it.

use std::path::PathBuf;
use std::process::Command;

#[path = "support/examples.rs"]
mod examples;

#[test]
fn official_python_client_initializes_lists_and_calls_tools() {
    let has_mcp = Command::new("python3")
        .args(["-c", "import mcp"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_mcp {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install the MCP Python SDK (pip install mcp)"
        );
        eprintln!("skipped: python3 with the `mcp` package is not installed");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/mcp_client.py");
    let output = Command::new("timeout")
        .arg("60")
        .arg("python3")
        .arg(script)
        .arg(examples::example("mcp_server"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "the MCP client failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
