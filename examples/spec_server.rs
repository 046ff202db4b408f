//! The example methods of the JSON-RPC 2.0 specification, served over stdio or TCP.
//!
//! ```text
//! spec_server [--tcp HOST:PORT | --http HOST:PORT] [--framing ndjson|content-length]
//! ```
//!
//! Without `--tcp` or `--http` it serves stdin/stdout. With `--tcp` (port 0 picks a
//! free port) the first line of stdout is `listening on HOST:PORT`. With `--http` it
//! serves JSON-RPC over HTTP POST and WebSocket on `/` (and `GET /health`), and
//! prints the same first line. Methods: `subtract` (positional
//! `[minuend, subtrahend]` or named `{minuend, subtrahend}`), `sum` (any number of
//! positional numbers), `get_data` (returns `["hello", 5]`), and the notifications
//! `update`, `notify_hello` and `notify_sum`; `rpc.discover` answers their OpenRPC
//! document, described by hand beside each method.

use std::io::Write as _;

use rpc::openrpc::{ContentDescriptor, Info, MethodDoc, ParamStructure};
use rpc::prelude::*;
use rpc::service::Reply;
use rpc::transport::{stdio, tcp};
use serde::Deserialize;
use serde_json::{json, Number};

/// An integer when both operands are integers, a float otherwise, so `subtract(42, 23)`
/// answers `19` as the spec shows.
fn arithmetic(
    values: &[Number],
    fold: fn(i64, i64) -> Option<i64>,
    ffold: fn(f64, f64) -> f64,
) -> serde_json::Value {
    let ints: Option<Vec<i64>> = values.iter().map(Number::as_i64).collect();
    if let Some(ints) = ints {
        if let Some(first) = ints.first() {
            if let Some(total) = ints[1..].iter().try_fold(*first, |acc, &n| fold(acc, n)) {
                return total.into();
            }
        } else {
            return 0.into();
        }
    }
    let floats: Vec<f64> = values.iter().filter_map(Number::as_f64).collect();
    let total = floats[1..].iter().fold(floats[0], |acc, &n| ffold(acc, n));
    serde_json::Value::from(total)
}

fn subtract(call: IncomingCall) -> Reply {
    #[derive(Deserialize)]
    struct Named {
        minuend: Number,
        subtrahend: Number,
    }
    let (minuend, subtrahend) = match call.params().map(str::trim_start) {
        Some(p) if p.starts_with('{') => {
            let named: Named = call.decode_params()?;
            (named.minuend, named.subtrahend)
        }
        _ => call.decode_params::<(Number, Number)>()?,
    };
    call.respond(&arithmetic(
        &[minuend, subtrahend],
        i64::checked_sub,
        |a, b| a - b,
    ))
}

fn sum(call: IncomingCall) -> Reply {
    let numbers: Vec<Number> = call.decode_params()?;
    call.respond(&arithmetic(&numbers, i64::checked_add, |a, b| a + b))
}

fn service() -> Router {
    let number = || json!({ "type": "number" });
    Router::new()
        .info(Info::new(
            "JSON-RPC 2.0 specification examples",
            env!("CARGO_PKG_VERSION"),
        ))
        .method(
            MethodInfo::new("subtract"),
            |call| async move { subtract(call) },
        )
        .describe(
            MethodDoc::new("subtract")
                .summary("Subtracts the subtrahend from the minuend.")
                .param(ContentDescriptor::new("minuend", number()))
                .param(ContentDescriptor::new("subtrahend", number()))
                .result(ContentDescriptor::new("difference", number())),
        )
        .method(MethodInfo::new("sum"), |call| async move { sum(call) })
        .describe(
            MethodDoc::new("sum")
                .summary("Adds numbers: any number of them, each a positional param.")
                .param_structure(ParamStructure::ByPosition)
                .param(
                    ContentDescriptor::new("number", number())
                        .required(false)
                        .description("The first number; as many more may follow."),
                )
                .result(ContentDescriptor::new("sum", number())),
        )
        .method(MethodInfo::new("get_data"), |call| async move {
            call.respond(&("hello", 5))
        })
        // The result's schema from its type, as a derive would give it.
        .describe_with("get_data", |describer| {
            MethodDoc::new("get_data")
                .summary("Answers [\"hello\", 5].")
                .result(ContentDescriptor::new(
                    "data",
                    describer.result_schema::<(String, u32)>(),
                ))
        })
        .method(MethodInfo::new("update"), |call| async move {
            call.respond(&())
        })
        .describe(
            MethodDoc::new("update")
                .summary("A notification with positional params; nothing is answered.")
                .param_structure(ParamStructure::ByPosition)
                .param(ContentDescriptor::new("values", json!({})).required(false)),
        )
        .method(MethodInfo::new("notify_hello"), |call| async move {
            call.respond(&())
        })
        .describe(
            MethodDoc::new("notify_hello")
                .summary("A notification; nothing is answered.")
                .param(ContentDescriptor::new("value", json!({})).required(false)),
        )
        .method(
            MethodInfo::new("notify_sum"),
            |call| async move { sum(call) },
        )
        .describe(
            MethodDoc::new("notify_sum")
                .summary("Adds numbers, as `sum` does, as a notification.")
                .param_structure(ParamStructure::ByPosition)
                .param(ContentDescriptor::new("number", number()).required(false)),
        )
}

struct Args {
    tcp: Option<String>,
    http: Option<String>,
    framing: Framing,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tcp: None,
        http: None,
        framing: Framing::Ndjson,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--tcp" => args.tcp = Some(argv.next().ok_or("--tcp needs HOST:PORT")?),
            "--http" => args.http = Some(argv.next().ok_or("--http needs HOST:PORT")?),
            "--framing" => {
                let value = argv
                    .next()
                    .ok_or("--framing needs ndjson or content-length")?;
                args.framing = value.parse().map_err(|e| format!("{e}"))?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: spec_server [--tcp HOST:PORT | --http HOST:PORT] [--framing ndjson|content-length]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    if args.tcp.is_some() && args.http.is_some() {
        return Err("choose one of --tcp and --http".into());
    }
    Ok(args)
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
    let server = Server::new(service());
    if let Some(addr) = args.http {
        let listener = match tokio::net::TcpListener::bind(addr.as_str()).await {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("cannot listen on {addr}: {err}");
                std::process::exit(1);
            }
        };
        let local = listener
            .local_addr()
            .expect("a bound socket has an address");
        println!("listening on {local}");
        let _ = std::io::stdout().flush();
        if let Err(err) = server
            .serve_http(listener, rpc::http::HttpConfig::default())
            .await
        {
            eprintln!("server stopped: {err}");
            std::process::exit(1);
        }
        return;
    }
    match args.tcp {
        Some(addr) => {
            let listener = match tcp::Listener::bind(addr.as_str(), args.framing).await {
                Ok(listener) => listener,
                Err(err) => {
                    eprintln!("cannot listen on {addr}: {err}");
                    std::process::exit(1);
                }
            };
            let local = listener
                .local_addr()
                .expect("a bound socket has an address");
            println!("listening on {local}");
            let _ = std::io::stdout().flush();
            if let Err(err) = server.serve_tcp(&listener).await {
                eprintln!("server stopped: {err}");
                std::process::exit(1);
            }
        }
        None => {
            let peer = server.serve_connection(stdio::connection(args.framing));
            peer.closed().await;
        }
    }
}
