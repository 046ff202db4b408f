//! A Model Context Protocol server, usable by the official MCP client SDKs.
//!
//! ```text
//! mcp_server [--http HOST:PORT [--allow-origin ORIGIN]...]
//! ```
//!
//! Without `--http` it speaks newline-delimited JSON-RPC on stdin/stdout. With
//! `--http` (port 0 picks a free port) it serves MCP's Streamable HTTP transport on
//! `/mcp`, and the first line of stdout is `listening on HOST:PORT`: revision
//! 2025-11-25 with `Mcp-Session-Id` sessions, and the stateless revision 2026-07-28
//! (see `http.rs`). Requests from web pages are answered only from loopback
//! origins, and those given with `--allow-origin`; when bound to a loopback
//! address, only requests naming a loopback host are (DNS rebinding).
//!
//! Methods: `initialize`, `notifications/initialized`, `ping`, `server/discover`,
//! `tools/list` and `tools/call` with the tools `add`, `echo` and `count`, which
//! reports `notifications/progress` for a request's `progressToken` as it goes
//! (over stdio they are written before the answer; over Streamable HTTP they are
//! events of the response's event stream, before the answer's).

use std::borrow::Cow;
use std::io::Write;

use rpc::http::{Allowlist, HttpConfig, HttpSessions};
use rpc::prelude::*;
use rpc::schemars::generate::SchemaSettings;
use rpc::schemars::JsonSchema;
use rpc::transport::stdio;
use serde::Deserialize;
use serde_json::{json, Value};

mod http;

/// The protocol versions with an `initialize` handshake that this server speaks,
/// oldest first.
const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The versions without a handshake (each request says its version), found by
/// `server/discover`.
const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

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
    /// What the server speaks and offers, for clients of the handshake-less revision
    /// (their requests carry their version and capabilities in `params._meta`).
    #[rpc(name = "server/discover")]
    async fn discover(&self) -> Value;
    /// The tools and their input schemas.
    #[rpc(name = "tools/list")]
    async fn list_tools(
        &self,
        cursor: Option<String>,
        #[rpc(rename = "_meta")] meta: Option<Value>,
    ) -> Value;
    /// Runs a tool. Tool failures are results with `isError`, so the model sees them.
    /// The name is a `Cow`: borrowed from the frame, or owned when it has escapes
    /// (`"ech\u006f"` is `"echo"` too).
    #[rpc(name = "tools/call")]
    async fn call_tool(
        &self,
        cx: &CallContext,
        name: Cow<'_, str>,
        arguments: Option<Value>,
        #[rpc(rename = "_meta")] meta: Option<Value>,
    ) -> Value;
}

struct Tools;

// Each tool's arguments; the same derive gives its description and input schema.

/// Adds two integers.
#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rpc::schemars")]
struct AddArgs {
    a: i64,
    b: i64,
}

/// Returns the text it is given.
#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rpc::schemars")]
struct EchoArgs {
    text: String,
}

/// Counts to `to`, pausing `pause_ms` before each step, and reports progress after
/// each one.
#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rpc::schemars")]
struct CountArgs {
    /// How many steps.
    #[schemars(range(max = MAX_COUNT))]
    to: u32,
    /// Milliseconds before each step.
    #[serde(default)]
    #[schemars(range(max = MAX_PAUSE_MS))]
    pause_ms: u64,
}

/// A tool's entry in `tools/list`: its description (the doc comment of its arguments'
/// type) and its `inputSchema`, the JSON Schema (2020-12, MCP's default dialect) of
/// its arguments as they are deserialized, with every definition inlined.
fn tool<T: JsonSchema>(name: &str) -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    let mut description = Value::Null;
    if let Some(object) = schema.as_object_mut() {
        // The title would be the Rust type's name.
        object.remove("title");
        // A doc comment's lines joined again (schemars keeps its line breaks).
        description = match object.remove("description") {
            Some(Value::String(text)) => {
                json!(text.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            _ => Value::Null,
        };
    }
    json!({ "name": name, "description": description, "inputSchema": schema })
}

/// The most steps `count` takes, and the longest pause between two.
const MAX_COUNT: u32 = 10_000;
const MAX_PAUSE_MS: u64 = 1_000;

/// Counts to `args.to`, telling the caller after each step when it asked to be told
/// (`params._meta.progressToken`).
async fn count(cx: &CallContext, args: CountArgs, meta: Option<&Value>) -> Result<String, String> {
    if args.to > MAX_COUNT || args.pause_ms > MAX_PAUSE_MS {
        return Err(format!(
            "invalid arguments for count: at most {MAX_COUNT} steps, {MAX_PAUSE_MS} ms apart"
        ));
    }
    let token = meta
        .and_then(|m| m.get("progressToken"))
        .filter(|t| t.is_string() || t.is_i64() || t.is_u64());
    for done in 1..=args.to {
        if args.pause_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(args.pause_ms)).await;
        }
        if let Some(token) = token {
            let progress = json!({
                "progressToken": token,
                "progress": done,
                "total": args.to,
                "message": format!("counted {done} of {}", args.to),
            });
            // A client that cannot be told (an HTTP request accepting only JSON)
            // still gets the result.
            if cx
                .notify("notifications/progress", &progress)
                .await
                .is_err()
            {
                break;
            }
        }
    }
    Ok(format!("counted to {}", args.to))
}

impl Mcp for Tools {
    async fn initialize(
        &self,
        protocol_version: String,
        _capabilities: Option<Value>,
        _client_info: Option<Value>,
    ) -> Value {
        // Answer with the client's version when we speak it, else our latest.
        let version = HANDSHAKE_VERSIONS
            .iter()
            .find(|v| **v == protocol_version)
            .unwrap_or(&HANDSHAKE_VERSIONS[HANDSHAKE_VERSIONS.len() - 1]);
        json!({
            "protocolVersion": version,
            "capabilities": capabilities(),
            "serverInfo": server_info(),
        })
    }

    async fn discover(&self) -> Value {
        let mut versions: Vec<&str> = HANDSHAKE_VERSIONS.to_vec();
        versions.extend_from_slice(MODERN_VERSIONS);
        json!({
            "supportedVersions": versions,
            "capabilities": capabilities(),
            "_meta": { "io.modelcontextprotocol/serverInfo": server_info() },
            "resultType": "complete",
            "cacheScope": "public",
            "ttlMs": 0,
        })
    }

    async fn initialized(&self) {}

    async fn ping(&self) -> Value {
        json!({})
    }

    async fn list_tools(&self, _cursor: Option<String>, meta: Option<Value>) -> Value {
        let tools = json!({
            "tools": [tool::<AddArgs>("add"), tool::<EchoArgs>("echo"), tool::<CountArgs>("count")]
        });
        // The tools are the same for every caller, at every moment.
        with_modern_fields(tools, meta.as_ref(), Some("public"))
    }

    async fn call_tool(
        &self,
        cx: &CallContext,
        name: Cow<'_, str>,
        arguments: Option<Value>,
        meta: Option<Value>,
    ) -> Value {
        let arguments = arguments.unwrap_or(Value::Null);
        let outcome = match &*name {
            "add" => serde_json::from_value::<AddArgs>(arguments)
                .map(|args| args.a.saturating_add(args.b).to_string())
                .map_err(|e| format!("invalid arguments for add: {e}")),
            "echo" => serde_json::from_value::<EchoArgs>(arguments)
                .map(|args| args.text)
                .map_err(|e| format!("invalid arguments for echo: {e}")),
            "count" => match serde_json::from_value::<CountArgs>(arguments) {
                Ok(args) => count(cx, args, meta.as_ref()).await,
                Err(e) => Err(format!("invalid arguments for count: {e}")),
            },
            other => Err(format!(
                "unknown tool {other:?}; tools/list names the tools"
            )),
        };
        let (text, is_error) = match outcome {
            Ok(text) => (text, false),
            Err(text) => (text, true),
        };
        let result = json!({
            "content": [ { "type": "text", "text": text } ],
            "isError": is_error,
        });
        with_modern_fields(result, meta.as_ref(), None)
    }
}

/// Whether a request's `params._meta` names a handshake-less protocol version.
fn is_modern(meta: Option<&Value>) -> bool {
    meta.and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .and_then(Value::as_str)
        .is_some_and(|v| MODERN_VERSIONS.contains(&v))
}

/// A result with the fields the handshake-less revision requires of it: that it is
/// complete, and for a cacheable one, how it may be cached.
fn with_modern_fields(mut result: Value, meta: Option<&Value>, cache_scope: Option<&str>) -> Value {
    if is_modern(meta) {
        result["resultType"] = json!("complete");
        if let Some(scope) = cache_scope {
            result["cacheScope"] = json!(scope);
            result["ttlMs"] = json!(0);
        }
    }
    result
}

fn capabilities() -> Value {
    json!({ "tools": { "listChanged": false } })
}

fn server_info() -> Value {
    json!({ "name": "rpc-mcp-example", "version": env!("CARGO_PKG_VERSION") })
}

struct Args {
    http: Option<String>,
    origins: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        http: None,
        origins: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--http" => args.http = Some(argv.next().ok_or("--http needs HOST:PORT")?),
            "--allow-origin" => args
                .origins
                .push(argv.next().ok_or("--allow-origin needs an origin")?),
            "-h" | "--help" => {
                return Err(
                    "usage: mcp_server [--http HOST:PORT [--allow-origin ORIGIN]...]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(args)
}

/// Loopback origins, and the ones given.
fn origins(extra: Vec<String>) -> Allowlist {
    if extra.is_empty() {
        return Allowlist::Loopback;
    }
    let mut origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .flat_map(|host| [format!("http://{host}"), format!("https://{host}")])
        .collect();
    origins.extend(extra);
    Allowlist::Only(origins)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let server = Server::new(McpServer::new(Tools));
    let Some(addr) = args.http else {
        server
            .serve_connection(stdio::connection(Framing::Ndjson))
            .closed()
            .await;
        return;
    };
    let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cannot listen on {addr}: {err}");
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    let hosts = if local.ip().is_loopback() {
        Allowlist::Loopback
    } else {
        Allowlist::Any
    };
    let config = HttpConfig::default()
        .path(http::PATH)
        // MCP's GET is for a stream of the server's own messages, which this server
        // does not send: it answers 405, as the transport allows.
        .websocket(false)
        .allowed_hosts(hosts)
        .allowed_origins(origins(args.origins))
        .sessions(
            HttpSessions::new("Mcp-Session-Id")
                .started_by(["initialize"])
                .required_when(|head| !http::is_stateless(head)),
        );
    println!("listening on {local}");
    let _ = std::io::stdout().flush();
    if let Err(err) = server
        .serve_http_with_layer(listener, config, http::McpHttpLayer)
        .await
    {
        eprintln!("server stopped: {err}");
        std::process::exit(1);
    }
}
