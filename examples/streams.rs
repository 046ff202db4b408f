//! A streaming method, served and subscribed to.
//!
//! ```text
//! streams --tcp HOST:PORT                  serve over TCP (newline-delimited JSON)
//! streams --http HOST:PORT                 serve HTTP POST and WebSocket on `/`
//! streams --stdio                          serve on stdin and stdout (for a parent
//!                                          that spawns it: rpc::transport::child)
//! streams --connect ws://HOST:PORT/ | tcp://HOST:PORT [--from N] [--count M]
//!                                          subscribe and print the items
//! ```
//!
//! Serving over TCP or HTTP, the first line of stdout is `listening on HOST:PORT`
//! (port 0 picks a free port). The server has one streaming method, `subscribe_count(from, count)`,
//! which sends the `count` numbers `from, from + 1, ..` as fast as the reader takes
//! them, as `count` notifications, then ends the stream; `unsubscribe_count(id)`
//! stops it early. On the wire (one WebSocket or TCP connection):
//!
//! ```text
//! → {"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[10,2]}
//! ← {"jsonrpc":"2.0","id":1,"result":"0x1"}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","result":10}}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","result":11}}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","closed":"ended"}}
//! ```
//!
//! In client mode it prints each item on a line of its own, then `ended` (or the
//! error that ended the stream, with exit status 1).

use std::io::Write;

use futures_util::StreamExt;
use rpc::framing::Framing;
use rpc::stream::Stream;
use rpc::transport::{stdio, tcp};
use rpc::{rpc_service, Client, ConnectionConfig, Server};

#[rpc_service(positional)]
pub trait Counter {
    /// `count` numbers from `from`, as fast as the reader takes them.
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send;
}

struct Numbers;

impl Counter for Numbers {
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send + 'static {
        futures_util::stream::iter(from..from.saturating_add(count))
    }
}

enum Mode {
    Tcp(String),
    Http(String),
    Stdio,
    Connect { url: String, from: u64, count: u64 },
}

fn parse_args() -> Result<Mode, String> {
    let usage = "usage: streams --tcp HOST:PORT | --http HOST:PORT | --stdio | --connect ws://HOST:PORT/|tcp://HOST:PORT [--from N] [--count M]";
    let mut argv = std::env::args().skip(1);
    let mut mode = None;
    let (mut from, mut count) = (0u64, 10u64);
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        value
            .ok_or(format!("{flag} needs a number"))?
            .parse()
            .map_err(|err| format!("{flag}: {err}"))
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--tcp" => mode = Some(Mode::Tcp(argv.next().ok_or("--tcp needs HOST:PORT")?)),
            "--http" => mode = Some(Mode::Http(argv.next().ok_or("--http needs HOST:PORT")?)),
            "--stdio" => mode = Some(Mode::Stdio),
            "--connect" => {
                mode = Some(Mode::Connect {
                    url: argv.next().ok_or("--connect needs a URL")?,
                    from: 0,
                    count: 0,
                });
            }
            "--from" => from = number("--from", argv.next())?,
            "--count" => count = number("--count", argv.next())?,
            _ => return Err(usage.to_owned()),
        }
    }
    match mode {
        Some(Mode::Connect { url, .. }) => Ok(Mode::Connect { url, from, count }),
        Some(mode) => Ok(mode),
        None => Err(usage.to_owned()),
    }
}

#[tokio::main]
async fn main() {
    let mode = match parse_args() {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let outcome = match mode {
        Mode::Tcp(addr) => serve_tcp(&addr).await,
        Mode::Http(addr) => serve_http(&addr).await,
        Mode::Stdio => {
            // Until stdin ends (the parent closed it, or went away).
            Server::new(CounterServer::new(Numbers))
                .serve_connection(stdio::connection(Framing::Ndjson))
                .closed()
                .await;
            Ok(())
        }
        Mode::Connect { url, from, count } => subscribe(&url, from, count).await,
    };
    if let Err(message) = outcome {
        eprintln!("{message}");
        std::process::exit(1);
    }
}

fn listening(addr: std::net::SocketAddr) {
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
}

async fn serve_tcp(addr: &str) -> Result<(), String> {
    let listener = tcp::Listener::bind(addr, Framing::Ndjson)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    listening(listener.local_addr().map_err(|e| e.to_string())?);
    Server::new(CounterServer::new(Numbers))
        .serve_tcp(&listener)
        .await
        .map_err(|err| format!("server stopped: {err}"))
}

async fn serve_http(addr: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    listening(listener.local_addr().map_err(|e| e.to_string())?);
    Server::new(CounterServer::new(Numbers))
        .serve_http(listener, rpc::http::HttpConfig::default())
        .await
        .map_err(|err| format!("server stopped: {err}"))
}

async fn subscribe(url: &str, from: u64, count: u64) -> Result<(), String> {
    let client = if let Some(addr) = url.strip_prefix("tcp://") {
        Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default()).await
    } else {
        Client::connect_ws(url, ConnectionConfig::default()).await
    }
    .map_err(|err| err.to_string())?;
    let counter = CounterClient::new(client);
    let mut items = counter
        .subscribe_count(from, count)
        .await
        .map_err(|err| format!("subscribing failed: {err}"))?;
    let mut out = std::io::stdout().lock();
    while let Some(item) = items.next().await {
        let n = item.map_err(|err| format!("the stream ended with an error: {err}"))?;
        let _ = writeln!(out, "{n}");
    }
    let _ = writeln!(out, "ended");
    Ok(())
}
