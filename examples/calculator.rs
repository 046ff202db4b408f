//! A calculator served and called over loopback TCP in one process, from one
//! `#[rpc_service]` trait.
//!
//! Run it with `cargo run --example calculator`; `-- --openrpc` prints the service's
//! OpenRPC document instead (what its server answers to `rpc.discover`), to publish
//! or review.

use std::sync::Arc;
use std::time::Duration;

use rpc::prelude::*;
use rpc::transport::tcp;

#[rpc_service(namespace = "calc")] // wire names "calc.add", ...
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Divides `a` by `b`; dividing by zero is an invalid-params error.
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
    /// Returns the text it is given, borrowed from the received frame (a `&str` cannot
    /// hold a string with JSON escapes; take `Cow<str>` for those).
    #[rpc(name = "text/echo")]
    async fn echo(&self, text: &str) -> String;
    /// Prints a line on the server; nothing is answered.
    #[rpc(notification)]
    async fn log(&self, line: String);
    /// Sums bytes on the blocking pool.
    #[rpc(blocking)]
    fn checksum(&self, data: Vec<u8>) -> u32;
}

struct Calc;

impl Calculator for Calc {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        if b == 0.0 {
            return Err(RpcError::invalid_params("division by zero"));
        }
        Ok(a / b)
    }

    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }

    async fn log(&self, line: String) {
        println!("server log: {line}");
    }

    fn checksum(&self, data: Vec<u8>) -> u32 {
        data.iter().map(|&b| u32::from(b)).sum()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("--openrpc") {
        println!(
            "{}",
            serde_json::to_string_pretty(&CalculatorServer::openrpc())?
        );
        return Ok(());
    }
    let server = Arc::new(Server::new(CalculatorServer::new(Calc)));
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson).await?;
    let addr = listener.local_addr()?;
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_tcp(&listener).await })
    };
    println!("listening on {addr}");

    let client = Client::connect_tcp(addr, Framing::Ndjson, ConnectionConfig::default()).await?;
    let calc = CalculatorClient::new(client);
    println!("calc.add(2, 3) = {}", calc.add(2, 3).await?);
    println!("calc.divide(1, 4) = {}", calc.divide(1.0, 4.0).await?);
    match calc.divide(1.0, 0.0).await {
        Err(err) => println!("calc.divide(1, 0) failed: {err}"),
        Ok(value) => println!("calc.divide(1, 0) = {value}?"),
    }
    println!("text/echo = {:?}", calc.echo("hello, world").await?);
    // Sent and not answered; the next call's answer shows the server has read it.
    calc.log("a notification".into()).await?;
    println!("calc.checksum = {}", calc.checksum(vec![1, 2, 3]).await?);

    drop(calc);
    server.shutdown(Duration::from_secs(1)).await;
    serving.await??;
    let metrics = server.metrics();
    println!(
        "server answered {} calls",
        metrics.methods.iter().map(|m| m.calls).sum::<u64>()
    );
    Ok(())
}
