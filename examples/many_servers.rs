//! Three server processes behind one balanced client; one of them is killed in the
//! middle of the run, and every call is either answered or fails saying why.
//!
//! ```text
//! many_servers [--calls N] [--workers W] [--idempotent]
//!                                   start three servers (this program with
//!                                   --serve), call them, kill the second one
//!                                   after a third of the calls, report
//! many_servers --serve HOST:PORT --name NAME
//!                                   serve over TCP; the first line of stdout
//!                                   is `listening on HOST:PORT`
//! ```
//!
//! The service has one method in two flavours: `work(ms)` and `lookup(ms)` each
//! take `ms` milliseconds and answer the server's name; `lookup` is marked
//! `#[rpc(idempotent)]`, so the client sends it again when the server it went to
//! dies before answering. With `--idempotent` the run makes `lookup` calls and
//! every call is answered; without, the calls in flight on the killed server fail
//! with `connection closed` naming it, and the others are answered.
//!
//! The report, on stdout:
//!
//! ```text
//! started s1 on 127.0.0.1:41001
//! started s2 on 127.0.0.1:41002
//! started s3 on 127.0.0.1:41003
//! killed s2 after 333 calls
//! calls: 1000 answered: 996 failed: 4
//! answered by s1: 412
//! answered by s2: 171
//! answered by s3: 413
//! failed 4 times: the connection closed before the response came: tcp://127.0.0.1:41002: ...
//! ```
//!
//! The exit status is 0 when every call was answered or failed with a connection
//! error, and 1 otherwise (a call that timed out, or any other error).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpc::framing::Framing;
use rpc::transport::tcp;
use rpc::{rpc_service, Client, ConnectionConfig, Endpoint, Reconnect, Server};

#[rpc_service]
pub trait Work {
    /// Works for `ms` milliseconds and says which server did.
    async fn work(&self, ms: u64) -> String;
    /// The same, but safe to run twice: a lost call is sent again.
    #[rpc(idempotent)]
    async fn lookup(&self, ms: u64) -> String;
}

struct Named(String);

impl Work for Named {
    async fn work(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
        self.0.clone()
    }

    async fn lookup(&self, ms: u64) -> String {
        self.work(ms).await
    }
}

struct Run {
    calls: usize,
    workers: usize,
    idempotent: bool,
}

enum Mode {
    Serve { addr: String, name: String },
    Run(Run),
}

fn parse_args() -> Result<Mode, String> {
    let usage = "usage: many_servers [--calls N] [--workers W] [--idempotent] | --serve HOST:PORT --name NAME";
    let mut argv = std::env::args().skip(1);
    let mut serve = None;
    let mut name = None;
    let mut run = Run {
        calls: 1000,
        workers: 16,
        idempotent: false,
    };
    while let Some(arg) = argv.next() {
        let mut value = |what: &str| argv.next().ok_or(format!("{arg} needs {what}; {usage}"));
        match arg.as_str() {
            "--serve" => serve = Some(value("HOST:PORT")?),
            "--name" => name = Some(value("a name")?),
            "--calls" => {
                run.calls = value("a number")?
                    .parse()
                    .map_err(|e| format!("--calls: {e}"))?
            }
            "--workers" => {
                run.workers = value("a number")?
                    .parse::<usize>()
                    .map_err(|e| format!("--workers: {e}"))?
                    .max(1)
            }
            "--idempotent" => run.idempotent = true,
            "-h" | "--help" => return Err(usage.to_owned()),
            other => return Err(format!("unknown argument {other:?}; {usage}")),
        }
    }
    Ok(match serve {
        Some(addr) => Mode::Serve {
            addr,
            name: name.unwrap_or_else(|| "server".to_owned()),
        },
        None => Mode::Run(run),
    })
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
    let status = match mode {
        Mode::Serve { addr, name } => serve(&addr, name).await,
        Mode::Run(run) => orchestrate(run).await,
    };
    std::process::exit(status);
}

async fn serve(addr: &str, name: String) -> i32 {
    let listener = match tcp::Listener::bind(addr, Framing::Ndjson).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not listen on {addr}: {err}");
            return 1;
        }
    };
    println!("listening on {}", listener.local_addr().unwrap());
    let _ = std::io::stdout().flush();
    let server = Server::new(WorkServer::new(Named(name)));
    match server.serve_tcp(&listener).await {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("serving failed: {err}");
            1
        }
    }
}

/// A server process and where it listens; killed when dropped.
struct Process {
    name: String,
    addr: String,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str) -> std::io::Result<Process> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve", "127.0.0.1:0", "--name", name])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading {name}'s address: {e}")))?;
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        return Err(std::io::Error::other(format!(
            "{name} did not start: {line:?}"
        )));
    };
    Ok(Process {
        name: name.to_owned(),
        addr: addr.to_owned(),
        child,
    })
}

async fn orchestrate(run: Run) -> i32 {
    let mut processes = Vec::new();
    for name in ["s1", "s2", "s3"] {
        match start(name) {
            Ok(process) => {
                println!("started {} on {}", process.name, process.addr);
                processes.push(process);
            }
            Err(err) => {
                eprintln!("{err}");
                return 1;
            }
        }
    }
    let endpoints = processes
        .iter()
        .map(|p| Endpoint::tcp(&*p.addr, Framing::Ndjson, ConnectionConfig::default()));
    let client = WorkClient::new(Client::balanced(endpoints, Reconnect::default()));

    // Workers take call numbers from a shared counter; the one that takes number
    // `calls / 3` kills the second server.
    let next = Arc::new(AtomicUsize::new(0));
    let kill_at = run.calls / 3;
    let victim = Arc::new(std::sync::Mutex::new(Some(processes.remove(1))));
    let mut workers = Vec::new();
    for _ in 0..run.workers {
        let (client, next, victim) = (client.clone(), next.clone(), victim.clone());
        let (calls, idempotent) = (run.calls, run.idempotent);
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= calls {
                    return outcomes;
                }
                if n == kill_at {
                    if let Some(mut process) = victim.lock().unwrap().take() {
                        let _ = process.child.kill();
                        println!("killed {} after {n} calls", process.name);
                    }
                }
                let ms = 2 + (n % 5) as u64;
                let outcome = if idempotent {
                    client.lookup(ms).await
                } else {
                    client.work(ms).await
                };
                outcomes.push(outcome);
            }
        }));
    }
    let mut answered_by = BTreeMap::<String, usize>::new();
    let mut failures = BTreeMap::<String, usize>::new();
    let mut unclear = 0;
    for worker in workers {
        for outcome in worker.await.expect("a worker panicked") {
            match outcome {
                Ok(name) => *answered_by.entry(name).or_default() += 1,
                Err(err) => {
                    if !(err.is_connection_closed() || err.is_not_sent()) {
                        unclear += 1;
                    }
                    *failures.entry(err.to_string()).or_default() += 1;
                }
            }
        }
    }
    let answered: usize = answered_by.values().sum();
    let failed: usize = failures.values().sum();
    println!("calls: {} answered: {answered} failed: {failed}", run.calls);
    for (name, n) in &answered_by {
        println!("answered by {name}: {n}");
    }
    for (why, n) in &failures {
        println!("failed {n} times: {why}");
    }
    i32::from(answered + failed != run.calls || unclear > 0)
}
