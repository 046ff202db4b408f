//! A Model Context Protocol server over stdio, usable by the official MCP client SDKs.
//!
//! Run it with `cargo run --example mcp_server` and speak newline-delimited JSON-RPC on
//! stdin/stdout: `initialize`, `notifications/initialized`, `ping`, `tools/list` and
//! `tools/call` with the tools `add` and `echo`.

use std::borrow::Cow;

use rpc::prelude::*;
use rpc::transport::stdio;
use serde::Deserialize;
use serde_json::{json, Value};

/// Protocol versions this server speaks, oldest first.
const PROTOCOL_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The MCP methods this server answers, as one `#[rpc_service]` trait.
#[rpc_service]
pub trait Mcp {
    /// Agrees on a protocol version and says what the server offers.
    #[rpc(name = "initialize")]
    async fn initialize(
        &self,
        #[rpc(rename = "protocolVersion")] protocol_version: String,
        capabilities: Option<Value>,
        #[rpc(rename = "clientInfo")] client_info: Option<Value>,
    ) -> Value;
    /// The client is ready.
    #[rpc(name = "notifications/initialized", notification)]
    async fn initialized(&self);
    /// Liveness check; answers an empty object.
    #[rpc(name = "ping")]
    async fn ping(&self) -> Value;
    /// The tools and their input schemas.
    #[rpc(name = "tools/list")]
    async fn list_tools(&self, cursor: Option<String>) -> Value;
    /// Runs a tool. Tool failures are results with `isError`, so the model sees them.
    /// The name is a `Cow`: borrowed from the frame, or owned when it has escapes
    /// (`"ech\u006f"` is `"echo"` too).
    #[rpc(name = "tools/call")]
    async fn call_tool(&self, name: Cow<'_, str>, arguments: Option<Value>) -> Value;
}

struct Tools;

#[derive(Deserialize)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Deserialize)]
struct EchoArgs {
    text: String,
}

impl Mcp for Tools {
    async fn initialize(
        &self,
        protocol_version: String,
        _capabilities: Option<Value>,
        _client_info: Option<Value>,
    ) -> Value {
        // Answer with the client's version when we speak it, else our latest.
        let version = PROTOCOL_VERSIONS
            .iter()
            .find(|v| **v == protocol_version)
            .unwrap_or(&PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
        json!({
            "protocolVersion": version,
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": { "name": "rpc-mcp-example", "version": env!("CARGO_PKG_VERSION") },
        })
    }

    async fn initialized(&self) {}

    async fn ping(&self) -> Value {
        json!({})
    }

    async fn list_tools(&self, _cursor: Option<String>) -> Value {
        json!({
            "tools": [
                {
                    "name": "add",
                    "description": "Adds two integers.",
                    "inputSchema": {
                        "type": "object",
                        "properties": { "a": { "type": "integer" }, "b": { "type": "integer" } },
                        "required": ["a", "b"],
                    },
                },
                {
                    "name": "echo",
                    "description": "Returns the text it is given.",
                    "inputSchema": {
                        "type": "object",
                        "properties": { "text": { "type": "string" } },
                        "required": ["text"],
                    },
                },
            ]
        })
    }

    async fn call_tool(&self, name: Cow<'_, str>, arguments: Option<Value>) -> Value {
        let arguments = arguments.unwrap_or(Value::Null);
        let outcome = match &*name {
            "add" => serde_json::from_value::<AddArgs>(arguments)
                .map(|args| args.a.saturating_add(args.b).to_string())
                .map_err(|e| format!("invalid arguments for add: {e}")),
            "echo" => serde_json::from_value::<EchoArgs>(arguments)
                .map(|args| args.text)
                .map_err(|e| format!("invalid arguments for echo: {e}")),
            other => Err(format!(
                "unknown tool {other:?}; tools/list names the tools"
            )),
        };
        let (text, is_error) = match outcome {
            Ok(text) => (text, false),
            Err(text) => (text, true),
        };
        json!({
            "content": [ { "type": "text", "text": text } ],
            "isError": is_error,
        })
    }
}

#[tokio::main]
async fn main() {
    let server = Server::new(McpServer::new(Tools));
    server
        .serve_connection(stdio::connection(Framing::Ndjson))
        .closed()
        .await;
}
