//! A Model Context Protocol server over stdio, usable by the official MCP client SDKs.
//!
//! Run it with `cargo run --example mcp_server` and speak newline-delimited JSON-RPC on
//! stdin/stdout: `initialize`, `notifications/initialized`, `ping`, `tools/list` and
//! `tools/call` with the tools `add` and `echo`.

use rpc::prelude::*;
use rpc::service::Reply;
use rpc::transport::stdio;
use serde::Deserialize;
use serde_json::{json, Value};

/// Protocol versions this server speaks, oldest first.
const PROTOCOL_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

fn initialize(call: IncomingCall) -> Reply {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params<'a> {
        #[serde(borrow)]
        protocol_version: &'a str,
    }
    let params: Params<'_> = call.decode_params()?;
    // Answer with the client's version when we speak it, else our latest.
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == params.protocol_version)
        .unwrap_or(&PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
    call.respond(&json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "rpc-mcp-example", "version": env!("CARGO_PKG_VERSION") },
    }))
}

fn list_tools(call: IncomingCall) -> Reply {
    call.respond(&json!({
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
    }))
}

fn call_tool(call: IncomingCall) -> Reply {
    #[derive(Deserialize)]
    struct Params {
        name: String,
        #[serde(default)]
        arguments: Value,
    }
    #[derive(Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }
    #[derive(Deserialize)]
    struct Echo {
        text: String,
    }
    let params: Params = call.decode_params()?;
    // Tool failures are results with `isError`, so the model can see them.
    let outcome = match params.name.as_str() {
        "add" => serde_json::from_value::<Add>(params.arguments)
            .map(|args| args.a.saturating_add(args.b).to_string())
            .map_err(|e| format!("invalid arguments for add: {e}")),
        "echo" => serde_json::from_value::<Echo>(params.arguments)
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
    call.respond(&json!({
        "content": [ { "type": "text", "text": text } ],
        "isError": is_error,
    }))
}

fn service() -> Router {
    Router::new()
        .method(MethodInfo::new("initialize"), |call| async move {
            initialize(call)
        })
        .method(
            MethodInfo::new("notifications/initialized"),
            |call| async move { call.respond(&()) },
        )
        .method(MethodInfo::new("ping"), |call| async move {
            call.respond(&json!({}))
        })
        .method(MethodInfo::new("tools/list"), |call| async move {
            list_tools(call)
        })
        .method(MethodInfo::new("tools/call"), |call| async move {
            call_tool(call)
        })
}

#[tokio::main]
async fn main() {
    let server = Server::new(service());
    server
        .serve_connection(stdio::connection(Framing::Ndjson))
        .closed()
        .await;
}
