//! A client that starts its server as a child process and talks to it over the
//! child's stdin and stdout, as MCP and LSP clients do.
//!
//! Run it with `cargo run --example child_process`. The example starts itself again
//! with `--serve`; in that mode it serves a small service on stdio.

use std::time::Duration;

use rpc::prelude::*;
use rpc::transport::{child, stdio};

fn service() -> Router {
    Router::new()
        .method(MethodInfo::new("greet"), |call| async move {
            let (name,): (String,) = call.decode_params()?;
            call.respond(&format!("hello, {name}"))
        })
        .method(MethodInfo::new("pid"), |call| async move {
            call.respond(&std::process::id())
        })
        // Used by tests/faults.rs to have calls in flight when the child is killed.
        .method(MethodInfo::new("sleep"), |call| async move {
            let (ms,): (u64,) = call.decode_params()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            call.respond(&ms)
        })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--serve") {
        // Child: serve stdin/stdout until the parent closes stdin.
        let server = Server::new(service());
        server
            .serve_connection(stdio::connection(Framing::Ndjson))
            .closed()
            .await;
        return Ok(());
    }

    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.arg("--serve");
    let (connection, mut process) = child::spawn(&mut command, Framing::Ndjson)?;
    let client = Client::new(connection, ConnectionConfig::default());

    let greeting: String = client.call("greet", &["child"]).await?;
    let pid: u32 = client.call("pid", &()).await?;
    println!(
        "{greeting} (from process {pid}, parent {})",
        std::process::id()
    );

    // Closing the connection closes the child's stdin; it finishes and exits.
    drop(client);
    let status = tokio::time::timeout(Duration::from_secs(5), process.wait()).await??;
    println!("child exited with {status}");
    Ok(())
}
