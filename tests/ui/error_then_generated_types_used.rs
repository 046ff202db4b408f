// One mistake in the trait, and code that goes on to use the generated client and
// server: the macro's stand-ins for them keep that code free of errors of its own.
use std::sync::Arc;

use rpc::prelude::*;

#[rpc_service]
pub trait Calculator {
    #[rpc(timeout = "soon")]
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
    async fn echo(&self, text: &str) -> String;
    #[rpc(notification)]
    async fn log(&self, line: String);
    #[rpc(blocking)]
    fn checksum(&self, data: Vec<u8>) -> u32;
}

struct Calc;

impl Calculator for Calc {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        Ok(a / b)
    }
    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }
    async fn log(&self, line: String) {
        println!("{line}");
    }
    fn checksum(&self, data: Vec<u8>) -> u32 {
        data.iter().map(|&b| u32::from(b)).sum()
    }
}

async fn use_them(client: Client) -> Result<(), Error> {
    let _server = Server::new(CalculatorServer::new(Calc));
    let shared = CalculatorServer::from_arc(Arc::new(Calc));
    let _: &Calc = shared.get_ref();
    let _copy = shared.clone();
    println!("{shared:?}");

    let calc = CalculatorClient::new(client);
    let sum: i64 = calc.add(2, 3).await?;
    let quotient: f64 = calc.divide(1.0, 4.0).await?;
    let echoed: String = calc.echo("hi").await?;
    calc.log("fire and forget".into()).await?;
    let sum_of_bytes: u32 = calc.checksum(vec![1, 2, 3]).await?;
    let _: &Client = calc.inner();
    println!("{sum} {quotient} {echoed} {sum_of_bytes} {:?}", calc.clone());
    Ok(())
}

fn main() {
    let _ = use_them;
}
