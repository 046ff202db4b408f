//! A calculator served and called over loopback TCP in one process.
//!
//! Run it with `cargo run --example calculator`.

use std::time::Duration;

use rpc::prelude::*;
use rpc::transport::tcp;

fn calculator() -> Router {
    Router::new()
        .method(MethodInfo::new("calc.add"), |call| async move {
            let (a, b): (i64, i64) = call.decode_params()?;
            call.respond(&(a + b))
        })
        .method(MethodInfo::new("calc.divide"), |call| async move {
            let (a, b): (f64, f64) = call.decode_params()?;
            if b == 0.0 {
                return Err(RpcError::invalid_params("division by zero"));
            }
            call.respond(&(a / b))
        })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::sync::Arc::new(Server::new(calculator()));
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson).await?;
    let addr = listener.local_addr()?;
    let serving = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_tcp(&listener).await })
    };
    println!("listening on {addr}");

    let client = Client::connect_tcp(addr, Framing::Ndjson, PeerConfig::default()).await?;
    let sum: i64 = client.call("calc.add", &[2, 3]).await?;
    println!("calc.add(2, 3) = {sum}");
    let quotient: f64 = client.call("calc.divide", &[1.0, 4.0]).await?;
    println!("calc.divide(1, 4) = {quotient}");
    match client.call::<_, f64>("calc.divide", &[1.0, 0.0]).await {
        Err(err) => println!("calc.divide(1, 0) failed: {err}"),
        Ok(value) => println!("calc.divide(1, 0) = {value}?"),
    }

    drop(client);
    server.shutdown(Duration::from_secs(1)).await;
    serving.await??;
    Ok(())
}
